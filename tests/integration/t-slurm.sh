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

slurm_stop() {
    [ -z "$SLURM_DIR" ] || "$SLURM_RIG" stop "$SLURM_DIR" >/dev/null 2>&1
    [ -z "$SLURM_SPOOL" ] || rm -rf "$SLURM_SPOOL"
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
}

slurm_tests() {
    local out srun_pid t0 t1
    SLURM_SPOOL=$(mktemp -d /var/tmp/hpcrun-slurmd.XXXXXX) || {
        fail "slurm: rig starts" "mktemp in /var/tmp failed"
        return
    }
    chmod 0755 "$SLURM_SPOOL"
    t0=$(date +%s)
    if [ -f "$BIN/hpcrun_spank.so" ]; then
        export HPCRUN_SPANK_PLUGIN=$BIN/hpcrun_spank.so
    else
        unset HPCRUN_SPANK_PLUGIN
    fi
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
    USER_ENV="$base" check_grep "^mount +bind +$SLURM_SPOOL/spool-n1/pmix\\.[0-9.]+ .*\\[pmix" \
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
trap 'rm -rf "$WORK"' EXIT
trap - INT TERM
