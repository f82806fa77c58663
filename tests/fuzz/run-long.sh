#!/bin/sh
# The long fuzzing run: every target (or those named) for SECONDS each
# (default: one hour), one after the other or N at a time, then a report of
# what each did (executions, coverage, corpus, crashes) written into
# doc/fuzzing.md between its "fuzz-results" markers.
#
#   tests/fuzz/run-long.sh [-t SECONDS] [-j N] [-n | -r] [TARGET...]
#     -t SECONDS   per target (default 3600)
#     -j N         targets at a time (default 1; each takes one core)
#     -n           print the report, leave doc/fuzzing.md alone
#     -r           run nothing: report each target's last run (after a
#                  target was run again on its own)
#
# The corpus grows in tests/fuzz/work/TARGET (kept between runs, not in
# git: merge what is worth keeping into tests/fuzz/corpus with -merge=1);
# inputs that crash are kept in tests/fuzz/artifacts. Run it niced on a
# shared machine: nice -n 19 tests/fuzz/run-long.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bindir=${FUZZ_BINDIR:-$here}

if [ "${1:-}" = --one ]; then # one target, for the loop below: --one TARGET SECONDS
    t=$2 secs=$3
    . "$here/fuzzenv.sh"
    mkdir -p "$here/work/$t" "$here/logs" "$here/artifacts"
    set -- "$here/work/$t" "$here/corpus/$t"
    [ -d "$here/regress/$t" ] && set -- "$@" "$here/regress/$t"
    # crashes, leaks, timeouts, out-of-memory; not slow-unit-* (slow inputs)
    found() { ls "$here/artifacts" | grep -cE "^$t-(crash|leak|timeout|oom)-" || true; }
    before=$(found)
    start=$(date +%s)
    rc=0
    fuzz_run "$bindir/fuzz-$t" "$t" -max_total_time="$secs" "$@" \
        >"$here/logs/long-$t.log" 2>&1 || rc=$?
    took=$(($(date +%s) - start))
    after=$(found)
    log=$here/logs/long-$t.log
    awk -v t="$t" -v took="$took" -v rc="$rc" -v crashes=$((after - before)) \
        -v files="$(ls "$here/work/$t" | wc -l)" -v kb="$(du -sk "$here/work/$t" | cut -f1)" '
        /^#[0-9]+/ && / cov: / {
            for (i = 1; i <= NF; i++) {
                if ($i == "cov:") cov = $(i + 1)
                if ($i == "ft:") ft = $(i + 1)
            }
        }
        /^stat::number_of_executed_units:/ { runs = $2 }
        /^stat::average_exec_per_sec:/ { rate = $2 }
        /^stat::peak_rss_mb:/ { rss = $2 }
        END {
            printf "| fuzz-%s | %d s | %s | %s | %s | %s | %s files, %s KiB | %d%s | %s MiB |\n",
                t, took, runs == "" ? "?" : runs, rate == "" ? "?" : rate,
                cov == "" ? "?" : cov, ft == "" ? "?" : ft, files, kb, crashes,
                rc == 0 ? "" : " (stopped: exit " rc ")", rss == "" ? "?" : rss
        }' "$log" >"$here/logs/long-$t.row"
    exit 0
fi

secs=3600 jobs=1 write=1 report_only=
while getopts t:j:nr opt; do
    case $opt in
        t) secs=$OPTARG ;;
        j) jobs=$OPTARG ;;
        n) write= ;;
        r) report_only=1 ;;
        *) echo "usage: tests/fuzz/run-long.sh [-t SECONDS] [-j N] [-n | -r] [TARGET...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
targets=${*:-"layer oci docker-archive ref auth ldcache elf config image"}
started=$(date -u '+%Y-%m-%d %H:%M UTC')
if [ -z "$report_only" ]; then
    for t in $targets; do
        [ -x "$bindir/fuzz-$t" ] || { echo "run-long.sh: $bindir/fuzz-$t: not built (make fuzz)" >&2; exit 1; }
        rm -f "$here/logs/long-$t.row"
    done
    echo "run-long.sh: $(echo $targets | wc -w) targets, $secs s each, $jobs at a time"
    # shellcheck disable=SC2086
    printf '%s\n' $targets | xargs -P "$jobs" -I{} "$0" --one {} "$secs"
fi

report=$(mktemp)
trap 'rm -f "$report"' EXIT
{
    if [ -z "$report_only" ]; then
        echo "Run of $started on $(uname -m), $(nproc) cores, $jobs target(s) at a time,"
        echo "$secs s asked per target (\`tests/fuzz/run-long.sh -t $secs -j $jobs\`):"
    else
        echo "The last run of each target, as of $started (\`tests/fuzz/run-long.sh -r\`):"
    fi
    echo
    echo "| target | ran | executions | exec/s | cov | ft | corpus | crashes | peak RSS |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for t in $targets; do
        cat "$here/logs/long-$t.row" 2>/dev/null || echo "| fuzz-$t | not run | | | | | | | |"
    done
} >"$report"
cat "$report"
if [ -n "$write" ]; then
    doc=$top/doc/fuzzing.md
    awk -v report="$report" '
        /<!-- fuzz-results -->/ { print; while ((getline l < report) > 0) print l; skip = 1; next }
        /<!-- \/fuzz-results -->/ { skip = 0 }
        !skip' "$doc" >"$doc.new" && mv "$doc.new" "$doc"
    echo "run-long.sh: the report is in doc/fuzzing.md"
fi
