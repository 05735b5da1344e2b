"""pyzmq REQ client that a secured zmp proxy must refuse.

usage: refused_client.py ENDPOINT
Connects with the security of role "client" (see zmpsec.py), sends one
request and expects no reply within 1 s: the proxy refuses the
handshake, so the request never leaves this process. Prints "refused"
and "ok"; fails if a reply comes.
"""
import sys

import zmq
from zmpsec import secure

ctx = zmq.Context()
req = ctx.socket(zmq.REQ)
req.setsockopt(zmq.LINGER, 0)
secure(req, "client")
req.connect(sys.argv[1])
req.send(b"must not pass")
if req.poll(1000):
    print("got a reply %r" % (req.recv_multipart(),))
    sys.exit(1)
print("refused")
req.close()
ctx.term()
print("ok")
