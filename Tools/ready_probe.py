#!/usr/bin/env python3
"""Times a stockd start for Tools/bench.sh: start -> READY (sd_notify) and start -> first `OK pong`.

Run it in the background BEFORE the daemon starts. It binds NOTIFY_SOCK (a datagram socket; give
the daemon NOTIFY_SOCKET=NOTIFY_SOCK), creates OUT.armed, then waits. The script that starts the
daemon writes the start time (seconds since the epoch, e.g. bash's $EPOCHREALTIME taken just
before exec) into OUT.start. This probe records the wall-clock time of the READY=1 datagram and of
the first `OK pong` on DAEMON_SOCK (tried every 0.5 ms), then writes to OUT:
    ready_ms pong_ms
(-1 for one that did not come within the timeout). Usage: ready_probe.py NOTIFY_SOCK DAEMON_SOCK OUT"""
import os
import select
import socket
import sys
import time


def main():
    notify_path, daemon_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    timeout = float(os.environ.get("READY_TIMEOUT", "120"))
    try:
        os.unlink(notify_path)
    except FileNotFoundError:
        pass
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    open(out + ".armed", "w").close()
    ready = pong = None
    probe = None
    give_up = time.monotonic() + timeout
    while (ready is None or pong is None) and time.monotonic() < give_up:
        readable, _, _ = select.select([notify], [], [], 0.0005)
        if readable:
            message = notify.recv(4096)
            if ready is None and b"READY=1" in message.split(b"\n"):
                ready = time.time()
        if pong is None:
            try:
                if probe is None:
                    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    probe.connect(daemon_path)
                    probe.sendall(b"PING\n")
                    probe.settimeout(timeout)
                    reply = b""
                    while not reply.endswith(b"\n"):
                        chunk = probe.recv(4096)
                        if not chunk:
                            raise OSError("closed")
                        reply += chunk
                    if reply.startswith(b"OK pong"):
                        pong = time.time()
                    probe.close()
                    probe = None
            except OSError:
                if probe is not None:
                    probe.close()
                probe = None
    notify.close()
    os.unlink(notify_path)
    start_file = out + ".start"
    for _ in range(2000):  # the starter writes it right before exec; wait briefly if it is late
        if os.path.exists(start_file) and os.path.getsize(start_file) > 0:
            break
        time.sleep(0.001)
    with open(start_file) as handle:
        start = float(handle.read().strip())

    def ms(moment):
        return -1 if moment is None else round((moment - start) * 1000, 1)

    with open(out + ".tmp", "w") as handle:
        handle.write(f"{ms(ready)} {ms(pong)}\n")
    os.rename(out + ".tmp", out)


main()
