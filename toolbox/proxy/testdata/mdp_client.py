"""pyzmq REQ client of a zmp broker, speaking MDP/0.1 from the spec.

usage: mdp_client.py ENDPOINT
Calls service "echo" (which must answer its body unchanged), then asks
mmi.service about "echo" (200) and "nosuch" (404). Prints "ok".
Security: see zmpsec.py.
"""
import sys

import zmq
from zmpsec import secure

ctx = zmq.Context()
req = ctx.socket(zmq.REQ)
req.setsockopt(zmq.LINGER, 0)
req.setsockopt(zmq.RCVTIMEO, 15000)
secure(req, "client")
req.connect(sys.argv[1])


def call(service, *body):
    req.send_multipart([b"MDPC01", service] + list(body))
    reply = req.recv_multipart()
    if reply[:2] != [b"MDPC01", service]:
        print("bad reply header %r" % (reply,))
        sys.exit(1)
    return reply[2:]


for i in range(10):
    body = [b"hello-%d" % i, b"second frame"]
    got = call(b"echo", *body)
    if got != body:
        print("echo answered %r" % (got,))
        sys.exit(1)
if call(b"mmi.service", b"echo") != [b"200"]:
    print("echo not available")
    sys.exit(1)
if call(b"mmi.service", b"nosuch") != [b"404"]:
    print("nosuch available")
    sys.exit(1)
req.close()
ctx.term()
print("ok")
