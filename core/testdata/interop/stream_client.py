"""Upload and download a stream from Python, following docs/protocol.md §6.

Usage: stream_client.py REGISTRY_DIR NODE_NAME

Services the Go side provides for this script (stream services):
  up    upload: answers "<header>:<length>:<sha256 hex>" of the body
  down  download: the request is a decimal length n; the stream is the
        bytes i % 251 for i in 0..n-1
  fail  upload: fails with code 1042 after reading 1000 bytes

Prints a JSON summary on stdout; every receive has a timeout.
"""

import hashlib
import json
import struct
import sys

import zmq

from zmpwire import ERROR, REQUEST, pack_header, unpack_header, find_node

STREAM = struct.Struct(">BB16sQI")  # version, op/status, stream id, seq, arg
OPEN_UPLOAD, OPEN_DOWNLOAD, DATA, WAIT, READ, CLOSE, ABORT = 1, 2, 3, 4, 5, 6, 7
OK, PENDING, DONE = 0, 1, 2
ZERO_ID = bytes(16)


class RemoteError(Exception):
    def __init__(self, code, message):
        super().__init__("code %d: %s" % (code, message))
        self.code = code


class Caller:
    """Calls on one DEALER: the same connection for every call of a stream."""

    def __init__(self, endpoint):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.RCVTIMEO, 10000)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.next_id = 0

    def send(self, service, op, stream_id=ZERO_ID, seq=0, arg=0, payload=b""):
        self.next_id += 1
        body = STREAM.pack(1, op, stream_id, seq, arg) + payload
        self.sock.send_multipart([b"", pack_header(REQUEST, self.next_id, timeout_ms=5000),
                                  service.encode(), body])
        return self.next_id

    def receive(self):
        """Return (id, status, stream id, seq, arg, payload), or raise RemoteError."""
        frames = self.sock.recv_multipart()
        h = unpack_header(frames[1])
        if h["type"] == ERROR:
            raise RemoteError(h["code"], frames[2].decode())
        body = frames[2]
        version, status, sid, seq, arg = STREAM.unpack(body[:STREAM.size])
        assert version == 1, version
        return h["id"], status, sid, seq, arg, body[STREAM.size:]

    def call(self, service, op, stream_id=ZERO_ID, seq=0, arg=0, payload=b""):
        self.send(service, op, stream_id, seq, arg, payload)
        return self.receive()[1:]


def upload(c, service, header, data):
    _, sid, window, chunk, node = c.call(service, OPEN_UPLOAD, payload=header)
    limit, seq, off, done = window, 0, 0, None
    while off < len(data) and done is None:
        sent = 0
        while off < len(data) and seq < limit:  # a window of data calls in flight
            c.send(service, DATA, sid, seq, 0, data[off:off + chunk])
            seq, off, sent = seq + 1, off + chunk, sent + 1
        for _ in range(sent):
            _, status, _, lim, _, payload = c.receive()
            if status == DONE:
                done = payload
            limit = max(limit, lim)
        while seq >= limit and off < len(data) and done is None:
            status, _, lim, _, payload = c.call(service, WAIT, sid, seq)
            if status == DONE:
                done = payload
            limit = max(limit, lim)
    while True:  # close takes the reply, also after an early one
        status, _, _, _, payload = c.call(service, CLOSE, sid, seq)
        if status == DONE:
            return payload, seq


def download(c, service, request):
    _, sid, _, chunk, _ = c.call(service, OPEN_DOWNLOAD, payload=request)
    h, n, seq = hashlib.sha256(), 0, 0
    while True:
        status, _, first, count, payload = c.call(service, READ, sid, seq, chunk)
        if status == PENDING:
            continue
        assert first == seq, (first, seq)
        seq += count
        h.update(payload)
        n += len(payload)
        if status == DONE:
            return n, h.hexdigest()


def pattern(n):
    return bytes(i % 251 for i in range(n))


def main():
    registry_dir, name = sys.argv[1], sys.argv[2]
    c = Caller(find_node(registry_dir, name)["rpc"])
    out = {}
    data = pattern(3 * 65536 + 5)
    reply, chunks = upload(c, "up", b"py", data)
    out["upload_reply"] = reply.decode()
    out["upload_chunks"] = chunks
    out["upload_want"] = "py:%d:%s" % (len(data), hashlib.sha256(data).hexdigest())
    out["empty_reply"] = upload(c, "up", b"empty", b"")[0].decode()

    n = 5 * 65536 + 7
    got_n, got_sum = download(c, "down", str(n).encode())
    out["download_len"] = got_n
    out["download_ok"] = got_n == n and got_sum == hashlib.sha256(pattern(n)).hexdigest()

    try:
        upload(c, "fail", b"", pattern(10000))
        out["fail_code"] = 0
    except RemoteError as e:
        out["fail_code"] = e.code
        out["fail_message"] = str(e)
    try:
        c.call("up", DATA, b"\x01" * 16, 0, 0, b"x")
        out["unknown_code"] = 0
    except RemoteError as e:
        out["unknown_code"] = e.code
    print(json.dumps(out))


if __name__ == "__main__":
    main()
