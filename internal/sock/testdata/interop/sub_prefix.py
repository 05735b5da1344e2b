"""pyzmq SUB: subscribe to a prefix on a zmp Pub and check what arrives.

usage: sub_prefix.py ENDPOINT PREFIX COUNT
Receives COUNT messages; every one must be [topic, body] with topic
starting with PREFIX. Prints "ok" on success.
"""
import sys

import zmq

import zsec

ep, prefix, count = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
ctx = zmq.Context()
s = ctx.socket(zmq.SUB)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 15000)
s.setsockopt(zmq.SUBSCRIBE, prefix)
zsec.apply(s, ctx)
s.connect(ep)
for i in range(count):
    try:
        m = s.recv_multipart()
    except zmq.Again:
        print("timeout after %d messages" % i)
        sys.exit(1)
    if len(m) != 2 or not m[0].startswith(prefix) or m[1] != b"payload:" + m[0]:
        print("unexpected message %r" % (m,))
        sys.exit(1)
s.close()
zsec.stop()
ctx.term()
print("ok")
