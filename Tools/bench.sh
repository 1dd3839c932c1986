#!/usr/bin/env bash
# The standard benchmark suite (`make bench`): a fresh stockd on a temp folder, stockbench and
# stockctl against it, each figure the median of RUNS runs. Prints a table that docs/performance.md
# records. Environment: RUNS (3), SECONDS_PER_RUN (5), FILL_EVENTS (10000000), KEEP=1 keeps the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SECS=${SECONDS_PER_RUN:-5}
FILL=${FILL_EVENTS:-10000000}
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d /tmp/stockd-bench-XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

start_daemon() {  # $1 data folder; waits until PING answers
  "$BIN/stockd" --data "$1" --socket "$WORK/s.sock" --log-level warning 2>>"$WORK/stockd.log" &
  DAEMON=$!
  for _ in $(seq 1 500); do
    "$BIN/stockctl" send --socket "$WORK/s.sock" PING >/dev/null 2>&1 && return 0
    sleep 0.01
  done
  echo "stockd did not start" >&2; cat "$WORK/stockd.log" >&2; exit 1
}
stop_daemon() { kill -TERM "$DAEMON"; wait "$DAEMON" || true; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

bench() {  # name, then stockbench arguments; prints "rps p99_us" medians
  local rps=() p99=() out
  for _ in $(seq 1 "$RUNS"); do
    out=$("$BIN/stockbench" --socket "$WORK/s.sock" --json --duration "$SECS" --no-seed-stock "$@")
    rps+=("$(echo "$out" | field rps)"); p99+=("$(echo "$out" | field p99_us)")
  done
  echo "$(printf '%s\n' "${rps[@]}" | median) $(printf '%s\n' "${p99[@]}" | median)"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), disk $(df -h "$WORK" | awk 'NR==2 {print $1}')"
echo "median of $RUNS runs of ${SECS}s; load tool and daemon on the same machine; every write durable"
start_daemon "$WORK/data"
"$BIN/stockbench" --socket "$WORK/s.sock" --requests 1 --skus 1000 --warehouses 4 >/dev/null   # seeds stock

read -r a_rps a_p99 < <(bench --mix sell --clients 64 --pipeline 1 --skus 1000 --warehouses 4)
read -r b_rps b_p99 < <(bench --mix sell --clients 1 --pipeline 64 --skus 1000 --warehouses 4)
read -r c1_rps c1_p99 < <(bench --mix stock --clients 16 --pipeline 1 --skus 1000 --warehouses 4)
read -r c2_rps c2_p99 < <(bench --mix stock --clients 16 --pipeline 32 --skus 1000 --warehouses 4)
half=$((a_rps / 2))
read -r d_rps d_p99 < <(bench --mix sell --clients 64 --pipeline 1 --rate "$half" --skus 1000 --warehouses 4)
read -r m_rps m_p99 < <(bench --mix mixed --clients 32 --pipeline 1 --skus 1000 --warehouses 4 --zipf 1.1)
info=$("$BIN/stockctl" send --socket "$WORK/s.sock" INFO | head -1)
stop_daemon

"$BIN/stockbench" --fill-offline "$FILL" --data "$WORK/big" --skus 25000 --warehouses 4 2>/dev/null | tail -1
replay=()
for _ in $(seq 1 "$RUNS"); do
  replay+=("$("$BIN/stockctl" replay --data "$WORK/big" | sed -n 's/.*: \([0-9]*\) events\/s/\1/p')")
done
ready=()
for _ in $(seq 1 "$RUNS"); do
  t0=$(date +%s.%N); start_daemon "$WORK/big"; t1=$(date +%s.%N)
  ready+=("$(echo "($t1 - $t0) * 1000" | bc -l | cut -d. -f1)")
  stop_daemon
done
start_daemon "$WORK/big"
at_latency=$(python3 Tools/at_latency.py "$WORK/s.sock" 25000 "$FILL")
"$BIN/stockbench" --socket "$WORK/s.sock" --mix mixed --clients 16 --duration "$SECS" --skus 25000 --warehouses 4 --no-seed-stock >/dev/null
anon_kib=$(awk '/RssAnon/ {print $2}' /proc/$DAEMON/status)
file_kib=$(awk '/RssFile/ {print $2}' /proc/$DAEMON/status)
stop_daemon

printf '\n%-58s %14s %14s\n' "target" "goal" "measured"
printf '%-58s %14s %14s\n' "a. SELL 64 clients x 1, writes/s" ">= 100000" "$a_rps"
printf '%-58s %14s %14s\n' "b. SELL 1 client x 64 pipelined, writes/s" ">= 500000" "$b_rps"
printf '%-58s %14s %14s\n' "c. STOCK 16 clients x 1, reads/s" ">= 100000" "$c1_rps"
printf '%-58s %14s %14s\n' "c. STOCK 16 clients x 32 pipelined, reads/s" ">= 1000000" "$c2_rps"
printf '%-58s %14s %14s\n' "d. SELL p99 at half of a ($half/s, achieved $d_rps/s), us" "<= 2000" "$d_p99"
printf '%-58s %14s %14s\n' "e. stockctl replay of $FILL events, events/s" ">= 2000000" "$(printf '%s\n' "${replay[@]}" | median)"
printf '%-58s %14s %14s\n' "e. stockd start to serving on that log, ms" "< 1000" "$(printf '%s\n' "${ready[@]}" | median)"
printf '%-58s %14s %14s\n' "f. stockd anonymous RSS on that log (file-backed: ${file_kib} KiB), KiB" "<= 204800" "$anon_kib"
printf '%-58s %14s %14s\n' "   (p99 us of a / b / c1 / c2: $a_p99 / $b_p99 / $c1_p99 / $c2_p99)" "" ""
printf '%-58s %14s %14s\n' "   mixed load, 32 clients, zipf 1.1: requests/s (p99 us $m_p99)" "" "$m_rps"
echo "$info" | tr ' ' '\n' | grep -E "writes_per_commit|commit_us_mean" | sed 's/^/   group commit over the run: /'
echo "$at_latency" | sed "s/^/   point in time on the $FILL-event log: /"
python3 Tools/fsync_probe.py "$WORK" | sed 's/^/   disk floor: /'
