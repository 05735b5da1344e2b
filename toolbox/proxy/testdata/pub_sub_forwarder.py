"""pyzmq PUB -> forwarder -> pyzmq SUB.

usage: pub_sub_forwarder.py FRONTEND BACKEND COUNT
The SUB subscribes to b"keep." on the forwarder's backend; the PUB
connects to its frontend and publishes b"keep.N" and b"drop.N" until the
SUB has COUNT messages, all of which must be keep.* with the right body.
Prints "published KEEP DROP" and then "ok".
Security: see zmpsec.py.
"""
import sys
import time

import zmq
from zmpsec import secure

front, back, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.LINGER, 0)
sub.setsockopt(zmq.SUBSCRIBE, b"keep.")
secure(sub, "sub")
sub.connect(back)
pub = ctx.socket(zmq.PUB)
pub.setsockopt(zmq.LINGER, 0)
secure(pub, "pub")
pub.connect(front)

got, keep, drop = 0, 0, 0
deadline = time.time() + 30
while got < count:
    if time.time() > deadline:
        print("timeout: got %d of %d" % (got, count))
        sys.exit(1)
    pub.send_multipart([b"drop.%d" % drop, b"payload"])
    drop += 1
    pub.send_multipart([b"keep.%d" % keep, b"payload:keep.%d" % keep])
    keep += 1
    while sub.poll(5):
        m = sub.recv_multipart()
        if len(m) != 2 or not m[0].startswith(b"keep.") or m[1] != b"payload:" + m[0]:
            print("unexpected message %r" % (m,))
            sys.exit(1)
        got += 1
print("published %d %d" % (keep, drop))
sub.close()
pub.close()
ctx.term()
print("ok")
