#!/usr/bin/env bash
# A/B of two stockd binaries: daemon CPU µs per request and requests/s, the two sides interleaved
# round by round on fresh data folders, so the machine's drift hits both alike.
#   Tools/ab.sh STOCKD_A STOCKD_B [ROUNDS (3)] [SECONDS (5)]
# Environment: MIXES ("sell stock"), BENCH_ARGS ("--clients 16 --pipeline 32"), STOCKBENCH (the
# release build's), WATCH_B (a topic, e.g. "events stock=yes": side B runs with one JSON watcher of it
# reading everything, as a relay would; its reader's CPU is not the daemon's). CPU is the daemon's utime+stime from /proc over the whole stockbench run.
set -euo pipefail
A=$1 B=$2 ROUNDS=${3:-3} SECS=${4:-5}
BENCH=${STOCKBENCH:-$(cd "$(dirname "$0")/.." && swift build -c release --show-bin-path)/stockbench}
TCK=$(getconf CLK_TCK)
for round in $(seq 1 "$ROUNDS"); do
  for mix in ${MIXES:-sell stock}; do
    for side in A B; do
      bin=$A; [ "$side" = B ] && bin=$B
      dir=$(mktemp -d /tmp/stockd-ab.XXXXXX)
      "$bin" --data "$dir/data" --socket "$dir/s.sock" > "$dir/log" 2>&1 &
      pid=$!
      for _ in $(seq 1 200); do [ -S "$dir/s.sock" ] && break; sleep 0.05; done
      watcher=""
      if [ "$side" = B ] && [ -n "${WATCH_B:-}" ]; then
        python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode())
while s.recv(1 << 20): pass' "$dir/s.sock" "HELLO format=json
WATCH $WATCH_B
" &
        watcher=$!
      fi
      cpu0=$(awk '{ sub(/^[^)]*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")
      # shellcheck disable=SC2086
      out=$("$BENCH" --socket "$dir/s.sock" --mix "$mix" ${BENCH_ARGS:---clients 16 --pipeline 32} --duration "$SECS" --json 2>/dev/null)
      cpu1=$(awk '{ sub(/^[^)]*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")
      kill "$pid"; wait "$pid" 2>/dev/null || true
      if [ -n "$watcher" ]; then kill "$watcher" 2>/dev/null || true; wait "$watcher" 2>/dev/null || true; fi
      python3 - "$out" "$((cpu1 - cpu0))" "$TCK" "$round" "$mix" "$side" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); ticks, tck = int(sys.argv[2]), int(sys.argv[3])
print(f"round={sys.argv[4]} mix={sys.argv[5]} side={sys.argv[6]} rps={d['rps']} "
      f"p50_us={d['p50_us']} cpu_us_per_request={ticks / tck * 1e6 / max(1, d['requests']):.2f}")
PY
      rm -rf "$dir"
    done
  done
done
