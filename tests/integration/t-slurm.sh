# Slurm: a real munged, slurmctld and two slurmd (nodes n1, n2) on this
# machine (tests/slurm/rig.sh), and srun starting one hpcrun per rank as the
# test user, with the image's own Open MPI (PMIx) and MPICH (PMI-2).
# Sourced by run.sh; needs root (it starts the daemons). If the rig cannot
# start, that is one failure with its reason, and the rest is not run.

SLURM_RIG=$top_srcdir/tests/slurm/rig.sh
SLURM_DIR=$WORK/slurm
# The slurmd spools lie outside /tmp, as /var/spool/slurmd does on a real
# node: the PMIx server directory there is visible inside only because
# hpcrun binds it. The nodes' TmpFS (DIR/tmp-n*) is under /tmp, the default.
SLURM_SPOOL=
# The prolog's stage-dir: root's alone, like every directory above it (the
# prolog refuses one under /tmp), so it is not under $WORK.
STAGE=

slurm_stop() {
    [ -z "$SLURM_DIR" ] || "$SLURM_RIG" stop "$SLURM_DIR" >/dev/null 2>&1
    [ -z "$SLURM_SPOOL" ] || rm -rf "$SLURM_SPOOL"
    [ -z "$STAGE" ] || rm -rf "$STAGE"
}
# Stopped at the end of this file, and by run.sh's exit however it ends.
trap 'slurm_stop; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# Each rank 0..N-1 of a world of N said hello (and nothing reported size 1).
check_ranks() {
    local n=$1 name=$2 out rc r missing=
    shift 2
    out=$("$@" 2>&1)
    rc=$?
    for r in $(seq 0 $((n - 1))); do
        printf '%s\n' "$out" | grep -q "^hello from rank $r of $n on " || missing="$missing $r"
    done
    if [ "$rc" = 0 ] && [ -z "$missing" ]; then
        ok "$name"
    else
        fail "$name" "exit $rc, ranks missing:${missing:- none}: $(printf '%s\n' "$out" | tail -15)"
    fi
}

# Live (non-zombie) processes of the test user started through this rig
# (their environment names its slurm.conf; other runs of the suite on the
# same machine do not count), optionally only those named $1.
rig_user_procs() {
    local p n=0
    for p in $(pgrep -u "$TEST_UID" ${1:+-x "$1"}); do
        case "$(ps -o stat= -p "$p")" in "" | Z*) continue ;; esac
        { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null |
            grep -qxF "SLURM_CONF=$SLURM_DIR/slurm.conf" && n=$((n + 1))
    done
    echo "$n"
}
no_user_procs() { [ "$(rig_user_procs)" = 0 ]; }
no_rig_fuse() { [ "$(rig_user_procs hpcrun-fuse)" = 0 ]; }
one_rig_fuse() { [ "$(rig_user_procs hpcrun-fuse)" = 1 ]; }
four_rig_fuse() { [ "$(rig_user_procs hpcrun-fuse)" = 4 ]; }

# Reads, as the test user, every readable region of each PID's memory
# (/proc/PID/mem) and prints "PID leak" if MARKER is in it, "PID clean" if
# not, "PID unreadable" if the kernel refuses.
MEM_SCAN='
import sys
marker = sys.argv[1].encode()
for pid in sys.argv[2:]:
    try:
        maps = open("/proc/%s/maps" % pid).read().splitlines()
        mem = open("/proc/%s/mem" % pid, "rb", 0)
    except OSError:
        print(pid, "unreadable")
        continue
    found = False
    for line in maps:
        addr, perms = line.split()[:2]
        lo, hi = (int(x, 16) for x in addr.split("-"))
        if perms[0] != "r" or hi - lo > (256 << 20):
            continue
        try:
            mem.seek(lo)
            found = marker in mem.read(hi - lo)
        except (OSError, ValueError, OverflowError):
            continue
        if found:
            break
    print(pid, "leak" if found else "clean")
'

# slurmstepd's memory (it may hold credentials and keys) must never be
# readable by the job's user: a task process is a fork of root's slurmstepd
# until it execs. While a --container-image step of IMAGE runs on n1, as the
# test user, read the memory of each of the user's processes of this rig:
# none may hold slurmstepd's environment (HPCRUN_SLURM_RIG, which only the
# rig's daemons and slurmstepd carry), no process still running slurmstepd's
# program may be readable, and the step's servers (hpcrun-fuse, hpcrun-join;
# WANT of them) must be the hpcrun program itself, exec'd.
stepd_memory_check() {
    local name=$1 image=$2 want=$3 p exe comm pids= stepd= servers= bad= out job
    rm -f "$UWORK/mstarted"
    USER_ENV="SLURM_CONF=$SLURM_DIR/slurm.conf" as_user srun -n 2 -w n1 --container-image="$image" \
        sh -c "touch $UWORK/mstarted; sleep 10" >"$WORK/mem.out" 2>&1 &
    job=$!
    if ! wait_until 300 test -e "$UWORK/mstarted"; then
        fail "$name" "the step did not start: $(cat "$WORK/mem.out")"
        wait "$job"
        return
    fi
    sleep 0.5
    for p in $(pgrep -u "$TEST_UID"); do
        { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null |
            grep -qxF "SLURM_CONF=$SLURM_DIR/slurm.conf" || continue
        pids="$pids $p"
        exe=$(readlink "/proc/$p/exe" 2>/dev/null)
        comm=$(cat "/proc/$p/comm" 2>/dev/null)
        case "$exe" in */slurmstepd*) stepd="$stepd $p" ;; esac
        case "$comm" in hpcrun-fuse | hpcrun-join)
            servers="$servers $p"
            [ "$exe" = "$HPCRUN" ] || bad="$bad; $comm $p runs $exe" ;;
        esac
    done
    # shellcheck disable=SC2086 # lists of PIDs
    out=$(as_user python3 -c "$MEM_SCAN" "HPCRUN_SLURM_RIG=$SLURM_DIR" $pids 2>&1)
    for p in $(printf '%s\n' "$out" | awk '$2 == "leak" { print $1 }'); do
        bad="$bad; $(cat "/proc/$p/comm" 2>/dev/null) $p: slurmstepd's environment read from its memory"
    done
    for p in $stepd; do
        printf '%s\n' "$out" | grep -qx "$p unreadable" || bad="$bad; slurmstepd's fork $p is readable"
    done
    # shellcheck disable=SC2086
    [ "$(echo $servers | wc -w)" = "$want" ] || bad="$bad; $want server(s) wanted, found:$servers"
    if [ -z "$bad" ] && wait "$job"; then
        ok "$name"
    else
        wait "$job"
        fail "$name" "${bad#; } (scan: $(echo $out); $(ps -o pid,comm,args -u "$TEST_UID"); $(cat "$WORK/mem.out"))"
    fi
}

# The SPANK plugin: srun/sbatch --container-image (pyxis's option names).
spank_tests() {
    local base="SLURM_CONF=$SLURM_DIR/slurm.conf"
    if [ -z "${HPCRUN_SPANK_PLUGIN:-}" ]; then
        fail "slurm: the SPANK plugin is built" "no batch/slurm/.libs/hpcrun_spank.so (libslurm-dev missing?)"
        return
    fi
    USER_ENV="$base" check_grep '^inside the hpcrun demo image$' \
        "slurm: srun --container-image runs the task inside the image" \
        as_user srun -n 1 --container-image="$IMG/test.sqfs" cat /etc/hpcrun-demo
    mkdir -p "$WORK/spank-data" && echo spank-marker > "$WORK/spank-data/f" && chmod -R a+rX "$WORK/spank-data"
    USER_ENV="$base" check_grep '^spank-marker$' "slurm: --container-mounts binds (ro)" \
        as_user srun -n 1 --container-image="$IMG/test.sqfs" --container-mounts="$WORK/spank-data:/data:ro" cat /data/f
    USER_ENV="$base" check_grep '^/etc$' "slurm: --container-workdir sets the cwd" \
        as_user srun -n 1 --container-image="$IMG/test.sqfs" --container-workdir=/etc pwd
    USER_ENV="$base" check_grep "^HPCRUN_CONTAINER=$IMG/test.sqfs\$" "slurm: the task's environment is the container's" \
        as_user srun -n 1 --container-image="$IMG/test.sqfs" hr-probe env HPCRUN_CONTAINER
    out=$(USER_ENV="$base" as_user srun -n 2 --container-image="$IMG/test.sqfs" hr-probe ns 2>&1)
    [ "$(printf '%s\n' "$out" | grep -c '^mnt=')" = 2 ] && [ "$(printf '%s\n' "$out" | grep '^mnt=' | sort -u | wc -l)" = 1 ] &&
        ok "slurm: the tasks of a step share one container" || fail "slurm: the tasks of a step share one container" "$out"
    # Tasks that cannot name the step's socket (the user's secret directory
    # is root's) warn and still run, each in a container built for it alone.
    mkdir -p "$WORK/alien-cache/hpcrun/join" && chmod -R 0755 "$WORK/alien-cache"
    out=$(USER_ENV="$base XDG_CACHE_HOME=$WORK/alien-cache" as_user srun -n 2 \
        --container-image="$IMG/test.sqfs" hr-probe ns 2>&1)
    rc=$?
    if [ "$rc" = 0 ] && [ "$(printf '%s\n' "$out" | grep -c '^mnt=')" = 2 ] &&
        [ "$(printf '%s\n' "$out" | grep '^mnt=' | sort -u | wc -l)" = 2 ] &&
        [ "$(printf '%s\n' "$out" | grep -c 'hpcrun: warning: --join: .*a container of its own$')" = 2 ]; then
        ok "slurm: tasks without a usable secret warn and run, each in a container of its own"
    else
        fail "slurm: tasks without a usable secret warn and run, each in a container of its own" "exit $rc: $out"
    fi
    rm -f "$UWORK/spank-ran"
    out=$(USER_ENV="$base" as_user srun -n 1 --container-image=/nonexistent.sqfs touch "$UWORK/spank-ran" 2>&1)
    rc=$?
    if [ "$rc" != 0 ] && [ ! -e "$UWORK/spank-ran" ] && printf '%s' "$out" | grep -q 'hpcrun: /nonexistent.sqfs: No such file'; then
        ok "slurm: a bad --container-image fails the step, the task never runs outside"
    else
        fail "slurm: a bad --container-image fails the step, the task never runs outside" "exit $rc: $out"
    fi
    rm -f "$UWORK/batch.out"
    USER_ENV="$base" as_user timeout 60 sbatch --wait -o /dev/null --container-image="$IMG/test.sqfs" \
        --wrap "cat /etc/hpcrun-demo > $UWORK/batch.out" >/dev/null 2>&1
    grep -q 'inside the hpcrun demo image' "$UWORK/batch.out" 2>/dev/null &&
        ok "slurm: sbatch --container-image runs the batch script inside" ||
        fail "slurm: sbatch --container-image runs the batch script inside" "$(cat "$UWORK/batch.out" 2>&1)"
    rm -f "$UWORK/batch2.out"
    printf '#!/bin/sh\n#SBATCH --container-image=%s\n#SBATCH -o /dev/null\ncat /etc/hpcrun-demo > %s\n' \
        "$IMG/test.sqfs" "$UWORK/batch2.out" > "$UWORK/job.sh"
    chmod a+rx "$UWORK/job.sh"
    USER_ENV="$base" as_user timeout 60 sbatch --wait "$UWORK/job.sh" >/dev/null 2>&1
    grep -q 'inside the hpcrun demo image' "$UWORK/batch2.out" 2>/dev/null &&
        ok "slurm: #SBATCH --container-image in the script runs it inside" ||
        fail "slurm: #SBATCH --container-image in the script runs it inside" "$(cat "$UWORK/batch2.out" 2>&1)"
    stepd_memory_check "slurm: the user cannot read slurmstepd's memory (FUSE); the step's server is hpcrun, exec'd" \
        "$IMG/test.sqfs" 1
    USER_ENV="$base" check_ranks 2 "slurm: srun --container-image with Open MPI (PMIx), 2 ranks in one container" \
        as_user srun -N 1 -n 2 --mpi=pmix --container-image="$IMG/ompi.sqfs" mpi_hello 2
    spank_helper_tests
}

# What the task says when the hpcrun that builds its container (plugstack.conf:
# hpcrun=PATH) is missing or fails: one hpcrun: line, and the task never runs.
# Each step's slurmstepd reads plugstack.conf anew, so the tests swap it.
spank_helper_fails() {
    local name=$1 pat=$2 helper=$3 plug=$SLURM_DIR/plugstack.conf out rc
    echo "required $HPCRUN_SPANK_PLUGIN hpcrun=$helper" >"$plug"
    rm -f "$UWORK/spank-ran"
    out=$(USER_ENV="SLURM_CONF=$SLURM_DIR/slurm.conf" as_user srun -n 1 \
        --container-image="$IMG/test.sqfs" touch "$UWORK/spank-ran" 2>&1)
    rc=$?
    if [ "$rc" != 0 ] && [ ! -e "$UWORK/spank-ran" ] && printf '%s\n' "$out" | grep -qE -- "$pat"; then
        ok "$name"
    else
        fail "$name" "exit $rc: $out"
    fi
}

spank_helper_tests() {
    local plug=$SLURM_DIR/plugstack.conf saved
    saved=$(cat "$plug")
    printf '#!/bin/sh\necho "hpcrun: the helper says no" >&2\nexit 125\n' >"$WORK/helper-fails"
    printf '#!/bin/sh\necho "key:another|container"\n' >"$WORK/helper-other"
    chmod 0755 "$WORK/helper-fails" "$WORK/helper-other"
    spank_helper_fails "slurm: a missing hpcrun (plugstack.conf hpcrun=) fails the task, saying so" \
        "^hpcrun: --container-image: the hpcrun program $WORK/no-hpcrun: No such file or directory" \
        "$WORK/no-hpcrun"
    spank_helper_fails "slurm: a failing hpcrun fails the task with its own message" \
        '^hpcrun: the helper says no$' "$WORK/helper-fails"
    spank_helper_fails "slurm: a container other than the task planned is refused" \
        '^hpcrun: --container-image: .* built another container' "$WORK/helper-other"
    printf '%s\n' "$saved" >"$plug"
}

# The prolog's kernel mounts under this rig's nodes (n1, n2) and those the
# tests below make by hand (node hrtest*): squashfs mounts under /run/hpcrun.
kmounts() { findmnt -rn -t squashfs -o TARGET,OPTIONS | grep -E "^/run/hpcrun/(n[12]|hrtest[a-z]*)/" ; }
# none of the prolog's mounts (the image's squashfs, the job's tmpfs) left
no_kmounts() { [ -z "$(findmnt -rn -o TARGET | grep -E "^/run/hpcrun/(n[12]|hrtest[a-z]*)/")" ]; }
# Nothing of the prolog's left: no mount, no job directory, no staged copy,
# no loop device on the trusted images.
prolog_nothing_left() {
    no_kmounts && [ -z "$(ls -A /run/hpcrun/n1 /run/hpcrun/n2 2>/dev/null)" ] &&
        [ -z "$(ls -A "$STAGE" 2>/dev/null)" ] &&
        [ -z "$(losetup -n -j "$WORK/trusted/test.sqfs"; losetup -n -j "$WORK/trusted/user.sqfs")" ]
}

# A step of one srun --container-image job running in the background until
# "$UWORK/kstarted" exists; then CHECK (a function) runs while it runs.
with_running_job() {
    local image=$1 out=$2 n=$3
    shift 3
    rm -f "$UWORK/kstarted"
    USER_ENV="SLURM_CONF=$SLURM_DIR/slurm.conf" as_user srun -n "$n" -w n1 --container-image="$image" \
        sh -c "touch $UWORK/kstarted; sleep 3" >"$WORK/$out" 2>&1 &
    KJOB_PID=$!
    wait_until 300 test -e "$UWORK/kstarted"
}

# The Slurm prolog and epilog (batch/slurm/prolog, epilog): kernel mounts of
# images under kernel-mount-dirs only, used by hpcrun instead of FUSE.
prolog_tests() {
    local t=$WORK/trusted/test.sqfs u=$WORK/trusted/user.sqfs out job p
    local hand="SLURM_JOB_UID=$TEST_UID SLURM_JOB_GID=$TEST_GID HPCRUN_CONFIG=$WORK/site.conf HPCRUN_PROLOG_HPCRUN=$HPCRUN"
    mkdir -p "$WORK/trusted" && cp "$IMG/test.sqfs" "$t" && chmod 0644 "$t"

    # srun --container-image of a trusted image: a kernel mount, no FUSE.
    if with_running_job "$t" kmount.out 2; then
        out=$(kmounts)
        if printf '%s\n' "$out" | grep -qE '^/run/hpcrun/n1/[0-9]+/mnt/image [^ ]*\bro\b.*nosuid.*nodev' &&
            [ "$(rig_user_procs hpcrun-fuse)" = 0 ]; then
            ok "slurm prolog: a trusted image runs from a kernel squashfs mount, no FUSE server"
        else
            fail "slurm prolog: a trusted image runs from a kernel squashfs mount, no FUSE server" \
                "mounts: $out; $(ps -f -u "$TEST_UID"); $(cat "$WORK/kmount.out")"
        fi
        [ "$(rig_user_procs hpcrun-join)" = 1 ] &&
            ok "slurm prolog: 2 ranks share the container through one hpcrun-join" ||
            fail "slurm prolog: 2 ranks share the container through one hpcrun-join" "$(ps -f -u "$TEST_UID")"
    else
        fail "slurm prolog: a trusted image runs from a kernel squashfs mount, no FUSE server" \
            "the job did not start: $(cat "$WORK/kmount.out"; tail -5 "$SLURM_DIR/log/slurmd-n1.log")"
    fi
    wait "$KJOB_PID" && ok "slurm prolog: the job from the kernel mount succeeds" ||
        fail "slurm prolog: the job from the kernel mount succeeds" "$(cat "$WORK/kmount.out")"
    if wait_until 100 prolog_nothing_left; then
        ok "slurm epilog: the kernel mount and its record are gone after the job"
    else
        fail "slurm epilog: the kernel mount and its record are gone after the job" \
            "$(kmounts; ls -lR /run/hpcrun; losetup -l)"
    fi

    stepd_memory_check "slurm prolog: the user cannot read slurmstepd's memory (kernel mount); hpcrun-join is hpcrun, exec'd" \
        "$t" 1
    check "slurm epilog: nothing left after that job" wait_until 100 prolog_nothing_left

    # #SBATCH --container-image: the batch script runs from the kernel mount.
    rm -f "$UWORK/kstarted"
    USER_ENV="SLURM_CONF=$SLURM_DIR/slurm.conf" as_user sbatch --wait -o /dev/null -w n1 \
        --container-image="$t" --wrap "touch $UWORK/kstarted; sleep 3" >"$WORK/ksbatch.out" 2>&1 &
    KJOB_PID=$!
    if wait_until 300 test -e "$UWORK/kstarted" && kmounts | grep -q '^/run/hpcrun/n1/[0-9]*/mnt/image ' &&
        [ "$(rig_user_procs hpcrun-fuse)" = 0 ]; then
        ok "slurm prolog: sbatch --container-image runs the script from the kernel mount"
    else
        fail "slurm prolog: sbatch --container-image runs the script from the kernel mount" \
            "$(kmounts; ps -f -u "$TEST_UID"; cat "$WORK/ksbatch.out")"
    fi
    wait "$KJOB_PID"
    check "slurm epilog: nothing left after the batch job" wait_until 100 prolog_nothing_left

    # An image outside kernel-mount-dirs: FUSE, never a kernel mount.
    if with_running_job "$IMG/test.sqfs" untrusted.out 1; then
        if no_kmounts && [ "$(rig_user_procs hpcrun-fuse)" = 1 ]; then
            ok "slurm prolog: an untrusted image is never kernel-mounted (FUSE)"
        else
            fail "slurm prolog: an untrusted image is never kernel-mounted (FUSE)" "$(kmounts; ps -f -u "$TEST_UID")"
        fi
    else
        fail "slurm prolog: an untrusted image is never kernel-mounted (FUSE)" "the job did not start: $(cat "$WORK/untrusted.out")"
    fi
    wait "$KJOB_PID"
    check "slurm epilog: nothing left after a FUSE job" wait_until 100 prolog_nothing_left

    # The user's own image in a trusted directory: mounted only from a copy
    # in stage-dir, which only root can write.
    cp "$IMG/test.sqfs" "$u" && chown "$TEST_UID" "$u" && chmod 0644 "$u"
    printf 'kernel-mount-dirs = %s\nstage-dir = %s\n' "$WORK/trusted" "$STAGE" >"$WORK/site.conf"
    if with_running_job "$u" staged.out 1; then
        job=$(ls "$STAGE/n1" 2>/dev/null)
        if [ -n "$job" ] && [ "$(stat -c %u "$STAGE/n1/$job/image.sqfs")" = 0 ] &&
            kmounts | grep -q "^/run/hpcrun/n1/$job/mnt/image " && [ "$(rig_user_procs hpcrun-fuse)" = 0 ]; then
            ok "slurm prolog: a user's image in a trusted directory is staged, then kernel-mounted"
        else
            fail "slurm prolog: a user's image in a trusted directory is staged, then kernel-mounted" \
                "$(ls -lR "$STAGE"; kmounts; cat "$WORK/staged.out")"
        fi
    else
        fail "slurm prolog: a user's image in a trusted directory is staged, then kernel-mounted" "$(cat "$WORK/staged.out")"
    fi
    wait "$KJOB_PID"
    check "slurm epilog: the staged copy and the mount are gone after the job" wait_until 100 prolog_nothing_left
    printf 'kernel-mount-dirs = %s\n' "$WORK/trusted" >"$WORK/site.conf"

    # By hand, as slurmd would run them: what hpcrun says and what it refuses.
    env -i SPANK_HPCRUN_IMAGE="$t" SLURM_JOB_ID=999999 SLURMD_NODENAME=hrtest $hand \
        "$top_builddir/batch/slurm/prolog" 2>/dev/null
    USER_ENV="SLURM_JOB_ID=999999 SLURMD_NODENAME=hrtest" check_grep '^mount +kernel squashfs /run/hpcrun/hrtest/999999/mnt/image \(prolog\)$' \
        "hpcrun --dry-run names the prolog's kernel mount" hpcrun --no-join --dry-run "$t" true
    USER_ENV="SLURM_JOB_ID=999999 SLURMD_NODENAME=hrtest" check_grep "^hpcrun: $t: .* image, kernel squashfs mount by the prolog," \
        "hpcrun -v says it uses the kernel mount" hpcrun --no-join -v "$t" cat /etc/hpcrun-demo
    USER_ENV="SLURM_JOB_ID=999998 SLURMD_NODENAME=hrtest" check_grep '^mount +FUSE' \
        "hpcrun: another job's kernel mount is not used" hpcrun --no-join --dry-run "$t" true
    USER_ENV="SLURM_JOB_ID=999999 SLURMD_NODENAME=../hrtest" check_grep '^mount +FUSE' \
        "hpcrun: a node name with a path in it finds no kernel mount" hpcrun --no-join --dry-run "$t" true
    cp "$t" "$UWORK/copy.sqfs"
    USER_ENV="SLURM_JOB_ID=999999 SLURMD_NODENAME=hrtest" check_grep '^mount +FUSE' \
        "hpcrun: the kernel mount serves only the very image file it was made of" \
        hpcrun --no-join --dry-run "$UWORK/copy.sqfs" true
    # the user owns mnt/: what lies there must be the mount the record names
    local md
    md=$(sed -n 's/^mount_dev=//p' /run/hpcrun/hrtest/999999/record)
    sed -i "s/^mount_dev=.*/mount_dev=$((md + 1))/" /run/hpcrun/hrtest/999999/record
    USER_ENV="SLURM_JOB_ID=999999 SLURMD_NODENAME=hrtest" check_grep '^mount +FUSE' \
        "hpcrun: a squashfs mount on another device than the record's is not used" \
        hpcrun --no-join --dry-run "$t" true
    sed -i "s/^mount_dev=.*/mount_dev=$md/" /run/hpcrun/hrtest/999999/record
    sed -i "s/^uid=.*/uid=$((TEST_UID + 1))/" /run/hpcrun/hrtest/999999/record
    USER_ENV="SLURM_JOB_ID=999999 SLURMD_NODENAME=hrtest" check_grep '^mount +FUSE' \
        "hpcrun: a kernel mount made for another user is not used" hpcrun --no-join --dry-run "$t" true
    # The epilog kills this job's servers on this node only.
    USER_ENV="SLURM_JOB_ID=999999 SLURMD_NODENAME=hrtest" hpcrun --no-join "$IMG/test.sqfs" sleep 30 >/dev/null 2>&1 &
    local p1=$!
    USER_ENV="SLURM_JOB_ID=999999 SLURMD_NODENAME=hrtestother" hpcrun --no-join "$IMG/test.sqfs" sleep 30 >/dev/null 2>&1 &
    local p2=$!
    job_fuse() {
        local p n=0
        for p in $(pgrep -u "$TEST_UID" -x hpcrun-fuse); do
            tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "SLURMD_NODENAME=$1" && n=$((n + 1))
        done
        [ "$n" = "$2" ]
    }
    wait_until 100 job_fuse hrtest 1 && wait_until 100 job_fuse hrtestother 1
    env -i SLURM_JOB_ID=999999 SLURMD_NODENAME=hrtest $hand "$top_builddir/batch/slurm/epilog" 2>/dev/null
    if wait_until 50 job_fuse hrtest 0 && job_fuse hrtestother 1 && no_kmounts && [ ! -e /run/hpcrun/hrtest ]; then
        ok "slurm epilog: removes the job's mount and kills its FUSE servers on its node only"
    else
        fail "slurm epilog: removes the job's mount and kills its FUSE servers on its node only" \
            "$(kmounts; ls -R /run/hpcrun; ps -f -u "$TEST_UID")"
    fi
    # the applications (hpcrun became them) and the other node's server
    for p in $(pgrep -u "$TEST_UID"); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qE '^SLURMD_NODENAME=hrtest(other)?$' &&
            kill -KILL "$p" 2>/dev/null
    done
    wait "$p1" "$p2" 2>/dev/null
    check "slurm epilog: the hand-made job's processes are gone" wait_until 50 job_fuse hrtestother 0
}

# The prolog or epilog by hand, as slurmd runs them (as root, with a fixed
# environment): by_hand prolog|epilog NODE JOB SITE-CONFIG [IMAGE]. Bounded.
by_hand() {
    env -i SPANK_HPCRUN_IMAGE="${5:-}" SLURM_JOB_ID="$3" SLURMD_NODENAME="$2" \
        SLURM_JOB_UID="$TEST_UID" SLURM_JOB_GID="$TEST_GID" HPCRUN_CONFIG="$4" \
        HPCRUN_PROLOG_HPCRUN="$HPCRUN" timeout -k 2 20 "$top_builddir/batch/slurm/$1"
}
# What the tests below left under /run/hpcrun (nodes hrtest*), whatever
# prolog made it.
hand_cleanup() {
    local m
    for m in $(findmnt -rn -o TARGET | grep -E '^/run/hpcrun/hrtest' | sort -r); do
        umount -l "$m"
    done
    rm -rf /run/hpcrun/hrtest*
}
hand_mounted() { kmounts | grep -q "^/run/hpcrun/$1/"; }
# The prolog run by hand for NODE JOB neither mounted nor staged anything,
# and its messages (in FILE) match PATTERN: prolog_refused NODE JOB PATTERN FILE
prolog_refused() { ! hand_mounted "$1" && [ ! -e "$STAGE/$1/$2" ] && grep -qE -- "$3" "$4"; }

# Attacks on the prolog: a stage-dir others can write in, an image the
# job's user cannot read, a FIFO, an image over the caps.
prolog_attack_tests() {
    local t=$WORK/trusted/test.sqfs conf=$WORK/site-stage.conf job img rc t0
    printf 'kernel-mount-dirs = %s\nstage-dir = %s\n' "$WORK/trusted" "$STAGE" >"$conf"
    mkdir -p "$WORK/victim" && echo precious >"$WORK/victim-file" && chmod 0644 "$WORK/victim-file"

    # stage-dir under a world-writable directory: anyone could make
    # STAGE/NODE first and swap root's job directory for their own.
    printf 'kernel-mount-dirs = %s\nstage-dir = %s\n' "$WORK/trusted" "$UWORK/stage" >"$WORK/site.conf"
    if with_running_job "$t" wwstage.out 1; then
        job=$(SLURM_CONF=$SLURM_DIR/slurm.conf squeue -h -o %i | head -1)
        if [ -n "$job" ] && ! kmounts | grep -q "^/run/hpcrun/n1/$job/" && [ ! -e "$UWORK/stage" ] &&
            [ "$(rig_user_procs hpcrun-fuse)" = 1 ]; then
            ok "slurm prolog: a stage-dir under a world-writable directory is refused, nothing written (FUSE)"
        else
            fail "slurm prolog: a stage-dir under a world-writable directory is refused, nothing written (FUSE)" \
                "$(kmounts; ls -lR "$UWORK/stage" 2>&1; tail -3 "$SLURM_DIR/log/slurmd-n1.log")"
        fi
    else
        fail "slurm prolog: a stage-dir under a world-writable directory is refused, nothing written (FUSE)" \
            "the job did not start: $(cat "$WORK/wwstage.out")"
    fi
    wait "$KJOB_PID" && ok "slurm prolog: the job with a refused stage-dir still runs" ||
        fail "slurm prolog: the job with a refused stage-dir still runs" "$(cat "$WORK/wwstage.out")"
    rm -rf "$UWORK/stage"
    printf 'kernel-mount-dirs = %s\n' "$WORK/trusted" >"$WORK/site.conf"
    wait_until 100 prolog_nothing_left

    # STAGE/NODE made beforehand by the user, or a symlink elsewhere.
    mkdir "$STAGE/hrtestown" && chown "$TEST_UID" "$STAGE/hrtestown"
    by_hand prolog hrtestown 999990 "$conf" "$t" >"$WORK/own.out" 2>&1
    if ! hand_mounted hrtestown && [ -z "$(ls -A "$STAGE/hrtestown")" ] &&
        grep -q "$STAGE/hrtestown: not root's alone" "$WORK/own.out"; then
        ok "slurm prolog: a STAGE-DIR/NODE owned by the user is refused"
    else
        fail "slurm prolog: a STAGE-DIR/NODE owned by the user is refused" "$(cat "$WORK/own.out"; ls -lR "$STAGE")"
    fi
    ln -s "$WORK/victim" "$STAGE/hrtestlnk"
    by_hand prolog hrtestlnk 999990 "$conf" "$t" >"$WORK/lnk.out" 2>&1
    if ! hand_mounted hrtestlnk && [ -z "$(ls -A "$WORK/victim")" ]; then
        ok "slurm prolog: a symlink at STAGE-DIR/NODE is refused, nothing written where it points"
    else
        fail "slurm prolog: a symlink at STAGE-DIR/NODE is refused, nothing written where it points" \
            "$(cat "$WORK/lnk.out"; ls -lR "$WORK/victim")"
    fi
    mkdir -m 0755 "$STAGE/hrtestjl" && ln -s "$WORK/victim-file" "$STAGE/hrtestjl/999990"
    by_hand prolog hrtestjl 999990 "$conf" "$t" >"$WORK/jl.out" 2>&1
    if ! hand_mounted hrtestjl && [ "$(cat "$WORK/victim-file")" = precious ]; then
        ok "slurm prolog: a symlink at STAGE-DIR/NODE/JOB to a root file leaves the file unchanged"
    else
        fail "slurm prolog: a symlink at STAGE-DIR/NODE/JOB to a root file leaves the file unchanged" "$(cat "$WORK/jl.out")"
    fi
    rm -rf "$STAGE"/hrtest*
    hand_cleanup
    # The same for /run/hpcrun/NODE: the user's, or a symlink elsewhere.
    mkdir -p /run/hpcrun/hrtestrun && chown "$TEST_UID" /run/hpcrun/hrtestrun
    by_hand prolog hrtestrun 999990 "$WORK/site.conf" "$t" >"$WORK/run.out" 2>&1
    if ! hand_mounted hrtestrun && [ -z "$(ls -A /run/hpcrun/hrtestrun)" ] &&
        grep -q "/run/hpcrun/hrtestrun: not root's alone" "$WORK/run.out"; then
        ok "slurm prolog: a /run/hpcrun/NODE owned by the user is refused"
    else
        fail "slurm prolog: a /run/hpcrun/NODE owned by the user is refused" "$(cat "$WORK/run.out"; kmounts)"
    fi
    ln -s "$WORK/victim" /run/hpcrun/hrtestrunl
    by_hand prolog hrtestrunl 999990 "$WORK/site.conf" "$t" >"$WORK/runl.out" 2>&1
    if ! findmnt -rn -t squashfs -o TARGET | grep -q "^$WORK/victim/" && [ -z "$(ls -A "$WORK/victim")" ]; then
        ok "slurm prolog: a symlink at /run/hpcrun/NODE is refused, nothing made or mounted where it points"
    else
        fail "slurm prolog: a symlink at /run/hpcrun/NODE is refused, nothing made or mounted where it points" \
            "$(cat "$WORK/runl.out"; findmnt -rn -t squashfs)"
        umount -l "$WORK/victim/999990/image" 2>/dev/null
        rm -rf "${WORK:?}/victim/999990"
    fi
    hand_cleanup

    # Images the job's user may not read: root's 0600, and one in a root
    # 0700 directory. Root can read both; the prolog must not do it for them.
    cp "$t" "$WORK/trusted/secret.sqfs" && chmod 0600 "$WORK/trusted/secret.sqfs"
    mkdir -m 0700 "$WORK/trusted/private" && cp "$t" "$WORK/trusted/private/inner.sqfs" &&
        chmod 0644 "$WORK/trusted/private/inner.sqfs"
    for img in secret.sqfs private/inner.sqfs; do
        by_hand prolog hrtestsec 999991 "$conf" "$WORK/trusted/$img" >"$WORK/sec.out" 2>&1
        if prolog_refused hrtestsec 999991 "cannot open it: Permission denied" "$WORK/sec.out" &&
            ! as_user sh -c 'cat /run/hpcrun/hrtestsec/999991/image/etc/hpcrun-demo ||
                cat /run/hpcrun/hrtestsec/999991/mnt/image/etc/hpcrun-demo' >/dev/null 2>&1; then
            ok "slurm prolog: an image the job's user cannot read ($img) is neither staged nor mounted"
        else
            fail "slurm prolog: an image the job's user cannot read ($img) is neither staged nor mounted" \
                "$(cat "$WORK/sec.out"; kmounts; ls -lR "$STAGE")"
        fi
        rm -rf "$STAGE"/hrtest*
        hand_cleanup
    done

    # A trusted directory below one the job's user may not search (root's
    # 0700): its images are no more theirs to have mounted than to read.
    mkdir -m 0700 "$WORK/hidden" && mkdir -m 0755 "$WORK/hidden/trusted" &&
        cp "$t" "$WORK/hidden/trusted/test.sqfs" && chmod 0644 "$WORK/hidden/trusted/test.sqfs"
    printf 'kernel-mount-dirs = %s\nstage-dir = %s\n' "$WORK/hidden/trusted" "$STAGE" >"$WORK/site-hidden.conf"
    by_hand prolog hrtesthid 999988 "$WORK/site-hidden.conf" "$WORK/hidden/trusted/test.sqfs" >"$WORK/hid.out" 2>&1
    if prolog_refused hrtesthid 999988 "cannot open it: Permission denied" "$WORK/hid.out"; then
        ok "slurm prolog: an image below a directory the job's user cannot search is not mounted"
    else
        fail "slurm prolog: an image below a directory the job's user cannot search is not mounted" \
            "$(cat "$WORK/hid.out"; kmounts; ls -lR "$STAGE")"
    fi
    rm -rf "$STAGE"/hrtest* "$WORK/hidden"
    hand_cleanup

    # The job's mount is its user's alone: another local user cannot list
    # or read it while the job runs.
    if with_running_job "$t" other.out 1; then
        job=$(SLURM_CONF=$SLURM_DIR/slurm.conf squeue -h -o %i | head -1)
        if [ -n "$job" ] && kmounts | grep -q "^/run/hpcrun/n1/$job/" &&
            as_other true &&
            ! as_other ls "/run/hpcrun/n1/$job/mnt/image" >/dev/null 2>&1 &&
            ! as_other ls "/run/hpcrun/n1/$job/image" >/dev/null 2>&1 &&
            ! as_other cat "/run/hpcrun/n1/$job/mnt/image/etc/hpcrun-demo" >/dev/null 2>&1 &&
            ! as_other cat "/run/hpcrun/n1/$job/image/etc/hpcrun-demo" >/dev/null 2>&1 &&
            as_user cat "/run/hpcrun/n1/$job/mnt/image/etc/hpcrun-demo" | grep -q 'hpcrun demo'; then
            ok "slurm prolog: another local user cannot list or read the job's kernel mount, the job's user can"
        else
            fail "slurm prolog: another local user cannot list or read the job's kernel mount, the job's user can" \
                "job $job: $(kmounts; ls -lR "/run/hpcrun/n1/$job" 2>&1 | head -20)"
        fi
    else
        fail "slurm prolog: another local user cannot list or read the job's kernel mount, the job's user can" \
            "the job did not start: $(cat "$WORK/other.out")"
    fi
    wait "$KJOB_PID"
    wait_until 100 prolog_nothing_left

    # A FIFO named as the image: the prolog must not wait for a writer.
    mkfifo -m 0644 "$WORK/trusted/fifo.sqfs"
    t0=$(date +%s)
    by_hand prolog hrtestfifo 999992 "$WORK/site.conf" "$WORK/trusted/fifo.sqfs" >"$WORK/fifo.out" 2>&1
    rc=$?
    if [ "$rc" = 0 ] && [ $(($(date +%s) - t0)) -lt 10 ] && ! hand_mounted hrtestfifo &&
        grep -q 'fifo.sqfs: not a regular file' "$WORK/fifo.out"; then
        ok "slurm prolog: a FIFO as the image: it returns at once, no mount"
    else
        fail "slurm prolog: a FIFO as the image: it returns at once, no mount" "exit $rc: $(cat "$WORK/fifo.out")"
    fi
    hand_cleanup

    # The staging caps: an image over stage-max-size, a copy that would
    # leave less than stage-min-free.
    printf 'kernel-mount-dirs = %s\nstage-dir = %s\nstage-max-size = 4K\n' "$WORK/trusted" "$STAGE" >"$WORK/site-cap.conf"
    by_hand prolog hrtestcap 999993 "$WORK/site-cap.conf" "$t" >"$WORK/cap.out" 2>&1
    if prolog_refused hrtestcap 999993 'larger than stage-max-size \(4096\): not staged' "$WORK/cap.out"; then
        ok "slurm prolog: an image over stage-max-size is not staged"
    else
        fail "slurm prolog: an image over stage-max-size is not staged" "$(cat "$WORK/cap.out"; ls -lR "$STAGE")"
    fi
    printf 'kernel-mount-dirs = %s\nstage-dir = %s\nstage-min-free = 1000T\n' "$WORK/trusted" "$STAGE" >"$WORK/site-cap.conf"
    by_hand prolog hrtestcap 999993 "$WORK/site-cap.conf" "$t" >"$WORK/cap.out" 2>&1
    if prolog_refused hrtestcap 999993 'less than stage-min-free' "$WORK/cap.out"; then
        ok "slurm prolog: a copy that would leave less than stage-min-free is not made"
    else
        fail "slurm prolog: a copy that would leave less than stage-min-free is not made" "$(cat "$WORK/cap.out"; ls -lR "$STAGE")"
    fi
    rm -rf "$STAGE"/hrtest*
    hand_cleanup
}

# Attacks on the epilog: symlinks where it removes and unmounts.
epilog_attack_tests() {
    local conf=$WORK/site-stage.conf
    mkdir -p /run/hpcrun "$WORK/victim/keep"
    # STAGE-DIR/NODE a symlink to another directory holding JOB/image.sqfs
    mkdir -p "$WORK/victim2/999994" && echo precious >"$WORK/victim2/999994/image.sqfs"
    ln -s "$WORK/victim2" "$STAGE/hrtesteps"
    by_hand epilog hrtesteps 999994 "$conf" >"$WORK/eps.out" 2>&1
    if [ -f "$WORK/victim2/999994/image.sqfs" ]; then
        ok "slurm epilog: removes nothing through a symlink at STAGE-DIR/NODE"
    else
        fail "slurm epilog: removes nothing through a symlink at STAGE-DIR/NODE" "$(cat "$WORK/eps.out")"
    fi
    rm -f "$STAGE/hrtesteps"
    # /run/hpcrun/NODE a symlink to a directory with mounts where the job's would be
    mkdir -p "$WORK/victim3/999994/image" "$WORK/victim3/999994/mnt/image" &&
        echo precious >"$WORK/victim3/999994/record"
    mount -t tmpfs hrtest-victim "$WORK/victim3/999994/image"
    mount -t tmpfs hrtest-victim "$WORK/victim3/999994/mnt/image"
    ln -s "$WORK/victim3" /run/hpcrun/hrtestepr
    by_hand epilog hrtestepr 999994 "$conf" >"$WORK/epr.out" 2>&1
    if mountpoint -q "$WORK/victim3/999994/image" && mountpoint -q "$WORK/victim3/999994/mnt/image" &&
        [ -f "$WORK/victim3/999994/record" ]; then
        ok "slurm epilog: unmounts and removes nothing through a symlink at /run/hpcrun/NODE"
    else
        fail "slurm epilog: unmounts and removes nothing through a symlink at /run/hpcrun/NODE" "$(cat "$WORK/epr.out")"
    fi
    # A name that leads into a mount namespace of the user's own making: a
    # process of theirs has their own image bound over the trusted
    # directory, and the name goes through its /proc/PID/root, directly or
    # up out of the trusted directory with "..". Only what lies beneath the
    # trusted directory in the node's own namespace may be kernel-mounted.
    mkdir -p "$UWORK/evil" && cp "$t" "$UWORK/evil/test.sqfs" && chmod -R a+rX "$UWORK/evil"
    rm -f "$UWORK/ns.pid"
    as_user unshare -Urm sh -c "mount --bind '$UWORK/evil' '$WORK/trusted' && echo \$\$ >'$UWORK/ns.pid' && exec sleep 60" \
        >/dev/null 2>&1 &
    local ns_job=$! ns_pid img_name
    if wait_until 50 test -s "$UWORK/ns.pid"; then
        ns_pid=$(cat "$UWORK/ns.pid")
        for img_name in "/proc/$ns_pid/root$WORK/trusted/test.sqfs" \
            "$WORK/trusted/$(echo "$WORK/trusted" | sed 's|/[^/]*|../|g')proc/$ns_pid/root$WORK/trusted/test.sqfs"; do
            by_hand prolog hrtestns 999989 "$conf" "$img_name" >"$WORK/ns.out" 2>&1
            if prolog_refused hrtestns 999989 'not under kernel-mount-dirs|cannot open it' "$WORK/ns.out"; then
                ok "slurm prolog: an image reached through another mount namespace is not kernel-mounted (${img_name%%/proc/*}...)"
            else
                fail "slurm prolog: an image reached through another mount namespace is not kernel-mounted (${img_name%%/proc/*}...)" \
                    "$(cat "$WORK/ns.out"; kmounts; ls -lR "$STAGE")"
            fi
            rm -rf "$STAGE"/hrtest*
            hand_cleanup
        done
    else
        fail "slurm prolog: an image reached through another mount namespace is not kernel-mounted" \
            "the user's namespace did not start"
    fi
    [ -z "${ns_pid:-}" ] || kill "$ns_pid" 2>/dev/null # the sleep, in the user's namespace
    kill "$ns_job" 2>/dev/null
    wait "$ns_job" 2>/dev/null

    umount -l "$WORK/victim3/999994/image" "$WORK/victim3/999994/mnt/image" 2>/dev/null
    rm -f /run/hpcrun/hrtestepr
    # the user's symlinks in the user's own directory: removed, not followed
    by_hand prolog hrtestusr 999995 "$WORK/site.conf" "$WORK/trusted/test.sqfs" >/dev/null 2>&1
    as_user sh -c "d=/run/hpcrun/hrtestusr/999995/mnt; ln -s $WORK/victim-file \$d/f; ln -s $WORK/victim \$d/d;
        mkdir -p \$d/sub/sub && ln -s $WORK/victim \$d/sub/sub/d" >/dev/null 2>&1
    # what the user may write there is a few pages, not root's /run
    if [ -d /run/hpcrun/hrtestusr/999995/mnt/sub ] &&
        ! as_user dd if=/dev/zero of=/run/hpcrun/hrtestusr/999995/mnt/big bs=64k count=16 >/dev/null 2>&1; then
        ok "slurm prolog: the job's user cannot fill /run through the mount's directory"
    else
        fail "slurm prolog: the job's user cannot fill /run through the mount's directory" \
            "$(ls -la /run/hpcrun/hrtestusr/999995/mnt 2>&1; df -h /run/hpcrun/hrtestusr/999995/mnt 2>&1)"
    fi
    as_user sh -c "chmod 0500 /run/hpcrun/hrtestusr/999995/mnt/sub /run/hpcrun/hrtestusr/999995/mnt" >/dev/null 2>&1
    by_hand epilog hrtestusr 999995 "$conf" >"$WORK/usr.out" 2>&1
    if [ "$(cat "$WORK/victim-file")" = precious ] && [ -d "$WORK/victim/keep" ] && ! hand_mounted hrtestusr &&
        [ ! -e /run/hpcrun/hrtestusr ]; then
        ok "slurm epilog: removes the job's mount and directory, never following the user's symlinks"
    else
        fail "slurm epilog: removes the job's mount and directory, never following the user's symlinks" \
            "$(cat "$WORK/usr.out"; kmounts; ls -lR /run/hpcrun/hrtestusr 2>&1 | head)"
    fi
    hand_cleanup

    # A site config key this prolog does not know (a newer file, or a
    # misspelling): said, ignored, and the job's node set-up goes on.
    printf 'kernel-mount-dirs = %s\nkernel-mount-dir = /x\n' "$WORK/trusted" >"$WORK/site-unknown.conf"
    by_hand prolog hrtestunk 999996 "$WORK/site-unknown.conf" "$WORK/trusted/test.sqfs" >"$WORK/unk.out" 2>&1
    if hand_mounted hrtestunk &&
        grep -q "site-unknown.conf:2: unknown key 'kernel-mount-dir' (ignored)" "$WORK/unk.out"; then
        ok "slurm prolog: an unknown site config key is logged and ignored, the image still kernel-mounted"
    else
        fail "slurm prolog: an unknown site config key is logged and ignored, the image still kernel-mounted" \
            "$(cat "$WORK/unk.out"; kmounts)"
    fi
    by_hand epilog hrtestunk 999996 "$WORK/site-unknown.conf" >/dev/null 2>&1
    hand_cleanup
}

slurm_tests() {
    local out srun_pid t0 t1
    SLURM_SPOOL=$(mktemp -d /var/tmp/hpcrun-slurmd.XXXXXX) || {
        fail "slurm: rig starts" "mktemp in /var/tmp failed"
        return
    }
    chmod 0755 "$SLURM_SPOOL"
    STAGE=$(mktemp -d /var/lib/hpcrun-stage.XXXXXX) && chmod 0755 "$STAGE" || {
        fail "slurm: rig starts" "mktemp in /var/lib failed"
        return
    }
    t0=$(date +%s)
    if [ -f "$BIN/hpcrun_spank.so" ]; then
        export HPCRUN_SPANK_PLUGIN=$BIN/hpcrun_spank.so
    else
        unset HPCRUN_SPANK_PLUGIN
    fi
    # the prolog and epilog, with a site config that trusts $WORK/trusted
    printf 'kernel-mount-dirs = %s\n' "$WORK/trusted" >"$WORK/site.conf"
    export HPCRUN_RIG_PROLOG=$top_builddir/batch/slurm/prolog
    export HPCRUN_RIG_EPILOG=$top_builddir/batch/slurm/epilog
    export HPCRUN_RIG_CONFIG=$WORK/site.conf HPCRUN_RIG_HPCRUN=$HPCRUN
    if ! out=$("$SLURM_RIG" start "$SLURM_DIR" "$SLURM_SPOOL" 2>&1); then
        fail "slurm: rig starts (munged, slurmctld, slurmd n1 and n2)" "$out"
        return
    fi
    ok "slurm: rig starts (munged, slurmctld, slurmd n1 and n2)"


    if ! "$top_srcdir/images/build-mpi-image.sh" --comp lz4 openmpi "$IMG/ompi.sqfs" >"$WORK/mpi-image.log" 2>&1 ||
        ! "$top_srcdir/images/build-mpi-image.sh" --comp lz4 mpich "$IMG/mpich.sqfs" >>"$WORK/mpi-image.log" 2>&1; then
        fail "slurm: MPI images build" "$(tail -5 "$WORK/mpi-image.log")"
        return
    fi
    chmod 0644 "$IMG/ompi.sqfs" "$IMG/mpich.sqfs"
    ok "slurm: MPI images build (Open MPI, MPICH)"

    local base="SLURM_CONF=$SLURM_DIR/slurm.conf"
    # Ranks under different slurmd on this one host are in different
    # containers, yet an MPI may think them local: no CMA for Open MPI's
    # shared memory, no /proc/PID/fd links for UCX's (MPICH) between them.
    local ompi="$base OMPI_MCA_btl_vader_single_copy_mechanism=none"
    local mpich="$base UCX_POSIX_USE_PROC_LINK=n UCX_TLS=^cma"

    USER_ENV="$ompi" check_ranks 4 "slurm: Open MPI, 4 ranks on one node (srun --mpi=pmix)" \
        as_user srun -N 1 -n 4 --mpi=pmix "$HPCRUN" "$IMG/ompi.sqfs" mpi_hello 4
    USER_ENV="$ompi OMPI_MCA_btl=self,tcp" check_ranks 4 \
        "slurm: Open MPI, 4 ranks across n1 and n2" \
        as_user srun -N 2 -n 4 --mpi=pmix "$HPCRUN" "$IMG/ompi.sqfs" mpi_hello 4
    # slurmd's spool (PMIX_SERVER_TMPDIR) is bound because the plan says so
    USER_ENV="$base" check_grep "^mount +bind +$SLURM_SPOOL/spool-n[12]/pmix\\.[0-9.]+ .*\\[pmix" \
        "slurm: the PMIx server directory in slurmd's spool is bound" \
        as_user srun -n 1 --mpi=pmix "$HPCRUN" --dry-run "$IMG/ompi.sqfs" true
    USER_ENV="$ompi" check_grep '^ +4194304 +[0-9.]+ +[0-9.]+$' \
        "slurm: Open MPI ping-pong between 2 containers" \
        as_user srun -n 2 --mpi=pmix "$HPCRUN" "$IMG/ompi.sqfs" mpi_pingpong 20
    # One container per step and node (--join): shared memory with
    # cross-memory attach works between ranks as on bare metal.
    USER_ENV="$base" check_grep '^ +4194304 +[0-9.]+ +[0-9.]+$' \
        "slurm: Open MPI ping-pong with CMA between ranks of one joined container" \
        as_user srun -N 1 -n 2 --mpi=pmix "$HPCRUN" "$IMG/ompi.sqfs" mpi_pingpong 20
    USER_ENV="$base" check_grep '^ +4194304 +[0-9.]+ +[0-9.]+$' \
        "slurm: MPICH (UCX, CMA) ping-pong between ranks of one joined container" \
        as_user srun -N 1 -n 2 --mpi=pmi2 "$HPCRUN" "$IMG/mpich.sqfs" mpi_pingpong 20
    USER_ENV="$ompi" check_grep '^allreduce over 4 ranks: ok' \
        "slurm: Open MPI allreduce in containers" \
        as_user srun -n 4 --mpi=pmix "$HPCRUN" "$IMG/ompi.sqfs" mpi_allreduce

    # mpirun inside an allocation starts its daemons with srun, one step per
    # mpirun: two at once in one batch script each share a container per
    # node among their own ranks, under keys of their own (Slurm's, job.step@node,
    # with the mpirun's PMIx job). The steps are compared, not the namespaces, whose
    # numbers a later container may reuse should Slurm run the steps one
    # after the other.
    rm -f "$UWORK"/sm.*
    local a b
    printf '%s\n' '#!/bin/sh' \
        "echo \"\$(readlink /proc/self/ns/mnt) step=\$SLURM_STEP_ID\" > $UWORK/sm.\$1.\$OMPI_COMM_WORLD_RANK" \
        >"$UWORK/sm-rank.sh"
    printf '%s\n' '#!/bin/sh' 'export OMPI_MCA_plm_rsh_agent=' \
        "for j in a b; do timeout 40 mpirun.openmpi --oversubscribe -n 2 $HPCRUN $IMG/ompi.sqfs sh $UWORK/sm-rank.sh \$j & done" \
        'wait' \
        "timeout 40 mpirun.openmpi -n 1 $HPCRUN --dry-run $IMG/ompi.sqfs true > $UWORK/sm.key 2>&1" \
        >"$UWORK/sm-job.sh"
    chmod 0755 "$UWORK/sm-rank.sh" "$UWORK/sm-job.sh"
    USER_ENV="$base" as_user timeout 100 sbatch --wait -N 1 -n 4 -o "$UWORK/sm.out" \
        "$UWORK/sm-job.sh" >/dev/null 2>&1
    a=$(cat "$UWORK"/sm.a.[01] 2>/dev/null | sort -u)
    b=$(cat "$UWORK"/sm.b.[01] 2>/dev/null | sort -u)
    [ -s "$UWORK/sm.a.0" ] && [ -s "$UWORK/sm.a.1" ] && [ -s "$UWORK/sm.b.0" ] &&
        [ -s "$UWORK/sm.b.1" ] && [ "$(printf '%s\n' "$a" | wc -l)" = 1 ] &&
        [ "$(printf '%s\n' "$b" | wc -l)" = 1 ] && [ "${a#* }" != "${b#* }" ] &&
        ok "slurm: two mpiruns in a batch script: one container each, keyed by its own step" ||
        fail "slurm: two mpiruns in a batch script: one container each, keyed by its own step" \
            "$(head "$UWORK"/sm.* 2>&1)"
    grep -qE '^join +slurm:[0-9]+\.[0-9]+@n1\+pmix:[^|]+\|' "$UWORK/sm.key" 2>/dev/null &&
        ok "slurm: mpirun in a batch script: its ranks use Slurm's key (the daemons' step) with mpirun's PMIx job" ||
        fail "slurm: mpirun in a batch script: its ranks use Slurm's key (the daemons' step) with mpirun's PMIx job" \
            "$(cat "$UWORK/sm.key" 2>&1)"

    USER_ENV="$mpich" check_ranks 4 "slurm: MPICH, 4 ranks on one node (srun --mpi=pmi2)" \
        as_user srun -N 1 -n 4 --mpi=pmi2 "$HPCRUN" "$IMG/mpich.sqfs" mpi_hello 4
    USER_ENV="$mpich" check_ranks 4 "slurm: MPICH, 4 ranks across n1 and n2" \
        as_user srun -N 2 -n 4 --mpi=pmi2 "$HPCRUN" "$IMG/mpich.sqfs" mpi_hello 4
    USER_ENV="$mpich" check_grep '^allreduce over 4 ranks: ok' \
        "slurm: MPICH allreduce in containers" \
        as_user srun -N 2 -n 4 --mpi=pmi2 "$HPCRUN" "$IMG/mpich.sqfs" mpi_allreduce
    USER_ENV="$mpich" check_grep '^ +4194304 +[0-9.]+ +[0-9.]+$' \
        "slurm: MPICH ping-pong between 2 containers" \
        as_user srun -n 2 --mpi=pmi2 "$HPCRUN" "$IMG/mpich.sqfs" mpi_pingpong 20
    # --mpi=host: the host's MPICH (site key host-mpi) bound over the image's
    local hm="$mpich HPCRUN_CONFIG=$WORK/host-mpich.conf"
    echo "host-mpi = $(readlink -f /usr/lib/x86_64-linux-gnu/libmpich.so.12)" > "$WORK/host-mpich.conf"
    echo "host-mpi = $(readlink -f /usr/lib/x86_64-linux-gnu/libmpi.so.40)" > "$WORK/host-ompi.conf"
    chmod 0644 "$WORK"/host-*.conf
    USER_ENV="$hm" check_grep 'libmpich\.so\.12 => /\.hpcrun/host/lib/libmpich\.so\.12' \
        "host MPI: ldd inside resolves libmpich.so.12 to the host's library (--mpi=host)" \
        as_user "$HPCRUN" --mpi=host "$IMG/mpich.sqfs" /lib64/ld-linux-x86-64.so.2 --list \
        /usr/bin/mpi_hello
    USER_ENV="$hm" check_grep '^/\.hpcrun/host/etc/ucx libucp\.so\.0 => /\.hpcrun/host/lib/libucp\.so\.0' \
        "host MPI: the host MPI's fabric (UCX) and its module directory come from the host" \
        as_user "$HPCRUN" --mpi=host "$IMG/mpich.sqfs" sh -c \
        'echo $UCX_MODULE_DIR $(/lib64/ld-linux-x86-64.so.2 --list /usr/bin/mpi_hello | grep -o "libucp.so.0 => [^ ]*")'
    USER_ENV="$hm" check_grep 'libmpich\.so\.12 => /usr/lib/x86_64-linux-gnu/libmpich\.so\.12 .*host' \
        "host MPI: the host's library is also bound over the image's own file (RUNPATH, reset LD_LIBRARY_PATH)" \
        as_user "$HPCRUN" --mpi=host "$IMG/mpich.sqfs" sh -c \
        'echo $(LD_LIBRARY_PATH= /lib64/ld-linux-x86-64.so.2 --list /usr/bin/mpi_hello | grep libmpich) $(grep -q " /usr/lib/x86_64-linux-gnu/libmpich.so.12[.0-9]* ro," /proc/self/mountinfo && echo host)'
    USER_ENV="$hm" check_ranks 2 "host MPI: srun -n 2 with the host's MPICH in the containers" \
        as_user srun -n 2 --mpi=pmi2 "$HPCRUN" --mpi=host "$IMG/mpich.sqfs" mpi_hello 2
    USER_ENV="$base HPCRUN_CONFIG=$WORK/host-ompi.conf" check_grep \
        'Open MPI 4\.1\.[0-9]+.*MPICH 4\.0\.[0-9]+' \
        "host MPI: a host Open MPI over the image's MPICH is refused, both versions named" \
        as_user "$HPCRUN" --mpi=host "$IMG/mpich.sqfs" true
    USER_ENV="$base HPCRUN_CONFIG=$WORK/host-ompi.conf" check_rc "$HR_EXIT_FAIL" \
        "host MPI: the refusal fails the launch" \
        as_user "$HPCRUN" --mpi=host "$IMG/mpich.sqfs" true
    USER_ENV="$base" check_grep 'names no host MPI' \
        "host MPI: --mpi=host without host-mpi in the site config says so" \
        as_user "$HPCRUN" --mpi=host "$IMG/mpich.sqfs" true

    USER_ENV="$base" check_grep 'ok +PMIx: the image has PMIx 4\.' \
        "doctor: the image's PMIx against Slurm's mpi_pmix plugin" \
        as_user "$HPCRUN" doctor "$IMG/ompi.sqfs"
    USER_ENV="$base" check_grep 'image MPI: Open MPI 4\.1' "doctor: names the image's Open MPI" \
        as_user "$HPCRUN" doctor "$IMG/ompi.sqfs"
    USER_ENV="$base" check_grep 'image MPI: MPICH ABI 4\.0.*--mpi=pmi2' \
        "doctor: names the image's MPICH and how to run it" \
        as_user "$HPCRUN" doctor "$IMG/mpich.sqfs"

    # MPICH under pmix starts singletons that exit 0: mpi_hello must notice
    USER_ENV="$mpich" check_rc 1 "slurm: mpi_hello fails when ranks are singletons" \
        as_user srun -n 2 --mpi=pmix "$HPCRUN" "$IMG/mpich.sqfs" mpi_hello 2

    USER_ENV="$base" check_grep '^n1 n2$' "slurm: containers run on both nodes" \
        as_user sh -c "srun -N 2 -n 2 $HPCRUN $IMG/test.sqfs sh -c 'echo \$SLURMD_NODENAME' | sort | tr '\n' ' ' | sed 's/ \$//'"
    USER_ENV="$base" check_rc 3 "slurm: a rank exiting 3 makes srun exit 3" \
        as_user srun -n 4 "$HPCRUN" "$IMG/test.sqfs" sh -c '[ "$SLURM_PROCID" != 2 ] || exit 3'

    # scancel: SIGTERM reaches the application, which traps it.
    rm -f "$UWORK/slurm-started" "$UWORK/slurm-term"
    USER_ENV="$base" as_user srun -J hr-scancel -n 1 "$HPCRUN" "$IMG/test.sqfs" sh -c \
        "trap 'echo trapped > $UWORK/slurm-term; exit 0' TERM; touch $UWORK/slurm-started; while :; do sleep 0.1; done" \
        >"$WORK/scancel.out" 2>&1 &
    srun_pid=$!
    if wait_until 300 test -e "$UWORK/slurm-started"; then
        USER_ENV="$base" as_user scancel --name hr-scancel
        if wait_until 150 test -s "$UWORK/slurm-term"; then
            ok "slurm: scancel delivers SIGTERM the application can trap"
        else
            fail "slurm: scancel delivers SIGTERM the application can trap" "$(cat "$WORK/scancel.out")"
        fi
    else
        fail "slurm: scancel delivers SIGTERM the application can trap" "the step did not start: $(cat "$WORK/scancel.out")"
    fi
    wait "$srun_pid" 2>/dev/null

    # An application that ignores SIGTERM gets SIGKILL KillWait (5 s) later.
    rm -f "$UWORK/slurm-started" "$UWORK/slurm-term"
    USER_ENV="$base" as_user srun -J hr-kill -n 2 "$HPCRUN" "$IMG/test.sqfs" sh -c \
        "trap 'echo ignored >> $UWORK/slurm-term' TERM; touch $UWORK/slurm-started; while :; do sleep 0.1; done" \
        >"$WORK/kill.out" 2>&1 &
    srun_pid=$!
    if wait_until 300 test -e "$UWORK/slurm-started"; then
        USER_ENV="$base" as_user scancel --name hr-kill
        if wait_until 200 sh -c "! kill -0 $srun_pid" && grep -q ignored "$UWORK/slurm-term"; then
            ok "slurm: an application ignoring SIGTERM is killed after KillWait"
        else
            fail "slurm: an application ignoring SIGTERM is killed after KillWait" "$(cat "$WORK/kill.out")"
        fi
    else
        fail "slurm: an application ignoring SIGTERM is killed after KillWait" "the step did not start: $(cat "$WORK/kill.out")"
    fi
    wait "$srun_pid" 2>/dev/null

    # Ranks of one step on a node: rank 0 publishes the address of a buffer in
    # /dev/shm, rank 1 reads the file (shared memory) and the buffer from rank
    # 0's process (cross-memory attach, process_vm_readv).
    out=$(USER_ENV="$base" as_user srun -N 1 -n 2 -w n1 "$HPCRUN" "$IMG/test.sqfs" sh -c '
        f=/dev/shm/hr-xmem-$SLURM_JOB_ID
        if [ "$SLURM_PROCID" = 0 ]; then
            hr-probe hold 4 > $f.tmp & sleep 0.5; mv $f.tmp $f; wait
        else
            for i in $(seq 50); do [ -s $f ] && break; sleep 0.1; done
            set -- $(sed "s/pid=\([0-9]*\) addr=\([0-9a-fx]*\).*/\1 \2/" $f)
            echo "shm=$(cat $f | cut -c1-4)"
            hr-probe pvr "$1" "$2"
            rm -f $f
        fi' 2>&1)
    printf '%s\n' "$out" | grep -q '^shm=pid=' && ok "slurm: a file in /dev/shm is shared between the ranks" ||
        fail "slurm: a file in /dev/shm is shared between the ranks" "$out"
    printf '%s\n' "$out" | grep -q '^pvr=hpcrun!$' &&
        ok "slurm: process_vm_readv from one rank into another succeeds" ||
        fail "slurm: process_vm_readv from one rank into another succeeds" "$out"

    # One container per node and step (--join, the default under Slurm), and
    # the checks below do see FUSE servers: --no-join gives one per rank.
    USER_ENV="$base" as_user srun -n 4 -w n1 "$HPCRUN" "$IMG/test.sqfs" sleep 3 >/dev/null 2>&1 &
    srun_pid=$!
    if wait_until 50 one_rig_fuse && sleep 1 && one_rig_fuse; then
        ok "slurm: 4 ranks on one node share 1 FUSE server (--join)"
    else
        fail "slurm: 4 ranks on one node share 1 FUSE server (--join)" "$(ps -f -u "$TEST_UID")"
    fi
    wait "$srun_pid" 2>/dev/null
    USER_ENV="$base" as_user srun -n 4 -w n1 "$HPCRUN" --no-join "$IMG/test.sqfs" sleep 3 >/dev/null 2>&1 &
    srun_pid=$!
    if wait_until 50 four_rig_fuse; then
        ok "slurm: with --no-join, 4 ranks run 4 FUSE servers"
    else
        fail "slurm: with --no-join, 4 ranks run 4 FUSE servers" "$(ps -f -u "$TEST_UID")"
    fi
    wait "$srun_pid" 2>/dev/null
    USER_ENV="$base" as_user srun -n 4 -N 2 "$HPCRUN" "$IMG/test.sqfs" sleep 3 >/dev/null 2>&1 &
    srun_pid=$!
    two_rig_fuse() { [ "$(rig_user_procs hpcrun-fuse)" = 2 ]; }
    if wait_until 50 two_rig_fuse; then
        ok "slurm: 4 ranks on 2 nodes run one FUSE server per node"
    else
        fail "slurm: 4 ranks on 2 nodes run one FUSE server per node" "$(ps -f -u "$TEST_UID")"
    fi
    wait "$srun_pid" 2>/dev/null

    spank_tests
    prolog_tests
    prolog_attack_tests
    epilog_attack_tests

    # A job that reaches its time limit (one minute, Slurm's least):
    # slurmctld notices within its 30 s check, and the application gets
    # SIGTERM, which it traps.
    rm -f "$UWORK/timelimit.out"
    USER_ENV="SLURM_CONF=$SLURM_DIR/slurm.conf" as_user sbatch -n 1 --time=1 \
        -o "$UWORK/timelimit.out" --wrap "exec $HPCRUN $IMG/test.sqfs hr-probe trap 300" \
        >/dev/null 2>&1
    timelimit_done() { grep -q '^caught=15$' "$UWORK/timelimit.out" 2>/dev/null; }
    if wait_until 1300 timelimit_done; then
        ok "slurm: at the time limit the application gets SIGTERM and can trap it"
    else
        fail "slurm: at the time limit the application gets SIGTERM and can trap it" \
            "$(cat "$UWORK/timelimit.out" 2>&1)"
    fi
    # Afterwards: no job left, no process of the user (FUSE servers included;
    # their mounts live in namespaces that die with them).
    if wait_until 150 sh -c "[ -z \"\$(SLURM_CONF=$SLURM_DIR/slurm.conf squeue -h)\" ]"; then
        ok "slurm: no job left"
    else
        fail "slurm: no job left" "$(SLURM_CONF=$SLURM_DIR/slurm.conf squeue 2>&1)"
    fi
    if wait_until 100 no_user_procs; then
        ok "slurm: no process of the jobs left on either node"
    else
        fail "slurm: no process of the jobs left on either node" "$(ps -f -u "$TEST_UID")"
    fi
    check "slurm: no hpcrun-fuse server left" wait_until 50 no_rig_fuse
    t1=$(date +%s)
    echo "slurm: $((t1 - t0)) s with the rig up"
}

if [ "$(id -u)" != 0 ]; then
    fail "slurm: rig starts" "tests/slurm/rig.sh starts slurmd and munged: run the suite as root"
else
    slurm_tests
fi
slurm_stop
SLURM_DIR=
SLURM_SPOOL=
STAGE=
trap 'rm -rf "$WORK"' EXIT
trap - INT TERM
