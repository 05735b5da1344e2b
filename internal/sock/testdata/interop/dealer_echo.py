"""pyzmq DEALER: send multipart messages to a zmp Router, expect each echoed back.

usage: dealer_echo.py ENDPOINT
Prints "ok" and exits 0 on success; exits 1 with a reason otherwise.
"""
import sys

import zmq

import zsec

ep = sys.argv[1]
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.setsockopt(zmq.SNDTIMEO, 10000)
s.setsockopt(zmq.IDENTITY, b"py-dealer")
zsec.apply(s, ctx)
s.connect(ep)

msgs = [
    [b"hello"],
    [b""],
    [b"", b"", b""],
    [b"id", b"", b"body"],
    [b"a" * 255],
    [b"b" * 256, b"", b"c"],
    [b"head", bytes(range(256)) * 400, b"tail"],  # 100 KiB middle frame
]
for i in range(200):
    msgs.append([b"seq", str(i).encode()])

for m in msgs:
    s.send_multipart(m)
for i, want in enumerate(msgs):
    try:
        got = s.recv_multipart()
    except zmq.Again:
        print("timeout waiting for reply %d" % i)
        sys.exit(1)
    if got != want:
        print("reply %d differs: %d frames of %r vs %d frames of %r"
              % (i, len(got), [len(f) for f in got], len(want), [len(f) for f in want]))
        sys.exit(1)
s.close()
zsec.stop()
ctx.term()
print("ok")
