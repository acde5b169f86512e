#!/usr/bin/env python3
"""How long the kernel's RTNL lock is held while a command runs.

Run by bench/rtnl-busy.sh, in a network namespace of its own (an empty one). At random moments
(about 1 ms apart) it asks for that namespace's links: a dump the kernel answers only under RTNL.
When the lock is free, the answer takes some 20 µs; when another task holds it, the dump waits
until the lock is let go. The sum of those waits is how long RTNL was held by others (a lower
bound: a holder that ends between two samples is missed). Prints the seconds when it gets SIGTERM.
"""
import random
import signal
import socket
import struct
import time

RTM_GETLINK, NLM_F_REQUEST, NLM_F_DUMP, NLMSG_DONE, NLMSG_ERROR = 18, 1, 0x300, 3, 2
sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
sock.bind((0, 0))


def dump(seq):
    header = struct.pack("=LHHLL", 32, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    sock.send(header + struct.pack("=BxHiII", 0, 0, 0, 0, 0))
    while True:
        data = sock.recv(65536)
        off = 0
        while off < len(data):
            length, kind = struct.unpack_from("=LH", data, off)
            if kind in (NLMSG_DONE, NLMSG_ERROR):
                return
            off += (length + 3) & ~3


stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
waited = 0.0
seq = 0
free = 0.0002  # an answer slower than this waited for the lock
while not stop:
    seq += 1
    t0 = time.perf_counter()
    dump(seq)
    took = time.perf_counter() - t0
    if took > free:
        waited += took
    time.sleep(random.expovariate(1000))
print(f"{waited:.3f}", flush=True)
