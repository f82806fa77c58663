#!/bin/sh
# hpcrun quick start for a fresh Debian 12 machine, as root or with sudo.
#
#   sudo ./setup.sh          install the Debian packages hpcrun needs, build it,
#                            build the demo image and run a container from it as
#                            an ordinary user
#   sudo ./setup.sh check    the same without the demo, then the whole test
#                            suite (unit, integration, and each fuzz target
#                            for 5 s), the unit and launch tests of a build
#                            with ASan and UBSan, and the launch tests under
#                            unshare -r; its last line is "N passed, N failed"
#                            over all of them
#
# It also makes /dev/fuse usable by unprivileged users (mode 0666, as
# distributions ship it) and says so. CI runs "./setup.sh check" (.ci/run).
set -eu

cd "$(dirname "$0")"
top=$(pwd)
mode=${1:-demo}
case "$mode" in
    demo | check) ;;
    *) echo "usage: sudo ./setup.sh [check]" >&2; exit 2 ;;
esac
say() { printf '\n==> %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup.sh: run as root (no sudo found)" >&2; exit 1; }
    exec sudo "$0" "$@"
fi

# What to undo at exit, however it comes: the package policy below, and,
# run with sudo from a user's checkout, the build's files given back to them.
policy=
give_back=
if [ -n "${SUDO_UID:-}" ] && [ "$SUDO_UID" != 0 ] && [ "$(stat -c %u .)" = "$SUDO_UID" ]; then
    give_back=1
fi
cleanup() {
    [ -z "$policy" ] || rm -f "$policy"
    # the checkout by its path: the demo runs from /
    [ -z "$give_back" ] || chown -R "$SUDO_UID:$SUDO_GID" "$top" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- packages -------------------------------------------------------------------
PACKAGES="build-essential autoconf automake libtool pkg-config clang clang-format
  libclang-rt-14-dev
  libsquashfuse-dev libfuse3-dev libjansson-dev libzstd-dev
  libhwloc-dev libsquashfs-dev libcurl4-openssl-dev libarchive-dev libmunge-dev libssl-dev
  squashfs-tools squashfs-tools-ng busybox-static zstd
  util-linux procps perl python3 libcap2-bin attr bc
  charliecloud-runtime
  slurmctld slurmd slurm-client munge libpmix-dev
  openmpi-bin libopenmpi-dev mpich libmpich-dev libslurm-dev
  docker-registry skopeo apache2-utils openssl curl
  umoci debootstrap time man-db groff-base"
say "installing Debian packages"
export DEBIAN_FRONTEND=noninteractive
# The slurmd, slurmctld and munge packages start their services on install;
# without systemd their init scripts fail (no slurm.conf yet) and so would
# the install. The tests start their own daemons (tests/slurm/rig.sh), so
# tell the packages not to start any (policy-rc.d, 101: action forbidden).
if [ ! -e /usr/sbin/policy-rc.d ]; then # else the machine's own: leave it alone
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
if [ -n "$policy" ]; then
    rm -f "$policy"
    policy=
fi

# ---- /dev/fuse --------------------------------------------------------------------
if [ "$(stat -c %a /dev/fuse 2>/dev/null)" != 666 ]; then
    chmod 0666 /dev/fuse
    say "made /dev/fuse mode 0666 so that unprivileged users can mount FUSE file systems"
fi

# ---- build --------------------------------------------------------------------------
say "building"
jobs=$(nproc)
if [ ! -f Makefile ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    ./autogen.sh >/dev/null 2>&1
    ./configure --enable-werror | sed -n '/configuration summary/,$p'
fi
if [ "$mode" = check ]; then
    # the C is as clang-format (.clang-format) writes it: a file it would
    # change fails the check, before anything is built
    say "checking that clang-format would change no C file"
    unformatted=$(find src batch images tests bench mpi-examples -name '*.[ch]' \
        -exec sh -c 'clang-format --dry-run -Werror "$1" >/dev/null 2>&1 || echo "$1"' sh {} \;)
    if [ -n "$unformatted" ]; then
        echo "setup.sh: clang-format would change these files (run clang-format -i on them):"
        printf '  %s\n' $unformatted
        echo "0 passed, 1 failed"
        exit 1
    fi
    # clang first, with the fuzz targets (tests/fuzz), which only clang
    # builds; then the build the tests use (gcc): two builds, not three
    say "checking that clang builds it without warnings too, with the fuzz targets"
    make clean >/dev/null
    ./configure --enable-werror --enable-fuzz CC=clang >/dev/null
    make -j"$jobs" >/dev/null
    say "running each fuzz target for 5 s (tests/fuzz/run.sh)"
    tests/fuzz/run.sh 5 >tests/fuzz/run.log 2>&1 || true
    cat tests/fuzz/run.log
    make clean >/dev/null
    ./configure --enable-werror >/dev/null
fi
make -j"$jobs" >/dev/null

if [ "$mode" = check ]; then
    # Three stages, each with its own "N passed, N failed" lines and one
    # total at the end:
    #  1. the whole suite (layout, unit, integration) on the gcc build, as root;
    #  2. a copy built with ASan and UBSan (--enable-sanitizers) in
    #     build-asan/: its unit tests and the launch's integration tests,
    #     where any sanitizer report fails (tests/integration/run.sh);
    #  3. the launch's integration tests again under "unshare -r": the
    #     driver is root of a user namespace of its own, with no real
    #     privilege; what needs real root says so and is skipped.
    # The launch's integration tests: every file whose containers hpcrun
    # builds itself; not hpcimg's, the registry's, Slurm's or mpirun's (they
    # test other programs or the launch under other launchers, and slurmd
    # cannot load a sanitized SPANK plugin).
    launch_tests="t-10-cli.sh t-15-siteconfig.sh t-20-security.sh t-30-identity.sh t-40-paths.sh
        t-50-env.sh t-60-process.sh t-70-lifecycle.sh t-75-join.sh t-76-linger.sh t-80-badinput.sh
        t-90-images.sh t-95-root.sh t-96-devices.sh"
    passed=0 failed=0
    # tally STAGE LOG...: each log's result line, and its failures
    tally() {
        stage=$1
        shift
        for log in "$@"; do
            [ -f "$log" ] || continue
            case "$log" in */test-suite.log) continue ;; esac
            line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
            if [ -z "$line" ]; then
                echo "$stage: $log: no result line (crashed?)"
                sed 's/^/  /' "$log" | tail -20
                failed=$((failed + 1))
                continue
            fi
            grep -E '^FAIL' "$log" | sed "s|^|$stage: $(basename "$log" .log): |" || true
            echo "$stage: $(basename "$log" .log): $line"
            passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
            failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
        done
    }

    say "running the test suite"
    rc=0
    make -j"$jobs" check >/dev/null 2>&1 || rc=$?
    tally suite tests/layout/*.log tests/unit/*.log tests/integration/*.log tests/fuzz/run.log
    if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
        failed=1
        cat tests/test-suite.log 2>/dev/null | tail -40
    fi

    say "building a copy with ASan and UBSan (build-asan/) and running its tests"
    asan=$top/build-asan
    rm -rf "$asan" && mkdir "$asan"
    # the checkout's sources, without this build's products (distclean)
    tar -C "$top" --exclude=./build-asan --exclude=./.git -cf - . | tar -C "$asan" -xf -
    (cd "$asan" && make distclean >/dev/null 2>&1 || true)
    if (cd "$asan" && ./configure --enable-werror --enable-sanitizers >/dev/null &&
        make -j"$jobs" >/dev/null && make -j"$jobs" check TESTS= >/dev/null) >"$asan/build.log" 2>&1; then
        for t in "$asan"/tests/unit/test-*; do
            case "${t##*/}" in *.*) continue ;; esac # test-x.o, test-x.c, logs
            [ -x "$t" ] || continue
            # a sanitizer report stops the program before its result line
            # (a failure is counted from its log, not fatal here)
            (cd "$asan" && "$t") >"$t.sanitize.log" 2>&1 || true
        done
        tally sanitize "$asan"/tests/unit/*.sanitize.log
        # shellcheck disable=SC2086
        HPCRUN_SANITIZE=1 top_srcdir=$top top_builddir=$asan \
            tests/integration/run.sh $launch_tests >"$asan/integration.log" 2>&1 || true
        tally sanitize "$asan/integration.log"
    else
        echo "sanitize: the build failed:"
        tail -20 "$asan/build.log" | sed 's/^/  /'
        failed=$((failed + 1))
    fi

    say "running the launch's integration tests under unshare -r (no real privilege)"
    # shellcheck disable=SC2086
    unshare -r env top_srcdir="$top" top_builddir="$top" \
        tests/integration/run.sh $launch_tests >tests/rootless.log 2>&1 || true
    grep "^SKIP" tests/rootless.log | sed 's/^/rootless: /' || true
    tally rootless tests/rootless.log

    echo
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit
fi

# ---- the demo --------------------------------------------------------------------------
demo_user=${SUDO_USER:-}
if [ -z "$demo_user" ] || [ "$demo_user" = root ]; then
    demo_user=hpcrun-test
    id "$demo_user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$demo_user"
fi
demo=/tmp/hpcrun-demo
rm -rf "$demo" && mkdir -p "$demo"
cp src/hpcrun "$demo/"
images/build-image.sh --probe images/hr-probe "$demo/demo.sqfs"
chmod -R a+rX "$demo"
say "running a container from $demo/demo.sqfs as $demo_user"
home=$(getent passwd "$demo_user" | cut -d: -f6)
cd /
setpriv --reuid="$demo_user" --regid="$(id -g "$demo_user")" --init-groups \
    env -i HOME="$home" USER="$demo_user" LOGNAME="$demo_user" PATH=/usr/bin:/bin TERM="${TERM:-dumb}" \
    "$demo/hpcrun" "$demo/demo.sqfs" sh -c '
        echo "$(cat /etc/hpcrun-demo), from $HPCRUN_CONTAINER"
        . /etc/os-release; echo "os:        $PRETTY_NAME"
        echo "me:        $(id -un) (uid $(id -u)), home $HOME"
        echo "namespace: $(readlink /proc/self/ns/user) (a user namespace of my own)"
        echo "pid:       $(readlink /proc/self/ns/pid) (the host'"'"'s)"'
say "done: try it yourself, as an ordinary user:"
echo "  $demo/hpcrun $demo/demo.sqfs sh"
echo "  (install with: sudo make install; man hpcrun)"
