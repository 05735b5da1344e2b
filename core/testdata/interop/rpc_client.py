"""Call zmp services from Python with pyzmq, following docs/protocol.md.

Usage: rpc_client.py REGISTRY_DIR NODE_NAME

The node is found in the directory registry (§1); the script connects a
DEALER and a REQ socket to its RPC endpoint (§2) and prints a JSON summary
of what it observed on stdout. It never hangs: every receive has a timeout
(RCVTIMEO), after which pyzmq raises zmq.Again and the script exits non-zero.

Services the Go side provides for this script:
  add    {"A": int, "B": int} -> A+B
  sleep  {"MS": int, "Tag": str} -> Tag, after sleeping MS milliseconds
  fail   -> error code 1234, message "nope"
  block  -> waits until its context is cancelled, then fails

The Go side runs at most 4 handlers at a time.
"""

import json
import sys
import time

import zmq

from zmpwire import CANCEL, REQUEST, pack_header, unpack_header, find_node

RECV_TIMEOUT_MS = 5000


def request(sock, id_, service, body, timeout_ms=5000):
    """Send a REQUEST on a DEALER: "", header, service name, body."""
    sock.send_multipart([b"", pack_header(REQUEST, id_, timeout_ms=timeout_ms),
                         service.encode(), body])


def receive(sock, with_delimiter=True):
    """Receive a REPLY or ERROR and describe it as a dict.

    A DEALER sees the empty delimiter frame; a REQ socket strips it.
    """
    frames = sock.recv_multipart()
    out = {"frames": len(frames)}
    if with_delimiter:
        out["delimiter_empty"] = frames[0] == b""
        frames = frames[1:]
    out.update(unpack_header(frames[0]))
    rest = frames[1:]
    if out["type"] == 2:  # REPLY: body
        out["body"] = rest[0].decode()
    elif out["type"] == 3:  # ERROR: message, detail
        out["message"] = rest[0].decode()
        out["detail"] = rest[1].decode() if len(rest) > 1 else None
    return out


def main():
    registry_dir, name = sys.argv[1], sys.argv[2]
    node = find_node(registry_dir, name)
    summary = {"rpc": node["rpc"], "services": node.get("services", [])}

    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(node["rpc"])

    # 1. A simple call: add {"A":17,"B":25} -> 42.
    request(dealer, 7, "add", b'{"A":17,"B":25}')
    summary["add"] = receive(dealer)

    # 2. Concurrent calls on one DEALER. The first sleeps longest, so the
    #    replies come back in the reverse order; they are matched by id.
    sleeps = {101: 400, 102: 300, 103: 200, 104: 100}
    for id_, ms in sleeps.items():
        request(dealer, id_, "sleep", json.dumps({"MS": ms, "Tag": "t%d" % id_}).encode())
    order, bodies = [], {}
    for _ in sleeps:
        r = receive(dealer)
        order.append(r["id"])
        bodies[str(r["id"])] = r.get("body")
    summary["concurrent"] = {"order": order, "bodies": bodies}

    # 3. A service that returns an application error.
    request(dealer, 8, "fail", b"{}")
    summary["fail"] = receive(dealer)

    # 4. A service the node does not provide.
    request(dealer, 9, "no.such.service", b"{}")
    summary["unknown"] = receive(dealer)

    # 5. Introspection (§5): zmp.ping.
    request(dealer, 10, "zmp.ping", b"{}")
    summary["ping"] = receive(dealer)

    # 6. A malformed message (header of 3 bytes) is dropped without a reply;
    #    the connection stays open and the next request is answered.
    dealer.send_multipart([b"", b"\x01\x01\x00", b"add", b"{}"])
    request(dealer, 11, "add", b'{"A":1,"B":2}')
    summary["after_malformed"] = receive(dealer)

    # 7. The timeout field: a blocking handler given 300 ms fails with
    #    code 4 (deadline exceeded).
    request(dealer, 12, "block", b"{}", timeout_ms=300)
    summary["timeout"] = receive(dealer)

    # 8. CANCEL: a blocking handler with no timeout is cancelled. Its
    #    (error) reply may still come, and does here.
    request(dealer, 13, "block", b"{}", timeout_ms=0)
    time.sleep(0.2)  # let the handler start
    dealer.send_multipart([b"", pack_header(CANCEL, 13)])
    summary["cancel"] = receive(dealer)

    # 9. CANCEL of a request still queued. The node runs 4 handlers at a
    #    time (WithConcurrency(4, ...) on the Go side): ids 201-204 occupy
    #    them for 500 ms, so 205 waits in the queue when its CANCEL comes.
    for id_ in (201, 202, 203, 204):
        request(dealer, id_, "block", b"{}", timeout_ms=500)
    request(dealer, 205, "block", b"{}", timeout_ms=0)
    dealer.send_multipart([b"", pack_header(CANCEL, 205)])
    queued = {}
    for _ in range(5):
        r = receive(dealer)
        queued[str(r["id"])] = r
    summary["cancel_queued"] = queued

    # 10. A REQ socket: it adds and strips the empty delimiter itself, so it
    #    sends [header, service, body] and receives [header, body].
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(node["rpc"])
    req.send_multipart([pack_header(REQUEST, 99, timeout_ms=5000), b"add", b'{"A":17,"B":25}'])
    summary["req"] = receive(req, with_delimiter=False)

    ctx.destroy(linger=0)
    json.dump(summary, sys.stdout)
    print()


if __name__ == "__main__":
    try:
        main()
    except zmq.Again:
        sys.exit("%s: no message within %d ms" % (sys.argv[0], RECV_TIMEOUT_MS))
