"""Subscribe to zmp topics from Python with pyzmq, following docs/protocol.md.

Usage: sub_client.py REGISTRY_DIR NODE_NAME

The node is found in the directory registry (§1); the script connects SUB
sockets to its pub endpoint (§3) and prints a JSON summary on stdout. The Go
side publishes {"topic": name, "n": i} on the topics "temperature",
"temperature.max" and "other", so that for every message the sequence
number in the header equals n.

Every receive has a timeout (RCVTIMEO): the script never hangs.
"""

import json
import sys
import time

import zmq

from zmpwire import DATA, find_node, unpack_header

RECV_TIMEOUT_MS = 5000
WANT = 20  # messages of each expected topic to receive
DEADLINE_S = 10


def parse(frames):
    """Parse a DATA message: topic NUL, header, body (§3.1)."""
    if len(frames) != 3:
        raise ValueError("%d frames, want 3" % len(frames))
    topic, header, body = frames
    if not topic.endswith(b"\x00"):
        raise ValueError("topic frame %r not NUL-terminated" % topic)
    h = unpack_header(header)
    if (h["version"], h["type"], h["code"], h["timeout"]) != (1, DATA, 0, 0):
        raise ValueError("bad DATA header %r" % h)
    return topic[:-1].decode(), h["id"], json.loads(body)


def collect(sock, expected):
    """Receive until every expected topic was seen WANT times."""
    counts, last_seq, gaps, errors = {}, {}, {}, []
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and any(counts.get(t, 0) < WANT for t in expected):
        try:
            topic, seq, body = parse(sock.recv_multipart())
        except ValueError as e:
            errors.append(str(e))
            continue
        counts[topic] = counts.get(topic, 0) + 1
        if body.get("topic") != topic:
            errors.append("body %r on topic %r" % (body, topic))
        if body.get("n") != seq:
            errors.append("seq %d but n=%r on %r" % (seq, body.get("n"), topic))
        if seq <= last_seq.get(topic, 0):
            errors.append("seq %d after %d on %r" % (seq, last_seq[topic], topic))
        elif topic in last_seq and seq != last_seq[topic] + 1:
            # The publisher dropped messages for us (§3.1).
            gaps[topic] = gaps.get(topic, 0) + 1
        last_seq[topic] = seq
    return {"counts": counts, "last_seq": last_seq, "gaps": gaps, "errors": errors}


def subscriber(ctx, endpoint, prefix):
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, prefix)
    sock.connect(endpoint)
    return sock


def main():
    registry_dir, name = sys.argv[1], sys.argv[2]
    node = find_node(registry_dir, name)
    summary = {"pub": node["pub"], "topics": node.get("topics", [])}
    ctx = zmq.Context()

    # One topic: its name followed by 0x00. "temperature.max" must not match.
    exact = subscriber(ctx, node["pub"], b"temperature\x00")
    summary["exact"] = collect(exact, ["temperature"])
    exact.close()

    # A prefix without 0x00: "temperature" and "temperature.max", not "other".
    prefix = subscriber(ctx, node["pub"], b"temperature")
    summary["prefix"] = collect(prefix, ["temperature", "temperature.max"])
    prefix.close()

    ctx.destroy(linger=0)
    json.dump(summary, sys.stdout)
    print()


if __name__ == "__main__":
    try:
        main()
    except zmq.Again:
        sys.exit("%s: no message within %d ms" % (sys.argv[0], RECV_TIMEOUT_MS))
