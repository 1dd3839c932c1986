#!/usr/bin/env python3
"""What a durable commit costs on this disk, without LMDB: write N random 4 KiB pages, fdatasync,
write one "meta" page, fdatasync again (LMDB's commit does the same two syncs). The floor under
stockd's commit time; docs/performance.md quotes it. Usage: Tools/fsync_probe.py [FOLDER]"""
import os
import random
import sys
import time

folder = sys.argv[1] if len(sys.argv) > 1 else "."
path = os.path.join(folder, "fsync-probe.tmp")
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
try:
    os.ftruncate(fd, 40 << 20)
    page = b"x" * 4096
    for pages in (2, 10, 40, 130):
        rounds = 200
        start = time.perf_counter()
        for _ in range(rounds):
            for _ in range(pages):
                os.pwrite(fd, page, random.randrange(10_000) * 4096)
            os.fdatasync(fd)
            os.pwrite(fd, page, 0)
            os.fdatasync(fd)
        print(f"{pages:4d} pages + meta, two fdatasyncs: {(time.perf_counter() - start) / rounds * 1000:.3f} ms per commit")
finally:
    os.close(fd)
    os.unlink(path)
