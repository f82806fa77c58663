#!/bin/bash
# The timing loops of bench/realimage.sh, run as the benchmark user in the
# directory that holds ./hpcrun (and ./hpcrun-baseline) and out/. One bash
# runs a whole phase, so the clock reads ($EPOCHREALTIME) cost no fork.
#
#   realimage-timing.sh IMAGEDIR single cold|warm ROUNDS
#   realimage-timing.sh IMAGEDIR concurrent CONC ROUNDS
#   realimage-timing.sh IMAGEDIR batch dir|chsq|hpcj|hpc N KEY
#
# single: every workload under every launcher once a round, the launchers in
# a rotating order, the workloads in turn, so drift in the machine's load
# hits all alike; one line "WORKLOAD LAUNCHER MICROSECONDS" per run in
# out/single-MODE.txt. concurrent: CONC launches of python3 -c pass at once,
# the wall time of the batch in out/concurrent.txt. batch: N containers of
# import numpy + sleep 2 at once (the memory phase samples the host around it).
set -u
imgdir=$1 phase=$2
shift 2
img=$imgdir/real.sqfs
workloads=(true pass numpy find cat)
cmd=()
# The workloads, as the container's command line.
workload() {
    case $1 in
        true) cmd=(/bin/true) ;;
        pass) cmd=(python3 -c pass) ;;
        numpy) cmd=(python3 -c 'import numpy') ;;
        find) cmd=(find /usr /etc /var -printf '%s\n') ;;
        cat) cmd=(cat /data/big) ;;
        sleepy) cmd=(python3 -c 'import numpy, time; time.sleep(2)') ;;
    esac
}
# The launchers. HPCRUN_LINGER is set on each launch: 0 is a fresh mount
# every time (cold); 60 leaves the FUSE server for the next launch of the
# image (warm), where this hpcrun knows --linger (others ignore it).
dir() { ch-run "$imgdir/rootfs" -- "${cmd[@]}"; }
chsq() { ch-run "$img" -- "${cmd[@]}"; }
cold() { HPCRUN_LINGER=0 ./hpcrun "$img" "${cmd[@]}"; }
warm() { HPCRUN_LINGER=60 ./hpcrun "$img" "${cmd[@]}"; }
base() { HPCRUN_LINGER=0 ./hpcrun-baseline "$img" "${cmd[@]}"; }
hpc() { HPCRUN_LINGER=0 ./hpcrun --no-join "$img" "${cmd[@]}"; }
hpcj() { HPCRUN_LINGER=0 ./hpcrun --join="$key" "$img" "${cmd[@]}"; }
key=realimage

# run WORKLOAD LAUNCHER: one launch, output discarded. find exits 1 where it
# cannot read a directory (/var/cache/ldconfig is root's, mode 0700): that
# is the same walk, so it counts as success.
run() {
    local rc=0
    workload "$1"
    "$2" >/dev/null 2>&1 || rc=$?
    [ $rc = 0 ] || { [ "$1" = find ] && [ $rc = 1 ]; } ||
        { echo "bench: $2 ${cmd[*]}: exit status $rc" >&2; exit 1; }
}

single() {
    local mode=$1 rounds=$2 names i w k f s e
    if [ "$mode" = cold ]; then
        names=(dir chsq cold)
        [ ! -x ./hpcrun-baseline ] || names+=(base)
    else
        names=(dir chsq warm)
    fi
    # Warm the host's caches (and, warm, leave the first lingering server).
    for w in "${workloads[@]}"; do for f in "${names[@]}"; do run "$w" "$f"; done; done
    for ((i = 0; i < rounds; i++)); do
        for w in "${workloads[@]}"; do
            for ((k = 0; k < ${#names[@]}; k++)); do
                f=${names[$(((i + k) % ${#names[@]}))]}
                s=${EPOCHREALTIME/./}
                run "$w" "$f"
                e=${EPOCHREALTIME/./}
                echo "$w $f $((e - s))" >>"out/single-$mode.txt"
            done
        done
    done
}

# batch LAUNCHER N: N launches at once; fails if any of them failed.
batch() {
    local f=$1 n=$2 j pids=() failed=0
    for ((j = 0; j < n; j++)); do
        "$f" >/dev/null 2>&1 &
        pids+=($!)
    done
    for j in "${pids[@]}"; do wait "$j" || failed=$((failed + 1)); done
    [ $failed = 0 ] || { echo "bench: $failed of $n concurrent $f ${cmd[*]} failed" >&2; exit 1; }
}

concurrent() {
    local conc=$1 rounds=$2 names=(dir chsq hpcj hpc) i k f s e
    workload pass
    key=realimage-$$-warmup
    for f in "${names[@]}"; do batch "$f" 1; done # warm the host's caches
    for ((i = 0; i < rounds; i++)); do
        for ((k = 0; k < ${#names[@]}; k++)); do
            f=${names[$(((i + k) % ${#names[@]}))]}
            key=realimage-$$-$i # one container per batch
            s=${EPOCHREALTIME/./}
            batch "$f" "$conc"
            e=${EPOCHREALTIME/./}
            echo "$f $((e - s))" >>out/concurrent.txt
        done
    done
}

case $phase in
    single) single "$@" ;;
    concurrent) concurrent "$@" ;;
    batch) workload sleepy && key=$3 && batch "$1" "$2" ;;
    *) exit 2 ;;
esac
