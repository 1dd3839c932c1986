#!/bin/sh
# Runs each libFuzzer harness named on the command line for SECONDS seconds, one after the other:
#   Tools/fuzz/run.sh SECONDS BUILD_DIR parser codec import
# Each starts from its seed corpus (Tools/fuzz/corpus/<harness>, never written to) plus what earlier
# runs on this machine found (BUILD_DIR/corpus/<harness>). A crash, a sanitizer report, a leak or an
# input slower than 10 s stops that harness with its reproducer in BUILD_DIR/crashes/ and makes
# the script exit non-zero after the others have run.
set -u
seconds=$1 build=$2
shift 2
here=$(dirname "$0")
failed=""
for harness in "$@"; do
    mkdir -p "$build/corpus/$harness" "$build/crashes"
    log="$build/$harness.log"
    # Request lines are cut at 8,192 bytes by the server; records are small; import files get room
    # for a few lines.
    case $harness in parser) len=8300 ;; codec) len=1024 ;; *) len=4096 ;; esac
    dict=""
    [ -f "$here/$harness.dict" ] && dict="-dict=$here/$harness.dict"
    "$build/$harness" $dict -max_total_time="$seconds" -timeout=10 -max_len=$len -print_final_stats=1 \
        -artifact_prefix="$build/crashes/$harness-" "$build/corpus/$harness" "$here/corpus/$harness" >"$log" 2>&1
    status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ $status -eq 0 ]; then
        echo "fuzz $harness: ${runs:-?} inputs in ${seconds} s, no crash"
    else
        echo "fuzz $harness: FAILED (exit $status) after ${runs:-?} inputs; the end of $log:"
        grep -v '^#' "$log" | tail -40
        ls "$build/crashes/$harness-"* 2>/dev/null | sed 's/^/  reproducer: /'
        failed="$failed $harness"
    fi
done
[ -z "$failed" ] || { echo "fuzz failed:$failed"; exit 1; }
