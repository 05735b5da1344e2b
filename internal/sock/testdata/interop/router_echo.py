"""pyzmq ROUTER echo server for a zmp Session (DEALER).

usage: router_echo.py COUNT
Binds tcp://127.0.0.1:*, prints the endpoint on the first line, echoes
COUNT messages back to their sender, checks the DEALER's Socket-Type
is accepted, prints "ok" and exits.
"""
import sys

import zmq

import zsec

count = int(sys.argv[1])
ctx = zmq.Context()
s = ctx.socket(zmq.ROUTER)
s.setsockopt(zmq.LINGER, 1000)
s.setsockopt(zmq.RCVTIMEO, 15000)
zsec.apply(s, ctx)
s.bind("tcp://127.0.0.1:*")
print(s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
for i in range(count):
    try:
        m = s.recv_multipart()
    except zmq.Again:
        print("timeout after %d messages" % i, flush=True)
        sys.exit(1)
    s.send_multipart(m)  # identity frame first: back to the sender
s.close()
zsec.stop()
ctx.term()
print("ok", flush=True)
