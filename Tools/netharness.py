#!/usr/bin/env python3
"""Processes for the network tests and the relay benchmark: stockd sites, stockrelay, a pipelined client.

Shared by Tools/test_network.py and Tools/relay_bench.py; PostgreSQL itself is Tools/pgharness.py.
Standard library only. A site is one stockd on its own data folder and socket, which outlive the
process so it can be stopped and started again; a relay is one `stockrelay` for one site.
"""
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from order_service import parse_line  # noqa: E402  (the tokenizer that honours quoted values)

START_SECONDS_MAX = 60
POLL_SECONDS = 0.02
EVENTS_PAGE = 100_000  # EVENTS answers at most this many rows (docs/protocol.md, Reads)


def wait_for(condition, timeout, what, poll=POLL_SECONDS):
    """Polls condition() until it returns something truthy (returned) or timeout seconds pass (raises)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


class Client:
    """One connection speaking the line protocol; send() pipelines, reply() reads one whole reply."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.reader = self.sock.makefile("rb")

    def send(self, lines):
        self.sock.sendall("".join(line + "\n" for line in lines).encode())

    def reply(self):
        """Lines up to and including the OK or ERR line."""
        lines = []
        while True:
            raw = self.reader.readline()
            if not raw:
                raise ConnectionError("closed")
            line = raw.decode().rstrip("\n")
            lines.append(line)
            if line.startswith("OK") or line.startswith("ERR"):
                return lines

    def request(self, line):
        self.send([line])
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def fields(line):
    """key=value pairs of one line (quoted values unquoted)."""
    return parse_line(line).fields


def cpu_seconds(pid):
    """User plus system CPU time of a live process, from /proc/PID/stat (fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


class Site:
    """One stockd (one site of the network) on a data folder and socket that outlive the process."""

    def __init__(self, bin_dir, directory, name, arguments=()):
        self.bin_dir, self.name = bin_dir, name
        os.makedirs(directory, exist_ok=True)
        self.data = os.path.join(directory, "data")
        self.socket = os.path.join(directory, "stockd.sock")
        self.log_path = os.path.join(directory, "stockd.log")
        self.arguments = list(arguments)
        self.process = None
        self.starts = 0

    def start(self):
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [os.path.join(self.bin_dir, "stockd"), "--data", self.data, "--socket", self.socket]
                + self.arguments, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        self.starts += 1
        wait_for(self._pong, START_SECONDS_MAX, f"stockd {self.name} to answer PING")

    def _pong(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"stockd {self.name} exited {self.process.returncode}:\n{self.log()}")
        try:
            client = Client(self.socket, timeout=5)
            try:
                return client.request("PING") == ["OK pong"]
            finally:
                client.close()
        except (OSError, ConnectionError):
            return False

    def stop(self):
        """SIGTERM, as systemd would; returns the exit status (0 = stopped cleanly)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            return "hung after SIGTERM"

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def client(self, timeout=30):
        return Client(self.socket, timeout=timeout)

    def info(self):
        client = self.client()
        try:
            reply = client.request("INFO")
        finally:
            client.close()
        if not reply[-1].startswith("OK"):
            raise RuntimeError(f"INFO answered {reply[-1]}")
        return fields(reply[0])

    def seq(self):
        return int(self.info()["seq"])

    def metric(self, name):
        """One sample of METRICS, by its full name with labels (`stockd_errors_total{code="LIMIT"}`)."""
        client = self.client()
        try:
            reply = client.request("METRICS")
        finally:
            client.close()
        for row in reply[:-1]:
            if row.startswith(name + " "):
                return float(row.rsplit(" ", 1)[1])
        return 0.0

    def events(self):
        """The whole log as parsed event rows (dicts with seq, kind, sku, wh...), read by EVENTS pages."""
        client = self.client(timeout=120)
        rows, start = [], 1
        try:
            while True:
                page = client.request(f"EVENTS from={start} limit={EVENTS_PAGE}")
                if not page[-1].startswith("OK"):
                    raise RuntimeError(f"EVENTS answered {page[-1]}")
                rows += [fields(row) for row in page[:-1]]
                if len(page) - 1 < EVENTS_PAGE:
                    return rows
                start += EVENTS_PAGE
        finally:
            client.close()

    def stock(self, skus):
        """{(sku, wh): {bucket: int}} from STOCK for each sku, and the seq of the last answer."""
        client = self.client()
        result, seq = {}, None
        try:
            for sku in skus:
                reply = client.request(f"STOCK sku={sku}")
                if not reply[-1].startswith("OK"):
                    raise RuntimeError(f"STOCK sku={sku} answered {reply[-1]}")
                for row in reply[:-1]:
                    if row.startswith("stock "):
                        values = fields(row)
                        result[(values["sku"], values["wh"])] = {
                            key: int(values[key]) for key in ("on_hand", "reserved", "available", "inbound", "incoming")}
                seq = int(fields(reply[-1])["seq"])
        finally:
            client.close()
        return result, seq

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


class Relay:
    """One stockrelay process for one site; kill9() and start() again, as often as a test likes."""

    def __init__(self, binary, directory, site, url, arguments=()):
        self.binary, self.site, self.url = binary, site, url
        self.log_path = os.path.join(directory, f"relay-{site.name}.log")
        self.arguments = list(arguments)
        self.process = None
        self.starts = 0
        self.kills = 0

    def command(self):
        return [self.binary, "--socket", self.site.socket, "--site", self.site.name, "--postgres", self.url] \
            + self.arguments

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.starts += 1

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self):
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def sockets(self):
        """For a failure report: the relay's Unix sockets with their queues (`ss -x`), so a stall shows
        which side holds the bytes (a full Recv-Q: the relay stopped reading; empty: nothing came)."""
        if not self.alive():
            return "(relay not running)"
        done = subprocess.run(["ss", "-xpn"], capture_output=True, text=True)
        mine = [line for line in done.stdout.splitlines() if f"pid={self.process.pid}," in line]
        return "\n".join(["Netid State Recv-Q Send-Q Local Peer"] + mine)


def init_schema(relay_binary, url):
    done = subprocess.run([relay_binary, "--init-schema", "--postgres", url], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"stockrelay --init-schema exited {done.returncode}:\n{done.stdout}{done.stderr}")


def central_last_seq(pg, site_name):
    """stockd_sites.last_seq for a site (0 when the relay has not written the row yet)."""
    rows = pg.psql(f"SELECT last_seq FROM stockd_sites WHERE site = '{site_name}'")
    return int(rows[0][0]) if rows and rows[0][0] != "" else 0
