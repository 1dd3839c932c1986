#!/bin/bash
# The checks of `make systemd-test`, run inside the booted container by stockd-boot-test.service
# (systemd is PID 1; stockd.socket is enabled, stockd.service is not: it starts on the first
# connection). Each check prints ok/FAIL; the container then exits with 0 when all passed, 1 if not.
#
# Conditions are polled until a deadline (wait_for), never waited out with a fixed sleep.
set -uo pipefail
exec > >(tee /var/log/stockd-boot-test.log) 2>&1

socket=/run/stockd/stockd.sock
failures=0
check() {
    local description="$1"; shift
    if "$@"; then echo "ok: $description"; else echo "FAIL: $description"; failures=$((failures + 1)); fi
}
# Runs the command every 0.1 s until it succeeds, for at most $1 seconds.
wait_for() {
    local seconds="$1"; shift
    local deadline=$((SECONDS + seconds))
    until "$@"; do (( SECONDS < deadline )) || return 1; sleep 0.1; done
}
# Sends request lines on one connection and prints the replies; QUIT makes stockd close it.
send() { printf '%s\n' "$@" QUIT | socat -t 10 - "UNIX-CONNECT:$socket"; }
property() { systemctl show --property="$2" --value "$1"; }
equals() { [[ "$1" == "$2" ]] || { echo "   expected '$2', got '$1'"; return 1; }; }
contains() { [[ "$1" == *"$2"* ]] || { echo "   expected '$2' in: $1"; return 1; }; }
is_running() { [[ "$(property stockd.service ActiveState)/$(property stockd.service SubState)" == active/running ]]; }

echo "== systemd $(systemctl --version | head -n 1 | cut -d' ' -f2), $(uname -r)"

# --- socket activation and the sysusers user ------------------------------------------------------
check "stockd.socket is listening at boot" equals "$(systemctl is-active stockd.socket)" active
check "stockd.service is not running before the first connection" equals "$(systemctl is-active stockd.service)" inactive
check "sysusers made user stockd, home /var/lib/stockd, no login shell" \
    contains "$(getent passwd stockd)" ":stockd stock ledger:/var/lib/stockd:/usr/sbin/nologin"
check "sysusers made group stockd" contains "$(getent group stockd)" "stockd:x:"
check "socket file is stockd:stockd 0660 in a 0755 /run/stockd" \
    equals "$(stat -c '%a %U:%G' "$socket") / $(stat -c '%a' /run/stockd)" "660 stockd:stockd / 755"
reply="$(send PING)"
check "the first connection starts stockd and gets OK pong" contains "$reply" "OK pong"

# --- READY and the state directory ----------------------------------------------------------------
# Type=notify: systemd reports active/running only after READY=1.
check "stockd.service is active/running (READY=1 received)" wait_for 20 is_running
check "stockd told systemd its status (STATUS=)" test -n "$(property stockd.service StatusText)"
check "the journal shows stockd used the socket passed by systemd" \
    wait_for 10 bash -c "journalctl -q -u stockd.service -o cat | grep -q 'using the socket passed by systemd'"
check "log lines reach the journal without their <N> prefix" \
    bash -c "! journalctl -q -u stockd.service -o cat | grep -q '^<[0-7]>'"
check "the info line is stored at priority info (6)" \
    bash -c "journalctl -q -u stockd.service -p info..info -o cat | grep -q 'using the socket passed by systemd'"
check "StateDirectory /var/lib/stockd is stockd:stockd 0700" equals "$(stat -c '%a %U:%G' /var/lib/stockd)" "700 stockd:stockd"
data_files="$(stat -c '%n %a %U' /var/lib/stockd/*/data.mdb /var/lib/stockd/data.mdb 2>/dev/null | head -n 1)"
check "the store's data.mdb belongs to stockd and is private (0600)" contains "$data_files" "data.mdb 600 stockd"

# --- a write, kept across a restart ----------------------------------------------------------------
reply="$(send 'RECEIVE sku=BOOT-1 wh=W1 qty=7 ref=systemd-test')"
check "a write is acknowledged" contains "$reply" "OK seq=1 sku=BOOT-1 wh=W1 on_hand=7"
first_pid="$(property stockd.service MainPID)"
systemctl --quiet restart stockd.service
check "systemctl restart gives a new stockd" bash -c "[[ \$(systemctl show -p MainPID --value stockd) != $first_pid ]]"
check "active/running again after the restart" wait_for 20 is_running
reply="$(send 'STOCK sku=BOOT-1')"
check "the write is kept across the restart" contains "$reply" "stock sku=BOOT-1 wh=W1 on_hand=7"

# --- the watchdog ---------------------------------------------------------------------------------
check "WatchdogSec is 30 s" equals "$(property stockd.service WatchdogUSec)" 30s
# stockd pings every WatchdogSec/4 = 7.5 s; systemd records the time of the last ping.
last_ping="$(property stockd.service WatchdogTimestampMonotonic)"
check "a WATCHDOG=1 ping arrives within 10 s" \
    wait_for 10 bash -c "[[ \$(systemctl show -p WatchdogTimestampMonotonic --value stockd) != $last_ping ]]"

# --- clean stop, and back on the next connection -----------------------------------------------------
systemctl --quiet stop stockd.service
check "stop ends stockd cleanly (Result=success, exit status 0)" \
    equals "$(property stockd.service Result) $(property stockd.service ExecMainStatus)" "success 0"
check "the socket stays listening after the service stops" equals "$(systemctl is-active stockd.socket)" active
reply="$(send 'STOCK sku=BOOT-1')"
check "the next connection starts stockd again, with the data" contains "$reply" "on_hand=7"
systemctl --quiet stop stockd.service

# --- a quiet journal ------------------------------------------------------------------------------
journalctl --sync
warnings="$(journalctl -q --no-pager -p warning -u stockd.service -u stockd.socket)"
check "no warning in the journal for stockd (journalctl -p warning -u stockd)" equals "$warnings" ""
check "no libdispatch 'Failed to set thread priority' line at any priority" \
    bash -c "! journalctl -q -u stockd.service -o cat | grep -q 'thread priority'"

# --- the watchdog firing --------------------------------------------------------------------------
# Last, since it writes warnings on purpose: a stopped (SIGSTOP) stockd sends no pings, so systemd
# kills it when WatchdogSec runs out and Restart=on-failure starts a new one. WatchdogSec is cut to
# 2 s for this by a runtime drop-in, gone at the next boot.
mkdir -p /run/systemd/system/stockd.service.d
printf '[Service]\nWatchdogSec=2s\n' >/run/systemd/system/stockd.service.d/watchdog-test.conf
systemctl daemon-reload
systemctl start stockd.service
check "started with a 2 s watchdog" wait_for 20 is_running
stopped_pid="$(property stockd.service MainPID)"
kill -STOP "$stopped_pid"
check "a stockd that stops pinging is killed and restarted" \
    wait_for 30 bash -c "[[ \$(systemctl show -p MainPID --value stockd) != $stopped_pid && \$(systemctl show -p SubState --value stockd) == running ]]"
check "the journal names the watchdog" bash -c "journalctl -q -u stockd.service -o cat | grep -q 'Watchdog timeout'"
systemctl --quiet stop stockd.service

echo "== journal of stockd.service:"
journalctl -q --no-pager -u stockd.service -u stockd.socket -o short-monotonic
if (( failures == 0 )); then echo "== all checks passed"; else echo "== $failures check(s) failed"; fi
systemctl --no-block exit $(( failures == 0 ? 0 : 1 ))
