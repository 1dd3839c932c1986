#!/usr/bin/env python3
"""Latency of point-in-time reads on a running stockd: STOCK at=seq:N and at=<time> for random skus,
then HISTORY of one sku. For the issue-4 figure on a large log (Tools/bench.sh runs it on its
10 M-event log). Usage: Tools/at_latency.py SOCKET SKUS LAST_SEQ"""
import random
import socket
import statistics
import sys
import time


def main():
    path, skus, last_seq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    stream = sock.makefile("rwb")

    def request(line):
        stream.write((line + "\n").encode())
        stream.flush()
        rows = []
        while True:
            text = stream.readline().decode().rstrip("\n")
            rows.append(text)
            if text.startswith(("OK", "ERR")):
                return rows

    def first_time():
        row = request("EVENTS from=1 limit=1")[0]
        stamp = [w for w in row.split() if w.startswith("at=")][0][3:]
        return time.mktime(time.strptime(stamp.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S")) - time.timezone

    random.seed(1)
    start_time, end_time = first_time(), time.time()
    for label in ("at=seq:N", "at=time"):
        samples = []
        for _ in range(200):
            sku = random.randrange(skus)
            if label == "at=seq:N":
                point = f"seq:{random.randint(1, last_seq)}"
            else:
                point = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(random.uniform(start_time, end_time)))
            began = time.perf_counter()
            reply = request(f"STOCK sku=SKU-{sku} at={point}")
            samples.append((time.perf_counter() - began) * 1000)
            assert reply[-1].startswith("OK"), reply
        samples.sort()
        print(f"STOCK {label}: n=200 median {statistics.median(samples):.2f} ms p99 {samples[197]:.2f} ms max {samples[-1]:.2f} ms")
    began = time.perf_counter()
    rows = request("HISTORY sku=SKU-7 limit=100000")
    print(f"HISTORY sku=SKU-7: {len(rows) - 1} events in {(time.perf_counter() - began) * 1000:.2f} ms")


main()
