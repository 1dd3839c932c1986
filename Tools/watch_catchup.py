#!/usr/bin/env python3
"""How fast a watcher catches up with a log: `WATCH events from=1`, with or without `stock=yes`, in
line or JSON form, against a running stockd (issue 12: the relay's stream).

    Tools/watch_catchup.py SOCKET [--fill N] [--stock yes|no] [--json]

--fill N first writes N events through the socket (pipelined RECEIVE and SELL over 1,000 skus and 2
warehouses, 4 connections). The catch-up is timed from the WATCH to the event row of the log's last
seq, as read here; the reader's own cost is included (it only scans each line for that seq).
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netharness import Client  # noqa: E402  (one connection speaking the line protocol)


def fill(path, events, connections=4, window=2_000):
    def writer(index):
        client = Client(path, timeout=120)
        for start in range(0, events // connections, window):
            lines = []
            for n in range(start, min(start + window, events // connections)):
                verb = "SELL" if n % 3 == 1 else "RECEIVE"
                lines.append(f"{verb} sku=S{(n * 7 + index) % 1000} wh=W{n % 2} qty={1 if verb == 'SELL' else 5}")
            client.send(lines)
            for _ in lines:
                client.reply()
        client.close()
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("socket")
    parser.add_argument("--fill", type=int, default=0)
    parser.add_argument("--stock", default="yes", choices=["yes", "no"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.fill:
        began = time.monotonic()
        fill(args.socket, args.fill)
        print(f"wrote {args.fill} writes in {time.monotonic() - began:.1f} s")
    client = Client(args.socket, timeout=120)
    last = int(next(word for word in client.request("INFO")[0].split() if word.startswith("seq="))[4:])
    if args.json:
        client.send(["HELLO format=json"])
        client.reader.readline()  # {"ok":true,...}: JSON from here on
    began = time.monotonic()
    client.send([f"WATCH events from=1 stock={args.stock}"])
    client.reader.readline()
    marker = (b'"seq":%d,' % last) if args.json else (b"seq=%d " % last)
    lines = 0
    while True:
        line = client.reader.readline()
        lines += 1
        if line.startswith((b"event ", b'{"push":"event"')) and marker in line:
            break
    seconds = time.monotonic() - began
    print(f"stock={args.stock} json={'yes' if args.json else 'no'}: {last} events, {lines} lines in "
          f"{seconds:.2f} s = {last / seconds:,.0f} events/s")


main()
