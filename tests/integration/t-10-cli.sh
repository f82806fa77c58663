# CLI: help, version, the man page, option errors, --dry-run.

check_grep '^Usage: hpcrun \[OPTIONS\] IMAGE' "--help prints usage" hpcrun --help
check_grep '^features: squashfuse fuse3' "--version lists compiled-in features" hpcrun --version

# every long option in --help is documented in hpcrun(1)
missing=""
for opt in $("$HPCRUN" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    grep -qF -- "$(printf '%s' "$opt" | sed 's/-/\\-/g')" "$top_srcdir/doc/hpcrun.1" ||
        missing="$missing $opt"
done
if [ -z "$missing" ]; then ok "man page documents every option in --help"; else
    fail "man page documents every option in --help" "missing:$missing"; fi
for code in "$HR_EXIT_FAIL" "$HR_EXIT_CANNOT_EXEC" "$HR_EXIT_NOT_FOUND"; do
    check "man page documents exit code $code" grep -q "^\.B $code\$" "$top_srcdir/doc/hpcrun.1"
done
check_man_renders "hpcrun(1)" "$top_srcdir/doc/hpcrun.1"

# bad options: one line "hpcrun: ...", exit 125
one_line_err() {
    local want=$1 name=$2 out rc
    shift 2
    out=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" = "$want" ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] &&
        printf '%s' "$out" | grep -q '^hpcrun: '; then
        ok "$name"
    else
        fail "$name" "exit $rc (want $want), stderr: $out"
    fi
}
one_line_err "$HR_EXIT_FAIL" "unknown option: one line, exit 125" hpcrun --bogus "$IMG/test.sqfs" true
one_line_err "$HR_EXIT_FAIL" "a value for an option that takes none: one line, exit 125" \
    hpcrun --fakeroot=yes "$IMG/test.sqfs" true
check_grep "^hpcrun: option '--fakeroot' takes no value" "... which names the option" \
    hpcrun --fakeroot=yes "$IMG/test.sqfs" true
check_grep "^hpcrun: unknown option '--device' \(did you mean '--devices'\?\)" \
    "an abbreviated option is not taken for another" hpcrun --device "$IMG/test.sqfs" true
one_line_err "$HR_EXIT_FAIL" "an option after the image: one line, exit 125" \
    hpcrun "$IMG/test.sqfs" -b /tmp true
check_grep "^hpcrun: '-b' after the image: options go before IMAGE" \
    "... which says where options go (not '-b: command not found')" \
    hpcrun "$IMG/test.sqfs" -b /tmp true
check_rc "$HR_EXIT_NOT_FOUND" "a command that starts with '-' follows '--'" \
    hpcrun "$IMG/test.sqfs" -- -b
USER_ENV="HPCRUN_BIND=rel" check_grep "^hpcrun: HPCRUN_BIND 'rel': a relative source needs" \
    "a bad HPCRUN_BIND is named as HPCRUN_BIND, not --bind" hpcrun "$IMG/test.sqfs" true
check_grep '^usage: hpcrun doctor \[OPTIONS\] \[IMAGE\]$' "doctor --help prints doctor's usage" hpcrun doctor --help
check "... and runs no check" sh -c "! '$HPCRUN' doctor --help | grep -q '^doctor: '"
one_line_err "$HR_EXIT_FAIL" "no image: one line, exit 125" hpcrun
# hpcrun run: in --help and the man page, and its own usage line without an image
check_grep '^       hpcrun run \[OPTIONS\] IMAGE \[--\] \[ARG\.\.\.\]$' "--help shows hpcrun run" hpcrun --help
check "man page documents hpcrun run" grep -q '^\.B hpcrun run$' "$top_srcdir/doc/hpcrun.1"
check_grep '^Usage: hpcrun \[OPTIONS\] IMAGE' "hpcrun run --help prints usage" hpcrun run --help
one_line_err "$HR_EXIT_FAIL" "hpcrun run without an image: one line, exit 125" hpcrun run
check_grep '^hpcrun: no image given \(usage: hpcrun run \[OPTIONS\] IMAGE \[ARG\.\.\.\]\)$' \
    "... which gives run's usage" hpcrun run
one_line_err "$HR_EXIT_FAIL" "bad bind spec: one line, exit 125" hpcrun -b /tmp:rel "$IMG/test.sqfs" true
one_line_err "$HR_EXIT_FAIL" "bad bind option: one line, exit 125" hpcrun -b /tmp:/x:rx "$IMG/test.sqfs" true
one_line_err "$HR_EXIT_FAIL" "bad --dev: one line, exit 125" hpcrun --dev=all "$IMG/test.sqfs" true
one_line_err "$HR_EXIT_FAIL" "bad --env: one line, exit 125" hpcrun --env NOEQUALS "$IMG/test.sqfs" true
one_line_err "$HR_EXIT_FAIL" "missing bind source: one line, exit 125" hpcrun -b /nonexistent/src:/x "$IMG/test.sqfs" true
check_grep "bind '/nonexistent/src': No such file" "missing bind source is named" hpcrun -b /nonexistent/src:/x "$IMG/test.sqfs" true

# --dry-run prints the plan and mounts nothing
out=$(hpcrun --dry-run -b /tmp:/data:ro --env A=1 "$IMG/test.sqfs" hr-probe ids 2>&1)
if printf '%s\n' "$out" | grep -q '^mount    bind    /data  *<- /tmp \[bind,ro' &&
    printf '%s\n' "$out" | grep -q '^env      A=1$' &&
    printf '%s\n' "$out" | grep -q '^command  hr-probe ids$' &&
    printf '%s\n' "$out" | grep -q '^cwd      '; then
    ok "--dry-run prints mounts, env, cwd and command"
else
    fail "--dry-run prints mounts, env, cwd and command" "$out"
fi
check_rc 0 "--dry-run exits 0" hpcrun --dry-run "$IMG/test.sqfs"
if ! no_fuse; then # live servers; exited ones may wait as zombies (lib.sh)
    fail "--dry-run starts no FUSE server" "$(pgrep -a -u "$TEST_UID" -x hpcrun-fuse)"
else
    ok "--dry-run starts no FUSE server"
fi
check_grep '^hello$' "-q still runs the command" hpcrun -q "$IMG/test.sqfs" echo hello
check_grep 'inside the hpcrun demo image' "the -- separator ends options" hpcrun "$IMG/test.sqfs" -- cat /etc/hpcrun-demo
