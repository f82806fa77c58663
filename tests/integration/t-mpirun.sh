# mpirun outside Slurm: the ranks of one job on one node share a container
# (one mount namespace, cross-memory attach between them), two jobs of the
# same user and image get two, and --no-join gives each rank its own. With
# the host's Open MPI (mpirun.openmpi, PMIx) and MPICH (mpirun.mpich, Hydra)
# and images holding the same MPI (images/build-mpi-image.sh), as the test
# user. Every mpirun is bounded (timeout inside, as_user's outside).

# mpirun as a user on a 2-core machine: more ranks than cores, no ssh.
MPIRUN_OMPI="mpirun.openmpi --oversubscribe -n 2"
MPIRUN_MPICH="mpirun.mpich -n 2"
mpirun_env="OMPI_MCA_plm_rsh_agent="

# Prints the number of distinct mount namespaces in the files $@ (one
# readlink of /proc/self/ns/mnt each), or "missing" if one is empty.
ns_count() {
    local f
    for f in "$@"; do [ -s "$f" ] || { echo missing; return; }; done
    cat "$@" | sort -u | wc -l
}

# Each rank writes its mount namespace to $UWORK/$1.RANK ($2: the variable
# holding the rank), then waits (at most 20 s) until all of $3 exist, so
# that every container in the test lives at once.
rank_ns_cmd() {
    printf 'readlink /proc/self/ns/mnt > %s/%s.$%s; i=0; for f in %s; do while [ ! -e "$f" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done; done' \
        "$UWORK" "$1" "$2" "$3"
}

mpirun_tests() {
    if ! command -v mpirun.openmpi >/dev/null || ! command -v mpirun.mpich >/dev/null; then
        fail "mpirun: mpirun.openmpi and mpirun.mpich are installed" \
            "apt-get install openmpi-bin mpich"
        return
    fi
    if ! "$top_srcdir/images/build-mpi-image.sh" --comp lz4 openmpi "$IMG/mpirun-ompi.sqfs" \
        >"$WORK/mpirun-image.log" 2>&1 ||
        ! "$top_srcdir/images/build-mpi-image.sh" --comp lz4 mpich "$IMG/mpirun-mpich.sqfs" \
            >>"$WORK/mpirun-image.log" 2>&1; then
        fail "mpirun: MPI images build" "$(tail -5 "$WORK/mpirun-image.log")"
        return
    fi
    chmod 0644 "$IMG/mpirun-ompi.sqfs" "$IMG/mpirun-mpich.sqfs"
    ok "mpirun: MPI images build (Open MPI, MPICH)"
    local ompi=$IMG/mpirun-ompi.sqfs mpich=$IMG/mpirun-mpich.sqfs out

    # Open MPI: one container, so CMA works and vader says nothing of
    # user namespaces; 4 MiB messages go through.
    rm -f "$UWORK"/om.*
    USER_ENV="$mpirun_env" as_user timeout 50 $MPIRUN_OMPI "$HPCRUN" "$ompi" sh -c \
        "$(rank_ns_cmd om PMIX_RANK "$UWORK/om.0 $UWORK/om.1")" >"$WORK/om.out" 2>&1
    [ "$(ns_count "$UWORK"/om.0 "$UWORK"/om.1)" = 1 ] &&
        ok "mpirun.openmpi -n 2: both ranks in one container" ||
        fail "mpirun.openmpi -n 2: both ranks in one container" \
            "$(cat "$UWORK"/om.* "$WORK/om.out" 2>&1)"
    out=$(USER_ENV="$mpirun_env" as_user timeout 50 $MPIRUN_OMPI "$HPCRUN" "$ompi" \
        mpi_pingpong 20 2>&1)
    printf '%s\n' "$out" | grep -qE '^ +4194304 +[0-9.]+ +[0-9.]+$' &&
        ! printf '%s\n' "$out" | grep -qiE 'CMA is not available|user.namespace' &&
        ok "mpirun.openmpi: ping-pong up to 4 MiB, no CMA warning" ||
        fail "mpirun.openmpi: ping-pong up to 4 MiB, no CMA warning" "$(printf '%s\n' "$out" | tail -15)"
    USER_ENV="$mpirun_env" check_grep '^join +pmix:[0-9]+@' \
        "mpirun.openmpi: the join key is the PMIx namespace and server" \
        as_user timeout 50 mpirun.openmpi -n 1 "$HPCRUN" --dry-run "$ompi" true

    # MPICH (UCX): its shared memory between the ranks needs them in one
    # container; outside one, large messages fail.
    rm -f "$UWORK"/mh.*
    as_user timeout 50 $MPIRUN_MPICH "$HPCRUN" "$mpich" sh -c \
        "$(rank_ns_cmd mh PMI_RANK "$UWORK/mh.0 $UWORK/mh.1")" >"$WORK/mh.out" 2>&1
    [ "$(ns_count "$UWORK"/mh.0 "$UWORK"/mh.1)" = 1 ] &&
        ok "mpirun.mpich -n 2: both ranks in one container" ||
        fail "mpirun.mpich -n 2: both ranks in one container" \
            "$(cat "$UWORK"/mh.* "$WORK/mh.out" 2>&1)"
    check_grep '^ +4194304 +[0-9.]+ +[0-9.]+$' "mpirun.mpich: ping-pong up to 4 MiB (UCX)" \
        as_user timeout 50 $MPIRUN_MPICH "$HPCRUN" "$mpich" mpi_pingpong 20
    check_grep '^join +pmi:[0-9]+\.[0-9]+\|' \
        "mpirun.mpich: the join key is the rank's parent, Hydra's proxy" \
        as_user timeout 50 mpirun.mpich -n 1 "$HPCRUN" --dry-run "$mpich" true
    check_grep '^allreduce over 2 ranks: ok' "mpirun.mpich: allreduce in one container" \
        as_user timeout 50 $MPIRUN_MPICH "$HPCRUN" "$mpich" mpi_allreduce

    # the key's order: --join=KEY, then Slurm's step (env execs hpcrun, so
    # Hydra's proxy stays its parent), then the mpirun job; a bare --join
    # under mpirun needs no KEY
    check_grep '^join +key:k\|' "mpirun: --join=KEY still wins" \
        as_user timeout 50 mpirun.mpich -n 1 "$HPCRUN" --join=k --dry-run "$mpich" true
    check_grep '^join +slurm:77\.3@n9\|' "mpirun: Slurm's step keeps priority" \
        as_user timeout 50 mpirun.mpich -n 1 env SLURM_JOB_ID=77 SLURM_STEP_ID=3 \
        SLURMD_NODENAME=n9 "$HPCRUN" --dry-run "$mpich" true
    check_grep '^join +pmi:[0-9]+\.[0-9]+\|' "mpirun: --join without KEY is the mpirun job" \
        as_user timeout 50 mpirun.mpich -n 1 "$HPCRUN" --join --dry-run "$mpich" true

    # Two jobs at once, same user, same image: two containers, each shared
    # by its own ranks. All four ranks wait for each other, so the two
    # containers live at the same time.
    local m all
    for m in ompi mpich; do
        rm -f "$UWORK"/cc.*
        all="$UWORK/cc.a.0 $UWORK/cc.a.1 $UWORK/cc.b.0 $UWORK/cc.b.1"
        if [ "$m" = ompi ]; then
            USER_ENV="$mpirun_env" as_user timeout 50 $MPIRUN_OMPI "$HPCRUN" "$ompi" sh -c \
                "$(rank_ns_cmd cc.a PMIX_RANK "$all")" >"$WORK/cc.a.out" 2>&1 &
            USER_ENV="$mpirun_env" as_user timeout 50 $MPIRUN_OMPI "$HPCRUN" "$ompi" sh -c \
                "$(rank_ns_cmd cc.b PMIX_RANK "$all")" >"$WORK/cc.b.out" 2>&1 &
        else
            as_user timeout 50 $MPIRUN_MPICH "$HPCRUN" "$mpich" sh -c \
                "$(rank_ns_cmd cc.a PMI_RANK "$all")" >"$WORK/cc.a.out" 2>&1 &
            as_user timeout 50 $MPIRUN_MPICH "$HPCRUN" "$mpich" sh -c \
                "$(rank_ns_cmd cc.b PMI_RANK "$all")" >"$WORK/cc.b.out" 2>&1 &
        fi
        wait
        [ "$(ns_count "$UWORK"/cc.a.0 "$UWORK"/cc.a.1)" = 1 ] &&
            [ "$(ns_count "$UWORK"/cc.b.0 "$UWORK"/cc.b.1)" = 1 ] &&
            [ "$(ns_count $all)" = 2 ] &&
            ok "mpirun ($m): two jobs at once get two containers, one per job" ||
            fail "mpirun ($m): two jobs at once get two containers, one per job" \
                "$(head "$UWORK"/cc.* "$WORK"/cc.*.out 2>&1)"
    done

    # --no-join: one container per rank, as before
    for m in ompi mpich; do
        rm -f "$UWORK"/nj.*
        if [ "$m" = ompi ]; then
            USER_ENV="$mpirun_env" as_user timeout 50 $MPIRUN_OMPI "$HPCRUN" --no-join "$ompi" \
                sh -c "$(rank_ns_cmd nj PMIX_RANK "$UWORK/nj.0 $UWORK/nj.1")" >"$WORK/nj.out" 2>&1
        else
            as_user timeout 50 $MPIRUN_MPICH "$HPCRUN" --no-join "$mpich" \
                sh -c "$(rank_ns_cmd nj PMI_RANK "$UWORK/nj.0 $UWORK/nj.1")" >"$WORK/nj.out" 2>&1
        fi
        [ "$(ns_count "$UWORK"/nj.0 "$UWORK"/nj.1)" = 2 ] &&
            ok "mpirun ($m) --no-join: one container per rank" ||
            fail "mpirun ($m) --no-join: one container per rank" \
                "$(cat "$UWORK"/nj.* "$WORK/nj.out" 2>&1)"
    done
    wait_until 50 no_fuse && ok "mpirun: no FUSE server is left after the jobs" ||
        fail "mpirun: no FUSE server is left after the jobs" "$(fuse_count)"
}
mpirun_tests
