# Shared helpers for the integration tests (bash). run.sh sources this, sets
# up a work area and an unprivileged user, then sources every t-*.sh.
#
# In a test file:
#   check NAME CMD...           pass if CMD exits 0
#   check_rc N NAME CMD...      pass if CMD exits with status N
#   check_grep PATTERN NAME CMD...  pass if CMD's stdout+stderr matches PATTERN
#   ok NAME / fail NAME WHY     record a result by hand
#   skip NAME WHY               a test that needs real root, under unshare -r
#   is_real_root / is_rootless  root of the host / root of a user namespace
#   as_user CMD...              run CMD as the unprivileged test user, with a
#                               clean environment, in $USER_HOME (bounded by
#                               $TEST_TIMEOUT seconds)
#   hpcrun ARGS...              as_user "$HPCRUN" ARGS...
#   as_other CMD...             run CMD as a second unprivileged user, another
#                               user of the node (for attacks; fails when the
#                               suite does not run as root)
#   check_man_renders NAME PAGE pass if the man page PAGE renders without a
#                               warning
# Variables: $WORK (0755 scratch dir), $BIN (programs copied there), $IMG
# (images), $HPCRUN, $TEST_USER, $USER_HOME, $TEST_UID, $TEST_GID, $OTHER_USER
# (empty when not run as root), $SANITIZER_ENV (NAME=VALUE words that a
# command run with env -i passes on: empty unless the build is sanitized), and the
# exit codes from src/common/exitcodes.h as $HR_EXIT_FAIL etc.

PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=""
TEST_TIMEOUT=${TEST_TIMEOUT:-60}

# Whether the suite runs as root of the host (CI), not as root of a user
# namespace of its own (unshare -r, rootless CI): there uid 0 is mapped to
# one uid of the host and holds no privilege outside the namespace, so what
# needs real root (other users, setuid files, device nodes, sysctls) is
# skipped, saying why.
if [ "$(id -u)" = 0 ] && grep -qE '^ *0 +0 +4294967295 *$' /proc/self/uid_map; then
    IS_REAL_ROOT=1
else
    IS_REAL_ROOT=0
fi
is_real_root() { [ "$IS_REAL_ROOT" = 1 ]; }
is_rootless() { [ "$(id -u)" = 0 ] && ! is_real_root; }

# skip NAME WHY: a test that cannot run here, said with its reason (only
# for what needs real root under unshare -r; elsewhere a test that cannot
# run fails)
skip() {
    SKIPPED=$((SKIPPED + 1))
    printf 'SKIP: %s (%s)\n' "$1" "$2"
}
ROOTLESS_WHY="needs real root; the suite runs under unshare -r"

ok() {
    PASSED=$((PASSED + 1))
    printf 'PASS: %s\n' "$1"
}

fail() {
    FAILED=$((FAILED + 1))
    FAILED_NAMES="$FAILED_NAMES
  $1"
    printf 'FAIL: %s\n' "$1"
    [ -z "${2:-}" ] || printf '  %s\n' "$2" | head -c 2000
}

# Exit codes, read from the header the program uses.
load_exit_codes() {
    eval "$(sed -n 's/^#define \(HR_EXIT_[A-Z_]*\) \([0-9]*\).*/\1=\2/p' "$1")"
}

# Launches in the suite do not linger (HPCRUN_LINGER=0) unless a test asks
# for it (USER_ENV or --linger; t-76-linger.sh): the checks that nothing
# outlives a container would otherwise have to wait out every linger time.
# Exported for root's own launches (t-95); as_user and the like set it again.
export HPCRUN_LINGER=0

# Run as the test user: a login-like clean environment, no inherited root env.
as_user() {
    if is_real_root; then
        (cd "$USER_HOME" && timeout -k 5 "$TEST_TIMEOUT" \
            setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups \
            env -i HOME="$USER_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" \
            PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb HPCRUN_LINGER=0 \
            ${SANITIZER_ENV:-} ${USER_ENV:-} "$@")
    else
        (cd "$USER_HOME" && timeout -k 5 "$TEST_TIMEOUT" \
            env -i HOME="$USER_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" \
            PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb HPCRUN_LINGER=0 \
            ${SANITIZER_ENV:-} ${USER_ENV:-} "$@")
    fi
}

hpcrun() {
    as_user "$HPCRUN" "$@"
}

as_other() {
    if [ -z "${OTHER_USER:-}" ]; then
        echo "as_other: no second test user (run the suite as root)" >&2
        return 1
    fi
    (cd / && timeout -k 5 "$TEST_TIMEOUT" \
        setpriv --reuid="$OTHER_USER" --regid="$OTHER_USER" --init-groups \
        env -i HOME="$(getent passwd "$OTHER_USER" | cut -d: -f6)" USER="$OTHER_USER" \
        LOGNAME="$OTHER_USER" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb \
        HPCRUN_LINGER=0 ${SANITIZER_ENV:-} ${OTHER_ENV:-} "$@")
}

# Whether file $1 exists and the second user, who can run commands, cannot
# read it (a refusal that is not only a failure to become that user).
other_cannot_read() {
    [ -e "$1" ] && as_other true && ! as_other cat "$1" >/dev/null 2>&1
}

# Another user (as_other) binds the abstract unix socket name $1 and holds
# it for at most $2 seconds ($3 "full": with its queue full). Prints the holder's PID once the name is bound
# (stop it with kill), or fails.
squat_start() {
    local out
    out=$(mktemp "$WORK/squat.XXXXXX") || return 1
    install -m 0644 "$top_srcdir/tests/integration/squat.py" "$WORK/squat.py" || return 1
    as_other python3 "$WORK/squat.py" "$@" > "$out" 2>&1 &
    if ! wait_until 50 grep -q '^held ' "$out"; then
        cat "$out" >&2
        return 1
    fi
    sed -n 's/^held //p' "$out"
}

check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$name"; else fail "$name" "exit $?: $out"; fi
}

check_rc() {
    local want=$1 name=$2 out rc
    shift 2
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" = "$want" ]; then ok "$name"; else fail "$name" "exit $rc, want $want: $out"; fi
}

check_grep() {
    local pat=$1 name=$2 out
    shift 2
    out=$("$@" 2>&1)
    if printf '%s\n' "$out" | grep -qE -- "$pat"; then
        ok "$name"
    else
        fail "$name" "no match for /$pat/ in: $out"
    fi
}

# Pass if man page $2 renders without a warning: man-db's "man --warnings"
# (groff's warnings, as a reader's man shows the page), else groff -ww. A
# machine with neither cannot check it, which fails (setup.sh installs both).
check_man_renders() {
    local name=$1 page=$2
    if man --help 2>&1 | grep -q -- --warnings; then
        check_rc 0 "$name renders without warnings (man --warnings)" sh -c \
            "out=\$(man --warnings -l '$page' 2>&1 >/dev/null); printf '%s' \"\$out\"; [ -z \"\$out\" ]"
    elif command -v groff >/dev/null; then
        check_rc 0 "$name renders without warnings (groff -ww)" sh -c \
            "out=\$(groff -ww -man -z '$page' 2>&1); printf '%s' \"\$out\"; [ -z \"\$out\" ]"
    else
        fail "$name renders without warnings" "neither man-db nor groff is installed (apt-get install man-db groff-base)"
    fi
}

# Wait (bounded) until CMD succeeds; returns 1 after $1 tenths of a second.
wait_until() {
    local tenths=$1 i=0
    shift
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le "$tenths" ] || return 1
        sleep 0.1
    done
}

# Live FUSE servers of the test user (hpcrun names them hpcrun-fuse). Exited
# servers wait as zombies for their parent, init, to reap them; where PID 1
# does not reap (some sandboxes), they stay, holding no mount or namespace.
# A process gone between pgrep and ps (a zombie reaped) does not count.
fuse_count() {
    local p n=0
    for p in $(pgrep -u "$TEST_UID" -x hpcrun-fuse); do
        case "$(ps -o stat= -p "$p")" in "" | Z*) ;; *) n=$((n + 1)) ;; esac
    done
    echo "$n"
}
no_fuse() { [ "$(fuse_count)" = 0 ]; }

summary() {
    echo
    if [ "$FAILED" -gt 0 ]; then
        printf 'failed tests:%s\n' "$FAILED_NAMES"
    fi
    [ "$SKIPPED" = 0 ] || printf '%d skipped (%s)\n' "$SKIPPED" "$ROOTLESS_WHY"
    printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
    [ "$FAILED" -eq 0 ]
}
