#!/usr/bin/env python3
"""Promise benchmark: one write that fills or moves thousands of waiting reservations.

Each scenario, on a fresh release stockd (temporary data folder) per run:
  1. sets up N reservations waiting on purchase order PO-Q of sku Q, and N on PO-S of sku S
     (EXPECT qty=N, then N pipelined `RESERVE qty=1 backorder=po`; the daemon's CPU for each
     1,000 is kept, to show what a RESERVE costs as the waiting list grows);
  2. quiet: times the big write on Q from the request sent to its OK line read, and the daemon's
     CPU for it (utime+stime of /proc/PID/stat, and the per-thread schedstat run time in ns);
  3. loaded: starts --sellers processes, each a connection sending plain `SELL sku=PLAIN qty=1`
     one at a time, waits until they run steadily, sends the same big write on S, and compares
     the SELLs that overlapped it with the others; the group commits between two METRICS reads
     around it come from stockd_commit_duration_seconds_count.
Medians over --runs runs are printed (and the runs themselves with --json).

    swift build -c release && python3 Tools/promise_bench.py --bin .build/release
    python3 Tools/promise_bench.py --bin .build/release --scenarios receive-1000 --runs 1
"""

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from order_service import StockdClient, parse_line  # noqa: E402

ETA, LATER = "2030-01-01T00:00:00Z", "2030-02-01T00:00:00Z"

# name -> (reservations waiting, the big write; {sku} and {po} filled in)
SCENARIOS = {
    "receive-1000": (1_000, "RECEIVE sku={sku} wh=PAR qty=1000 po={po}"),
    "reschedule-1000": (1_000, f"RESCHEDULE po={{po}} eta={LATER}"),
    "receive-2500": (2_500, "RECEIVE sku={sku} wh=PAR qty=2500 po={po}"),
    "receive-1000-of-10000": (10_000, "RECEIVE sku={sku} wh=PAR qty=1000 po={po}"),
    "receive-10000": (10_000, "RECEIVE sku={sku} wh=PAR qty=10000 po={po}"),
    "reschedule-10000": (10_000, f"RESCHEDULE po={{po}} eta={LATER}"),
}


class Connection:
    """A raw connection for pipelined setup and for timing one request without parsing it."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.reader = self.sock.makefile("rb")

    def close(self):
        self.reader.close()
        self.sock.close()

    def send(self, lines):
        """Send the lines in one burst; return the reply lines of each (rows, then OK/ERR)."""
        self.sock.sendall("".join(line + "\n" for line in lines).encode())
        replies, rows = [], []
        while len(replies) < len(lines):
            raw = self.reader.readline()
            if not raw.endswith(b"\n"):
                raise EOFError("stockd closed the connection")
            rows.append(raw.decode().rstrip("\n"))
            if raw.startswith((b"OK", b"ERR")):
                replies.append(rows)
                rows = []
        return replies

    def write(self, line):
        """One request that must succeed; returns its reply lines."""
        reply = self.send([line])[0]
        if reply[-1].startswith("ERR"):
            raise RuntimeError(f"{line} -> {reply[-1]}")
        return reply


def cpu(pid):
    """(utime+stime in seconds from /proc/PID/stat, run time in seconds summed over threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])        # utime, stime: fields 14 and 15
    run_ns = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns += int(f.read().split()[0])
        except FileNotFoundError:                     # the thread ended meanwhile
            pass
    return ticks / os.sysconf("SC_CLK_TCK"), run_ns / 1e9


def last_seq(conn):
    """The last seq committed, from the OK line of an INFO read."""
    return int(parse_line(conn.write("INFO")[-1]).fields["seq"])


def commits(conn):
    """Group commits so far: the count of stockd_commit_duration_seconds."""
    for line in conn.write("METRICS"):
        if line.startswith("stockd_commit_duration_seconds_count "):
            return int(float(line.split()[1]))
    raise RuntimeError("METRICS has no stockd_commit_duration_seconds_count")


def seller(path, count, stop, results):
    """Plain SELLs one at a time until `stop`; sends back (sent, answered) monotonic ns pairs."""
    conn = Connection(path)
    times = []
    while not stop.is_set():
        sent = time.monotonic_ns()
        reply = conn.send(["SELL sku=PLAIN wh=PAR qty=1"])[0]
        times.append((sent, time.monotonic_ns()))
        if not reply[-1].startswith("OK"):
            raise RuntimeError(reply[-1])
        count.value += 1
    conn.close()
    results.put(times)


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not met")
        time.sleep(0.01)


def setup(conn, pid, sku, po, waiting):
    """EXPECT an order of `waiting` units and reserve them one by one, pipelined 1,000 at a time;
    returns the daemon's CPU seconds (run time) of each 1,000 RESERVEs."""
    conn.write(f"EXPECT sku={sku} wh=PAR qty={waiting} eta={ETA} po={po}")
    chunk_cpu = []
    for start in range(0, waiting, 1_000):
        lines = [f"RESERVE sku={sku} wh=PAR qty=1 backorder=po"] * min(1_000, waiting - start)
        before = cpu(pid)[1]
        for reply in conn.send(lines):
            if not reply[-1].startswith("OK"):
                raise RuntimeError(reply[-1])
        chunk_cpu.append(cpu(pid)[1] - before)
    return chunk_cpu


def timed(conn, line):
    """Send one request, read its whole reply: (seconds, the reply lines, sent ns, read ns)."""
    sent = time.monotonic_ns()
    reply = conn.send([line])[0]
    done = time.monotonic_ns()
    if not reply[-1].startswith("OK"):
        raise RuntimeError(f"{line} -> {reply[-1]}")
    return (done - sent) / 1e9, reply, sent, done


def run_once(stockd, name, sellers):
    waiting, template = SCENARIOS[name]
    stop, results = multiprocessing.Event(), multiprocessing.Queue()
    with tempfile.TemporaryDirectory(prefix="promise-bench-") as tmp:
        path = os.path.join(tmp, "s.sock")
        with open(os.path.join(tmp, "stockd.log"), "wb") as log:
            proc = subprocess.Popen([stockd, "--data", os.path.join(tmp, "data"), "--socket", path],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            with StockdClient(path, attempts=40) as client:   # retries until the socket answers
                client.request("PING")
            conn = Connection(path)
            conn.write("RECEIVE sku=PLAIN wh=PAR qty=100000000")
            chunks = setup(conn, proc.pid, "Q", "PO-Q", waiting)
            setup(conn, proc.pid, "S", "PO-S", waiting)

            seq_before, cpu_before = last_seq(conn), cpu(proc.pid)
            seconds, reply, _, _ = timed(conn, template.format(sku="Q", po="PO-Q"))
            cpu_after, seq_after = cpu(proc.pid), last_seq(conn)
            ok = parse_line(reply[-1]).fields
            quiet = {"seconds": seconds, "rows": len(reply) - 1,
                     "cpu_stat_s": cpu_after[0] - cpu_before[0], "cpu_run_s": cpu_after[1] - cpu_before[1],
                     "filled": ok.get("filled"), "moved": ok.get("moved"), "more": ok.get("more"),
                     "events": seq_after - seq_before}

            counts = [multiprocessing.Value("l", 0) for _ in range(sellers)]
            procs = [multiprocessing.Process(target=seller, args=(path, c, stop, results)) for c in counts]
            for p in procs:
                p.start()
            wait_for(lambda: all(c.value >= 500 for c in counts))
            commits_before = commits(conn)
            seconds_loaded, _, sent, done = timed(conn, template.format(sku="S", po="PO-S"))
            commits_after = commits(conn)
            marks = [c.value for c in counts]
            wait_for(lambda: all(c.value >= m + 500 for c, m in zip(counts, marks)))
            stop.set()
            sells = [t for _ in procs for t in results.get(timeout=60)]
            for p in procs:
                p.join()
            conn.close()
        finally:
            stop.set()                                        # sellers also end when stockd does
            proc.terminate()
            proc.wait(timeout=30)
    during = [(b - a) / 1e9 for a, b in sells if a < done and b > sent]
    usual = sorted((b - a) / 1e9 for a, b in sells if b <= sent or a >= done)
    loaded = {"seconds": seconds_loaded, "commits": commits_after - commits_before,
              "sells_during": len(during), "worst_sell_during_s": max(during, default=0.0),
              "usual_sell_s": statistics.median(usual),
              "p99_sell_outside_s": usual[int(len(usual) * 0.99)], "worst_sell_outside_s": usual[-1]}
    return {"scenario": name, "waiting": waiting, "reserve_1000_cpu_s": [chunks[0], chunks[-1]],
            "quiet": quiet, "loaded": loaded}


def median(runs, *path):
    values = []
    for run in runs:
        value = run
        for key in path:
            value = value[key]
        values.append(value)
    return statistics.median(values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=".build/release", help="folder holding stockd")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sellers", type=int, default=2, help="connections sending plain SELLs")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"of {', '.join(SCENARIOS)}")
    parser.add_argument("--json", action="store_true", help="print every run as JSON too")
    args = parser.parse_args(argv)
    stockd = os.path.join(args.bin, "stockd")
    names = args.scenarios.split(",")
    for name in names:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name}")
    print("| scenario | waiting | rows | events | end to end ms | daemon cpu ms (stat / run) "
          "| loaded: end to end ms | SELL usual ms | SELL worst during ms | SELLs during "
          "| commits during | SELL worst outside ms | daemon cpu ms of the first / last 1,000 RESERVEs |")
    print("|---" * 13 + "|")
    everything = []
    for name in names:
        runs = [run_once(stockd, name, args.sellers) for _ in range(args.runs)]
        everything += runs
        ms = lambda *path: f"{median(runs, *path) * 1000:.1f}"  # noqa: E731
        print(f"| {name} | {runs[0]['waiting']:,} | {runs[0]['quiet']['rows']:,} "
              f"| {runs[0]['quiet']['events']} | {ms('quiet', 'seconds')} "
              f"| {ms('quiet', 'cpu_stat_s')} / {ms('quiet', 'cpu_run_s')} "
              f"| {ms('loaded', 'seconds')} | {ms('loaded', 'usual_sell_s')} "
              f"| {ms('loaded', 'worst_sell_during_s')} | {median(runs, 'loaded', 'sells_during'):g} "
              f"| {median(runs, 'loaded', 'commits'):g} | {ms('loaded', 'worst_sell_outside_s')} "
              f"| {ms('reserve_1000_cpu_s', 0)} / {ms('reserve_1000_cpu_s', 1)} |", flush=True)
    if args.json:
        print(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
