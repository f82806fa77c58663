# Sourced by run.sh and run-long.sh: how a fuzz target is run, and what is
# read back from its log.

# Every sanitizer report is fatal; the leak suppressions are libraries',
# never the project's (see lsan.supp).
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/lsan.supp:print_suppressions=0}"

# fuzz_run BIN TARGET [LIBFUZZER ARGS...]: with the target's dictionary,
# its crash inputs saved in artifacts/, a 25 s bound on one input and
# 2 GiB on memory.
fuzz_run() {
    bin=$1 target=$2
    shift 2
    set -- -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$here/artifacts/$target-" "$@"
    [ -f "$here/dict/$target.dict" ] && set -- -dict="$here/dict/$target.dict" "$@"
    "$bin" "$@"
}

# "N runs in S s, cov C, ft F, corpus N/SIZE" from a libFuzzer log.
fuzz_stats() {
    awk '
        /^#[0-9]+/ && / cov: / {
            for (i = 1; i <= NF; i++) {
                if ($i == "cov:") cov = $(i + 1)
                if ($i == "ft:") ft = $(i + 1)
                if ($i == "corp:") corp = $(i + 1)
            }
        }
        /^stat::number_of_executed_units:/ { runs = $2 }
        /^stat::average_exec_per_sec:/ { rate = $2 }
        /^Done [0-9]+ runs in/ { runs = $2; secs = $5 }
        END {
            printf "%s runs", runs == "" ? 0 : runs
            if (secs != "") printf " in %s s", secs
            printf ", cov %s, ft %s, corpus %s", cov == "" ? "?" : cov,
                ft == "" ? "?" : ft, corp == "" ? "?" : corp
        }' "$1"
}
