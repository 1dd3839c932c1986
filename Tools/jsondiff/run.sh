#!/usr/bin/env bash
# Compares the JSON reply converter with the one of an earlier commit on 900,000 random lines.
#   Tools/jsondiff/run.sh [COMMIT (default e484caf: the converter before it worked on bytes)]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/jsondiff.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
git -C "$repo" show "${1:-e484caf}:Sources/LedgerProtocol/JSONReply.swift" \
  | sed 's/public enum JSONReply/enum EarlierJSONReply/' > "$work/Earlier.swift"
sed 's/public enum JSONReply/enum CurrentJSONReply/' "$repo/Sources/LedgerProtocol/JSONReply.swift" > "$work/Current.swift"
swiftc -O "$work/Earlier.swift" "$work/Current.swift" "$repo/Tools/jsondiff/main.swift" -o "$work/jsondiff"
"$work/jsondiff"
