#!/usr/bin/env bash
# The standard benchmark suite (`make bench`): stockd and Redis side by side, in the same run, on the
# same machine. A fresh stockd on a temp folder driven by stockbench (one SwiftNIO event-loop thread
# for all connections), and a fresh redis-server (appendonly yes, appendfsync always, no snapshots,
# a Unix socket) driven by redis-benchmark (one thread of C on epoll) for the same shapes: a durable
# sale is the Lua script Tools/redis_sale.lua run by EVALSHA, a read is HGET. Each figure is the
# median of RUNS runs of SECONDS_PER_RUN seconds, stockd and Redis alternating run by run.
# "CPU per request" is the process's own utime+stime (/proc/PID/stat, or getrusage for the load
# tools) over the run divided by the requests answered: it does not depend on the other process.
# Then the large-log figures on a FILL_EVENTS-event store built offline (FILL_EVENTS=0 skips them).
# Prints the table that docs/performance.md records.
# Environment: RUNS (3), SECONDS_PER_RUN (5), FILL_EVENTS (10000000), KEEP=1 keeps the folder, CC (cc),
# STOCKD (the daemon under test; default the release build's stockd).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SECS=${SECONDS_PER_RUN:-5}
FILL=${FILL_EVENTS:-10000000}
BIN=$(swift build -c release --show-bin-path)
STOCKD=${STOCKD:-$BIN/stockd}
for tool in "$STOCKD" "$BIN/stockctl" "$BIN/stockbench"; do
  [ -x "$tool" ] || { echo "missing $tool: swift build -c release --product $(basename "$tool")" >&2; exit 1; }
done

# Redis, installed the way the Makefile installs liblmdb-dev (redis-benchmark comes with it).
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing redis-server" >&2
    (apt-get install -y redis-server || (apt-get update && apt-get install -y redis-server)) >&2
  else
    echo "redis-server is missing; run as root:  apt-get update && apt-get install -y redis-server" >&2
    exit 1
  fi
fi

WORK=$(mktemp -d /tmp/stockd-bench-XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
HZ=$(getconf CLK_TCK)
SOCK=$WORK/s.sock
RSOCK=$WORK/redis.sock
SKUS=1000
BIG_SKUS=25000
WHS=4

# ---------------------------------------------------------------------------------------------------
# Helpers

median() { printf '%s\n' "$@" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "?"}'; }
ticks() { awk '{ sub(/^[^)]*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }   # utime + stime, in clock ticks
info_row() { "$BIN/stockctl" send --socket "$SOCK" INFO | sed -n 1p; }
info_field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
ratio() { [ "$2" != - ] || { echo -; return; }; awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "?" }'; }
met() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { if (v == "?" || v == "" || v == "n/a" || v == "skipped") { print "-"; exit }
  ok = (op == ">=" ? v + 0 >= g + 0 : op == "<=" ? v + 0 <= g + 0 : v + 0 < g + 0); print (ok ? "yes" : "NO") }'; }

start_daemon() {  # $1 data folder; waits until PING answers
  "$STOCKD" --data "$1" --socket "$SOCK" --log-level warning 2>>"$WORK/stockd.log" &
  DAEMON=$!
  for _ in $(seq 1 3000); do
    "$BIN/stockctl" send --socket "$SOCK" PING >/dev/null 2>&1 && return 0
    sleep 0.01
  done
  echo "stockd did not start" >&2; cat "$WORK/stockd.log" >&2; exit 1
}
# Starts stockd on $1 and times it: READY_MS (start -> sd_notify READY=1) and PONG_MS (start -> the
# first `OK pong`), measured by Tools/ready_probe.py from the moment just before exec.
start_timed() {
  local out=$WORK/probe.$RANDOM
  python3 Tools/ready_probe.py "$WORK/notify.sock" "$SOCK" "$out" &
  local probe=$!
  while [ ! -e "$out.armed" ]; do sleep 0.002; done
  ( echo "$EPOCHREALTIME" >"$out.start"
    NOTIFY_SOCKET=$WORK/notify.sock exec "$STOCKD" --data "$1" --socket "$SOCK" --log-level warning 2>>"$WORK/stockd.log" ) &
  DAEMON=$!
  wait "$probe"
  read -r READY_MS PONG_MS <"$out"
  rm -f "$out" "$out.armed" "$out.start"
  [ "$PONG_MS" != -1 ] || { echo "stockd did not start" >&2; cat "$WORK/stockd.log" >&2; exit 1; }
}
alive() {  # pid, name: stop the whole run when a server died under it (killed from outside?)
  kill -0 "$1" 2>/dev/null && return 0
  echo "$2 (pid $1) is gone in the middle of the run; its log ends:" >&2
  tail -5 "$WORK/stockd.log" "$WORK/redis.log" >&2
  exit 1
}
stop_daemon() { kill -TERM "$DAEMON"; wait "$DAEMON" || true; }

# One stockbench run against the running stockd. Prints: rps p50_us p99_us daemon_cpu_us_per_request
# stockbench_cpu_us_per_request.
sb() {
  local before after out
  before=$(ticks "$DAEMON")
  out=$("$BIN/stockbench" --socket "$SOCK" --json --duration "$SECS" --no-seed-stock "$@")
  after=$(ticks "$DAEMON")
  echo "$* $out" >>"$WORK/runs.log"
  echo "$out" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read()); n = max(1, d["requests"])
bad = {k: v for k, v in d["replies"].items() if k != "OK"}
if bad: print("  note: stockbench " + " ".join(sys.argv[4:]) + ": replies " + str(bad), file=sys.stderr)
print(d["rps"], d["p50_us"], d["p99_us"], "%.2f" % ((int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3]) * 1e6 / n),
      d["client_cpu_us_per_request"])' "$before" "$after" "$HZ" "$@"
}

# One redis-benchmark run of $1 requests (then its arguments). Prints: rps p50_us p99_us
# redis_cpu_us_per_request redis_benchmark_cpu_us_per_request.
rb() {
  local n=$1 before after out
  shift
  before=$(ticks "$REDIS")
  out=$(python3 -c '
import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, check=True).stdout.decode()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(out.strip().splitlines()[-1]); print(usage.ru_utime + usage.ru_stime)' \
    redis-benchmark -s "$RSOCK" -n "$n" --csv "$@")
  after=$(ticks "$REDIS")
  echo "redis-benchmark -n $n $* $out" | tr '\n' ' ' >>"$WORK/runs.log"; echo >>"$WORK/runs.log"
  echo "$out" | awk -F'"' -v n="$n" -v t="$((after - before))" -v hz="$HZ" '
    NR == 1 { rps = $4; p50 = $10; p99 = $14 }
    NR == 2 { printf "%d %d %d %.2f %.2f\n", rps, p50 * 1000, p99 * 1000, t / hz * 1e6 / n, $1 * 1e6 / n }'
}

# How many requests make a redis-benchmark run of about SECS seconds for these arguments.
rb_requests() {
  local n=2000 rps
  for _ in 1 2 3; do
    rps=$(redis-benchmark -s "$RSOCK" -n "$n" --csv "$@" | awk -F'"' 'NR == 2 { print int($4) }')
    [ "${rps:-0}" -gt 0 ] || rps=1000
    if awk -v n="$n" -v r="$rps" 'BEGIN { exit !(n / r >= 0.5) }'; then break; fi
    n=$(awk -v r="$rps" 'BEGIN { print int(r * 0.7) + 1000 }')
  done
  awk -v r="$rps" -v s="$SECS" 'BEGIN { print int(r * s) + 1 }'
}

redis_seed() {  # $1 pairs: every key pair:000000000000 .. that redis-benchmark -r $1 can draw gets stock
  python3 -c '
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    key = b"pair:%012d" % i
    out.write(b"*4\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n$9\r\navailable\r\n$12\r\n100000000000\r\n" % (len(key), key))' "$1" |
    redis-cli -s "$RSOCK" --pipe >/dev/null
}

declare -A S_RPS S_P50 S_P99 S_CPU C_CPU R_RPS R_P50 R_P99 R_CPU B_CPU
# shape KEY "stockbench arguments" "redis-benchmark arguments" (empty: stockd only). Runs RUNS times,
# stockd then Redis, and keeps the medians.
shape() {
  local key=$1 sargs=$2 rargs=$3 n=0 a b c d e
  local -a srps sp50 sp99 scpu ccpu rrps rp50 rp99 rcpu bcpu
  # shellcheck disable=SC2086
  [ -z "$rargs" ] || n=$(rb_requests $rargs)
  for _ in $(seq 1 "$RUNS"); do
    # shellcheck disable=SC2086
    read -r a b c d e < <(sb $sargs)
    alive "$DAEMON" stockd
    srps+=("$a"); sp50+=("$b"); sp99+=("$c"); scpu+=("$d"); ccpu+=("$e")
    if [ -n "$rargs" ]; then
      # shellcheck disable=SC2086
      read -r a b c d e < <(rb "$n" $rargs)
      alive "$REDIS" redis-server
      rrps+=("$a"); rp50+=("$b"); rp99+=("$c"); rcpu+=("$d"); bcpu+=("$e")
    fi
  done
  S_RPS[$key]=$(median "${srps[@]}"); S_P50[$key]=$(median "${sp50[@]}"); S_P99[$key]=$(median "${sp99[@]}")
  S_CPU[$key]=$(median "${scpu[@]}"); C_CPU[$key]=$(median "${ccpu[@]}")
  if [ -n "$rargs" ]; then
    R_RPS[$key]=$(median "${rrps[@]}"); R_P50[$key]=$(median "${rp50[@]}"); R_P99[$key]=$(median "${rp99[@]}")
    R_CPU[$key]=$(median "${rcpu[@]}"); B_CPU[$key]=$(median "${bcpu[@]}")
  else
    R_RPS[$key]=-; R_P50[$key]=-; R_P99[$key]=-; R_CPU[$key]=-; B_CPU[$key]=-
  fi
  echo "  $key done: stockd ${S_RPS[$key]}/s, Redis ${R_RPS[$key]}/s" >&2
}

# ---------------------------------------------------------------------------------------------------
# The floors: one synced LMDB commit of one page, one 4 KiB pwrite + fdatasync (C, compiled now).

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), disk $(df -h "$WORK" | awk 'NR==2 {print $1}'), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(redis-server --version | cut -d' ' -f1-3); median of $RUNS runs of ${SECS}s; load tools and servers on the same machine; every write durable (fsync before the reply)"
floor_lmdb=? floor_fsync=? wakeup_cpu=?
CC=${CC:-$(command -v cc || command -v clang || command -v gcc || echo cc)}
if "$CC" -O2 -o "$WORK/commit_probe" Tools/commit_probe.c -llmdb 2>"$WORK/cc.log"; then
  probe=$("$WORK/commit_probe" "$WORK/probe" 500)
  floor_lmdb=$(echo "$probe" | awk '$1 == "lmdb_commit_us" {print $2}')
  floor_fsync=$(echo "$probe" | awk '$1 == "pwrite_fdatasync_us" {print $2}')
  wakeup_cpu=$(echo "$probe" | awk '$1 == "wakeup_cpu_us" {print $2}')
  rm -rf "$WORK/probe"
else
  echo "  note: could not compile Tools/commit_probe.c (see below); the floors print ?" >&2; cat "$WORK/cc.log" >&2
fi

# ---------------------------------------------------------------------------------------------------
# The servers

mkdir -p "$WORK/redis"
cat >"$WORK/redis.conf" <<EOF
port 0
unixsocket $RSOCK
unixsocketperm 700
dir $WORK/redis
appendonly yes
appendfsync always
save ""
auto-aof-rewrite-percentage 0
logfile $WORK/redis.log
EOF
redis-server "$WORK/redis.conf" &
REDIS=$!
for _ in $(seq 1 500); do redis-cli -s "$RSOCK" PING >/dev/null 2>&1 && break; sleep 0.01; done
SHA=$(redis-cli -s "$RSOCK" SCRIPT LOAD "$(cat Tools/redis_sale.lua)")
SALE="EVALSHA $SHA 2 pair:__rand_int__ events 1"
READ="HGET pair:__rand_int__ available"

start_daemon "$WORK/data"
"$BIN/stockbench" --socket "$SOCK" --requests 1 --skus "$SKUS" --warehouses "$WHS" >/dev/null   # seeds stock
redis_seed $((SKUS * WHS))
DSKU="--skus $SKUS --warehouses $WHS"
PAIRS=$((SKUS * WHS))

# a (and h: INFO after it)
before_a=$(info_row)
shape a1 "--mix sell --clients 64 --pipeline 1 $DSKU" "-c 64 -P 1 -r $PAIRS $SALE"
after_a=$(info_row)
# b, c, d, f
shape b1 "--mix sell --clients 16 --pipeline 32 $DSKU" "-c 16 -P 32 -r $PAIRS $SALE"
shape b2 "--mix sell --clients 1 --pipeline 64 $DSKU" "-c 1 -P 64 -r $PAIRS $SALE"
shape c "--mix stock --clients 16 --pipeline 1 $DSKU" "-c 16 -P 1 -r $PAIRS $READ"
shape d "--mix stock --clients 16 --pipeline 32 $DSKU" "-c 16 -P 32 -r $PAIRS $READ"
shape f "--mix sell --clients 1 --pipeline 1 $DSKU" "-c 1 -P 1 -r $PAIRS $SALE"
# g: open loop at half of a's rate (redis-benchmark has no open-loop mode: stockd only)
half=$(awk -v r="${S_RPS[a1]}" 'BEGIN { print int(r / 2) }')
shape g "--mix sell --clients 64 --pipeline 1 --rate $half $DSKU" ""
shape m "--mix mixed --clients 32 --pipeline 1 $DSKU --zipf 1.1" ""
# a with the large catalogue: seed 25,000 skus x 4 warehouses on both, then the same shape
"$BIN/stockbench" --socket "$SOCK" --requests 1 --skus "$BIG_SKUS" --warehouses "$WHS" >/dev/null
redis_seed $((BIG_SKUS * WHS))
shape a2 "--mix sell --clients 64 --pipeline 1 --skus $BIG_SKUS --warehouses $WHS" "-c 64 -P 1 -r $((BIG_SKUS * WHS)) $SALE"
stop_daemon
redis-cli -s "$RSOCK" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
wait "$REDIS" 2>/dev/null || true
rm -rf "$WORK/redis" "$WORK/data"

# ---------------------------------------------------------------------------------------------------
# The large log: replay, start, kill -9 under load then start, memory

replay_rate=skipped ready_ms=skipped crash_pong_ms=skipped crash_ready_ms=skipped anon_kib=skipped file_kib=? at_latency="" fill_line=""
if [ "$FILL" -gt 0 ]; then
  fill_line=$("$BIN/stockbench" --fill-offline "$FILL" --data "$WORK/big" --skus "$BIG_SKUS" --warehouses "$WHS" 2>/dev/null | tail -1)
  replay=()
  for _ in $(seq 1 "$RUNS"); do
    replay+=("$("$BIN/stockctl" replay --data "$WORK/big" | sed -n 's/.*: \([0-9]*\) events\/s/\1/p')")
  done
  replay_rate=$(median "${replay[@]}")
  ready=()
  for _ in $(seq 1 "$RUNS"); do
    start_timed "$WORK/big"; ready+=("$READY_MS")
    stop_daemon
  done
  ready_ms=$(median "${ready[@]}")
  start_daemon "$WORK/big"
  at_latency=$(python3 Tools/at_latency.py "$SOCK" "$BIG_SKUS" "$FILL")
  "$BIN/stockbench" --socket "$SOCK" --mix mixed --clients 16 --duration "$SECS" --skus "$BIG_SKUS" --warehouses "$WHS" --no-seed-stock >/dev/null
  anon_kib=$(awk '/RssAnon/ {print $2}' "/proc/$DAEMON/status")
  file_kib=$(awk '/RssFile/ {print $2}' "/proc/$DAEMON/status")
  stop_daemon
  # The worst case: kill -9 while writes flow, then start -> first OK pong, on a copy of the store.
  cp -a "$WORK/big" "$WORK/crash"
  start_daemon "$WORK/crash"
  pong=() cready=()
  for _ in $(seq 1 "$RUNS"); do
    "$BIN/stockbench" --socket "$SOCK" --mix sell --clients 64 --duration 60 --skus "$BIG_SKUS" --warehouses "$WHS" \
      --no-seed-stock --json >/dev/null 2>&1 &
    load=$!
    seq0=$(info_field "$(info_row)" seq)
    for _ in $(seq 1 500); do   # until writes are flowing, then one more second of them
      [ "$(info_field "$(info_row)" seq)" -gt $((seq0 + 1000)) ] && break
      sleep 0.01
    done
    sleep 1
    kill -9 "$DAEMON"; wait "$DAEMON" 2>/dev/null || true
    wait "$load" || true
    start_timed "$WORK/crash"; pong+=("$PONG_MS"); cready+=("$READY_MS")
  done
  stop_daemon
  crash_pong_ms=$(median "${pong[@]}")
  crash_ready_ms=$(median "${cready[@]}")
  rm -rf "$WORK/crash"
fi

# ---------------------------------------------------------------------------------------------------
# The tables

cpu_ratio() { awk -v s="$1" -v r="$2" 'BEGIN { if (r + 0 > 0) printf "%.2f", s / r; else print "?" }'; }
row() {  # key, label
  printf '%-44s %10s %10s %7s %9s %9s %11s %12s %9s %9s\n' "$2" "${S_RPS[$1]}" "${R_RPS[$1]}" \
    "$(ratio "${S_RPS[$1]}" "${R_RPS[$1]}")" "${S_CPU[$1]}" "${R_CPU[$1]}" "${C_CPU[$1]}" "${B_CPU[$1]}" "${S_P99[$1]}" "${R_P99[$1]}"
}
echo
echo "Side by side (requests/s; CPU in us per request: the server's own, then the load tool's own; p99 in us)"
printf '%-44s %10s %10s %7s %9s %9s %11s %12s %9s %9s\n' "shape" "stockd/s" "Redis/s" "ratio" "stockd" "Redis" "stockbench" "redis-bench" "stockd" "Redis"
printf '%-44s %10s %10s %7s %9s %9s %11s %12s %9s %9s\n' "" "" "" "" "cpu us" "cpu us" "cpu us" "cpu us" "p99 us" "p99 us"
row a1 "a. SELL 64 x 1, $SKUS skus x $WHS wh"
row a2 "a. SELL 64 x 1, $BIG_SKUS skus x $WHS wh"
row b1 "b. SELL 16 x 32 pipelined"
row b2 "b. SELL 1 x 64 pipelined"
row c "c. STOCK sku= 16 x 1 (Redis: HGET)"
row d "d. STOCK sku= 16 x 32 (Redis: HGET)"
row f "f. SELL 1 x 1"
row g "g. SELL 64 x 1 open loop at $half/s"
row m "   mixed, 32 x 1, zipf 1.1"

ra1=$(ratio "${S_RPS[a1]}" "${R_RPS[a1]}"); ra2=$(ratio "${S_RPS[a2]}" "${R_RPS[a2]}")
rb1=$(ratio "${S_RPS[b1]}" "${R_RPS[b1]}"); rb2=$(ratio "${S_RPS[b2]}" "${R_RPS[b2]}")
rc=$(ratio "${S_RPS[c]}" "${R_RPS[c]}"); rd=$(ratio "${S_RPS[d]}" "${R_RPS[d]}")
e_sell=$(cpu_ratio "${S_CPU[a1]}" "${R_CPU[a1]}")
e_read=$(cpu_ratio "${S_CPU[c]}" "${R_CPU[c]}")
f_ratio=$(cpu_ratio "${S_P50[f]}" "$floor_lmdb")
pages=$(info_field "$after_a" pages_per_commit); pages=${pages:-n/a}
syncs=$(info_field "$after_a" syncs_per_commit); syncs=${syncs:-n/a}
wpc=$(awk -v c0="$(info_field "$before_a" commits)" -v c1="$(info_field "$after_a" commits)" \
  -v w0="$(info_field "$before_a" writes_committed)" -v w1="$(info_field "$after_a" writes_committed)" \
  -v m0="$(info_field "$before_a" commit_us_mean)" -v m1="$(info_field "$after_a" commit_us_mean)" \
  'BEGIN { if (c1 > c0) printf "%.1f writes per commit, mean commit %.0f us", (w1 - w0) / (c1 - c0), (m1 * c1 - m0 * c0) / (c1 - c0); else print "?" }')

echo
echo "Targets (issue 7)"
printf '%-3s %-62s %-26s %-44s %s\n' "#" "target" "goal" "measured" "met"
t() { printf '%-3s %-62s %-26s %-44s %s\n' "$1" "$2" "$3" "$4" "$5"; }
t a "SELL 64 x 1, $SKUS skus x $WHS wh: stockd / Redis" ">= 2.0x Redis" "${ra1}x (${S_RPS[a1]} vs ${R_RPS[a1]}/s)" "$(met "$ra1" ">=" 2)"
t a "SELL 64 x 1, $BIG_SKUS skus x $WHS wh: stockd / Redis" ">= 2.0x Redis" "${ra2}x (${S_RPS[a2]} vs ${R_RPS[a2]}/s)" "$(met "$ra2" ">=" 2)"
t b "SELL 16 x 32 pipelined: stockd / Redis" ">= 3.0x Redis" "${rb1}x (${S_RPS[b1]} vs ${R_RPS[b1]}/s)" "$(met "$rb1" ">=" 3)"
t b "SELL 1 x 64 pipelined: stockd / Redis" "(reported)" "${rb2}x (${S_RPS[b2]} vs ${R_RPS[b2]}/s)" ""
t c "STOCK sku= 16 x 1 / Redis HGET 16 x 1" ">= 1.0x Redis" "${rc}x (${S_RPS[c]} vs ${R_RPS[c]}/s)" "$(met "$rc" ">=" 1)"
t d "STOCK sku= 16 x 32, reads/s" ">= 1000000" "${S_RPS[d]} (${rd}x Redis HGET ${R_RPS[d]}/s)" "$(met "${S_RPS[d]}" ">=" 1000000)"
t e "daemon CPU per SELL (64 x 1): stockd / Redis" "<= 1.0x" "${e_sell}x (${S_CPU[a1]} vs ${R_CPU[a1]} us)" "$(met "$e_sell" "<=" 1)"
t e "daemon CPU per STOCK 16 x 1: stockd / Redis HGET" "<= 2.0x" "${e_read}x (${S_CPU[c]} vs ${R_CPU[c]} us)" "$(met "$e_read" "<=" 2)"
t e "daemon CPU per STOCK 16 x 32, us" "<= 1.5" "${S_CPU[d]}" "$(met "${S_CPU[d]}" "<=" 1.5)"
t e "stockbench CPU per request < stockd's (SELL 64 x 1; STOCK 16 x 32)" "load tool not the limit" "${C_CPU[a1]} < ${S_CPU[a1]}; ${C_CPU[d]} < ${S_CPU[d]} us" \
  "$(awk -v a="${C_CPU[a1]}" -v b="${S_CPU[a1]}" -v c="${C_CPU[d]}" -v d="${S_CPU[d]}" 'BEGIN { print (a + 0 < b + 0 && c + 0 < d + 0) ? "yes" : "NO" }')"
t f "SELL 1 x 1 p50, us / one synced LMDB commit of one page" "<= 1.5x floor" "${S_P50[f]} us = ${f_ratio}x floor ${floor_lmdb} us" "$(met "$f_ratio" "<=" 1.5)"
t f "   floor: one 4 KiB pwrite + fdatasync, us (median of 500)" "" "$floor_fsync" ""
t g "SELL p99 open loop at half of a ($half/s; achieved ${S_RPS[g]}/s), us" "<= 2000" "${S_P99[g]}" "$(met "${S_P99[g]}" "<=" 2000)"
t h "pages written per group commit (INFO pages_per_commit)" "<= 8" "$pages (syncs_per_commit $syncs)" "$(met "$pages" "<=" 8)"
t h "   group commit over a ($SKUS skus), from INFO deltas" "" "$wpc" ""
t i "stockctl replay of $FILL events, events/s" ">= 3000000" "$replay_rate" "$(met "$replay_rate" ">=" 3000000)"
t j "stockd start -> READY on that log, ms" "< 1000" "$ready_ms" "$(met "$ready_ms" "<" 1000)"
t j "kill -9 under SELL load, then start -> first OK pong, ms" "< 1000" "$crash_pong_ms (READY $crash_ready_ms)" "$(met "$crash_pong_ms" "<" 1000)"
t k "anonymous RSS on that log after a mixed run, KiB (file-backed: $file_kib KiB)" "<= 204800" "$anon_kib" "$(met "$anon_kib" "<=" 204800)"

echo
printf '   p50 us, stockd / Redis: a %s / %s, b 16x32 %s / %s, c %s / %s, d %s / %s, f %s / %s\n' \
  "${S_P50[a1]}" "${R_P50[a1]}" "${S_P50[b1]}" "${R_P50[b1]}" "${S_P50[c]}" "${R_P50[c]}" "${S_P50[d]}" "${R_P50[d]}" "${S_P50[f]}" "${R_P50[f]}"
[ -z "$fill_line" ] || echo "   large log: $fill_line"
[ -z "$at_latency" ] || echo "$at_latency" | sed "s/^/   point in time on the $FILL-event log: /"
python3 Tools/fsync_probe.py "$WORK" | sed 's/^/   disk floor: /'
echo "   CPU of one sleep + wake-up of a thread here: $wakeup_cpu us (part of every CPU-per-request figure above; unbatched shapes pay it per request)"
echo "   pipelining: stockbench keeps P requests in flight per connection (refilled after each read);" \
  "redis-benchmark -P sends P and waits for all P (stockbench --window does the same)"
echo "   load average at the end $(cut -d' ' -f1-3 /proc/loadavg); Redis: redis-benchmark -s SOCK -c C -P P -r PAIRS, '$SALE' / '$READ' (Tools/redis_sale.lua)"
