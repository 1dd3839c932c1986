#!/usr/bin/env python3
"""An order service that talks to stockd over its Unix socket, standard library only.

It is an example for other teams: how to reserve stock for an order, sell it on confirmation
and release it on cancellation without ever applying a write twice. The contract it is written
against is shared/PROTOCOL.md ("stockd line protocol, version 1").

The one idea to take away: every write carries an `id=` idempotency key derived from the order
id and the step (`order-1001:reserve:1`). A client that lost a reply cannot know whether the
write happened, so it simply sends the same line again; stockd answers a key it has already
applied with the original reply plus `dup=yes`. That makes "reconnect and retry" safe, even
across a daemon crash, and makes a whole `place()` or `confirm()` safe to run again.

Orders may hold from one sales channel's stock (`place(..., channel="mkp")`, fences and shares) and
let stockd pick the warehouses (`allocate()`: one ALLOCATE, all or nothing, over a route).

    python3 Tools/order_service.py --socket var/stockd.sock demo
    python3 Tools/order_service.py --socket var/stockd.sock preorder-demo
"""

import argparse
import random
import socket
import sys
import time
from collections import namedtuple

# Writes change the ledger; resending one is only safe when it carries `id=`.
WRITE_VERBS = {"RECEIVE", "SELL", "RESERVE", "RELEASE", "TRANSFER", "ARRIVE", "ADJUST",
               "COUNT", "RETURN", "EXPECT", "CANCEL", "POLICY", "RESCHEDULE", "EXTEND",
               "WAIT", "UNWAIT", "ALLOT", "CHANNEL", "ROUTE", "ALLOCATE"}
# Reads can always be resent. Connection-state verbs (HELLO, BEGIN, COMMIT, ABORT, WATCH,
# QUIT) are in neither set: their meaning dies with the connection, so they are never resent.
READ_VERBS = {"STOCK", "BREACHES", "REORDER", "RESERVATIONS", "TRANSFERS", "HISTORY",
              "EVENTS", "INFO", "PING", "PROMISE", "METRICS"}

Line = namedtuple("Line", "word fields raw")
Line.__doc__ = """One reply line: its first word (`OK`, `ERR` or a row word such as `stock`),
its key=value pairs as strings, and the raw text for anything the pairs do not capture."""


class StockdError(Exception):
    """An `ERR CODE text` reply. `code` is the stable word to branch on; `text` is for people;
    `fields` holds the key=value pairs the text carries (INSUFFICIENT has `available=`)."""

    def __init__(self, code, text, fields):
        super().__init__(f"{code} {text}".strip())
        self.code, self.text, self.fields = code, text, fields


class Hold(namedtuple("Hold", "res open held awaiting lines promise late")):
    """One reservation as RESERVATIONS res= shows it: `held` units are on hand and can be sold,
    `awaiting` ones wait in `lines` ({"PO-9": 3, "cap": 2, "none": 1}, by what backs them);
    `promise` is "now", "unknown" or the date the last awaited unit is due. A reservation that is
    no longer open (sold, released, expired) has open=False and nothing in it."""

    @classmethod
    def from_row(cls, res, fields):
        if fields is None:
            return cls(res, False, 0, 0, {}, "now", False)
        lines = {}
        for line in fields.get("lines", "-").split(","):
            if line != "-":
                backing, _, qty = line.rpartition(":")   # order names may hold a colon
                lines[backing] = int(qty)
        # Rows of a pair that never used promises have no held= (everything there is held).
        return cls(res, True, int(fields.get("held", fields["qty"])), int(fields.get("awaiting", 0)),
                   lines, fields.get("promise", "now"), fields.get("late") == "yes")

    @property
    def unbacked(self):
        return self.lines.get("none", 0)


class OrderPromise(namedtuple("OrderPromise", "order_id holds")):
    """What an order can be promised: `promise` is "now" when every unit is held, "unknown" when
    some awaited unit has no date (unbacked, or a pre-order cap without an announced date), else
    the latest date of its reservations (timestamps of one format sort as text)."""

    held = property(lambda self: sum(h.held for h in self.holds))
    awaiting = property(lambda self: sum(h.awaiting for h in self.holds))
    unbacked = property(lambda self: sum(h.unbacked for h in self.holds))
    late = property(lambda self: any(h.late for h in self.holds))
    ready = property(lambda self: self.awaiting == 0)

    @property
    def promise(self):
        dates = [h.promise for h in self.holds if h.promise != "now"]
        return "unknown" if "unknown" in dates else max(dates, default="now")


Change = namedtuple("Change", "kind res detail")
Change.__doc__ = """What follow() saw change in one reservation since it last looked: `filled`
(detail: units that became held), `promise` (detail: (old, new)), `unbacked` (detail: units that
lost their purchase order) or `closed` (detail: None; sold, released or expired)."""


class NotFilled(Exception):
    """confirm() of a pre-order some of whose units are still awaited: nothing was sold."""

    def __init__(self, promise):
        super().__init__(f"order {promise.order_id} still awaits {promise.awaiting} unit(s), "
                         f"promised {promise.promise}")
        self.promise = promise


def tokenize(text):
    """Split a line into words, honouring "quoted values" with \\" and \\\\ escapes.

    Lenient on purpose: it also reads ERR lines, whose human text may hold a stray quote, so an
    unclosed quote just runs to the end of the line instead of raising."""
    tokens, cur, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            if cur:
                tokens.append("".join(cur))
                cur = []
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                cur.append(text[i])
                i += 1
        else:
            cur.append(c)
        i += 1
    if cur:
        tokens.append("".join(cur))
    return tokens


def parse_line(text):
    """Parse one line into a Line: the first word plus every key=value pair after it.
    Bare words (`OK pong`, the prose of an ERR line) are left in `raw`."""
    tokens = tokenize(text)
    fields = {}
    for tok in tokens[1:]:
        key, eq, value = tok.partition("=")
        if eq and key:
            fields[key] = value
    return Line(tokens[0] if tokens else "", fields, text)


class StockdClient:
    """A blocking, one-request-at-a-time client for stockd's line protocol.

    It owns one connection, opens it lazily, and on trouble closes it and tries again with
    capped exponential backoff (with jitter, so a crowd of clients does not reconnect in step).
    What counts as trouble: the socket missing or refusing (daemon restarting), the connection
    dying or timing out mid-request (reply lost), and `ERR UNAVAILABLE` (nothing was written;
    the contract says it may be retried). Every other ERR is the server's final word and is
    raised as StockdError at once.
    """

    def __init__(self, path, timeout=10.0, attempts=10, backoff=0.05, max_backoff=2.0):
        self.path, self.timeout = path, timeout
        self.attempts, self.backoff, self.max_backoff = attempts, backoff, max_backoff
        self._sock = self._reader = None

    def close(self):
        """Drop the connection; the next request opens a new one."""
        if self._sock is not None:
            self._reader.close()
            self._sock.close()
        self._sock = self._reader = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, line):
        """Send one request line; return (rows, status) where rows is a list of Line and status
        is the OK Line. Raises StockdError on ERR, ConnectionError when retries run out or when
        resending would be unsafe (a write without `id=` whose reply was lost)."""
        words = tokenize(line)
        verb = words[0].upper() if words else ""
        has_id = any(w.startswith("id=") for w in words[1:])
        resendable = verb in READ_VERBS or (verb in WRITE_VERBS and has_id)
        last_error = None
        for attempt in range(self.attempts):
            if attempt:
                self._sleep(attempt)
            try:
                self._connect()
            except OSError as e:       # nothing was sent: always safe to try again
                last_error = e
                continue
            try:
                rows, status = self._exchange(line)
            except (OSError, EOFError) as e:
                self.close()
                if not resendable:
                    raise ConnectionError(f"reply to {verb} lost and it has no id=, so it "
                                          f"may or may not have been applied: {e}") from e
                last_error = e
                continue
            if status.word == "ERR":
                parts = status.raw.split(None, 2)
                code = parts[1] if len(parts) > 1 else ""
                error = StockdError(code, parts[2] if len(parts) > 2 else "", status.fields)
                if code == "UNAVAILABLE":
                    last_error = error
                    continue
                raise error
            return rows, status
        if isinstance(last_error, StockdError):
            raise last_error
        raise ConnectionError(f"stockd at {self.path} unreachable after {self.attempts} "
                              f"attempts: {last_error}") from last_error

    def _sleep(self, attempt):
        delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        time.sleep(random.uniform(delay / 2, delay))

    def _connect(self):
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
            except OSError:
                sock.close()
                raise
            self._sock, self._reader = sock, sock.makefile("rb")

    def _exchange(self, line):
        """Write the line, read rows until the OK/ERR line (the contract's reply framing)."""
        self._sock.sendall(line.encode("utf-8") + b"\n")
        rows = []
        while True:
            raw = self._reader.readline()
            if not raw.endswith(b"\n"):
                raise EOFError("connection closed in the middle of a reply")
            parsed = parse_line(raw.decode("utf-8").rstrip("\r\n"))
            if parsed.word in ("OK", "ERR"):
                return rows, parsed
            rows.append(parsed)


class OrderService:
    """Reserve, sell and release the stock of orders, safely re-runnable step by step.

    Keys are `<order_id>:<step>:<line number>`, and every write also carries `ref=<order_id>` so
    the ledger's history shows which order moved the stock. Order ids must therefore be stockd
    identifiers (A-Z a-z 0-9 . _ - : / # @ +), short enough that the key fits in 64 bytes.

    The reservation ids of an order are remembered in memory. A new process can recover them by
    calling place() (or preorder()) again with the same order and lines: the server answers each
    RESERVE from its idempotency record with the original `res=`.

    Pre-orders (preorder()) may hold units that are not on hand yet. promise(), follow() and
    wait_filled() poll RESERVATIONS res= for what is held, what is awaited and the date promised;
    confirm() sells only once nothing is awaited; cancel() releases held and awaited units alike.
    """

    def __init__(self, client, ttl="15m"):
        self.client, self.ttl = client, ttl
        self.reservations = {}   # order_id -> [res, ...] in line order
        self.confirmed = set()
        self.preorders = set()   # orders whose units may still be awaited: confirm() checks first
        self._last_seen = {}     # order_id -> the OrderPromise follow() compares with

    def _write(self, order_id, step, n, line):
        return self.client.request(f"{line} ref={order_id} id={order_id}:{step}:{n}")[1]

    def place(self, order_id, lines, channel=None):
        """Reserve every (sku, wh, qty) line, each with a ttl; return the reservation ids.

        All or nothing: if any line is refused (INSUFFICIENT above all) what this order already
        holds is released and the error is raised. If stockd cannot be reached at all, the
        held units come back anyway when their ttl runs out: that is why every hold has one.

        With `channel` (a sales channel: web, mkp, b2b...), each line holds from what that channel
        may take (its fence first, then its share of the rest): a marketplace order cannot take the
        units fenced for the B2B desk (docs/protocol.md, Channels)."""
        options = f"ttl={self.ttl}" + (f" channel={channel}" if channel else "")
        return self._reserve(order_id, lines, options)

    def allocate(self, order_id, sku, qty, region=None, warehouses=None, strategy=None, channel=None,
                 partial=False):
        """Let stockd pick the warehouses for `qty` units of `sku` in one write (ALLOCATE): from the
        route of `region` (ROUTE) or the given `warehouses`, by `strategy` (fewest, rank, stock or
        surplus; stockd's default is fewest). All or nothing unless `partial`: ERR INSUFFICIENT names
        what each warehouse has (`avail=PAR:3,LIL:2`) and nothing is held. Returns the lines as
        (res, wh, qty); confirm() sells them and cancel() releases them like place()'s holds.

        The allocation's id is the order id, so a retry after a lost reply (same `id=`) answers the
        same lines instead of allocating twice."""
        if (region is None) == (warehouses is None):
            raise ValueError("allocate: give region or warehouses, not both")
        options = [f"sku={sku}", f"qty={qty}", f"alloc={order_id}", f"ttl={self.ttl}"]
        options += [f"region={region}"] if region else [f"wh={','.join(warehouses)}"]
        options += [f"{key}={value}" for key, value in (("strategy", strategy), ("channel", channel)) if value]
        if partial:
            options.append("partial=yes")
        rows, _ = self.client.request(f"ALLOCATE {' '.join(options)} ref={order_id} id={order_id}:allocate:1")
        lines = [(row.fields["res"], row.fields["wh"], int(row.fields["qty"])) for row in rows if row.word == "line"]
        self.reservations[order_id] = [res for res, _, _ in lines]
        return lines

    def preorder(self, order_id, lines, backorder="po", po=None, priority=None, ttl=None):
        """Reserve lines that may wait for stock: what is on hand is held, the rest awaits a
        purchase order (`backorder="po"`, only order `po` when given) or the pre-order cap
        (`"cap"`). Returns the reservation ids; all or nothing, as place().

        Without `ttl`, stockd keeps the hold until a week after its promise (30 days while the
        promise is unknown), so no short ttl of this service's cuts a pre-order short. Follow it
        with promise(), follow() or wait_filled(); confirm() sells it once every unit is held."""
        options = " ".join(f"{key}={value}" for key, value in
                           (("backorder", backorder), ("po", po), ("priority", priority), ("ttl", ttl))
                           if value is not None)
        held = self._reserve(order_id, lines, options)
        self.preorders.add(order_id)
        self._last_seen[order_id] = self.promise(order_id)
        return held

    def _reserve(self, order_id, lines, options):
        held = []
        try:
            for n, (sku, wh, qty) in enumerate(lines, 1):
                ok = self._write(order_id, "reserve", n,
                                 f"RESERVE sku={sku} wh={wh} qty={qty} {options}")
                held.append(ok.fields["res"])
                if ok.fields.get("dup") == "yes":
                    self._check_still_open(order_id, ok.fields["res"])
        except StockdError:
            self._release(order_id, held)
            raise
        self.reservations[order_id] = held
        return list(held)

    def _check_still_open(self, order_id, res):
        """A dup RESERVE replays the original reply even if that hold is long gone (this order
        was placed before and then failed, expired, was cancelled or sold). Handing such an id
        back would only fail later at confirm(), so refuse here, in the server's terms."""
        rows, _ = self.client.request(f"RESERVATIONS res={res}")
        if not rows:
            raise StockdError("STATE", f"order {order_id} was placed before and reservation "
                                       f"{res} is no longer open; use a new order id",
                              {"res": res})

    def promise(self, order_id):
        """Ask stockd where each reservation of the order stands; return an OrderPromise."""
        holds = []
        for res in self._known(order_id):
            rows, _ = self.client.request(f"RESERVATIONS res={res}")
            holds.append(Hold.from_row(res, rows[0].fields if rows else None))
        return OrderPromise(order_id, holds)

    def follow(self, order_id):
        """Poll the order and return (OrderPromise, [Change, ...]): what changed since the last
        promise() seen by preorder() or follow(). WATCH promises will push the same news; polling
        works with any stockd and survives reconnections."""
        now = self.promise(order_id)
        before = self._last_seen.get(order_id)
        self._last_seen[order_id] = now
        changes = []
        for old, new in zip(before.holds if before else [], now.holds):
            if old.open and not new.open:
                changes.append(Change("closed", new.res, None))
                continue
            if new.held > old.held:
                changes.append(Change("filled", new.res, new.held - old.held))
            if new.unbacked > old.unbacked:
                changes.append(Change("unbacked", new.res, new.unbacked - old.unbacked))
            if new.promise != old.promise:
                changes.append(Change("promise", new.res, (old.promise, new.promise)))
        return now, changes

    def wait_filled(self, order_id, timeout, interval=0.5):
        """Poll until nothing of the order is awaited; return its OrderPromise. Raises
        TimeoutError (carrying the last OrderPromise) when `timeout` seconds pass first. A
        reservation that closed meanwhile awaits nothing either (Hold.open tells; confirm() would
        answer ERR STATE for it)."""
        deadline = time.monotonic() + timeout
        while True:
            promise = self.promise(order_id)
            if promise.ready:
                return promise
            if time.monotonic() >= deadline:
                raise TimeoutError(f"order {order_id} still awaits {promise.awaiting} unit(s)", promise)
            time.sleep(interval)

    def confirm(self, order_id):
        """Sell every reservation of the order; return the OK fields of each SELL.

        A reservation that expired before confirmation raises StockdError STATE; the lines sold
        before it stay sold, and calling confirm() again only sells what is left.

        A pre-order is sold only once all its units are held: otherwise NotFilled is raised and
        nothing is sent (`SELL res=` would ship the held part alone, and its key, once used,
        could not sell the rest). Held units never go back to waiting, so the check stays true."""
        if order_id in self.preorders and order_id not in self.confirmed:
            promise = self.promise(order_id)
            if not promise.ready:
                raise NotFilled(promise)
        done = [self._write(order_id, "sell", n, f"SELL res={res}").fields
                for n, res in enumerate(self._known(order_id), 1)]
        self.confirmed.add(order_id)
        return done

    def cancel(self, order_id):
        """Release every reservation of the order. Safe to call twice."""
        if order_id in self.confirmed:
            # A confirmed order is sold: refuse the cancel before asking (stockd would answer
            # ERR STATE ... state=sold for each hold).
            raise ValueError(f"order {order_id} is confirmed; its stock is sold")
        self._release(order_id, self._known(order_id), strict=True)

    def _release(self, order_id, held, strict=False):
        """RELEASE each hold. ERR STATE means it already ended (released, expired), which is
        what we want. When rolling back a failed place() (not strict) nothing else may mask the
        original error: a hold we could not release still expires by its ttl."""
        for n, res in enumerate(held, 1):
            try:
                self._write(order_id, "release", n, f"RELEASE res={res}")
            except StockdError as e:
                # ERR STATE names the hold's end in state=: released or expired is what we want;
                # sold means the order went through and can no longer be cancelled.
                if strict and (e.code != "STATE" or e.fields.get("state") == "sold"):
                    raise
            except ConnectionError:
                if strict:
                    raise

    def _known(self, order_id):
        try:
            return self.reservations[order_id]
        except KeyError:
            raise KeyError(f"unknown order {order_id}: place() it in this process first") from None


def _print_stock(client, sku, title):
    rows, _ = client.request(f"STOCK sku={sku}")
    print(f"-- {title}")
    for row in rows:
        f = row.fields
        print(f"   {row.word:5} wh={f.get('wh', '*'):4} on_hand={f['on_hand']} "
              f"reserved={f['reserved']} available={f['available']}")


def demo(client):
    """Receive stock, place+confirm one order, place+cancel another, showing STOCK as we go.
    Ids carry the start time, so running the demo twice does not replay the first run."""
    run = f"demo{int(time.time() * 1000)}"
    sku, wh = "DEMO-MUG", "PAR"
    orders = OrderService(client)
    _print_stock(client, sku, "before")
    _, ok = client.request(f"RECEIVE sku={sku} wh={wh} qty=20 id={run}:receive ref={run}")
    print(f"received 20 (seq={ok.fields['seq']})")
    _print_stock(client, sku, "after RECEIVE")
    print(f"placed {run}-1001: {orders.place(f'{run}-1001', [(sku, wh, 3)])}")
    orders.confirm(f"{run}-1001")
    print(f"confirmed {run}-1001")
    _print_stock(client, sku, "after confirm (on_hand -3)")
    print(f"placed {run}-1002: {orders.place(f'{run}-1002', [(sku, wh, 5)])}")
    _print_stock(client, sku, "while 1002 is held (reserved +5)")
    orders.cancel(f"{run}-1002")
    print(f"cancelled {run}-1002")
    _print_stock(client, sku, "after")
    try:
        orders.place(f"{run}-1003", [(sku, wh, 1), (sku, wh, 10**6)])
    except StockdError as e:
        print(f"order {run}-1003 refused as expected: {e}")
    _print_stock(client, sku, "after a refused order (nothing left held)")


def preorder_demo(client):
    """One pre-order end to end: taken against the pre-order cap while the sku is out of stock,
    bound to a purchase order by EXPECT, moved by RESCHEDULE, filled by RECEIVE, then sold."""
    run = f"pre{int(time.time() * 1000)}"
    sku, wh, po, order = f"{run}-LAMP", "PAR", f"{run}-PO", f"{run}-1001"
    orders = OrderService(client)

    def in_days(days):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + days * 86400))

    def show(title):
        promise, changes = orders.follow(order)
        print(f"-- {title}: held={promise.held} awaiting={promise.awaiting} "
              f"promise={promise.promise}")
        for kind, res, detail in changes:
            print(f"   {kind} {res}: {' -> '.join(detail) if kind == 'promise' else detail}")

    client.request(f"POLICY sku={sku} wh={wh} preorder=10 id={run}:policy")
    orders.preorder(order, [(sku, wh, 3)], backorder="cap")
    show("pre-ordered while out of stock, against the cap")
    client.request(f"EXPECT sku={sku} wh={wh} qty=20 eta={in_days(14)} po={po} id={run}:expect")
    show("after EXPECT (the order binds the cap line)")
    client.request(f"RESCHEDULE po={po} eta={in_days(21)} id={run}:reschedule")
    show("after RESCHEDULE")
    try:
        orders.confirm(order)
    except NotFilled as e:
        print(f"confirm refused as expected: {e}")
    client.request(f"RECEIVE sku={sku} wh={wh} qty=20 po={po} id={run}:receive")
    show("after RECEIVE")
    orders.confirm(order)
    print(f"confirmed {order}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", default="var/stockd.sock", help="stockd's Unix socket")
    parser.add_argument("command", choices=["demo", "preorder-demo"])
    args = parser.parse_args(argv)
    with StockdClient(args.socket) as client:
        try:
            (demo if args.command == "demo" else preorder_demo)(client)
        except (StockdError, ConnectionError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
