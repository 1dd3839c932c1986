#!/usr/bin/env python3
"""A stand-in for stockrelay, in Python, to check the network tests themselves (not for production).

Same command line as the relay for what the tests use (`--init-schema --postgres URL`, and
`--socket S --site NAME --postgres URL`), same tables. It watches `WATCH events from=last_seq+1`
and writes each batch of events, with the STOCK of the pairs they touched, in one transaction
through psql. Without `stock=yes` on the daemon it reads STOCK after the batch, so stockd_stock can
run ahead of last_seq between batches; once writes stop the two agree.

`--bug skip-after-reconnect` drops the first event after every reconnect: the tests must fail
on it (a check that they can).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from order_service import parse_line  # noqa: E402

SCHEMA = """
CREATE TABLE IF NOT EXISTS stockd_events (site text NOT NULL, seq bigint NOT NULL, recorded_at timestamptz NOT NULL,
  kind text NOT NULL, sku text, wh text, fields jsonb NOT NULL, PRIMARY KEY (site, seq));
CREATE TABLE IF NOT EXISTS stockd_stock (site text NOT NULL, sku text NOT NULL, wh text NOT NULL, on_hand bigint NOT NULL,
  reserved bigint NOT NULL, available bigint NOT NULL, inbound bigint NOT NULL, incoming bigint NOT NULL,
  seq bigint NOT NULL, PRIMARY KEY (site, sku, wh));
CREATE TABLE IF NOT EXISTS stockd_sites (site text PRIMARY KEY, last_seq bigint NOT NULL, last_event_at timestamptz,
  relayed_at timestamptz);
CREATE OR REPLACE VIEW stockd_network_stock AS SELECT sku, sum(on_hand) AS on_hand, sum(reserved) AS reserved,
  sum(available) AS available, sum(inbound) AS inbound, sum(incoming) AS incoming FROM stockd_stock GROUP BY sku;
"""


def psql_command(url):
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    return ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", query["host"][0], "-p", str(parts.port or 5432),
            "-U", parts.username, "-d", parts.path.lstrip("/")]


def psql(url, sql):
    done = subprocess.run(psql_command(url), input=sql, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip())
    return done.stdout.strip()


def quote(text):
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def relay(options):
    connections = 0
    while True:
        try:
            connections += 1
            last = int(psql(options.postgres, f"SELECT coalesce((SELECT last_seq FROM stockd_sites WHERE site = {quote(options.site)}), 0)"))
            watch = socket.socket(socket.AF_UNIX)
            watch.connect(options.socket)
            watch.sendall(f"WATCH events from={last + 1}\n".encode())
            pending = b""
            while b"\n" not in pending:
                pending += watch.recv(65536)
            first, pending = pending.split(b"\n", 1)
            assert first.startswith(b"OK watching"), first
            query = socket.socket(socket.AF_UNIX)
            query.connect(options.socket)
            query_reader = query.makefile("rb")
            skip = options.bug == "skip-after-reconnect" and connections > 1
            while True:
                # Every complete line that has arrived is one batch.
                while b"\n" not in pending:
                    chunk = watch.recv(1 << 20)
                    if not chunk:
                        raise OSError("stream closed")
                    pending += chunk
                complete, pending = pending.rsplit(b"\n", 1)
                batch = complete.decode().split("\n")
                ended = [line for line in batch if line.startswith("ERR")]
                batch = [line for line in batch if line.startswith("event ")]
                if skip and batch:
                    batch, skip = batch[1:], False
                if not batch:
                    if ended:
                        raise OSError(f"stream ended: {ended[0]}")
                    continue
                events = [parse_line(line).fields for line in batch if line.startswith("event ")]
                statements = ["BEGIN;"]
                for event in events:
                    statements.append(
                        "INSERT INTO stockd_events VALUES ({}, {}, {}, {}, {}, {}, {});".format(
                            quote(options.site), event["seq"], quote(event["at"]), quote(event["kind"]),
                            quote(event.get("sku")), quote(event.get("wh")), quote(json.dumps(event))))
                for sku in sorted({event["sku"] for event in events if "sku" in event}):
                    query.sendall(f"STOCK sku={sku}\n".encode())
                    while True:
                        row = parse_line(query_reader.readline().decode().rstrip("\n"))
                        if row.word != "stock":
                            if row.word == "OK":
                                break
                            continue
                        f = row.fields
                        statements.append(
                            "INSERT INTO stockd_stock VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (site, sku, wh) DO UPDATE "
                            "SET on_hand = excluded.on_hand, reserved = excluded.reserved, available = excluded.available, "
                            "inbound = excluded.inbound, incoming = excluded.incoming, seq = excluded.seq;".format(
                                quote(options.site), quote(f["sku"]), quote(f["wh"]), f["on_hand"], f["reserved"],
                                f["available"], f["inbound"], f["incoming"], events[-1]["seq"]))
                statements.append(
                    "INSERT INTO stockd_sites VALUES ({0}, {1}, {2}, now()) ON CONFLICT (site) DO UPDATE SET last_seq = {1}, "
                    "last_event_at = {2}, relayed_at = now();".format(quote(options.site), events[-1]["seq"], quote(events[-1]["at"])))
                statements.append("COMMIT;")
                psql(options.postgres, "\n".join(statements))
                if ended:
                    raise OSError(f"stream ended: {ended[0]}")
        except (OSError, RuntimeError, AssertionError) as error:
            print(f"retrying after: {error}", flush=True)
            time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--init-schema", action="store_true")
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--socket")
    parser.add_argument("--site")
    parser.add_argument("--bug", choices=["skip-after-reconnect"])
    options = parser.parse_args()
    if options.init_schema:
        psql(options.postgres, SCHEMA)
        return
    relay(options)


if __name__ == "__main__":
    main()
