"""pyzmq DEALER worker for a zmp queue, written from docs/proxy.md
(the Paranoid Pirate worker protocol).

usage: pp_worker.py BACKEND COUNT
Says READY (b"\\x01"), sends a heartbeat (b"\\x02") every 50 ms, answers
each request [address, envelope..., b"", body] with
[address, envelope..., b"", b"py:" + body], and exits after COUNT
requests and at least one heartbeat from the queue, printing "ok".
It fails if the queue stays silent for 2 s.
Security: see zmpsec.py.
"""
import sys
import time

import zmq
from zmpsec import secure

ep, count = sys.argv[1], int(sys.argv[2])
ctx = zmq.Context()
w = ctx.socket(zmq.DEALER)
w.setsockopt(zmq.LINGER, 1000)
secure(w, "worker")
w.connect(ep)
w.send(b"\x01")
print("ready", flush=True)
served, heartbeats, last_heard, next_hb = 0, 0, time.time(), time.time()
while served < count or heartbeats == 0:
    if time.time() >= next_hb:
        w.send(b"\x02")
        next_hb = time.time() + 0.05
    if time.time() - last_heard > 2:
        print("queue silent")
        sys.exit(1)
    if not w.poll(10):
        continue
    m = w.recv_multipart()
    last_heard = time.time()
    if m == [b"\x02"]:
        heartbeats += 1
        continue
    i = m.index(b"", 1)
    w.send_multipart(m[: i + 1] + [b"py:" + m[i + 1]] + m[i + 2 :])
    served += 1
w.close()
ctx.term()
print("ok")
