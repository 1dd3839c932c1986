#!/usr/bin/env python3
"""SUGGEST latency on a running stockd (issue 11: within 50 ms for one sku on a 10 M-event log).
Usage: Tools/suggest_latency.py SOCKET FILL_SKUS [SKU:EVENTS ...]
Each SKU:EVENTS first gets a history written through the socket (pipelined): 20 purchase orders
(EXPECT + RECEIVE) and sales over 4 warehouses until it has EVENTS events; then SUGGEST is timed 200
times for random fill skus (SKU-n) and for each of those skus."""
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netharness import Client  # noqa: E402  (one connection speaking the line protocol)


def main():
    path, fill_skus = sys.argv[1], int(sys.argv[2])
    client = Client(path, timeout=120)
    request = client.request

    def pipelined(lines, window=256):
        for start in range(0, len(lines), window):
            chunk = lines[start:start + window]
            client.send(chunk)
            for _ in chunk:
                reply = client.reply()
                assert reply[-1].startswith("OK"), reply

    def history(sku, events):
        lines = [f"RECEIVE sku={sku} wh=W{w} qty=100000000" for w in range(4)]
        for order in range(20):
            lines.append(f"EXPECT sku={sku} wh=W{order % 4} qty=10 eta=2030-01-01T00:00:00Z po={sku}-PO-{order}")
            lines.append(f"RECEIVE sku={sku} wh=W{order % 4} qty=10 po={sku}-PO-{order}")
        while len(lines) < events:
            lines.append(f"SELL sku={sku} wh=W{len(lines) % 4} qty=1")
        pipelined(lines)

    def timed(label, skus):
        samples = []
        for sku in skus:
            began = time.perf_counter()
            reply = request(f"SUGGEST sku={sku}")
            samples.append((time.perf_counter() - began) * 1000)
            assert reply[-1].startswith("OK") and len(reply) >= 2, reply
        samples.sort()
        print(f"SUGGEST {label}: n={len(samples)} median {statistics.median(samples):.2f} ms "
              f"p99 {samples[int(len(samples) * 0.99) - 1]:.2f} ms max {samples[-1]:.2f} ms", flush=True)

    random.seed(1)
    timed(f"random fill skus (SKU-n, ~{10_000_000 // fill_skus} events each)",
          [f"SKU-{random.randrange(fill_skus)}" for _ in range(200)])
    for spec in sys.argv[3:]:
        sku, events = spec.split(":")
        began = time.perf_counter()
        history(sku, int(events))
        print(f"wrote {events} events of {sku} in {time.perf_counter() - began:.1f} s", flush=True)
        timed(f"{sku} ({events} events of its own)", [sku] * 200)


main()
