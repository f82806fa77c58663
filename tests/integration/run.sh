#!/bin/bash
# The integration suite: real launches of the built hpcrun, from real
# SquashFS images, as an unprivileged user (created when run as root, as CI
# does). Prints "N passed, N failed" last; exits non-zero on any failure.
#
#   tests/integration/run.sh [t-NAME.sh ...]    (default: every t-*.sh)
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
. "$here/lib.sh"
load_exit_codes "$top_srcdir/src/common/exitcodes.h"

die() {
    echo "integration: $*" >&2
    echo "0 passed, 1 failed"
    exit 1
}

# ---- preconditions: say why, never skip silently ------------------------------
[ -x "$top_builddir/src/hpcrun" ] || die "$top_builddir/src/hpcrun not built (run make)"
[ -x "$top_builddir/images/hr-probe" ] || die "images/hr-probe not built (run make)"
command -v mksquashfs >/dev/null || die "mksquashfs missing (apt-get install squashfs-tools)"
[ -x /bin/busybox ] || die "/bin/busybox missing (apt-get install busybox-static)"

if is_real_root; then
    TEST_USER=hpcrun-test
    if ! id "$TEST_USER" >/dev/null 2>&1; then
        useradd --create-home --shell /bin/sh "$TEST_USER" ||
            die "cannot create the test user $TEST_USER"
    fi
    # another user of the node, for the attacks in the tests (as_other)
    OTHER_USER=hpcrun-test2
    if ! id "$OTHER_USER" >/dev/null 2>&1; then
        useradd --create-home --shell /bin/sh "$OTHER_USER" ||
            die "cannot create the second test user $OTHER_USER"
    fi
    if [ "$(stat -c %a /dev/fuse 2>/dev/null)" != 666 ]; then
        chmod 0666 /dev/fuse || die "/dev/fuse missing or cannot be made usable"
        echo "integration: made /dev/fuse mode 0666 so unprivileged users can mount FUSE"
    fi
else
    # an ordinary user, or root of a user namespace (unshare -r), who can
    # become no one else: the tests run as the suite's own user
    TEST_USER=$(id -un)
    OTHER_USER="" # the tests that need one say so: they skip under unshare -r, else fail
    ! is_rootless || echo "integration: under unshare -r: root of a user namespace, no real privilege"
fi
TEST_UID=$(id -u "$TEST_USER")
TEST_GID=$(id -g "$TEST_USER")
OTHER_UID=${OTHER_USER:+$(id -u "$OTHER_USER")}
USER_HOME=$(getent passwd "$TEST_USER" | cut -d: -f6)
[ -d "$USER_HOME" ] || die "home of $TEST_USER ($USER_HOME) missing"

WORK=$(mktemp -d /tmp/hpcrun-it.XXXXXX) || die "mktemp failed"
chmod 0755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
UWORK=$WORK/u # writable by the test user
mkdir -p "$UWORK" && chmod 1777 "$UWORK"
BIN=$WORK/bin
IMG=$WORK/img
mkdir -p "$BIN" "$IMG"
cp "$top_builddir/src/hpcrun" "$top_builddir/images/hr-probe" "$BIN/"
[ ! -x "$top_builddir/src/hpcimg" ] || cp "$top_builddir/src/hpcimg" "$BIN/"
spank=$top_builddir/batch/slurm/.libs/hpcrun_spank.so
[ ! -f "$spank" ] || cp "$spank" "$BIN/"
HPCRUN=$BIN/hpcrun
HPCIMG=$BIN/hpcimg
PROBE=$BIN/hr-probe

as_user true || die "cannot run commands as $TEST_USER"
as_user unshare -Urm true 2>/dev/null ||
    die "unprivileged user namespaces are not available to $TEST_USER (check kernel.unprivileged_userns_clone, user.max_user_namespaces, AppArmor)"
as_user sh -c ': < /dev/fuse' 2>/dev/null || as_user test -w /dev/fuse ||
    die "/dev/fuse is not usable by $TEST_USER (it must be mode 0666)"

# ---- images --------------------------------------------------------------------
build() { "$top_srcdir/images/build-image.sh" "$@" || die "image build failed: $*"; }
build --probe "$PROBE" --hostile "$IMG/test.sqfs"
cat > "$WORK/config.json" <<'J'
{"config": {"Env": ["IMAGE_VAR=from-image", "SHARED=image"],
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo entry:$IMAGE_VAR:$(pwd)"],
            "WorkingDir": "/opt"}}
J
build --probe "$PROBE" --config "$WORK/config.json" "$IMG/config.sqfs"
chmod -R a+rX "$WORK"

# A build with --enable-sanitizers (HPCRUN_SANITIZE=1, from setup.sh
# check): the programs report to files in $SANLOG, a directory every test
# user can write at a path the container sees too (/tmp is bound into it),
# since the FUSE server's stderr is /dev/null and a test may not look at a
# launch's stderr. Any report fails the suite (the last check below).
# No leak check (detect_leaks=0, compiled into hpcrun too): hpcrun execs
# the application, and what it held is gone with the exec, or exits right
# after a one-line error, and the FUSE server ends with _exit; leaks are
# checked where the unit tests exit.
SANLOG=""
SANITIZER_ENV=""
if [ "${HPCRUN_SANITIZE:-}" = 1 ]; then
    SANLOG=$WORK/sanitizer
    mkdir -p "$SANLOG" && chmod 1777 "$SANLOG"
    export ASAN_OPTIONS="log_path=$SANLOG/asan:detect_leaks=0"
    export UBSAN_OPTIONS="log_path=$SANLOG/ubsan:print_stacktrace=1:halt_on_error=1"
    export LSAN_OPTIONS="log_path=$SANLOG/lsan"
    SANITIZER_ENV="ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS LSAN_OPTIONS=$LSAN_OPTIONS"
    echo "integration: a sanitizer build: reports go to $SANLOG"
fi

echo "integration: as $TEST_USER (uid $TEST_UID) with $HPCRUN"
# CI runs the suite from a checkout the test users cannot read (.ci/run):
# nothing may read the checkout in place as one of them.
if [ "${HPCRUN_CHECKOUT_PRIVATE:-}" = 1 ]; then
    echo "== the checkout"
    if is_rootless; then
        skip "the suite runs from a checkout the test user cannot read" "$ROOTLESS_WHY (the test user is the checkout's owner)"
    elif as_user test -r "$top_srcdir/README.md" || as_user test -x "$top_srcdir"; then
        fail "the test user can read the checkout $top_srcdir, so the suite does not show that it works from a private one"
    else
        ok "the suite runs from a checkout $TEST_USER cannot read ($top_srcdir)"
    fi
fi
if [ $# -gt 0 ]; then tests=("$@"); else tests=("$here"/t-*.sh); fi
for t in "${tests[@]}"; do
    case "$t" in /*) ;; *) t=$here/$t ;; esac
    echo "== $(basename "$t")"
    . "$t"
done
if [ -n "$SANLOG" ]; then
    echo "== sanitizers"
    reports=$(find "$SANLOG" -type f)
    if [ -z "$reports" ]; then
        ok "no sanitizer report from any program the tests ran"
    else
        # shellcheck disable=SC2086
        fail "no sanitizer report from any program the tests ran" "$(head -n 60 $reports)"
    fi
fi
summary
