"""pyzmq DEALER with ZMTP heartbeats against a zmp Router.

usage: dealer_heartbeat.py ENDPOINT
Sends b"real", idles for a second while libzmq sends PINGs every 100 ms
(and drops the connection if no PONG arrives within 300 ms), then sends
b"end" and waits for both echoes. Fails if the connection was dropped.
"""
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

ep = sys.argv[1]
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.setsockopt(zmq.SNDTIMEO, 10000)
s.setsockopt(zmq.HEARTBEAT_IVL, 100)
s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 300)
s.setsockopt(zmq.HEARTBEAT_TTL, 1000)
mon = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
s.connect(ep)
s.send_multipart([b"real"])
if s.recv_multipart() != [b"real"]:
    print("bad echo")
    sys.exit(1)
time.sleep(1.0)  # the peer under test must answer libzmq's PINGs meanwhile
s.send_multipart([b"end"])
if s.recv_multipart() != [b"end"]:
    print("bad echo")
    sys.exit(1)
events = []
while mon.poll(0):
    events.append(recv_monitor_message(mon)["event"])
if zmq.EVENT_DISCONNECTED in events:
    print("libzmq dropped the connection: events %r" % events)
    sys.exit(1)
if events.count(zmq.EVENT_HANDSHAKE_SUCCEEDED) != 1:
    print("expected one handshake, events %r" % events)
    sys.exit(1)
s.disable_monitor()
mon.close()
s.close()
ctx.term()
print("ok")
