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

    python3 Tools/order_service.py --socket var/stockd.sock demo
"""

import argparse
import random
import socket
import sys
import time
from collections import namedtuple

# Writes change the ledger; resending one is only safe when it carries `id=`.
WRITE_VERBS = {"RECEIVE", "SELL", "RESERVE", "RELEASE", "TRANSFER", "ARRIVE", "ADJUST",
               "COUNT", "RETURN", "EXPECT", "CANCEL", "POLICY"}
# Reads can always be resent. Connection-state verbs (HELLO, BEGIN, COMMIT, ABORT, WATCH,
# QUIT) are in neither set: their meaning dies with the connection, so they are never resent.
READ_VERBS = {"STOCK", "BREACHES", "REORDER", "RESERVATIONS", "TRANSFERS", "HISTORY",
              "EVENTS", "INFO", "PING"}

Line = namedtuple("Line", "word fields raw")
Line.__doc__ = """One reply line: its first word (`OK`, `ERR` or a row word such as `stock`),
its key=value pairs as strings, and the raw text for anything the pairs do not capture."""


class StockdError(Exception):
    """An `ERR CODE text` reply. `code` is the stable word to branch on; `text` is for people;
    `fields` holds the key=value pairs the text carries (INSUFFICIENT has `available=`)."""

    def __init__(self, code, text, fields):
        super().__init__(f"{code} {text}".strip())
        self.code, self.text, self.fields = code, text, fields


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
    calling place() again with the same order and lines: the server answers each RESERVE from
    its idempotency record with the original `res=`.
    """

    def __init__(self, client, ttl="15m"):
        self.client, self.ttl = client, ttl
        self.reservations = {}   # order_id -> [res, ...] in line order
        self.confirmed = set()

    def _write(self, order_id, step, n, line):
        return self.client.request(f"{line} ref={order_id} id={order_id}:{step}:{n}")[1]

    def place(self, order_id, lines):
        """Reserve every (sku, wh, qty) line, each with a ttl; return the reservation ids.

        All or nothing: if any line is refused (INSUFFICIENT above all) what this order already
        holds is released and the error is raised. If stockd cannot be reached at all, the
        held units come back anyway when their ttl runs out: that is why every hold has one."""
        held = []
        try:
            for n, (sku, wh, qty) in enumerate(lines, 1):
                ok = self._write(order_id, "reserve", n,
                                 f"RESERVE sku={sku} wh={wh} qty={qty} ttl={self.ttl}")
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

    def confirm(self, order_id):
        """Sell every reservation of the order; return the OK fields of each SELL.

        A reservation that expired before confirmation raises StockdError STATE; the lines sold
        before it stay sold, and calling confirm() again only sells what is left."""
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", default="var/stockd.sock", help="stockd's Unix socket")
    parser.add_argument("command", choices=["demo"])
    args = parser.parse_args(argv)
    with StockdClient(args.socket) as client:
        try:
            demo(client)
        except (StockdError, ConnectionError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
