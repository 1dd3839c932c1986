#!/usr/bin/env bash
# Installs built stockd and stockctl binaries, the systemd units, the sysusers file, stockctl's shell
# completions and docs/operating.md under $DESTDIR$PREFIX. Run by `make install` (which builds first)
# and `make install-files`; the layout is in docs/operating.md (Install).
#
# Usage: PREFIX=/usr DESTDIR=debian/stockd [RELAY_FROM=Relay/.build/release] Tools/install.sh BIN_FROM
#
# stockrelay (docs/network.md) is its own package and only some hosts run it: with RELAY_FROM naming the
# folder of a built stockrelay, it and its unit (systemd/stockrelay.*) are installed too; without, they
# are left out.
#
# The unit files in systemd/ are templates naming /usr/local paths (ExecStart=/usr/local/bin/stockd,
# Documentation=file:/usr/local/share/doc/stockd/...): the installed copies name $BINDIR and $DOCDIR
# instead, so a unit always starts the binary installed beside it.
set -euo pipefail

fail() { printf 'install: %s\n' "$*" >&2; exit 1; }
[[ $# -eq 1 ]] || fail "usage: Tools/install.sh BIN_FROM (the folder holding the built stockd and stockctl)"
bin_from="$1"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PREFIX="${PREFIX:-/usr/local}"
DESTDIR="${DESTDIR:-}"
BINDIR="${BINDIR:-$PREFIX/bin}"
UNITDIR="${UNITDIR:-$PREFIX/lib/systemd/system}"
SYSUSERSDIR="${SYSUSERSDIR:-$PREFIX/lib/sysusers.d}"
DOCDIR="${DOCDIR:-$PREFIX/share/doc/stockd}"
BASHCOMPDIR="${BASHCOMPDIR:-$PREFIX/share/bash-completion/completions}"
ZSHCOMPDIR="${ZSHCOMPDIR:-$PREFIX/share/zsh/vendor-completions}"
FISHCOMPDIR="${FISHCOMPDIR:-$PREFIX/share/fish/vendor_completions.d}"
# ExecStart= splits on whitespace, and sed below uses | as its separator.
for path in "$BINDIR" "$DOCDIR"; do
    [[ "$path" =~ ^/[^[:space:]|]*$ ]] || fail "$path: must be absolute, without spaces or |"
done

for binary in stockd stockctl; do
    [[ -x "$bin_from/$binary" ]] || fail "$bin_from/$binary is missing: build first (make install builds)"
done
install -d "$DESTDIR$BINDIR" "$DESTDIR$UNITDIR" "$DESTDIR$SYSUSERSDIR" "$DESTDIR$DOCDIR" \
    "$DESTDIR$BASHCOMPDIR" "$DESTDIR$ZSHCOMPDIR" "$DESTDIR$FISHCOMPDIR"
install -m 0755 "$bin_from/stockd" "$bin_from/stockctl" "$DESTDIR$BINDIR/"
relay_from="${RELAY_FROM:-}"
if [[ -n "$relay_from" ]]; then
    [[ -x "$relay_from/stockrelay" ]] || fail "RELAY_FROM=$relay_from has no stockrelay: build it first (make relay)"
    install -m 0755 "$relay_from/stockrelay" "$DESTDIR$BINDIR/"
fi
install -m 0644 "$repo_root/docs/operating.md" "$DESTDIR$DOCDIR/operating.md"

# Every file in systemd/: units (stockd.service, stockd.socket and any added beside them) to UNITDIR,
# *.sysusers to SYSUSERSDIR as NAME.conf, anything else (an optional drop-in, say) to DOCDIR/systemd
# as an example an operator copies by hand.
work="$(mktemp -d "${TMPDIR:-/tmp}/stockd-install.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
for source in "$repo_root"/systemd/*; do
    [[ -f "$source" ]] || continue
    name="$(basename "$source")"
    # The relay's unit starts a binary that is installed only with RELAY_FROM.
    [[ "$name" == stockrelay.* && -z "$relay_from" ]] && continue
    sed -e "s|/usr/local/bin/|$BINDIR/|g" -e "s|/usr/local/share/doc/stockd/|$DOCDIR/|g" "$source" >"$work/$name"
    case "$name" in
        *.service | *.socket | *.timer | *.path | *.target) install -m 0644 "$work/$name" "$DESTDIR$UNITDIR/$name" ;;
        *.sysusers) install -m 0644 "$work/$name" "$DESTDIR$SYSUSERSDIR/${name%.sysusers}.conf" ;;
        *) install -D -m 0644 "$work/$name" "$DESTDIR$DOCDIR/systemd/$name" ;;
    esac
done
for directory in "$repo_root"/systemd/*/; do
    [[ -d "$directory" ]] || continue
    install -d "$DESTDIR$DOCDIR/systemd/$(basename "$directory")"
    install -m 0644 "$directory"* "$DESTDIR$DOCDIR/systemd/$(basename "$directory")/"
done

# Completions come from stockctl itself (swift-argument-parser), so they always match its options.
"$bin_from/stockctl" --generate-completion-script bash >"$work/stockctl.bash"
"$bin_from/stockctl" --generate-completion-script zsh >"$work/_stockctl"
"$bin_from/stockctl" --generate-completion-script fish >"$work/stockctl.fish"
install -m 0644 "$work/stockctl.bash" "$DESTDIR$BASHCOMPDIR/stockctl"
install -m 0644 "$work/_stockctl" "$DESTDIR$ZSHCOMPDIR/_stockctl"
install -m 0644 "$work/stockctl.fish" "$DESTDIR$FISHCOMPDIR/stockctl.fish"

echo "install: stockd, stockctl${relay_from:+, stockrelay}, units, sysusers and completions under $DESTDIR$PREFIX"
