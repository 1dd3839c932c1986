#!/usr/bin/env python3
"""The floods of issue 8 against a running stockd, with the daemon's peak resident memory.

    Tools/floods.py --socket var/stockd.sock --pid $(pidof stockd) [--connections 400]

Each flood runs on its own, then the script waits until the daemon answers PING again and its
memory has settled, and prints one line: the flood, what was sent, the baseline and peak VmRSS
(sampled every 20 ms from /proc) and how long a PING took meanwhile, on a connection made before
the flood and on a new one.

  pings      N connections pipeline PING as fast as the daemon takes them and never read
  events     one client pipelines 1,000 x EVENTS limit=100000 and closes
  reader     one client pipelines 10,000 x EVENTS and then reads every reply
  idle       N connections that send nothing (the idle timeout closes them; see INFO connections)

The store should hold events for `events` and `reader` to mean anything (stockbench --fill-offline).
"""
import argparse
import socket
import threading
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, rss_kib(pid), True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)


def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s


def ping_latency(path, s=None):
    """Seconds for a PING on `s`, or on a connection made for it (accept included)."""
    start = time.monotonic()
    fresh = s is None
    if fresh:
        s = connect(path)
    s.settimeout(120)
    s.sendall(b"PING\n")
    s.recv(64)
    if fresh:
        s.close()
    return time.monotonic() - start


def send_until_refused(s, data):
    s.setblocking(False)
    sent = 0
    try:
        while sent < len(data):
            sent += s.send(data[sent:])
    except BlockingIOError:
        pass
    return sent


def flood_pings(path, connections):
    held, sent = [], 0
    for _ in range(connections):
        s = connect(path)
        sent += send_until_refused(s, b"PING\n" * 200_000)
        held.append(s)
    return held, f"{connections} connections, {sent // 5} PINGs taken"


def flood_events(path, _):
    s = connect(path)
    sent = send_until_refused(s, b"EVENTS limit=100000\n" * 1000)
    s.close()
    return [], f"{sent // 20} x EVENTS limit=100000, then closed"


def flood_reader(path, _):
    s = connect(path)
    requests = 10_000
    s.sendall(b"EVENTS\n" * requests)
    answered, rows, rest = 0, 0, b""
    while answered < requests:
        data = s.recv(1 << 20)
        if not data:
            break
        rest += data
        lines = rest.split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line.startswith(b"OK") or line.startswith(b"ERR"):
                answered += 1
            else:
                rows += 1
    s.close()
    return [], f"{requests} x EVENTS read back: {answered} replies, {rows} rows"


def flood_idle(path, connections):
    held = [connect(path) for _ in range(connections)]
    return held, f"{connections} idle connections"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--connections", type=int, default=400)
    parser.add_argument("floods", nargs="*", default=["pings", "events", "reader"])
    args = parser.parse_args()
    floods = {"pings": flood_pings, "events": flood_events, "reader": flood_reader, "idle": flood_idle}
    for name in args.floods:
        baseline = rss_kib(args.pid)
        sampler = Sampler(args.pid)
        sampler.start()
        bystander = connect(args.socket)
        started = time.monotonic()
        held, what = floods[name](args.socket, args.connections)
        ping_held = ping_latency(args.socket, bystander)
        ping = ping_latency(args.socket)
        bystander.close()
        for s in held:
            s.close()
        # Settled: the same VmRSS for a second.
        last, same = rss_kib(args.pid), 0
        while same < 50:
            time.sleep(0.02)
            now = rss_kib(args.pid)
            same = same + 1 if now == last else 0
            last = now
        sampler.running = False
        sampler.join()
        print(f"{name}: {what}; VmRSS {baseline // 1024} MiB -> peak {sampler.peak // 1024} MiB"
              f" (+{(sampler.peak - baseline) // 1024} MiB); PING during it: {ping_held * 1000:.0f} ms on a"
              f" connection made before, {ping * 1000:.0f} ms on a new one;"
              f" {time.monotonic() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
