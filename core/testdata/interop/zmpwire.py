"""Minimal zmp wire-protocol helpers, written from docs/protocol.md only.

This module is shared by rpc_client.py and sub_client.py. It is meant as an
example for implementers in other languages: it shows how to find a node in
a directory registry (§1) and how to build and parse the 16-byte header
(§2.1, §3.1). It uses nothing but the standard library; the scripts that
import it use pyzmq for the sockets.
"""

import json
import os
import re
import socket
import struct
from datetime import datetime, timezone

# §2.1: header layout, all integers big-endian.
HEADER = struct.Struct(">BBHQI")  # version, type, code, id, timeout_ms
assert HEADER.size == 16
VERSION = 1

# Message types (§2.1, §3.1).
REQUEST, REPLY, ERROR, CANCEL, DATA = 1, 2, 3, 4, 5

# Error codes (§2.3) used by the examples.
CODE_HANDLER, CODE_UNKNOWN_SERVICE, CODE_DEADLINE_EXCEEDED = 1, 2, 4


def pack_header(typ, id_, code=0, timeout_ms=0):
    """Return the 16-byte header of a message."""
    return HEADER.pack(VERSION, typ, code, id_, timeout_ms)


def unpack_header(frame):
    """Parse a header frame into a dict; raise ValueError if it is not one."""
    if len(frame) != HEADER.size:
        raise ValueError("header of %d bytes, want 16" % len(frame))
    version, typ, code, id_, timeout_ms = HEADER.unpack(frame)
    return {"version": version, "type": typ, "code": code, "id": id_, "timeout": timeout_ms}


# ---------------------------------------------------------------------------
# §1 Finding a node in a directory registry.
# ---------------------------------------------------------------------------

_SAFE = re.compile(rb"[A-Za-z0-9._-]")


def entry_file_name(name):
    """File name of a node's entry: '<name>.json', the name percent-escaped.

    Bytes other than ASCII letters, digits and '._-' become %XX (upper-case
    hex). Plain names such as 'calc' are kept as they are.
    """
    out = []
    for b in name.encode("utf-8"):
        c = bytes([b])
        out.append(c.decode() if _SAFE.fullmatch(c) else "%%%02X" % b)
    return "".join(out) + ".json"


def parse_time(s):
    """Parse an RFC 3339 time as written in entries ('...Z' or '...+01:00').

    Fractional seconds may have up to 9 digits; Python keeps 6.
    """
    m = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        raise ValueError("bad time %r" % s)
    base, frac, zone = m.groups()
    frac = (frac or "")[:6].ljust(6, "0")
    zone = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat("%s.%s%s" % (base, frac, zone))


def _proc_start_time(pid):
    """Start time of process pid (field 22 of /proc/<pid>/stat), or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Field 2 (the command) is in parentheses and may hold spaces or ')':
    # count the fields from the last ')'. Field 3 is then rest[0], field 22
    # is rest[19].
    rest = stat[stat.rindex(b")") + 1:].split()
    if rest[0] in (b"Z", b"X", b"x"):  # zombie or dead: not running
        return None
    return int(rest[19])


def is_live(entry):
    """Whether an entry is live, by the rules of §1."""
    node = entry["node"]
    if parse_time(node["expires"]) <= datetime.now(timezone.utc):
        return False
    if node.get("host") == socket.gethostname():
        return _proc_start_time(node["pid"]) == entry.get("pid_start")
    return True


def find_node(registry_dir, name):
    """Return the 'node' object of a live node, or raise LookupError."""
    path = os.path.join(registry_dir, entry_file_name(name))
    try:
        with open(path, "rb") as f:
            entry = json.load(f)
    except (OSError, ValueError) as e:
        raise LookupError("no readable entry for %r at %s: %s" % (name, path, e))
    if not is_live(entry):
        raise LookupError("entry for %r is not live: %r" % (name, entry))
    return entry["node"]


# ---------------------------------------------------------------------------
# §2.6 Metadata: key length (1 byte), key, value length (2 bytes), value.
# ---------------------------------------------------------------------------

def pack_meta(items):
    """Encode a dict of str -> str as a metadata frame."""
    out = b""
    for k, v in items.items():
        kb, vb = k.encode(), v.encode()
        out += bytes([len(kb)]) + kb + struct.pack(">H", len(vb)) + vb
    return out


def unpack_meta(frame):
    """Decode a metadata frame into a dict; raise ValueError if malformed."""
    out, i = {}, 0
    while i < len(frame):
        kl = frame[i]
        k = frame[i + 1:i + 1 + kl].decode()
        (vl,) = struct.unpack(">H", frame[i + 1 + kl:i + 3 + kl])
        v = frame[i + 3 + kl:i + 3 + kl + vl]
        if len(v) != vl:
            raise ValueError("truncated metadata")
        out[k] = v.decode()
        i += 3 + kl + vl
    return out
