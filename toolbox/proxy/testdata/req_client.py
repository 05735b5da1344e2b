"""pyzmq REQ client of a zmp queue.

usage: req_client.py FRONTEND COUNT
Sends COUNT requests b"req-N", one at a time; each reply must be one
frame ending with b":req-N" (the workers prefix their name). Prints the
worker names seen, one line "workers A,B", then "ok".
Security: see zmpsec.py.
"""
import sys

import zmq
from zmpsec import secure

ep, count = sys.argv[1], int(sys.argv[2])
ctx = zmq.Context()
req = ctx.socket(zmq.REQ)
req.setsockopt(zmq.LINGER, 0)
req.setsockopt(zmq.RCVTIMEO, 15000)
secure(req, "client")
req.connect(ep)
workers = set()
for i in range(count):
    body = b"req-%d" % i
    req.send(body)
    try:
        reply = req.recv_multipart()
    except zmq.Again:
        print("no reply to %r" % body)
        sys.exit(1)
    if len(reply) != 1 or not reply[0].endswith(b":" + body):
        print("bad reply %r to %r" % (reply, body))
        sys.exit(1)
    workers.add(reply[0].split(b":")[0].decode())
print("workers " + ",".join(sorted(workers)))
req.close()
ctx.term()
print("ok")
