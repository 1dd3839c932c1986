#!/usr/bin/env python3
"""How fast stockrelay moves a site's log into PostgreSQL, and how far behind it stays under load.

Two measurements, each on real processes (a stockd, one stockrelay, a throwaway PostgreSQL 15 from
Tools/pgharness.py):

  backlog  a stockd whose log already holds --backlog events (500,000 by default, loaded with
           `stockctl import` of a generated CSV: receipts and sales over 200 (sku, wh) pairs); the relay
           starts on an empty schema (a new database each run) and the time until PostgreSQL's
           last_seq reaches the end of the log gives events/s. --runs runs (3), median reported.
  lag      the same site takes --rate writes/s (10,000) for --seconds (20) from a paced, pipelined
           writer while the relay runs; every 100 ms the lag is sampled: stockd's INFO seq minus
           PostgreSQL's last_seq (events), and now() - last_event_at (seconds). Median and max.

Both print the CPU seconds stockd and the relay spent per 1,000 events (utime + stime from
/proc/PID/stat). Usage:

    python3 Tools/relay_bench.py --bin .build/release --relay Relay/.build/release/stockrelay

(`make relay-bench` builds both in release and runs this.) Standard library only.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from netharness import Relay, Site, cpu_seconds, init_schema, wait_for  # noqa: E402
from pgharness import Postgres, PostgresError  # noqa: E402

PAIRS = [(f"SKU-{n}", f"W{1 + n % 2}") for n in range(200)]
SAMPLE_SECONDS = 0.1
BACKLOG_SECONDS_MAX = 1800  # a relay slower than ~300 events/s on the default backlog is a failure anyway


def write_backlog_csv(path, events):
    """Receipts and sales alternating over PAIRS: every sale finds the unit its receipt brought."""
    with open(path, "w") as out:
        out.write("seq,at,kind,actor,sku,wh,qty\n")
        for seq in range(1, events + 1):
            sku, wh = PAIRS[((seq - 1) // 2) % len(PAIRS)]
            kind = "received" if seq % 2 else "sold"
            out.write(f"{seq},2026-11-01T00:00:00Z,{kind},0,{sku},{wh},1\n")


def central(pg, site, database=None):
    """(last_seq, seconds since last_event_at) from PostgreSQL; (0, None) before the first batch."""
    sql = f"SELECT last_seq, extract(epoch from now() - last_event_at) FROM stockd_sites WHERE site = '{site}'"
    rows = pg.query(sql) if hasattr(pg, "query") else pg.psql(sql, database=database)
    if not rows:
        return 0, None
    return int(rows[0][0]), (float(rows[0][1]) if rows[0][1] else None)


def backlog_run(options, pg, site, run, directory):
    database = f"backlog{run}"
    pg.psql(f"CREATE DATABASE {database}")
    url = pg.url_for(database)
    init_schema(options.relay, url)
    relay = Relay(options.relay, directory, site, url, options.relay_args)
    target = site.seq()
    stockd_cpu = cpu_seconds(site.process.pid)
    began = time.monotonic()
    relay.start()
    last_cpu = 0.0

    def done():
        nonlocal last_cpu
        if not relay.alive():
            raise RuntimeError(f"relay exited {relay.process.returncode}:\n{relay.log()[-2000:]}")
        last_cpu = cpu_seconds(relay.process.pid)
        try:
            return central(pg, site.name, database)[0] >= target
        except PostgresError:
            return False
    wait_for(done, BACKLOG_SECONDS_MAX, f"the relay to reach seq {target}", poll=SAMPLE_SECONDS)
    elapsed = time.monotonic() - began
    relay_cpu = last_cpu
    stockd_cpu = cpu_seconds(site.process.pid) - stockd_cpu
    relay.stop()
    pg.psql(f"DROP DATABASE {database}")
    return target / elapsed, elapsed, stockd_cpu / target * 1000, relay_cpu / target * 1000


class PacedWriter(threading.Thread):
    """rate writes/s on one connection, pipelined: each 10 ms tick sends what the schedule asks for
    (at most 1,000 at once), then reads the replies. RECEIVE and SELL of one unit, alternating."""

    def __init__(self, path, rate, seconds, offset):
        super().__init__(daemon=True)
        self.path, self.rate, self.seconds, self.offset = path, rate, seconds, offset
        self.sent = 0
        self.refused = 0
        self.behind_max = 0

    def run(self):
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(self.path)
        reader = sock.makefile("rb")
        began = time.monotonic()
        while True:
            now = time.monotonic() - began
            if now >= self.seconds:
                break
            due = int(now * self.rate) - self.sent
            self.behind_max = max(self.behind_max, due)
            count = min(due, 1000)
            if count > 0:
                lines = []
                for n in range(self.sent, self.sent + count):
                    sku, wh = PAIRS[(self.offset + n // 2) % len(PAIRS)]
                    lines.append(f"{'RECEIVE' if n % 2 == 0 else 'SELL'} sku={sku} wh={wh} qty=1")
                sock.sendall(("\n".join(lines) + "\n").encode())
                for _ in lines:
                    if not reader.readline().startswith(b"OK"):
                        self.refused += 1
                self.sent += count
            else:
                time.sleep(0.01)  # pacing: the schedule is the condition, checked every tick
        sock.close()


def lag_run(options, pg, site, directory):
    url = pg.url
    init_schema(options.relay, url)
    relay = Relay(options.relay, directory, site, url, options.relay_args)
    relay.start()
    wait_for(lambda: central(pg, site.name)[0] >= site.seq(), BACKLOG_SECONDS_MAX, "the relay to catch up", poll=0.2)
    connections = 4
    writers = [PacedWriter(site.socket, options.rate / connections, options.seconds, index * 50)
               for index in range(connections)]
    first = site.seq()
    stockd_cpu, relay_cpu = cpu_seconds(site.process.pid), cpu_seconds(relay.process.pid)
    for writer in writers:
        writer.start()
    client = site.client()
    session = pg.session()
    event_lags, second_lags = [], []
    began = time.monotonic()
    while any(writer.is_alive() for writer in writers):
        moment = time.monotonic()
        reply = client.request("INFO")
        seq = int(reply[0].split(" seq=", 1)[1].split(" ", 1)[0])
        last_seq, since = central(session, site.name)
        event_lags.append(seq - last_seq)
        if since is not None:
            second_lags.append(max(since, 0.0))
        time.sleep(max(0.0, SAMPLE_SECONDS - (time.monotonic() - moment)))  # the sampling period
    written_seconds = time.monotonic() - began
    client.close()
    session.close()
    last = site.seq()
    catch_up = time.monotonic()
    wait_for(lambda: central(pg, site.name)[0] >= last, BACKLOG_SECONDS_MAX, "the relay to catch up", poll=0.05)
    catch_up = time.monotonic() - catch_up
    events = last - first
    stockd_cpu = cpu_seconds(site.process.pid) - stockd_cpu
    relay_cpu = cpu_seconds(relay.process.pid) - relay_cpu
    relay.stop()
    return {
        "events": events, "rate": events / written_seconds, "samples": len(event_lags),
        "lag_events_median": statistics.median(event_lags), "lag_events_max": max(event_lags),
        "lag_s_median": statistics.median(second_lags) if second_lags else None,
        "lag_s_max": max(second_lags) if second_lags else None,
        "catch_up_s": catch_up, "behind_max": max(w.behind_max for w in writers),
        "refused": sum(w.refused for w in writers),
        "stockd_cpu": stockd_cpu / events * 1000, "relay_cpu": relay_cpu / events * 1000,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, help="folder holding stockd and stockctl (release)")
    parser.add_argument("--relay", required=True, help="the stockrelay executable (release)")
    parser.add_argument("--backlog", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--relay-args", default="", help="extra stockrelay options, e.g. '--batch-events 10000'")
    parser.add_argument("--skip-backlog", action="store_true")
    parser.add_argument("--skip-lag", action="store_true")
    options = parser.parse_args()
    options.relay_args = options.relay_args.split()
    command = " ".join([os.path.basename(sys.executable)] + sys.argv)
    directory = tempfile.mkdtemp(prefix="stockd-relay-bench-")
    pg = Postgres()
    sites = []
    try:
        pg.start()
        print(f"relay bench: {command}\n  stockd {options.bin}, relay {options.relay} {' '.join(options.relay_args)}, "
              f"data in {directory}", flush=True)
        if not options.skip_backlog:
            csv = os.path.join(directory, "backlog.csv")
            write_backlog_csv(csv, options.backlog)
            site = Site(options.bin, os.path.join(directory, "backlog"), "backlog")
            moment = time.monotonic()
            done = subprocess.run([os.path.join(options.bin, "stockctl"), "import", csv, "--data", site.data],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"stockctl import failed:\n{done.stdout}{done.stderr}")
            print(f"  backlog: {options.backlog} events imported in {time.monotonic() - moment:.1f} s", flush=True)
            os.remove(csv)
            site.start()
            sites.append(site)
            results = []
            for run in range(1, options.runs + 1):
                rate, elapsed, stockd_cpu, relay_cpu = backlog_run(options, pg, site, run, directory)
                results.append(rate)
                print(f"  backlog run {run}: {options.backlog} events in {elapsed:.1f} s = {rate:,.0f} events/s; "
                      f"CPU per 1,000 events: stockd {stockd_cpu * 1000:.1f} ms, relay {relay_cpu * 1000:.1f} ms",
                      flush=True)
            print(f"backlog: median {statistics.median(results):,.0f} events/s over {options.runs} runs "
                  f"({', '.join(f'{r:,.0f}' for r in results)})", flush=True)
            site.stop()
        if not options.skip_lag:
            site = Site(options.bin, os.path.join(directory, "lag"), "lag")
            site.start()
            sites.append(site)
            result = lag_run(options, pg, site, directory)
            print(f"lag: {result['events']} events at {result['rate']:,.0f} writes/s for {options.seconds:.0f} s "
                  f"({result['samples']} samples, every {SAMPLE_SECONDS * 1000:.0f} ms; writer at most "
                  f"{result['behind_max']} writes behind its schedule, {result['refused']} refused): "
                  f"lag median {result['lag_events_median']:.0f} events / {result['lag_s_median']:.3f} s, "
                  f"max {result['lag_events_max']} events / {result['lag_s_max']:.3f} s; caught up "
                  f"{result['catch_up_s']:.2f} s after the last write; CPU per 1,000 events: stockd "
                  f"{result['stockd_cpu'] * 1000:.1f} ms, relay {result['relay_cpu'] * 1000:.1f} ms", flush=True)
            site.stop()
    finally:
        for site in sites:
            site.kill()
        pg.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
