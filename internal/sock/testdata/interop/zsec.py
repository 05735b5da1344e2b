"""Security settings for the interop scripts, read from the environment.

ZMP_PY_SECURITY holds JSON, absent or {} for NULL:
  client: {"mechanism": "PLAIN", "user": U, "password": P}
          {"mechanism": "CURVE", "public": Z85, "secret": Z85, "server_key": Z85}
  server: {"mechanism": "PLAIN", "server": true, "passwords": {U: P}}
          {"mechanism": "CURVE", "server": true, "public": Z85, "secret": Z85,
           "allow": [Z85, ...]}   (absent "allow": any client key)
A server runs pyzmq's ZAP authenticator thread, which is libzmq's own
way of checking credentials.
"""
import json
import os

import zmq
from zmq.auth.thread import ThreadAuthenticator

_auth = None


def apply(sock, ctx):
    """Configure sock's mechanism before it binds or connects."""
    global _auth
    cfg = json.loads(os.environ.get("ZMP_PY_SECURITY") or "{}")
    mech = cfg.get("mechanism", "NULL")
    server = cfg.get("server", False)
    if mech == "NULL":
        return
    if server:
        _auth = ThreadAuthenticator(ctx)
        _auth.start()
    if mech == "PLAIN":
        if server:
            _auth.configure_plain(domain="*", passwords=cfg["passwords"])
            sock.plain_server = True
        else:
            sock.plain_username = cfg["user"].encode()
            sock.plain_password = cfg["password"].encode()
    elif mech == "CURVE":
        sock.curve_publickey = cfg["public"].encode()
        sock.curve_secretkey = cfg["secret"].encode()
        if server:
            if "allow" in cfg:
                _auth.configure_curve_callback(domain="*", credentials_provider=_Allow(cfg["allow"]))
            else:
                _auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
            sock.curve_server = True
        else:
            sock.curve_serverkey = cfg["server_key"].encode()
    else:
        raise SystemExit("unknown mechanism %r" % mech)


class _Allow:
    def __init__(self, keys):
        self.keys = set(k.encode() for k in keys)

    def callback(self, domain, key):
        # pyzmq passes the client's key already in Z85
        return key in self.keys


def stop():
    if _auth is not None:
        _auth.stop()
