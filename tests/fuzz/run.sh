#!/bin/sh
# Run every fuzz target for a short time over its seed corpus, as CI does
# (setup.sh check): one line per target and "N passed, N failed".
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     (default: 5 s each, all targets)
#
# The targets come from a build configured with --enable-fuzz (`make
# fuzz`). Each starts from tests/fuzz/corpus/TARGET and replays
# tests/fuzz/regress/TARGET (inputs that once crashed it) before it
# fuzzes; what it finds new goes to a scratch corpus, not to the checkout.
# A crash, a leak, a sanitizer report or a hang (over 25 s on one input)
# fails the target, and the input is saved in tests/fuzz/artifacts/.
# Logs: tests/fuzz/logs/TARGET.log.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bindir=${FUZZ_BINDIR:-$here}
secs=${1:-5}
[ $# -gt 0 ] && shift
targets=${*:-"layer oci docker-archive ref auth ldcache elf config image"}

case "$secs" in
    '' | *[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
. "$here/fuzzenv.sh"
mkdir -p "$here/logs" "$here/artifacts"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/hr-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM

passed=0 failed=0
for t in $targets; do
    bin=$bindir/fuzz-$t log=$here/logs/$t.log
    if [ ! -x "$bin" ]; then
        echo "FAIL fuzz-$t: not built (./configure --enable-fuzz CC=clang && make fuzz)"
        failed=$((failed + 1))
        continue
    fi
    mkdir -p "$scratch/$t"
    set -- "$here/corpus/$t"
    [ -d "$here/regress/$t" ] && set -- "$@" "$here/regress/$t"
    rc=0
    fuzz_run "$bin" "$t" -max_total_time="$secs" "$scratch/$t" "$@" >"$log" 2>&1 || rc=$?
    stats=$(fuzz_stats "$log")
    if [ "$rc" = 0 ] && grep -q '^Done [0-9]* runs' "$log"; then
        echo "PASS fuzz-$t: $stats"
        passed=$((passed + 1))
    else
        what=$(grep -m1 -E '^==[0-9]+==ERROR|runtime error|ERROR: libFuzzer|^SUMMARY' "$log" |
            sed 's/^==[0-9]*==//')
        echo "FAIL fuzz-$t: ${what:-exit $rc} ($stats; log tests/fuzz/logs/$t.log)"
        grep -m1 'Test unit written to' "$log" | sed 's/^/  /'
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
