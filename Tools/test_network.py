#!/usr/bin/env python3
"""End-to-end tests of the network relay (issue 12): every site's log in PostgreSQL exactly once.

Each test starts real processes: stockd sites (their own data folder and socket), one stockrelay per
site, and a throwaway PostgreSQL 15 (Tools/pgharness.py) on a private Unix socket. Then it breaks
things while writes flow, and compares, at the end, PostgreSQL with each site's own answers:

  - test_failures: three sites under mixed pipelined writes; each relay is killed with SIGKILL twice
    (and started again), PostgreSQL is stopped while writes go on and started again, one stockd is
    stopped with SIGTERM and started again on its folder. Then: stockd_events holds each site's seqs
    1..N once each (no gap, no duplicate) with the kind, sku and wh of that site's EVENTS; stockd_stock
    equals each site's STOCK for every (sku, wh); stockd_network_stock equals the sum over the sites.
  - test_slow_watcher_resumes: the relay is frozen (SIGSTOP) while its site takes enough writes for
    stockd to cut the watcher off (`ERR LIMIT watcher too slow`, more than 4 MiB of unread pushed
    lines); the test asserts the cut-off happened (stockd's errors_total{code="LIMIT"}), lets the relay
    go (SIGCONT), and checks it reconnects and ends with the whole log, no gap.

Binaries: $STOCKD_BIN/stockd (default .build/debug) and $STOCKRELAY_BIN (the stockrelay executable;
default Relay/.build/debug/stockrelay), with $STOCKRELAY_ARGS added to its command line. Figures
are printed for the record.

    STOCKD_BIN=.build/debug STOCKRELAY_BIN=Relay/.build/debug/stockrelay python3 -m unittest Tools/test_network.py -v
"""
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from netharness import Client, Relay, Site, central_last_seq, fields, init_schema, wait_for  # noqa: E402
from pgharness import Postgres, PostgresError  # noqa: E402

STOCKD_BIN = os.environ.get("STOCKD_BIN", os.path.join(HERE, "..", ".build", "debug"))
STOCKRELAY = os.environ.get("STOCKRELAY_BIN", os.path.join(HERE, "..", "Relay", ".build", "debug", "stockrelay"))
STOCKRELAY_ARGS = os.environ.get("STOCKRELAY_ARGS", "").split()  # extra relay options (batch sizes, say)

SKUS = ["SKU-1", "SKU-2", "SKU-3", "SKU-4", "SKU-5"]
WAREHOUSES = ["W1", "W2"]  # the same names at every site: stockd_stock keys them by (site, sku, wh)
PIPELINE_DEPTH = 40  # writes sent before the replies are read: enough to fill group commits
CATCH_UP_SECONDS_MAX = 90  # a relay on a loaded 2-core machine, after the writers stopped
PROGRESS_SECONDS_MAX = 60  # a relay that does not advance this long after a fault is a failure
BUCKETS = ("on_hand", "reserved", "available", "inbound", "incoming")


def eta_ahead(days):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + days * 86400))


class MixedWriter(threading.Thread):
    """One connection of pipelined mixed writes to one site, until stop is set.

    Each round sends PIPELINE_DEPTH writes chosen from what earlier replies made possible (open
    reservations, transfers in transit, open purchase orders), then reads every reply. Refusals
    (not enough stock, an expired reservation) are part of the mix. When the site goes away (a
    restart) it reconnects until it answers again, so writes resume as soon as stockd is back."""

    def __init__(self, site, name, stop):
        super().__init__(daemon=True)
        self.site, self.name, self.stop = site, name, stop
        self.rng = random.Random(name)
        self.reservations, self.transfers, self.orders = [], [], []
        self.acknowledged = 0
        self.refused = 0
        self.reconnects = 0
        self.order_number = 0
        self.error = None

    def next_line(self):
        rng = self.rng
        sku, wh = rng.choice(SKUS), rng.choice(WAREHOUSES)
        kind = rng.choices(
            ["receive", "reserve", "sell", "sell-res", "release", "transfer", "arrive", "adjust", "expect",
             "receive-po", "cancel", "count", "return"],
            weights=[12, 14, 10, 6, 5, 6, 5, 4, 3, 3, 1, 1, 2])[0]
        if kind == "receive":
            return kind, f"RECEIVE sku={sku} wh={wh} qty={rng.randint(5, 50)}"
        if kind == "reserve":
            # Short lives: some are sold or released, the rest stockd expires itself (expired events).
            return kind, f"RESERVE sku={sku} wh={wh} qty={rng.randint(1, 5)} ttl={rng.randint(1, 3)}"
        if kind == "sell-res" and self.reservations:
            return kind, f"SELL res={self.reservations.pop(rng.randrange(len(self.reservations)))}"
        if kind == "release" and self.reservations:
            return kind, f"RELEASE res={self.reservations.pop(rng.randrange(len(self.reservations)))}"
        if kind == "transfer":
            source, target = rng.sample(WAREHOUSES, 2)
            return kind, f"TRANSFER sku={sku} from={source} to={target} qty={rng.randint(1, 5)}"
        if kind == "arrive" and self.transfers:
            xfer = self.transfers.pop(0)
            lost = " lost=1" if rng.random() < 0.2 else ""
            return kind, f"ARRIVE xfer={xfer}{lost}"
        if kind == "adjust":
            delta = rng.choice([-2, -1, 1, 2, 3])
            return kind, f"ADJUST sku={sku} wh={wh} delta={delta} reason=\"cycle count\""
        if kind == "expect":
            self.order_number += 1
            po = f"PO-{self.name}-{self.order_number}"
            return kind, f"EXPECT sku={sku} wh={wh} qty={rng.randint(10, 40)} eta={eta_ahead(rng.randint(2, 20))} po={po}"
        if kind == "receive-po" and self.orders:
            po, po_sku, po_wh = self.orders[0]
            if rng.random() < 0.5:
                self.orders.pop(0)
            return kind, f"RECEIVE sku={po_sku} wh={po_wh} qty={rng.randint(5, 20)} po={po}"
        if kind == "cancel" and self.orders:
            return kind, f"CANCEL po={self.orders.pop(rng.randrange(len(self.orders)))[0]}"
        if kind == "count":
            return kind, f"COUNT sku={sku} wh={wh} qty={rng.randint(20, 60)} reason=audit"
        if kind == "return":
            return kind, f"RETURN sku={sku} wh={wh} qty=1"
        return "sell", f"SELL sku={sku} wh={wh} qty={rng.randint(1, 3)}"

    def run(self):
        client = None
        try:
            while not self.stop.is_set():
                if client is None:
                    client = self.connect()
                    if client is None:
                        return
                batch = [self.next_line() for _ in range(PIPELINE_DEPTH)]
                try:
                    client.send([line for _, line in batch])
                    replies = [client.reply() for _ in batch]
                except (OSError, ConnectionError):
                    client.close()
                    client = None  # the site restarted; what was in flight is in its log or not, either way fine
                    continue
                for (kind, line), reply in zip(batch, replies):
                    self.note(kind, line, reply)
        except Exception as error:  # surfaced by the test, which joins this thread
            self.error = error
        finally:
            if client:
                client.close()

    def connect(self):
        while not self.stop.is_set():
            try:
                client = Client(self.site.socket, timeout=30)
                self.reconnects += 1
                return client
            except OSError:
                time.sleep(0.02)  # the site is restarting; polled until its socket answers
        return None

    def note(self, kind, line, reply):
        status = reply[-1]
        if not status.startswith("OK"):
            self.refused += 1
            return
        self.acknowledged += 1
        values = fields(status)
        if kind == "reserve":
            self.reservations.append(values["res"])
        elif kind == "transfer":
            self.transfers.append(values["xfer"])
        elif kind == "expect":
            self.orders.append((values["po"], fields(line)["sku"], fields(line)["wh"]))


class NetworkTest(unittest.TestCase):
    """Sites, relays and PostgreSQL in one temp folder; everything stopped and removed afterwards."""

    def setUp(self):
        for path in (os.path.join(STOCKD_BIN, "stockd"), STOCKRELAY):
            self.assertTrue(os.access(path, os.X_OK), f"{path} is not an executable (set STOCKD_BIN, STOCKRELAY_BIN)")
        self.tmp = tempfile.mkdtemp(prefix="stockd-network-")
        self.pg = Postgres()
        self.pg.start()
        init_schema(STOCKRELAY, self.pg.url)
        self.sites, self.relays = [], []
        self.passed = False  # set by each test as its last step: a failed run keeps its folders and logs

    def tearDown(self):
        for relay in self.relays:
            if relay.alive():
                try:
                    relay.process.send_signal(signal.SIGCONT)
                except ProcessLookupError:
                    pass
                relay.stop()
        for site in self.sites:
            site.kill()
        if not self.passed:
            self.pg.keep = True
            for site in self.sites:
                print(f"--- stockd {site.name} log (last lines)\n{site.log()[-2000:]}", flush=True)
            print(f"  kept for inspection: {self.tmp} and {self.pg.root}", flush=True)
        self.pg.cleanup()
        if self.passed:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def add_site(self, name):
        site = Site(STOCKD_BIN, os.path.join(self.tmp, name), name)
        site.start()
        relay = Relay(STOCKRELAY, self.tmp, site, self.pg.url, STOCKRELAY_ARGS)
        self.sites.append(site)
        self.relays.append(relay)
        return site, relay

    # -- conditions -------------------------------------------------------------------------
    def last_seq(self, site):
        """PostgreSQL's last_seq for the site, or None while PostgreSQL is down."""
        try:
            return central_last_seq(self.pg, site.name)
        except PostgresError:
            return None

    def wait_relayed_beyond(self, relay, seq):
        """Returns once PostgreSQL holds the site's events past seq (the relay is working)."""
        try:
            wait_for(lambda: (self.last_seq(relay.site) or 0) > seq, PROGRESS_SECONDS_MAX,
                     f"relay {relay.site.name} to pass seq {seq}", poll=0.1)
        except TimeoutError as timeout:
            self.fail(f"{timeout}: PostgreSQL at {self.last_seq(relay.site)}, stockd at {relay.site.seq()}\n"
                      f"relay sockets:\n{relay.sockets()}\nrelay log:\n{relay.log()[-3000:]}")
        if not relay.alive():
            self.fail(f"relay {relay.site.name} exited {relay.process.returncode}\n{relay.log()[-3000:]}")

    def wait_caught_up(self, started):
        """Waits until every site's last_seq in PostgreSQL equals its INFO seq; returns the seconds it took."""
        for site, relay in zip(self.sites, self.relays):
            def relayed():
                if not relay.alive():
                    self.fail(f"relay {site.name} exited {relay.process.returncode}\n{relay.log()[-3000:]}")
                return self.last_seq(site) == site.seq()
            try:
                wait_for(relayed, CATCH_UP_SECONDS_MAX,
                         f"site {site.name} to be relayed", poll=0.1)
            except TimeoutError as timeout:
                self.fail(f"{timeout}: PostgreSQL at {self.last_seq(site)}, stockd at {site.seq()}\n"
                          f"relay sockets:\n{relay.sockets()}\nrelay log:\n{relay.log()[-3000:]}")
        return time.monotonic() - started

    # -- the comparison ---------------------------------------------------------------------
    def compare_site(self, site):
        """Asserts PostgreSQL holds exactly the site's log and stock; returns (events, gaps, duplicates)."""
        log = site.events()
        last = site.seq()
        self.assertEqual([int(row["seq"]) for row in log], list(range(1, last + 1)), f"{site.name}: EVENTS is not 1..{last}")
        central = self.pg.psql(
            f"SELECT seq, kind, coalesce(sku, ''), coalesce(wh, '') FROM stockd_events WHERE site = '{site.name}' ORDER BY seq")
        seqs = [int(row[0]) for row in central]
        duplicates = len(seqs) - len(set(seqs))
        gaps = len(set(range(1, last + 1)) - set(seqs))
        beyond = [seq for seq in seqs if seq < 1 or seq > last]
        self.assertEqual((gaps, duplicates, beyond), (0, 0, []),
                         f"{site.name}: {gaps} seqs missing, {duplicates} duplicated, {beyond[:5]} beyond the log")
        mismatched = []
        for row, event in zip(central, log):
            expected = (event["seq"], event["kind"], event.get("sku", ""), event.get("wh", ""))
            if tuple(row) != expected and len(mismatched) < 5:
                mismatched.append((tuple(row), expected))
        self.assertEqual(mismatched, [], f"{site.name}: events differ (PostgreSQL, stockd)")

        stock, stock_seq = site.stock(SKUS)
        self.assertEqual(stock_seq, last, f"{site.name}: the log moved while being compared")
        central_stock = {}
        for row in self.pg.psql(
                f"SELECT sku, wh, {', '.join(BUCKETS)} FROM stockd_stock WHERE site = '{site.name}'"):
            central_stock[(row[0], row[1])] = dict(zip(BUCKETS, map(int, row[2:])))
        self.assertEqual(central_stock, stock, f"{site.name}: stockd_stock differs from STOCK")
        self.assertEqual(self.last_seq(site), last)
        return len(log), gaps, duplicates, stock

    def compare_network(self, stocks):
        expected = {}
        for stock in stocks:
            for (sku, _), buckets in stock.items():
                total = expected.setdefault(sku, dict.fromkeys(BUCKETS, 0))
                for key in BUCKETS:
                    total[key] += buckets[key]
        central = {row[0]: dict(zip(BUCKETS, map(int, row[1:])))
                   for row in self.pg.psql(f"SELECT sku, {', '.join(BUCKETS)} FROM stockd_network_stock")}
        self.assertEqual(central, expected, "stockd_network_stock differs from the sum of the sites' STOCK")

    def wait_reservations_gone(self, site):
        """Open reservations expire within 3 s (their ttl); after that nothing writes on its own."""
        def none_open():
            client = site.client()
            try:
                return all(client.request(f"RESERVATIONS sku={sku}") [-1].startswith("OK rows=0") for sku in SKUS)
            finally:
                client.close()
        wait_for(none_open, 60, f"the reservations of {site.name} to expire", poll=0.2)

    # -- the tests --------------------------------------------------------------------------
    def test_failures(self):
        began = time.monotonic()
        for name in ("paris", "lyon", "lille"):
            self.add_site(name)
        for relay in self.relays:
            relay.start()
        stop = threading.Event()
        writers = [MixedWriter(site, f"{site.name}-{index}", stop) for site in self.sites for index in range(2)]
        for writer in writers:
            writer.start()
        pg_restarts = stockd_restarts = 0
        try:
            for relay in self.relays:
                self.wait_relayed_beyond(relay, 200)

            def kill_and_restart(relay):
                before = self.last_seq(relay.site) or 0
                self.wait_relayed_beyond(relay, before + 100)  # it is busy relaying when it dies
                relay.kill9()
                relay.start()
                self.wait_relayed_beyond(relay, (self.last_seq(relay.site) or 0) + 100)

            kill_and_restart(self.relays[0])
            kill_and_restart(self.relays[1])

            # PostgreSQL goes away while the sites keep taking writes; it comes back once each site
            # wrote 500 more events that the relays could not deliver.
            seqs = [site.seq() for site in self.sites]
            self.pg.stop()
            for site, seq in zip(self.sites, seqs):
                wait_for(lambda: site.seq() > seq + 500, PROGRESS_SECONDS_MAX, f"{site.name} to take writes", poll=0.1)
            self.pg.start()
            pg_restarts += 1
            for relay in self.relays:
                self.wait_relayed_beyond(relay, max(seqs) if relay.site.seq() > max(seqs) else 0)

            kill_and_restart(self.relays[2])

            # One site stops (SIGTERM) and starts again on its folder; its writers and relay reconnect.
            site = self.sites[1]
            self.assertEqual(site.stop(), 0, f"stockd {site.name} did not stop cleanly")
            site.start()
            stockd_restarts += 1
            wait_for(lambda: site.seq() > 0 and all(w.reconnects > 1 for w in writers if w.site is site),
                     PROGRESS_SECONDS_MAX, "the writers to reconnect", poll=0.1)
            self.wait_relayed_beyond(self.relays[1], site.seq())

            for relay in self.relays:
                kill_and_restart(relay)
        finally:
            stop.set()
            for writer in writers:
                writer.join(timeout=60)
        for writer in writers:
            self.assertIsNone(writer.error, f"writer {writer.name} failed")
        for site in self.sites:
            self.wait_reservations_gone(site)
        writes_stopped = time.monotonic()
        catch_up = self.wait_caught_up(writes_stopped)

        totals, stocks = [], []
        for site in self.sites:
            events, gaps, duplicates, stock = self.compare_site(site)
            totals.append((site.name, events, gaps, duplicates))
            stocks.append(stock)
        self.compare_network(stocks)
        central = int(self.pg.psql("SELECT count(*) FROM stockd_events")[0][0])
        self.assertEqual(central, sum(events for _, events, _, _ in totals))
        kills = sum(relay.kills for relay in self.relays)
        self.assertEqual(kills, 6)
        print(f"\nnetwork test: {len(self.sites)} sites, events "
              + ", ".join(f"{name} {events}" for name, events, _, _ in totals)
              + f" ({central} in stockd_events); relay kill -9: {kills}, PostgreSQL restarts: {pg_restarts}, "
              f"stockd restarts: {stockd_restarts}; gaps {sum(t[2] for t in totals)}, "
              f"duplicates {sum(t[3] for t in totals)}; writes acknowledged {sum(w.acknowledged for w in writers)}, "
              f"refused {sum(w.refused for w in writers)}; caught up {catch_up:.1f} s after the last write; "
              f"{time.monotonic() - began:.0f} s in all", flush=True)
        self.passed = True

    def test_slow_watcher_resumes(self):
        began = time.monotonic()
        site, relay = self.add_site("slow")
        relay.start()
        client = site.client()
        self.assertTrue(client.request("RECEIVE sku=SKU-1 wh=W1 qty=1")[-1].startswith("OK"))
        self.wait_relayed_beyond(relay, 0)
        cut_offs_before = site.metric('stockd_errors_total{code="LIMIT"}')

        relay.process.send_signal(signal.SIGSTOP)
        # Batches of 1,000 receipts, until stockd has cut the frozen watcher off: each event pushes an
        # event row and a stock row (~300 bytes), so 4 MiB of backlog is ~15,000 events, more with
        # what the socket buffers hold. The cap only stops a daemon that never cuts off.
        written, cap = 0, 400_000
        while site.metric('stockd_errors_total{code="LIMIT"}') == cut_offs_before:
            if written >= cap:
                relay.process.send_signal(signal.SIGCONT)
                self.fail(f"no cut-off after {written} events with the relay stopped")
            lines = ["BEGIN"] + [f"RECEIVE sku=SKU-{1 + n % 5} wh=W{1 + n % 2} qty=1" for n in range(1000)] + ["COMMIT"]
            client.send(lines)
            replies = [client.reply() for _ in lines]
            self.assertTrue(replies[-1][-1].startswith("OK count=1000"), replies[-1][-1])
            written += 1000
        cut_offs = site.metric('stockd_errors_total{code="LIMIT"}') - cut_offs_before
        frozen_at = self.last_seq(site)
        relay.process.send_signal(signal.SIGCONT)
        # A few more writes after the freeze, so the relay must resume the live stream too.
        for n in range(200):
            client.request(f"SELL sku=SKU-{1 + n % 5} wh=W1 qty=1")
        client.close()
        catch_up = self.wait_caught_up(time.monotonic())
        self.assertTrue(relay.alive(), f"the relay exited\n{relay.log()[-3000:]}")
        self.assertEqual(relay.starts, 1, "the relay was restarted: it must reconnect on its own")
        # The cut-off closed the relay's connection and the relay was never restarted, so being caught
        # up means it reconnected by itself. Its own account, for the record:
        said = [line for line in relay.log().splitlines() if "too slow" in line]
        events, gaps, duplicates, stock = self.compare_site(site)
        self.compare_network([stock])
        print(f"\nslow watcher: {written} events written while the relay was stopped (PostgreSQL at {frozen_at}), "
              f"{int(cut_offs)} cut-off (ERR LIMIT), {events} events relayed, gaps {gaps}, duplicates {duplicates}; "
              f"caught up {catch_up:.1f} s after SIGCONT; {time.monotonic() - began:.0f} s in all"
              + (f"\n  relay log: {said[0].strip()}" if said else ""), flush=True)
        self.passed = True


if __name__ == "__main__":
    unittest.main()
