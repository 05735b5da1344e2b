"""Send zmp requests with and without metadata from pyzmq (docs/protocol.md §2.6).

Usage: meta_client.py REGISTRY_DIR NODE_NAME

Services the Go side provides for this script:
  meta   replies with the request body, and sets the reply metadata
         {"seen": "<request trace-id>", "count": "<number of keys>"};
         the body "fail" gets an error (code 1000) with that metadata.

Prints a JSON summary of the answers on stdout.
"""

import json
import sys

import zmq

from zmpwire import REQUEST, pack_header, unpack_header, find_node, pack_meta, unpack_meta


def describe(frames):
    """Describe a REPLY or ERROR received on a DEALER."""
    out = {"frames": len(frames)}
    out.update(unpack_header(frames[1]))
    rest = frames[2:]
    has_meta = (out["type"] == 2 and len(rest) == 2) or (out["type"] == 3 and len(rest) == 3)
    if has_meta:
        out["meta"] = unpack_meta(rest[0])
        rest = rest[1:]
    if out["type"] == 2:
        out["body"] = rest[0].decode()
    else:
        out["message"] = rest[0].decode()
    return out


def call(sock, id_, body, meta=None):
    frames = [b"", pack_header(REQUEST, id_, timeout_ms=5000), b"meta"]
    if meta is not None:
        frames.append(meta)
    frames.append(body)
    sock.send_multipart(frames)
    return describe(sock.recv_multipart())


def main():
    node = find_node(sys.argv[1], sys.argv[2])
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.RCVTIMEO, 5000)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(node["rpc"])
    out = {
        "none": call(s, 1, b"plain"),
        "empty": call(s, 2, b"empty", b""),
        "with": call(s, 3, b"with", pack_meta({"trace-id": "py-1", "priority": "batch"})),
        "error": call(s, 4, b"fail", pack_meta({"trace-id": "py-2"})),
        "bad_key": call(s, 5, b"x", pack_meta({"Trace": "x"})),
        "too_large": call(s, 6, b"x", pack_meta({"k": "v" * 5000})[:1] + b"k" + b"\x13\x88" + b"v" * 5000),
        "after": call(s, 7, b"after"),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
