#!/usr/bin/env python3
"""Tests for Tools/order_service.py, run against a real stockd.

Each live test starts its own daemon on a fresh data folder, so tests cannot see each other's
stock, and the crash tests can SIGKILL it freely. The binary is $STOCKD_BIN/stockd (default:
.build/debug/stockd in this repo).

    STOCKD_BIN=.build/debug python3 -m unittest Tools/test_order_service.py -v
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from order_service import (Change, NotFilled, OrderService, StockdClient, StockdError,  # noqa: E402
                           parse_line)

STOCKD = os.path.join(os.environ.get("STOCKD_BIN", os.path.join(HERE, "..", ".build", "debug")),
                      "stockd")


def in_days(days):
    """A timestamp `days` from now, in stockd's format: ETAs must lie ahead of the daemon's clock."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + days * 86400))


class Daemon:
    """One stockd process on a data folder and socket that outlive it, so it can be restarted."""

    def __init__(self, tmp):
        self.data, self.sock = os.path.join(tmp, "data"), os.path.join(tmp, "s.sock")
        self.log_path = os.path.join(tmp, "stockd.log")
        self.proc = None

    def start(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:   # the binary may be missing for a moment while someone rebuilds it
            try:
                with open(self.log_path, "ab") as log:
                    self.proc = subprocess.Popen(
                        [STOCKD, "--data", self.data, "--socket", self.sock],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=log)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stockd exited with {self.proc.returncode}:\n{self.log()}")
            if self._pong():
                return
            time.sleep(0.02)
        raise RuntimeError(f"stockd did not answer PING:\n{self.log()}")

    def _pong(self):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(self.sock)
                s.sendall(b"PING\n")
                return s.makefile("rb").readline() == b"OK pong\n"
        except OSError:
            return False

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        """SIGTERM, as systemd would; returns the exit status (0 = stopped cleanly)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            return "hung after SIGTERM"

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


class LiveTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="stockd-orders-")
        self.daemon = Daemon(self.tmp)
        self.daemon.start()
        self.client = StockdClient(self.daemon.sock, timeout=5.0)
        self.orders = OrderService(self.client)

    def tearDown(self):
        self.client.close()
        status = self.daemon.stop()
        log = self.daemon.log()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(status, 0, f"stockd did not stop cleanly:\n{log}")

    # helpers ------------------------------------------------------------------------------
    def send(self, line):
        return self.client.request(line)

    def stock(self, sku, wh="PAR"):
        rows, _ = self.send(f"STOCK sku={sku} wh={wh}")
        row = next(r.fields for r in rows if r.word == "stock")
        return {k: int(row[k]) for k in ("on_hand", "reserved", "available")}

    def open_reservations(self, sku):
        return [r.fields for r in self.send(f"RESERVATIONS sku={sku}")[0]]

    def events_with_id(self, key):
        rows, _ = self.send("EVENTS limit=100000")
        return [r.fields for r in rows if r.fields.get("id") == key]

    def restart_soon(self, delay=0.3):
        """Restart the (killed) daemon in the background while the client is retrying."""
        t = threading.Timer(delay, self.daemon.start)
        t.start()
        self.addCleanup(t.join)
        return t

    # the order flow -----------------------------------------------------------------------
    # channels and allocation -------------------------------------------------------------
    def test_a_marketplace_order_cannot_take_the_b2b_fence(self):
        self.send("RECEIVE sku=LAMP wh=PAR qty=20")
        self.send("ALLOT sku=LAMP wh=PAR channel=b2b qty=15")
        with self.assertRaises(StockdError) as refused:
            self.orders.place("mkp-1", [("LAMP", "PAR", 6)], channel="mkp")
        self.assertEqual(refused.exception.code, "INSUFFICIENT")
        self.assertEqual(self.stock("LAMP"), {"on_hand": 20, "reserved": 0, "available": 20})
        self.orders.place("mkp-2", [("LAMP", "PAR", 5)], channel="mkp")
        self.orders.place("b2b-1", [("LAMP", "PAR", 15)], channel="b2b")
        self.assertEqual(self.stock("LAMP"), {"on_hand": 20, "reserved": 20, "available": 0})

    def test_allocate_across_warehouses_then_confirm(self):
        for wh, qty in (("PAR", 3), ("LIL", 6), ("LYS", 4)):
            self.send(f"RECEIVE sku=DESK wh={wh} qty={qty}")
        self.send("ROUTE region=FR wh=PAR,LIL,LYS")
        # All or nothing: 14 is more than the 13 there are, and nothing is held.
        with self.assertRaises(StockdError) as refused:
            self.orders.allocate("big-1", "DESK", 14, region="FR")
        self.assertEqual((refused.exception.code, refused.exception.fields.get("avail")),
                         ("INSUFFICIENT", "PAR:3,LIL:6,LYS:4"))
        lines = self.orders.allocate("ord-7", "DESK", 8, region="FR", strategy="rank")
        self.assertEqual(lines, [("ord-7.1", "PAR", 3), ("ord-7.2", "LIL", 5)])
        # A retry after a lost reply answers the same lines (the same id=), nothing more is held.
        self.assertEqual(OrderService(self.client).allocate("ord-7", "DESK", 8, region="FR", strategy="rank"), lines)
        self.assertEqual(self.stock("DESK", "LIL"), {"on_hand": 6, "reserved": 5, "available": 1})
        self.orders.confirm("ord-7")
        self.assertEqual(self.stock("DESK", "PAR"), {"on_hand": 0, "reserved": 0, "available": 0})
        self.assertEqual(self.stock("DESK", "LIL"), {"on_hand": 1, "reserved": 0, "available": 1})
        # partial=yes takes what there is; cancel() gives it back.
        part = self.orders.allocate("ord-8", "DESK", 9, warehouses=["LYS", "LIL"], partial=True)
        self.assertEqual(sum(qty for _, _, qty in part), 5)
        self.orders.cancel("ord-8")
        self.assertEqual(self.stock("DESK", "LYS"), {"on_hand": 4, "reserved": 0, "available": 4})

    def test_place_and_confirm_decrements_on_hand(self):
        self.send("RECEIVE sku=MUG wh=PAR qty=10")
        self.send("RECEIVE sku=CAP wh=PAR qty=4")
        res = self.orders.place("order-1001", [("MUG", "PAR", 3), ("CAP", "PAR", 4)])
        self.assertEqual(len(res), 2)
        self.assertEqual(self.stock("MUG"), {"on_hand": 10, "reserved": 3, "available": 7})
        self.orders.confirm("order-1001")
        self.assertEqual(self.stock("MUG"), {"on_hand": 7, "reserved": 0, "available": 7})
        self.assertEqual(self.stock("CAP"), {"on_hand": 0, "reserved": 0, "available": 0})
        # confirming again replays the SELLs (dup=yes) instead of selling twice
        again = self.orders.confirm("order-1001")
        self.assertEqual([f["dup"] for f in again], ["yes", "yes"])
        self.assertEqual(self.stock("MUG")["on_hand"], 7)

    def test_unsatisfiable_place_leaves_nothing_reserved(self):
        self.send("RECEIVE sku=MUG wh=PAR qty=10")
        self.send("RECEIVE sku=CAP wh=PAR qty=1")
        with self.assertRaises(StockdError) as caught:
            self.orders.place("order-1002", [("MUG", "PAR", 3), ("CAP", "PAR", 2)])
        self.assertEqual(caught.exception.code, "INSUFFICIENT")
        self.assertEqual(caught.exception.fields["available"], "1")
        self.assertEqual(self.open_reservations("MUG"), [])
        self.assertEqual(self.open_reservations("CAP"), [])
        self.assertEqual(self.stock("MUG"), {"on_hand": 10, "reserved": 0, "available": 10})
        self.assertEqual(len(self.events_with_id("order-1002:release:1")), 1)

    def test_same_order_id_after_failed_place_is_refused(self):
        self.send("RECEIVE sku=MUG wh=PAR qty=10")
        with self.assertRaises(StockdError):
            self.orders.place("order-1003", [("MUG", "PAR", 3), ("MUG", "PAR", 50)])
        # its first RESERVE key now replays a released hold; place() must not hand that back
        with self.assertRaises(StockdError) as caught:
            self.orders.place("order-1003", [("MUG", "PAR", 3)])
        self.assertEqual(caught.exception.code, "STATE")
        self.assertEqual(self.stock("MUG")["reserved"], 0)

    def test_cancel_releases(self):
        self.send("RECEIVE sku=MUG wh=PAR qty=10")
        self.orders.place("order-1004", [("MUG", "PAR", 6)])
        self.assertEqual(self.stock("MUG")["available"], 4)
        promise = self.orders.promise("order-1004")   # a pair without promises: rows lack held=
        self.assertEqual((promise.held, promise.awaiting, promise.promise), (6, 0, "now"))
        self.orders.cancel("order-1004")
        self.assertEqual(self.stock("MUG"), {"on_hand": 10, "reserved": 0, "available": 10})
        self.assertEqual(self.open_reservations("MUG"), [])
        self.orders.cancel("order-1004")   # twice is fine: the RELEASE is answered dup=yes

    def test_cancel_after_expiry_is_done(self):
        self.send("RECEIVE sku=MUG wh=PAR qty=10")
        short = OrderService(self.client, ttl="1s")
        short.place("order-1005", [("MUG", "PAR", 2)])
        deadline = time.monotonic() + 10
        while self.open_reservations("MUG") and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.open_reservations("MUG"), [], "the daemon did not expire it")
        short.cancel("order-1005")         # ERR STATE (expired) counts as released
        self.assertEqual(self.stock("MUG")["reserved"], 0)
        with self.assertRaises(StockdError) as caught:
            short.confirm("order-1005")
        self.assertEqual(caught.exception.code, "STATE")

    # pre-orders ---------------------------------------------------------------------------
    def test_preorder_bound_by_expect_filled_fifo_then_sold(self):
        """Taken out of stock against the cap, bound by EXPECT, filled FIFO by a short receipt."""
        self.send("POLICY sku=LAMP wh=PAR preorder=20")
        first = self.orders.preorder("order-2001", [("LAMP", "PAR", 3)], backorder="cap")
        second = self.orders.preorder("order-2002", [("LAMP", "PAR", 4)], backorder="cap")
        promise = self.orders.promise("order-2001")
        self.assertEqual((promise.held, promise.awaiting, promise.promise), (0, 3, "unknown"))
        self.assertEqual(promise.holds[0].lines, {"cap": 3})

        eta = in_days(10)
        self.send(f"EXPECT sku=LAMP wh=PAR qty=10 eta={eta} po=PO-1")
        promise, changes = self.orders.follow("order-2001")
        self.assertEqual(changes, [Change("promise", first[0], ("unknown", eta))])
        self.assertEqual((promise.promise, promise.holds[0].lines), (eta, {"PO-1": 3}))
        self.assertEqual(self.orders.follow("order-2002")[0].promise, eta)

        rows, ok = self.send("RECEIVE sku=LAMP wh=PAR qty=5 po=PO-1")   # arrives short
        fills = {r.fields["res"]: r.fields["qty"] for r in rows if r.word == "fill"}
        self.assertEqual(fills, {first[0]: "3", second[0]: "2"})         # first come, first filled
        self.assertEqual(ok.fields["filled"], "5")
        promise, changes = self.orders.follow("order-2001")
        self.assertTrue(promise.ready)
        self.assertEqual(changes, [Change("filled", first[0], 3), Change("promise", first[0], (eta, "now"))])
        promise, changes = self.orders.follow("order-2002")
        self.assertEqual((promise.held, promise.awaiting, promise.promise), (2, 2, eta))
        self.assertEqual(changes, [Change("filled", second[0], 2)])

        with self.assertRaises(NotFilled) as caught:    # never sells awaited units
            self.orders.confirm("order-2002")
        self.assertEqual(caught.exception.promise.awaiting, 2)
        self.assertEqual(self.events_with_id("order-2002:sell:1"), [])
        self.assertEqual(self.stock("LAMP"), {"on_hand": 5, "reserved": 5, "available": 0})
        self.orders.confirm("order-2001")
        self.assertEqual(self.stock("LAMP"), {"on_hand": 2, "reserved": 2, "available": 0})

        # The rest arrives while the client waits for it.
        receiver = StockdClient(self.daemon.sock, timeout=5.0)
        self.addCleanup(receiver.close)
        arrival = threading.Timer(0.2, receiver.request, ["RECEIVE sku=LAMP wh=PAR qty=5 po=PO-1"])
        arrival.start()
        self.addCleanup(arrival.join)
        promise = self.orders.wait_filled("order-2002", timeout=30, interval=0.05)
        self.assertEqual((promise.held, promise.awaiting, promise.promise), (4, 0, "now"))
        self.orders.confirm("order-2002")
        self.assertEqual(self.stock("LAMP"), {"on_hand": 3, "reserved": 0, "available": 3})
        self.assertEqual(self.orders.follow("order-2002")[1], [Change("closed", second[0], None)])

    def test_reschedule_moves_the_promise_the_client_reports(self):
        self.send("RECEIVE sku=LAMP wh=PAR qty=1")
        eta, later = in_days(10), in_days(17)
        self.send(f"EXPECT sku=LAMP wh=PAR qty=10 eta={eta} po=PO-2")
        res = self.orders.preorder("order-2003", [("LAMP", "PAR", 4)], po="PO-2")[0]
        promise = self.orders.promise("order-2003")
        self.assertEqual((promise.held, promise.awaiting, promise.promise), (1, 3, eta))
        _, ok = self.send(f"RESCHEDULE po=PO-2 eta={later}")
        self.assertEqual(ok.fields["moved"], "1")
        promise, changes = self.orders.follow("order-2003")
        self.assertEqual(changes, [Change("promise", res, (eta, later))])
        self.assertEqual((promise.promise, promise.late), (later, False))
        self.assertEqual(self.orders.follow("order-2003")[1], [])        # nothing new since

    def test_cancelled_po_leaves_the_preorder_unbacked_until_cancelled(self):
        eta = in_days(10)
        self.send(f"EXPECT sku=LAMP wh=PAR qty=5 eta={eta} po=PO-3")
        res = self.orders.preorder("order-2004", [("LAMP", "PAR", 2)], po="PO-3")[0]
        _, ok = self.send("CANCEL po=PO-3")
        self.assertEqual(ok.fields["unbacked"], "2")
        promise, changes = self.orders.follow("order-2004")
        self.assertEqual((promise.promise, promise.unbacked, promise.awaiting), ("unknown", 2, 2))
        self.assertEqual(changes, [Change("unbacked", res, 2), Change("promise", res, (eta, "unknown"))])
        with self.assertRaises(NotFilled):
            self.orders.confirm("order-2004")
        self.orders.cancel("order-2004")                                  # releases awaited units too
        self.assertEqual(self.orders.follow("order-2004")[1], [Change("closed", res, None)])
        self.assertEqual(self.open_reservations("LAMP"), [])
        row = self.send("STOCK sku=LAMP wh=PAR")[0][0].fields
        self.assertEqual((row["unbacked"], row["promised"], row["reserved"]), ("0", "0", "0"))

    def test_preorder_beyond_supply_is_refused_and_rolled_back(self):
        self.send("RECEIVE sku=LAMP wh=PAR qty=1")
        self.send(f"EXPECT sku=LAMP wh=PAR qty=3 eta={in_days(10)} po=PO-4")
        with self.assertRaises(StockdError) as caught:
            self.orders.preorder("order-2005", [("LAMP", "PAR", 2), ("LAMP", "PAR", 5)])
        self.assertEqual(caught.exception.code, "INSUFFICIENT")
        self.assertEqual(caught.exception.fields["promisable"], "2")
        self.assertEqual(self.open_reservations("LAMP"), [])
        row = self.send("STOCK sku=LAMP wh=PAR")[0][0].fields
        self.assertEqual((row["reserved"], row["promised"]), ("0", "0"))

    # idempotency and retries --------------------------------------------------------------
    def test_retried_write_is_dup_and_applied_once(self):
        line = "RECEIVE sku=MUG wh=PAR qty=5 id=asn-77:receive"
        _, first = self.send(line)
        _, second = self.send(line)
        self.assertNotIn("dup", first.fields)
        self.assertEqual(second.fields["dup"], "yes")
        self.assertEqual(second.fields["seq"], first.fields["seq"])
        self.assertEqual(len(self.events_with_id("asn-77:receive")), 1)
        self.assertEqual(self.stock("MUG")["on_hand"], 5)
        with self.assertRaises(StockdError) as caught:
            self.send("RECEIVE sku=MUG wh=PAR qty=6 id=asn-77:receive")
        self.assertEqual(caught.exception.code, "CONFLICT")

    def test_retry_after_lost_reply_across_restart(self):
        """The write is durable, its reply never reaches the client, the daemon dies."""
        line = "RECEIVE sku=MUG wh=PAR qty=5 id=asn-78:receive"
        self.send("PING")                  # the client's connection will die with the daemon
        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(self.daemon.sock)
            raw.sendall(line.encode() + b"\n")
            lost = parse_line(raw.makefile("rb").readline().decode().strip())
        self.daemon.kill()
        self.restart_soon().join()
        _, retried = self.send(line)
        self.assertEqual(retried.fields["dup"], "yes")
        self.assertEqual(retried.fields["seq"], lost.fields["seq"])
        self.assertEqual(len(self.events_with_id("asn-78:receive")), 1)
        self.assertEqual(self.stock("MUG")["on_hand"], 5)

    def test_retry_while_daemon_restarts_applies_once(self):
        """Killed right after the request was sent: applied or not, the retry makes it once."""
        line = "RECEIVE sku=MUG wh=PAR qty=5 id=asn-79:receive"
        self.send("PING")
        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(self.daemon.sock)
            raw.sendall(line.encode() + b"\n")
            self.daemon.kill()
        self.restart_soon()                # the client backs off until the daemon is back
        self.send(line)
        self.assertEqual(len(self.events_with_id("asn-79:receive")), 1)
        self.assertEqual(self.stock("MUG")["on_hand"], 5)

    def test_place_rerun_after_restart_returns_same_reservations(self):
        self.send("RECEIVE sku=MUG wh=PAR qty=10")
        first = self.orders.place("order-1006", [("MUG", "PAR", 2), ("MUG", "PAR", 3)])
        self.daemon.kill()
        self.restart_soon()
        fresh = OrderService(self.client)  # as if the order service restarted too
        self.assertEqual(fresh.place("order-1006", [("MUG", "PAR", 2), ("MUG", "PAR", 3)]), first)
        self.assertEqual(self.stock("MUG")["reserved"], 5)
        fresh.confirm("order-1006")
        self.assertEqual(self.stock("MUG"), {"on_hand": 5, "reserved": 0, "available": 5})

    # errors -------------------------------------------------------------------------------
    def test_err_codes_surface_as_stockd_error(self):
        self.send("RECEIVE sku=MUG wh=PAR qty=2")
        _, ok = self.send("RESERVE sku=MUG wh=PAR qty=1")
        self.send(f"RELEASE res={ok.fields['res']}")
        cases = {
            "SYNTAX": 'RECEIVE sku=MUG wh=PAR qty=1 ref="unclosed',
            "UNKNOWN": "FROBNICATE sku=MUG",
            "ARG": "RECEIVE sku=MUG wh=PAR qty=0",
            "INSUFFICIENT": "SELL sku=MUG wh=PAR qty=3",
            "NOTFOUND": "RELEASE res=no-such-hold",
            "STATE": f"RELEASE res={ok.fields['res']}",
        }
        for code, line in cases.items():
            with self.subTest(code=code), self.assertRaises(StockdError) as caught:
                self.send(line)
            self.assertEqual(caught.exception.code, code, line)
        with self.assertRaises(StockdError) as caught:
            self.send("SELL sku=MUG wh=PAR qty=3")
        self.assertEqual(caught.exception.fields["available"], "2")
        self.assertEqual(self.send("PING")[1].raw, "OK pong")   # connection still usable


class FakeStockd(threading.Thread):
    """A scripted stand-in for what a real stockd cannot be made to do on demand (disk full,
    hanging up after reading a request). Replies are used in order; None means hang up."""

    def __init__(self, path, replies):
        super().__init__(daemon=True)
        self.path, self.replies, self.seen = path, list(replies), []
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen()
        self.server.settimeout(10)

    def run(self):
        with self.server:
            while self.replies:
                conn, _ = self.server.accept()
                with conn, conn.makefile("rb") as reader:
                    while self.replies:
                        line = reader.readline()
                        if not line:
                            break
                        self.seen.append(line.decode().strip())
                        reply = self.replies.pop(0)
                        if reply is None:
                            break
                        conn.sendall(reply.encode() + b"\n")


class ClientTest(unittest.TestCase):
    def fake(self, replies):
        tmp = tempfile.mkdtemp(prefix="fake-stockd-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        server = FakeStockd(os.path.join(tmp, "s.sock"), replies)
        server.start()
        client = StockdClient(server.path, timeout=5, attempts=3, backoff=0.01)
        self.addCleanup(client.close)
        return server, client

    def test_unavailable_is_retried(self):
        server, client = self.fake(["ERR UNAVAILABLE disk full", "OK seq=9"])
        self.assertEqual(client.request("RECEIVE sku=A wh=B qty=1")[1].fields["seq"], "9")
        self.assertEqual(len(server.seen), 2)

    def test_unavailable_for_too_long_raises_it(self):
        server, client = self.fake(["ERR UNAVAILABLE disk full"] * 3)
        with self.assertRaises(StockdError) as caught:
            client.request("RECEIVE sku=A wh=B qty=1 id=k")
        self.assertEqual(caught.exception.code, "UNAVAILABLE")

    def test_lost_reply_resends_a_write_with_id(self):
        server, client = self.fake([None, "OK seq=3 dup=yes"])
        self.assertEqual(client.request("SELL res=r2 id=o:sell:1")[1].fields["dup"], "yes")
        self.assertEqual(server.seen, ["SELL res=r2 id=o:sell:1"] * 2)

    def test_lost_reply_does_not_resend_a_write_without_id(self):
        server, client = self.fake([None])
        with self.assertRaises(ConnectionError):
            client.request("SELL res=r2")
        self.assertEqual(server.seen, ["SELL res=r2"])

    def test_parse_rows_and_quoted_values(self):
        line = parse_line(r'event seq=4 kind=adjusted reason="broken \"pallet\" 3\\4" qty=2')
        self.assertEqual(line.word, "event")
        self.assertEqual(line.fields, {"seq": "4", "kind": "adjusted", "qty": "2",
                                       "reason": 'broken "pallet" 3\\4'})
        self.assertEqual(parse_line('ERR SYNTAX stray " quote').word, "ERR")   # no exception


if __name__ == "__main__":
    unittest.main()
