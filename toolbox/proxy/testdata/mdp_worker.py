"""pyzmq DEALER worker for a zmp broker, speaking MDP/0.1 from the spec.

usage: mdp_worker.py ENDPOINT SERVICE COUNT
Says READY for SERVICE, sends a heartbeat every 50 ms, answers each
REQUEST ["", "MDPW01", 0x02, address, "", body...] with the body
unchanged, and exits after COUNT requests, printing "ok". It fails if
the broker stays silent for 2 s. Security: see zmpsec.py (role "worker").
"""
import sys
import time

import zmq
from zmpsec import secure

ep, service, count = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
ctx = zmq.Context()
w = ctx.socket(zmq.DEALER)
w.setsockopt(zmq.LINGER, 1000)
secure(w, "worker")
w.connect(ep)
w.send_multipart([b"", b"MDPW01", b"\x01", service])
print("ready", flush=True)
served, last_heard, next_hb = 0, time.time(), time.time()
while served < count:
    if time.time() >= next_hb:
        w.send_multipart([b"", b"MDPW01", b"\x04"])
        next_hb = time.time() + 0.05
    if time.time() - last_heard > 2:
        print("broker silent")
        sys.exit(1)
    if not w.poll(10):
        continue
    m = w.recv_multipart()
    last_heard = time.time()
    if m[:2] != [b"", b"MDPW01"] or len(m) < 3:
        print("bad message %r" % (m,))
        sys.exit(1)
    if m[2] == b"\x04":
        continue
    if m[2] != b"\x02" or len(m) < 6 or m[4] != b"":
        print("bad request %r" % (m,))
        sys.exit(1)
    w.send_multipart([b"", b"MDPW01", b"\x03", m[3], b""] + m[5:])
    served += 1
w.close()
ctx.term()
print("ok")
