#!/usr/bin/env python3
"""Chaos rounds against a real stockd: mixed load, kill -9, restart, and count what survived.

Each round starts stockd on the same data folder, runs a mixed load from several connections
(single writes with id=, batches, 1-3 s reservations the daemon expires itself, transfers and their
arrivals, and immediate id= retries of acknowledged writes), kills the daemon with SIGKILL at a
random moment, and then:

  - runs `stockctl verify` on the folder as the crash left it;
  - restarts stockd and retries every write that was in flight at the kill with the same line and
    id= (each must end up in the log exactly once, whatever the crash did to it);
  - reads the whole log (EVENTS) and counts acknowledged ids that are missing (lost) and ids that
    appear in more than one event (duplicated);
  - runs `stockctl replay` (the checkpoint and the log after it equal a fold from nothing) and
    compares the live STOCK of every sku with `stockctl stock --at seq:N`, the fold of the log;
  - checks that no reservation is still open well after its deadline.

Usage: chaos.py --bin DIR [--rounds N]. DIR holds stockd and stockctl. Exits 1 on any lost or
duplicated write or failed check. Standard library only.
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netharness import Client  # noqa: E402  (one connection speaking the line protocol)

SKUS = ["C", "B", "R", "T"]  # sold, batched, reserved, transferred
OVERDUE_SECONDS_MAX = 10  # an expiry is due within ~0.25 s; 10 s leaves room for a loaded machine
EVENTS_PAGE = 100_000


def field(key, line):
    for word in line.split(" "):
        if word.startswith(key + "="):
            return word[len(key) + 1:]
    return None


class Run:
    """What every round adds to: acknowledged ids, in-doubt writes and the totals."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged = set()
        self.in_doubt = []  # (lines, ids): a write or a whole batch whose reply never came
        self.retries_not_dup = 0  # an immediate retry of an acknowledged write that was applied again
        self.retries_dup = 0  # immediate retries answered dup=yes, as they must be
        self.in_doubt_written = 0  # in-flight writes the crash had kept: their retry answered dup=yes
        self.sequence = 0

    def next_id(self, round_number, worker):
        with self.lock:
            self.sequence += 1
            return f"k{round_number}-{worker}-{self.sequence}"

    def acked(self, ids):
        with self.lock:
            self.acknowledged.update(ids)

    def doubt(self, lines, ids):
        with self.lock:
            self.in_doubt.append((lines, ids))


def worker(run, socket_path, round_number, name, stop):
    """One connection's share of the mixed load, until the daemon dies under it."""
    rng = random.Random(f"{round_number}-{name}")
    try:
        client = Client(socket_path)
    except OSError:
        return
    reservations, transfers = [], []
    pending = None
    try:
        while not stop.is_set():
            # Twice as many reservations as sales and releases of them: the rest the daemon expires.
            kind = rng.choice(["sell", "sell", "batch", "reserve", "reserve", "reserve-use", "transfer", "arrive"])
            ids = [run.next_id(round_number, name)]
            if kind == "sell":
                lines = [f"SELL sku=C wh=W qty=1 id={ids[0]}"]
            elif kind == "batch":
                ids += [run.next_id(round_number, name) for _ in range(rng.randint(1, 19))]
                lines = ["BEGIN"] + [f"RECEIVE sku=B wh=W qty=1 id={i}" for i in ids] + ["COMMIT"]
            elif kind == "reserve":
                lines = [f"RESERVE sku=R wh=W qty=1 ttl={rng.randint(1, 3)} id={ids[0]}"]
            elif kind == "reserve-use" and reservations:
                verb = rng.choice(["SELL", "RELEASE"])
                lines = [f"{verb} res={reservations.pop(rng.randrange(len(reservations)))} id={ids[0]}"]
            elif kind == "transfer":
                lines = [f"TRANSFER sku=T from=A to=B qty={rng.randint(1, 5)} id={ids[0]}"]
            elif kind == "arrive" and transfers:
                lines = [f"ARRIVE xfer={transfers.pop(0)} id={ids[0]}"]
            else:
                continue
            pending = (lines, ids)
            client.send(lines)
            replies = [client.reply() for _ in lines]
            pending = None
            status = replies[-1][-1]
            if not status.startswith("OK"):
                continue  # a refusal (an expired reservation, say): nothing written, nothing acknowledged
            run.acked(ids)
            if field("res", status) and kind == "reserve":
                reservations.append(field("res", status))
            if field("xfer", status) and kind == "transfer":
                transfers.append(field("xfer", status))
            if rng.random() < 0.1:
                # A client that did not see the reply retries with the same id: never applied twice.
                pending = (lines, ids)
                client.send(lines)
                again = [client.reply() for _ in lines]
                pending = None
                # A batch answers one done row per write; a single write's OK line carries dup=yes.
                answers = again[-1][:-1] if kind == "batch" else again[-1][-1:]
                with run.lock:
                    if all("dup=yes" in line for line in answers):
                        run.retries_dup += 1
                    else:
                        run.retries_not_dup += 1
    except (OSError, ConnectionError, ValueError):
        if pending:
            run.doubt(*pending)
    finally:
        client.close()


class Daemon:
    def __init__(self, bin_dir, directory):
        self.bin_dir = bin_dir
        self.data = os.path.join(directory, "data")
        self.socket = os.path.join(directory, "stockd.sock")
        self.log = open(os.path.join(directory, "stockd.log"), "ab")
        self.process = None

    def start(self, arguments, timeout=30):
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        self.process = subprocess.Popen(
            [os.path.join(self.bin_dir, "stockd"), "--data", self.data, "--socket", self.socket] + arguments,
            stdout=self.log, stderr=self.log, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                client = Client(self.socket, timeout=5)
                ok = client.request("PING") == ["OK pong"]
                client.close()
                if ok:
                    return
            except (OSError, ConnectionError):
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.02)  # polling for the socket to answer; nothing to wait on instead
        raise SystemExit(f"stockd did not start; see {self.log.name}")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait()

    def tool(self, *arguments):
        done = subprocess.run([os.path.join(self.bin_dir, "stockctl")] + list(arguments),
                              capture_output=True, text=True)
        return done.returncode, done.stdout + done.stderr


def retry_in_doubt(run, client):
    """Sends each in-flight write again, same lines and ids; afterwards it is in the log once."""
    doubts, run.in_doubt = run.in_doubt, []
    problems = []
    for lines, ids in doubts:
        client.send(lines)
        replies = [client.reply() for _ in lines]
        status = replies[-1][-1]
        if status.startswith("OK"):
            run.acked(ids)
            dup = ["dup=yes" in line for line in (replies[-1][:-1] if len(lines) > 1 else [status])]
            if any(dup) and not all(dup):
                problems.append(f"a batch retried after the crash was partly applied: {lines[1]} ...")
            if all(dup):
                run.in_doubt_written += 1
    return len(doubts), problems


def scan_log(client):
    """Every event's id, counted; and the last seq."""
    counts, start, last = {}, 1, 0
    while True:
        page = client.request(f"EVENTS from={start} limit={EVENTS_PAGE}")
        if not page[-1].startswith("OK"):
            raise SystemExit(f"EVENTS answered {page[-1]}")
        for row in page[:-1]:
            key = field("id", row)
            if key:
                counts[key] = counts.get(key, 0) + 1
        last = int(field("seq", page[-1]))
        if len(page) - 1 < EVENTS_PAGE:
            return counts, last
        start += EVENTS_PAGE


def check_replay(daemon, client):
    problems = []
    status, output = daemon.tool("replay", "--data", daemon.data)
    if status != 0 or "no difference" not in output:
        problems.append(f"stockctl replay: {output.strip()}")
    for sku in SKUS:
        live = client.request(f"STOCK sku={sku}")
        seq = field("seq", live[-1])
        status, output = daemon.tool("stock", "--data", daemon.data, "--sku", sku, "--at", f"seq:{seq}")
        if status != 0 or output.strip().split("\n") != live:
            problems.append(f"STOCK sku={sku} live {live} but the log folds to {output.strip()}")
    return problems


def overdue_reservations(client):
    now = datetime.now(timezone.utc)
    late = []
    for row in client.request("RESERVATIONS sku=R")[:-1]:
        expires = datetime.fromisoformat(field("expires", row).replace("Z", "+00:00"))
        if (now - expires).total_seconds() > OVERDUE_SECONDS_MAX:
            late.append(row)
    return late


def check_restart(run, daemon, client):
    """After a restart: retry what was in flight, read the whole log, and compare. Returns the
    retries made, the problems found, the count of each acknowledged id in the log, the last seq,
    and the ids lost and duplicated."""
    retried, problems = retry_in_doubt(run, client)
    counts, last_seq = scan_log(client)
    lost = [key for key in run.acknowledged if key not in counts]
    duplicated = [key for key, count in counts.items() if count > 1]
    problems += check_replay(daemon, client)
    return retried, problems, counts, last_seq, lost, duplicated


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, help="folder holding stockd and stockctl")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("CHAOS_ROUNDS", 100)))
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--keep", action="store_true", help="keep the data folder and the daemon's log")
    options = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="stockd-chaos-")
    daemon = Daemon(options.bin, directory)
    run = Run()
    began = time.monotonic()
    lost_total = duplicated_total = retried_total = last_seq = 0
    failed = []
    print(f"chaos: {options.rounds} kill -9 rounds, {options.workers} connections, data in {directory}", flush=True)
    try:
        daemon.start([])
        setup = Client(daemon.socket)
        for line in ["RECEIVE sku=C wh=W qty=100000000", "RECEIVE sku=R wh=W qty=100000000",
                     "RECEIVE sku=T wh=A qty=100000000"]:
            assert setup.request(line)[-1].startswith("OK"), line
        setup.close()
        daemon.kill()
        for round_number in range(1, options.rounds + 1):
            # Odd rounds checkpoint after almost every group commit, so kills land inside
            # checkpoints as well as inside group commits.
            aggressive = round_number % 2 == 1
            daemon.start(["--checkpoint-interval-ms", "1", "--checkpoint-events", "50"] if aggressive else [])
            client = Client(daemon.socket)
            retried, problems, counts, last_seq, lost, duplicated = check_restart(run, daemon, client)
            retried_total += retried
            late = overdue_reservations(client)
            if late:
                problems.append(f"{len(late)} reservations open more than {OVERDUE_SECONDS_MAX} s after their expiry, e.g. {late[0]}")
            if run.retries_not_dup:
                problems.append(f"{run.retries_not_dup} retries of acknowledged writes were not answered dup=yes")
                run.retries_not_dup = 0
            client.close()
            lost_total, duplicated_total = len(lost), len(duplicated)
            if round_number > 1:
                print(f"  after the restart: {retried} in-flight writes retried, acknowledged {len(run.acknowledged)}, "
                      f"lost {len(lost)}, duplicated {len(duplicated)}, log at seq {last_seq}, "
                      f"replay {'differs' if problems else 'equal'}", flush=True)
            for problem in problems + [f"lost: {key}" for key in lost[:5]] + [f"duplicated: {key}" for key in duplicated[:5]]:
                print(f"  FAIL {problem}", flush=True)
            if problems or lost or duplicated:
                failed.append(round_number)

            # The load, and the kill at a random moment once writes flow.
            stop = threading.Event()
            threads = [threading.Thread(target=worker, args=(run, daemon.socket, round_number, f"w{index}", stop))
                       for index in range(options.workers)]
            before = len(run.acknowledged)
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 30
            while len(run.acknowledged) - before < 50 and time.monotonic() < deadline:
                time.sleep(0.01)  # waiting for the load to get going; the condition is checked each time
            time.sleep(random.uniform(0.2, 1.5))
            daemon.kill()
            stop.set()
            for thread in threads:
                thread.join()
            status, output = daemon.tool("verify", "--data", daemon.data)
            print(f"round {round_number}/{options.rounds}: killed after {len(run.acknowledged) - before} acknowledged writes"
                  f" ({len(run.in_doubt)} in flight); verify of the crashed folder: "
                  f"{'ok' if status == 0 else 'FAILED'}", flush=True)
            if status != 0:
                print(f"  FAIL stockctl verify: {output.strip()}", flush=True)
                failed.append(round_number)

        # The last round's restart and checks, then a clean stop and a final verify.
        daemon.start([])
        client = Client(daemon.socket)
        retried, problems, counts, last_seq, lost, duplicated = check_restart(run, daemon, client)
        retried_total += retried
        client.close()
        if daemon.stop() != 0:
            problems.append("stockd did not exit cleanly on SIGTERM")
        status, output = daemon.tool("verify", "--data", daemon.data)
        if status != 0:
            problems.append(f"stockctl verify after the clean stop: {output.strip()}")
        print(f"  after the restart: {retried} in-flight writes retried, acknowledged {len(run.acknowledged)}, "
              f"lost {len(lost)}, duplicated {len(duplicated)}, log at seq {last_seq}, "
              f"replay {'differs' if problems else 'equal'}", flush=True)
        for problem in problems:
            print(f"  FAIL {problem}", flush=True)
        if problems or lost or duplicated:
            failed.append(options.rounds + 1)
        lost_total, duplicated_total = len(lost), len(duplicated)
    finally:
        if daemon.process and daemon.process.poll() is None:
            daemon.kill()
        if not options.keep and not failed:
            shutil.rmtree(directory, ignore_errors=True)

    minutes, seconds = divmod(int(time.monotonic() - began), 60)
    print(f"chaos summary: {options.rounds} rounds, {len(run.acknowledged)} acknowledged writes, "
          f"{lost_total} lost, {duplicated_total} duplicated, {retried_total} in-flight writes retried after a crash "
          f"({run.in_doubt_written} of them found already written), {run.retries_dup} retries of acknowledged writes "
          f"answered dup=yes, "
          f"{last_seq} events in the log, {minutes} min {seconds} s; "
          + ("all checks passed" if not failed else f"FAILED in rounds {sorted(set(failed))} (data kept in {directory})"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
