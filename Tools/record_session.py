#!/usr/bin/env python3
"""Records the session transcript that Tests/EndToEndTests/SessionReplayTests.swift replays (FEATURES.md
P4: "every existing reply stays byte-identical for users who set none of it").

It starts the given stockd on a fresh data folder, sends SCRIPT below on one connection (every verb,
read and error of the protocol before promises, with explicit res=/xfer= ids so replies are
deterministic), normalises what varies from run to run and writes the Swift fixture. Recorded from
the last commit before promises:

    git -C /work/main worktree add /work/wt-oldstockd ce47c14
    (cd /work/wt-oldstockd && swift build -c debug --product stockd)
    python3 Tools/record_session.py --stockd /work/wt-oldstockd/.build/debug/stockd \
        --out Tests/EndToEndTests/Fixtures/SessionTranscript.swift

Normalised (the test does the same to the current daemon's replies): an RFC 3339 time from a day
before the run to 100 days after it is the clock's (expires=, at=, since=, start=, end=; expiries are
at most 90 days ahead) and becomes <time>;
`seconds=` of breach intervals (a span of clock times) becomes <seconds>; the recording user's uid in
`actor=` becomes <uid>. Times sent in requests are in 2099 and stay as they are. INFO, METRICS and
WATCH are left out: their replies vary by design.
"""

import argparse
import datetime
import os
import re
import socket
import subprocess
import tempfile
import time

SCRIPT = r"""
HELLO
PING
ping
RECEIVE sku=TSHIRT-M wh=PAR qty=40 po=PO-77 ref=ASN-9
RECEIVE sku=TSHIRT-M wh=LYS qty=5
RECEIVE sku=MUG wh=PAR qty=12 id=rcv-1 note="first pallet"
RECEIVE sku=MUG wh=PAR qty=12 id=rcv-1 note="first pallet"
RECEIVE sku=MUG wh=PAR qty=13 id=rcv-1
RESERVE sku=TSHIRT-M wh=PAR qty=3 ttl=15m ref=ORDER-1001 res=cart-1
RESERVE sku=TSHIRT-M wh=PAR qty=4 res=cart-2 id=res-2
RESERVE sku=TSHIRT-M wh=PAR qty=4 res=cart-2 id=res-2
RESERVE sku=TSHIRT-M wh=PAR qty=1 res=cart-1
RESERVE sku=TSHIRT-M wh=PAR qty=100 res=cart-3
RESERVE sku=TSHIRT-M wh=PAR qty=1 res=cart-4 ttl=0
RESERVE sku=MUG wh=PAR qty=1 ttl=91d
SELL sku=TSHIRT-M wh=PAR qty=50
SELL sku=TSHIRT-M wh=PAR qty=2
SELL res=cart-1 qty=1
SELL res=cart-1 qty=5
RELEASE res=cart-1
RELEASE res=cart-1
SELL res=r404
RELEASE res=cart-2 qty=1
RESERVATIONS
RESERVATIONS sku=TSHIRT-M wh=PAR
RESERVATIONS res=cart-2
RESERVATIONS ref=ORDER-1001
TRANSFER sku=TSHIRT-M from=PAR to=LYS qty=10 eta=2099-12-01T00:00:00Z xfer=x-1
TRANSFER sku=TSHIRT-M from=PAR to=PAR qty=1
TRANSFER sku=TSHIRT-M from=PAR to=NCE qty=2 xfer=x-2
TRANSFER sku=TSHIRT-M from=PAR to=NCE qty=2 xfer=x-2
TRANSFERS
TRANSFERS wh=LYS
TRANSFERS xfer=x-2
ARRIVE xfer=x-1 qty=7 lost=1
ARRIVE xfer=x-1 qty=5
ARRIVE xfer=x-1
ARRIVE xfer=x-1
ARRIVE xfer=x-2 qty=0 lost=2
ARRIVE xfer=x-404
ADJUST sku=TSHIRT-M wh=PAR delta=-5 reason="broken pallet"
ADJUST sku=TSHIRT-M wh=PAR delta=0 reason=typo
ADJUST sku=TSHIRT-M wh=PAR delta=-1000 reason=theft
COUNT sku=TSHIRT-M wh=PAR qty=18 reason=cycle
COUNT sku=MUG wh=PAR qty=0
RETURN sku=TSHIRT-M wh=PAR qty=2
RETURN sku=MUG wh=PAR qty=1 id=ret-1
RETURN sku=MUG wh=PAR qty=1 id=ret-1
EXPECT sku=TSHIRT-M wh=PAR qty=30 eta=2099-12-05T00:00:00Z po=PO-1
EXPECT sku=TSHIRT-M wh=PAR qty=30 eta=2099-12-05T00:00:00Z po=PO-1
EXPECT sku=MUG wh=PAR qty=20 eta=2099-11-01T00:00:00Z po=PO-2
RECEIVE sku=TSHIRT-M wh=PAR qty=10 po=PO-1
RECEIVE sku=MUG wh=PAR qty=25 po=PO-2
CANCEL po=PO-1
CANCEL po=PO-1
CANCEL po=PO-404
CANCEL po=PO-2
POLICY sku=TSHIRT-M wh=LYS safety=12 reorder=15 max=40
POLICY sku=TSHIRT-M wh=LYS reorder=16
POLICY sku=MUG wh=PAR safety=30 reorder=35 max=60
POLICY sku=TSHIRT-M wh=PAR
STOCK sku=TSHIRT-M
STOCK sku=TSHIRT-M wh=PAR
STOCK sku=TSHIRT-M at=seq:5
STOCK sku=MUG at=seq:3
STOCK sku=NOPE
STOCK
BREACHES
BREACHES wh=LYS
BREACHES history=yes
REORDER
REORDER wh=LYS sku=TSHIRT-M
HISTORY sku=TSHIRT-M wh=LYS
HISTORY sku=MUG from=3 limit=2
EVENTS from=1 limit=5
EVENTS from=30
BEGIN
RECEIVE sku=MUG wh=LYS qty=3
RESERVE sku=MUG wh=LYS qty=2 res=batch-1
SELL res=batch-1
STOCK sku=MUG
COMMIT
BEGIN
SELL sku=MUG wh=LYS qty=1
SELL sku=MUG wh=LYS qty=99
COMMIT
BEGIN
RECEIVE sku=MUG wh=LYS qty=1
ABORT
COMMIT
FROB sku=MUG
RECEIVE sku=A wh=W qty=1 qty=2
RECEIVE sku=A wh=W note="unclosed
RECEIVE sku=bad*sku wh=W qty=1
RECEIVE sku=A wh=W qty=-1
SELL sku=A wh=W quantity=1
RECEIVE sku=A wh=W
HELLO format=json
STOCK sku=TSHIRT-M
RESERVE sku=MUG wh=PAR qty=2 res=json-1
SELL res=json-1
SELL res=json-1
RESERVATIONS
TRANSFERS
BREACHES
REORDER
EVENTS from=1 limit=3
SELL sku=MUG wh=PAR qty=9999
RECEIVE sku=MUG wh=PAR
QUIT
"""

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")


def normalise(line, now, uid):
    """The line with what varies from run to run replaced (see the module's comment)."""
    def clock(match):
        text = match.group(0)
        seconds = text[:19] + "+00:00"
        when = datetime.datetime.fromisoformat(seconds)
        return "<time>" if -86400 < (when - now).total_seconds() < 100 * 86400 else text
    line = TIME.sub(clock, line)
    if line.startswith("interval "):
        line = re.sub(r"\bseconds=\d+", "seconds=<seconds>", line)
    if line.startswith('{"row":"interval"'):
        line = re.sub(r'"seconds":\d+', '"seconds":"<seconds>"', line)
    line = re.sub(r"\bactor=%d\b" % uid, "actor=<uid>", line)
    return re.sub(r'"actor":%d\b' % uid, '"actor":"<uid>"', line)


def ends_reply(line):
    return line.startswith(("OK", "ERR", '{"ok"', '{"err"'))


def record(stockd):
    folder = tempfile.mkdtemp(prefix="record-session-")
    sock_path = os.path.join(folder, "s.sock")
    log = open(os.path.join(folder, "stockd.log"), "ab")
    proc = subprocess.Popen([stockd, "--data", os.path.join(folder, "data"), "--socket", sock_path],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(sock_path):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("stockd did not start; see " + folder)
            time.sleep(0.02)
        client = socket.socket(socket.AF_UNIX)
        while True:
            try:
                client.connect(sock_path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        stream = client.makefile("rwb")
        now = datetime.datetime.now(datetime.timezone.utc)
        out = []
        for request in SCRIPT.strip("\n").split("\n"):
            out.append("> " + request)
            stream.write((request + "\n").encode())
            stream.flush()
            while True:
                line = stream.readline().decode().rstrip("\n")
                out.append("< " + normalise(line, now, os.getuid()))
                if ends_reply(line):
                    break
        return out
    finally:
        proc.terminate()
        proc.wait()


FIXTURE = '''// Generated by Tools/record_session.py from the stockd of commit ce47c14 (before promises); do not
// edit by hand, re-record (the command is in the tool's comment). `>` is a request, `<` a reply line.
enum SessionTranscript {
    static let text = #"""
{lines}
"""#
}
'''


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stockd", required=True, help="the stockd binary to record")
    parser.add_argument("--out", required=True, help="the Swift fixture to write")
    args = parser.parse_args()
    lines = record(args.stockd)
    with open(args.out, "w") as out:
        out.write(FIXTURE.replace("{lines}", "\n".join(lines)))
    print(f"{args.out}: {sum(1 for line in lines if line.startswith('> '))} requests, {len(lines)} lines")


if __name__ == "__main__":
    main()
