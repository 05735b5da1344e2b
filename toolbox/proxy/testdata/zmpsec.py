"""Security settings for the interop scripts, read from the environment.

ZMP_PY_SEC_<ROLE> (or ZMP_PY_SEC for every role) is one of
  "curve SERVERKEY PUBLIC SECRET"  (Z85 keys; the socket dials a CURVE server)
  "plain USER PASSWORD"            (the socket logs in with PLAIN)
and unset means NULL. secure(sock, role) applies it before connect.
"""
import os


def secure(sock, role):
    spec = os.environ.get("ZMP_PY_SEC_" + role.upper(), os.environ.get("ZMP_PY_SEC", ""))
    parts = spec.split()
    if not parts:
        return
    if parts[0] == "curve":
        server, public, secret = (p.encode() for p in parts[1:4])
        sock.curve_serverkey = server
        sock.curve_publickey = public
        sock.curve_secretkey = secret
    elif parts[0] == "plain":
        sock.plain_username = parts[1].encode()
        sock.plain_password = parts[2].encode() if len(parts) > 2 else b""
    else:
        raise SystemExit("bad security spec %r" % spec)
