"""Call a secured zmp service and subscribe to a secured zmp topic.

Usage: secure_client.py REGISTRY_DIR NODE_NAME

Security comes from ZMP_PY_SECURITY (see zsec.py). For CURVE the
server's public key is not given: it is read from the node's registry
entry ("key", docs/protocol.md §1), as any client would. The node must
provide "add" ({"A","B"} -> A+B) and publish {"n": ...} on "news".
Prints "ok" on success.
"""
import json
import os
import sys

import zmq

import zsec
from zmpwire import DATA, REPLY, REQUEST, find_node, pack_header, unpack_header

node = find_node(sys.argv[1], sys.argv[2])
cfg = json.loads(os.environ.get("ZMP_PY_SECURITY") or "{}")
if cfg.get("mechanism") == "CURVE":
    if node.get("security") != "CURVE" or not node.get("key"):
        sys.exit("registry entry announces no CURVE key: %r" % node)
    cfg["server_key"] = node["key"]
    os.environ["ZMP_PY_SECURITY"] = json.dumps(cfg)

ctx = zmq.Context()
dealer = ctx.socket(zmq.DEALER)
dealer.setsockopt(zmq.LINGER, 0)
dealer.setsockopt(zmq.RCVTIMEO, 10000)
zsec.apply(dealer, ctx)
dealer.connect(node["rpc"])
dealer.send_multipart([b"", pack_header(REQUEST, 7, timeout_ms=5000), b"add", b'{"A": 20, "B": 22}'])
frames = dealer.recv_multipart()
h = unpack_header(frames[1])
if h["type"] != REPLY or h["id"] != 7 or frames[2] != b"42":
    sys.exit("unexpected reply %r" % frames)

sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.LINGER, 0)
sub.setsockopt(zmq.RCVTIMEO, 10000)
sub.setsockopt(zmq.SUBSCRIBE, b"news\x00")
zsec.apply(sub, ctx)
sub.connect(node["pub"])
for _ in range(3):
    topic, header, body = sub.recv_multipart()
    if topic != b"news\x00" or unpack_header(header)["type"] != DATA or "n" not in json.loads(body):
        sys.exit("unexpected message %r" % [topic, header, body])
dealer.close()
sub.close()
zsec.stop()
ctx.term()
print("ok")
