#!/usr/bin/env python3
"""A throwaway PostgreSQL 15 for tests: its own temp folder, a Unix socket only, trust auth.

    from pgharness import Postgres
    with Postgres() as pg:              # initdb + start; stopped and deleted on exit
        pg.psql("SELECT 1")             # -> [["1"]]
        pg.url                          # postgres://postgres@/postgres?host=DIR (for stockrelay)
        pg.restart(); pg.kill9(); pg.start()

The server listens on no TCP address (`-h ''`), only on `DIR/.s.PGSQL.<port>`: the folder is private
to this instance, so the port is a name inside it and cannot collide with another server. initdb
refuses to run as root, so as root every server program runs as the Debian `postgres` user (made
by the postgresql package) through `runuser`, on a folder chowned to it; as anyone else they run
directly. The psql client runs as the caller; trust auth lets it in as the `postgres` superuser.

Waits are on conditions (pg_ctl -w, pg_isready, a query answering), with deadlines, never on a
fixed sleep. Standard library only: queries go through the `psql` client (-X -A -t -F '|').

Run it alone to check the machine: `python3 Tools/pgharness.py` starts, queries, restarts,
kills and restarts a server, and prints what it did.
"""
import atexit
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PSQL = os.path.join(PG_BIN, "psql")  # the client itself, not Debian's pg_wrapper in /usr/bin
# The Debian package creates this user; it owns the cluster folder when we run as root.
SERVER_USER = "postgres"
START_SECONDS_MAX = 60  # initdb plus a first start on a loaded 2-core machine takes a few seconds
POLL_SECONDS = 0.05
# psql separates fields with this; the relay's tables hold nothing with a `|` in the columns compared.
FIELD_SEPARATOR = "|"


class PostgresError(RuntimeError):
    """A server program or a query failed; the message carries its output."""


class Postgres:
    """One PostgreSQL cluster in a temp folder; `start`, `stop`, `restart`, `kill9`, `psql`, `url`."""

    def __init__(self, port=5432, database="postgres", keep=False, settings=None):
        self.port = port
        self.database = database
        self.keep = keep
        self.as_root = os.geteuid() == 0
        self.root = tempfile.mkdtemp(prefix="stockd-pg-")
        if self.as_root and not _server_user_reaches(self.root):
            # TMPDIR under a folder the server user cannot enter (/root/...): /tmp always lets it in.
            os.rmdir(self.root)
            self.root = tempfile.mkdtemp(prefix="stockd-pg-", dir="/tmp")
        self.data = os.path.join(self.root, "data")
        self.socket_dir = self.root  # the socket file is self.root/.s.PGSQL.<port>
        self.log_path = os.path.join(self.root, "postgres.log")
        # fsync stays on: a restart or kill -9 must behave as it does in production.
        self.settings = {"max_connections": "50", "shared_buffers": "64MB", "logging_collector": "off"}
        self.settings.update(settings or {})
        if self.as_root:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            os.chmod(self.root, 0o755)  # root's clients reach the socket either way; the server user must write here
        self.initialised = False
        self.running = False
        atexit.register(self.cleanup)

    # -- server programs -------------------------------------------------------------------
    def _server_command(self, program, *arguments):
        command = [os.path.join(PG_BIN, program)] + list(arguments)
        if self.as_root:
            command = ["runuser", "-u", SERVER_USER, "--"] + command
        return command

    def _run(self, program, *arguments, check=True, timeout=START_SECONDS_MAX):
        done = subprocess.run(self._server_command(program, *arguments), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)
        if check and done.returncode != 0:
            raise PostgresError(f"{program} {' '.join(arguments)} exited {done.returncode}:\n"
                                f"{done.stdout}{done.stderr}\n{self.log_tail()}")
        return done

    def initdb(self):
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", SERVER_USER, "-E", "UTF8",
                  "--locale=C", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as conf:
            for key, value in self.settings.items():
                conf.write(f"{key} = '{value}'\n")
        if self.as_root:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(os.path.join(self.data, "postgresql.conf"), entry.pw_uid, entry.pw_gid)
        self.initialised = True

    def start(self):
        """Starts the server (initdb first if needed) and returns once a query answers."""
        if not self.initialised:
            self.initdb()
        options = f"-k {self.socket_dir} -h '' -p {self.port}"
        # pg_ctl -w waits for the server to accept connections; a server killed with -9 leaves a
        # postmaster.pid behind, which pg_ctl and the server detect as stale and replace.
        self._run("pg_ctl", "-D", self.data, "-l", self.log_path, "-o", options, "-w",
                  "-t", str(START_SECONDS_MAX), "start")
        self.running = True
        self.wait_ready()

    def stop(self, mode="fast"):
        """pg_ctl stop -m fast (sessions are ended, a clean shutdown checkpoint is written)."""
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", str(START_SECONDS_MAX), "stop")
        self.running = False

    def restart(self):
        """pg_ctl restart -m fast: every session is cut; returns once a query answers again."""
        options = f"-k {self.socket_dir} -h '' -p {self.port}"
        self._run("pg_ctl", "-D", self.data, "-l", self.log_path, "-o", options, "-m", "fast", "-w",
                  "-t", str(START_SECONDS_MAX), "restart")
        self.running = True
        self.wait_ready()

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def server_pids(self):
        """The postmaster and every process whose parent is it (backends, checkpointer, walwriter...)."""
        postmaster = self.postmaster_pid()
        if postmaster is None:
            return []
        pids = [postmaster]
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat") as f:
                        parent = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if parent == postmaster:
                    pids.append(int(name))
        return pids

    def kill9(self):
        """SIGKILL to the postmaster and all its children (a power cut, as far as the server can tell),
        and returns once none is left. Start it again with start(): it recovers from its WAL."""
        pids = self.server_pids()
        if not pids:
            raise PostgresError("no postmaster to kill")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + START_SECONDS_MAX
        while any(_alive(pid) for pid in pids):
            if time.monotonic() > deadline:
                raise PostgresError(f"server processes {pids} outlived SIGKILL")
            time.sleep(POLL_SECONDS)
        self.running = False

    def wait_ready(self, timeout=START_SECONDS_MAX):
        """Polls pg_isready and then a real query until both answer."""
        deadline = time.monotonic() + timeout
        while True:
            ready = subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-q", "-h", self.socket_dir,
                                    "-p", str(self.port), "-U", SERVER_USER], stdin=subprocess.DEVNULL).returncode == 0
            if ready:
                try:
                    if self.psql("SELECT 1") == [["1"]]:
                        return
                except PostgresError:
                    pass
            if time.monotonic() > deadline:
                raise PostgresError(f"server not ready after {timeout} s\n{self.log_tail()}")
            time.sleep(POLL_SECONDS)

    # -- clients ---------------------------------------------------------------------------
    @property
    def url(self):
        """The URL stockrelay takes: user, database, socket folder and port (libpq URI form)."""
        return self.url_for(self.database)

    def url_for(self, database):
        return f"postgres://{SERVER_USER}@:{self.port}/{database}?host={self.socket_dir}"

    def psql_command(self, database=None):
        return [PSQL, "-X", "-A", "-t", "-q", "-F", FIELD_SEPARATOR, "-v", "ON_ERROR_STOP=1",
                "-h", self.socket_dir, "-p", str(self.port), "-U", SERVER_USER, "-d", database or self.database]

    def psql(self, sql, timeout=60, database=None):
        """Runs sql (one or more statements) and returns the rows of the last one as lists of strings.
        A NULL is an empty string. Raises PostgresError when psql fails (server down included).
        database: another database of the same server (default: the one of url)."""
        env = dict(os.environ, PGCONNECT_TIMEOUT="5")
        done = subprocess.run(self.psql_command(database) + ["-c", sql], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, env=env, timeout=timeout)
        if done.returncode != 0:
            raise PostgresError(f"psql exited {done.returncode} on {sql!r}: {done.stderr.strip()}")
        return [line.split(FIELD_SEPARATOR) for line in done.stdout.splitlines() if line != ""]

    def session(self, database=None):
        """A psql process kept open, for queries many times a second (no process start per query)."""
        return PsqlSession(self.psql_command(database))

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no server log)"

    # -- lifetime --------------------------------------------------------------------------
    def cleanup(self):
        """Stops the server (immediate) if it runs and deletes the folder, unless keep was asked."""
        if self.postmaster_pid() is not None and any(_alive(pid) for pid in self.server_pids()[:1]):
            try:
                self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False, timeout=30)
            except subprocess.TimeoutExpired:
                pass
            if any(_alive(pid) for pid in self.server_pids()):
                self.kill9()
        self.running = False
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exception):
        self.cleanup()


class PsqlSession:
    """One long-lived psql reading queries on stdin; query() returns rows like Postgres.psql."""

    END = "--pgharness-end--"

    def __init__(self, command):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, bufsize=1)

    def query(self, sql):
        try:
            self.process.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo " + self.END + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise PostgresError(f"psql session ended: {self.process.stderr.read().strip()}")
        rows = []
        for line in self.process.stdout:
            line = line.rstrip("\n")
            if line == self.END:
                return rows
            if line != "":
                rows.append(line.split(FIELD_SEPARATOR))
        raise PostgresError(f"psql session ended: {self.process.stderr.read().strip()}")

    def close(self):
        try:
            self.process.stdin.close()
        except OSError:
            pass
        self.process.wait()


def _server_user_reaches(path):
    """True when every folder above path lets the server user through (x for others, or its own)."""
    entry = pwd.getpwnam(SERVER_USER)
    parent = os.path.dirname(os.path.abspath(path))
    while True:
        status = os.stat(parent)
        if not (status.st_mode & 0o001 or (status.st_uid == entry.pw_uid and status.st_mode & 0o100)):
            return False
        if parent == "/":
            return True
        parent = os.path.dirname(parent)


def _alive(pid):
    """True while the pid exists, zombies included: a new postmaster refuses to start while the pid
    in a stale postmaster.pid still answers kill(pid, 0), and an unreaped zombie does."""
    return os.path.exists(f"/proc/{pid}")


def main():
    began = time.monotonic()
    with Postgres() as pg:
        print(f"started in {time.monotonic() - began:.1f} s: {pg.url}")
        pg.psql("CREATE TABLE t (n int PRIMARY KEY); INSERT INTO t VALUES (1), (2)")
        assert pg.psql("SELECT n, n * 10 FROM t ORDER BY n") == [["1", "10"], ["2", "20"]]
        moment = time.monotonic()
        pg.restart()
        print(f"restarted in {time.monotonic() - moment:.1f} s")
        moment = time.monotonic()
        pg.kill9()
        try:
            pg.psql("SELECT 1")
            raise SystemExit("a query answered after kill -9")
        except PostgresError:
            pass
        pg.start()
        assert pg.psql("SELECT count(*) FROM t") == [["2"]]
        print(f"killed with -9 and recovered in {time.monotonic() - moment:.1f} s; rows kept")
        pg.stop()
        pg.start()
        print("stopped and started; ok")


if __name__ == "__main__":
    main()
