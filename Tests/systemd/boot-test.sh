#!/usr/bin/env bash
# `make systemd-test`: the units under a real systemd. Boots a minimal Debian bookworm tree with
# systemd-nspawn (systemd as PID 1 inside), with stockd installed by `make install-files`, and runs
# Tests/systemd/in-container.sh there as a oneshot unit; its checks decide the exit status, which
# the container hands back through `systemctl exit`.
#
# Usage (as root): Tests/systemd/boot-test.sh BIN_FROM   (the folder holding built stockd and stockctl)
#
# The debootstrapped tree is made once and kept in .build/systemd-test/bookworm (about 250 MB,
# 1.5 min from a nearby mirror); each run works on a fresh copy of it, so every boot is a first boot
# after installation. The mirror is the one apt uses on this machine (DEBIAN_MIRROR overrides it).
set -euo pipefail

fail() { printf 'systemd-test: FAIL: %s\n' "$*" >&2; exit 1; }
[[ $# -eq 1 ]] || fail "usage: Tests/systemd/boot-test.sh BIN_FROM"
bin_from="$(realpath -- "$1")"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="$repo_root/.build/systemd-test"
base="$cache/bookworm"
tree="$cache/tree"
# The whole boot, checks included, takes about 15 s; a hung boot must not hang CI.
boot_seconds_max=300

[[ "$(id -u)" == 0 ]] || fail "needs root (debootstrap and systemd-nspawn)"
if ! command -v debootstrap >/dev/null || ! command -v systemd-nspawn >/dev/null; then
    apt-get install -y debootstrap systemd-container || { apt-get update && apt-get install -y debootstrap systemd-container; }
fi

# The first deb.debian.org-style Debian mirror in apt's sources (deb822 `URIs:` or one-line `deb`).
sources=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
mirror="${DEBIAN_MIRROR:-$({ cat "${sources[@]}" 2>/dev/null || true; } | awk '
    /^URIs:/ || /^deb[ \t]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*\/debian\/?$/) { print $i; exit } }')}"
mirror="${mirror:-http://deb.debian.org/debian}"

if [[ ! -f "$base/.stockd-debootstrap-complete" ]]; then
    echo "systemd-test: debootstrap bookworm from $mirror into $base (once; later runs reuse it)"
    rm -rf -- "$base" "$base.partial"
    mkdir -p "$cache"
    # minbase plus what the checks use: systemd as init, dbus for systemctl, LMDB for stockd, socat
    # as the client.
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,liblmdb0,socat \
        bookworm "$base.partial" "$mirror"
    touch "$base.partial/.stockd-debootstrap-complete"
    mv "$base.partial" "$base"
fi

rm -rf -- "$tree"
cp -a "$base" "$tree"
make -C "$repo_root" --no-print-directory install-files BIN_FROM="$bin_from" DESTDIR="$tree"
# What a package's postinst does (dh_installsysusers): create the user before the units start.
systemd-sysusers --root="$tree"
install -D -m 0755 "$repo_root/Tests/systemd/in-container.sh" "$tree/usr/local/libexec/stockd-boot-test"
install -m 0644 "$repo_root/Tests/systemd/stockd-boot-test.service" "$tree/etc/systemd/system/"
systemctl --root="$tree" --quiet enable stockd.socket stockd-boot-test.service
# Nothing else competes for the console.
systemctl --root="$tree" --quiet mask console-getty.service

# A build without --static-swift-stdlib loads the Swift runtime from the toolchain's folder (RUNPATH):
# the same folder is bind-mounted, read-only, at the same path inside.
runtime_dir="$(ldd "$bin_from/stockd" | awk '$1 == "libswiftCore.so" { print $3 }' | xargs -r dirname)"
binds=()
[[ -n "$runtime_dir" ]] && binds+=("--bind-ro=$runtime_dir")

echo "systemd-test: booting $tree"
set +e
# --private-network: the container needs no network, and only with its own network namespace does
# nspawn leave it CAP_NET_ADMIN, which systemd needs to bring up `lo` for PrivateNetwork=yes (without
# it each start logs "Failed to configure loopback network device", a property of the sandbox).
timeout --kill-after=10 "$boot_seconds_max" systemd-nspawn --quiet --boot --register=no --keep-unit \
    --private-network --directory="$tree" "${binds[@]}" >"$cache/console.log" 2>&1
status=$?
set -e
log="$tree/var/log/stockd-boot-test.log"
[[ -f "$log" ]] && cat "$log" || { echo "systemd-test: the check never wrote its log; the console:"; tail -n 40 "$cache/console.log"; }
if (( status == 0 )); then
    echo "systemd-test: PASS"
else
    echo "systemd-test: FAIL (exit status $status; console in $cache/console.log)"
fi
exit "$status"
