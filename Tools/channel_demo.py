#!/usr/bin/env python3
"""The campaign of issue 11 and one ALLOCATE per strategy, as a transcript, on a fresh stockd.

    Tools/channel_demo.py [BIN_DIR (default .build/debug)]

28 days of marketplace history (2 units an hour) are imported with stockctl; then a B2B fence, the
marketplace's share, WATCH channels and WATCH demand (every channel, and mkp alone) while mkp sells
at 10x and more until refused; then four strategies of ALLOCATE on the same stock. Prints `>`
requests and `<` replies.
"""
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "debug")
d = tempfile.mkdtemp(prefix="stockd-channel-demo-")
now = int(time.time())
def ts(s): return datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
# 28 days of normal marketplace demand: 2 units an hour on average (one sale of 2 every hour).
lines = [json.dumps({"seq": 1, "at": ts(now - 29*86400), "kind": "received", "actor": 0, "sku": "LAMP", "wh": "PAR", "qty": 1544})]
seq = 2
for h in range(28*24 - 24, 0, -1):
    lines.append(json.dumps({"seq": seq, "at": ts(now - 24*3600 - h*3600), "kind": "sold", "actor": 0, "sku": "LAMP", "wh": "PAR", "qty": 2, "channel": "mkp", "fence": 0})); seq += 1
open(d + "/h.jsonl", "w").write("\n".join(lines) + "\n")
subprocess.run([BIN + "/stockctl", "import", d + "/h.jsonl", "--data", d + "/data"], check=True, capture_output=True)
p = subprocess.Popen([BIN + "/stockd", "--data", d + "/data", "--socket", d + "/s.sock"], stderr=subprocess.DEVNULL)
def serving():
    try:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(d + "/s.sock")
            probe.sendall(b"PING\n")
            return probe.makefile("rb").readline() == b"OK pong\n"
    except OSError:
        return False
while not serving(): time.sleep(0.05)
class C:
    def __init__(s):
        s.s = socket.socket(socket.AF_UNIX); s.s.connect(d + "/s.sock"); s.f = s.s.makefile("r")
    def req(s, line, show=True):
        s.s.sendall((line + "\n").encode()); out = []
        while True:
            l = s.f.readline().rstrip("\n"); out.append(l)
            if l.startswith("OK") or l.startswith("ERR"): break
        if show:
            print("> " + line); [print("< " + x) for x in out]
        return out
c = C()
c.req("STOCK sku=LAMP")
c.req("ROUTE region=FR wh=PAR,LIL,LYS")
c.req("ALLOT sku=LAMP wh=PAR channel=b2b qty=50")
c.req("CHANNEL channel=mkp share=50 buffer=5 low=10")
c.req("CHANNELS sku=LAMP wh=PAR")
w1 = C(); w1.req("WATCH channels channel=mkp sku=LAMP", show=False)
w2 = C(); w2.req("WATCH demand sku=LAMP ratio=5", show=False)
w3 = C(); w3.req("WATCH demand sku=LAMP channel=mkp ratio=5", show=False)
print("... the campaign: the marketplace sells 1 unit per request, 10x its normal 2 an hour, until refused")
sold = 0; last = None
while True:
    r = c.req("SELL sku=LAMP wh=PAR qty=1 channel=mkp", show=False)
    if r[-1].startswith("ERR"): last = r[-1]; break
    sold += 1
    if sold == 25: break
print("(%d SELL channel=mkp, all OK)" % sold)
print("... then the campaign goes on, far above 10x")
while True:
    r = c.req("SELL sku=LAMP wh=PAR qty=1 channel=mkp", show=False)
    if r[-1].startswith("ERR"): last = r; break
    sold += 1
print("(%d units sold on mkp in all; the next one:)" % sold)
c.req("SELL sku=LAMP wh=PAR qty=1 channel=mkp")
c.req("SELL sku=LAMP wh=PAR qty=1 channel=web")
c.req("CHANNELS sku=LAMP wh=PAR")
c.req("RESERVE sku=LAMP wh=PAR qty=50 channel=b2b ref=DESK-1 res=desk1")
c.req("SELL sku=LAMP wh=PAR qty=1 channel=b2b")
def drain(w, name):
    w.s.settimeout(0.5)
    try:
        while True:
            l = w.f.readline()
            if not l: break
            print("%s < %s" % (name, l.rstrip()))
    except Exception: pass
print("... what the watchers were pushed meanwhile:")
drain(w1, "WATCH channels"); drain(w2, "WATCH demand"); drain(w3, "WATCH demand channel=mkp")
print("... allocation: the same stock, one ALLOCATE per strategy, each released before the next")
for l in ["RECEIVE sku=DESK wh=PAR qty=3", "RECEIVE sku=DESK wh=LIL qty=6", "RECEIVE sku=DESK wh=LYS qty=4",
          "POLICY sku=DESK wh=LIL safety=4", "POLICY sku=DESK wh=LYS safety=1", "STOCK sku=DESK"]:
    c.req(l)
for st in ["fewest", "rank", "stock", "surplus"]:
    c.req("ALLOCATE sku=DESK qty=6 region=FR strategy=%s alloc=%s-1" % (st, st))
    c.req("RELEASE alloc=%s-1" % st, show=False)
c.req("ALLOCATE sku=DESK qty=14 region=FR alloc=all-1")
c.req("ALLOCATE sku=DESK qty=14 region=FR partial=yes alloc=part-1")
c.req("RELEASE alloc=part-1")
c.req("ALLOCATE sku=DESK qty=5 region=FR split=no alloc=one-1")
p.terminate(); p.wait()
shutil.rmtree(d, ignore_errors=True)
