"""A pyzmq ROUTER serving zmp's "add" service, secured by libzmq.

Usage: secure_server.py COUNT
Binds tcp://127.0.0.1:*, prints the endpoint, answers COUNT requests
of "add" following docs/protocol.md §2, prints "ok" and exits. Its
mechanism and credentials come from ZMP_PY_SECURITY (zsec.py); pyzmq's
ZAP authenticator checks the zmp client's credentials.
"""
import json
import sys

import zmq

import zsec
from zmpwire import REPLY, REQUEST, pack_header, unpack_header

count = int(sys.argv[1])
ctx = zmq.Context()
s = ctx.socket(zmq.ROUTER)
s.setsockopt(zmq.LINGER, 1000)
s.setsockopt(zmq.RCVTIMEO, 15000)
zsec.apply(s, ctx)
s.bind("tcp://127.0.0.1:*")
print(s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
served = 0
while served < count:
    try:
        frames = s.recv_multipart()
    except zmq.Again:
        sys.exit("timeout after %d requests" % served)
    ident, delim, header, service, body = frames
    h = unpack_header(header)
    if h["type"] != REQUEST or service != b"add":
        continue
    req = json.loads(body)
    s.send_multipart([ident, delim, pack_header(REPLY, h["id"]), str(req["A"] + req["B"]).encode()])
    served += 1
s.close()
zsec.stop()
ctx.term()
print("ok", flush=True)
