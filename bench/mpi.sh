#!/bin/bash
# MPI under a real Slurm (tests/slurm/rig.sh: munged, slurmctld, slurmd n1 and
# n2 on this machine), bare metal against hpcrun, paired in one run:
#  - ping-pong latency and bandwidth between 2 ranks on one node, the same
#    Open MPI binary bare and inside the image (ranks share one container:
#    --join, so shared memory and cross-memory attach work as on bare metal);
#  - start-up of `srun -n 64 -O`: /bin/true bare, in hpcrun (one container per
#    node and step), and in hpcrun --no-join (a container per rank);
#  - the FUSE servers and the page cache each mode adds while a step of 64
#    ranks of mpi_hello runs (each rank holds in MPI, its program and
#    libraries mapped, until all are counted).
# Each round runs every mode once, in an order that rotates from round to
# round, so that drift (a warming cache, another load) falls on all alike.
#
#   bench/mpi.sh [-r ROUNDS] [-o REPORT.md]          (as root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
rounds=7 report=$here/results/mpi.md
while getopts r:o: o; do
    case $o in r) rounds=$OPTARG ;; o) report=$OPTARG ;; *) exit 2 ;; esac
done
[ "$(id -u)" = 0 ] || { echo "bench: run as root (it starts Slurm)" >&2; exit 1; }
[ -x "$top/src/hpcrun" ] || { echo "bench: build first (make)" >&2; exit 1; }

# under /tmp: the rig's TmpFS (where PMIx keeps the job's app directory) must
# be visible in the containers, and hpcrun binds /tmp
work=$(mktemp -d /tmp/hpcrun-mpibench.XXXXXX)
chmod 0755 "$work"
mkdir -p "$work/bin" "$work/spool" && chmod 0755 "$work/spool"
cleanup() { "$top/tests/slurm/rig.sh" stop "$work/rig" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
"$top/tests/slurm/rig.sh" start "$work/rig" "$work/spool" >/dev/null
"$top/images/build-mpi-image.sh" openmpi "$work/ompi.sqfs" >/dev/null 2>&1
unsquashfs -q -n -d "$work/x" "$work/ompi.sqfs" usr/bin/mpi_pingpong >/dev/null
cp "$work/x/usr/bin/mpi_pingpong" "$top/src/hpcrun" "$work/bin/"
chmod -R a+rX "$work"
id hpcrun-test >/dev/null 2>&1 || useradd --create-home --shell /bin/sh hpcrun-test
[ "$(stat -c %a /dev/fuse)" = 666 ] || chmod 0666 /dev/fuse
as_user() {
    (cd / && setpriv --reuid=hpcrun-test --regid=hpcrun-test --init-groups \
        env -i HOME=/home/hpcrun-test PATH=/usr/bin:/bin SLURM_CONF="$work/rig/slurm.conf" "$@")
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# rotated ROUND WORD...: the words, starting at the ROUND-th (mod their number)
rotated() {
    local r=$1
    shift
    local n=$# w=("$@")
    for ((k = 0; k < n; k++)); do echo "${w[(r + k) % n]}"; done
}
out=$work/results.txt
: > "$out"

echo "bench: ping-pong, $rounds rounds" >&2
for ((i = 0; i < rounds; i++)); do
    for mode in $(rotated "$i" bare hpcrun); do
        if [ "$mode" = bare ]; then
            cmd=("$work/bin/mpi_pingpong" 2000)
        else
            cmd=("$work/bin/hpcrun" "$work/ompi.sqfs" mpi_pingpong 2000)
        fi
        as_user timeout 120 srun -N 1 -n 2 --mpi=pmix "${cmd[@]}" > "$work/pp.txt" 2>&1 ||
            { echo "bench: ping-pong ($mode) failed: $(tail -3 "$work/pp.txt")" >&2; exit 1; }
        awk -v m="$mode" '$1 ~ /^[0-9]+$/ {print "pp", m, $1, $2, $3}' "$work/pp.txt" >> "$out"
    done
done

echo "bench: srun -n 64 -O start-up, $rounds rounds" >&2
for ((i = 0; i < rounds; i++)); do
    for mode in $(rotated "$i" bare join nojoin); do
        case $mode in
            bare) cmd=(/bin/true) ;;
            join) cmd=("$work/bin/hpcrun" "$work/ompi.sqfs" /bin/true) ;;
            nojoin) cmd=("$work/bin/hpcrun" --no-join "$work/ompi.sqfs" /bin/true) ;;
        esac
        s=${EPOCHREALTIME/./}
        as_user timeout 120 srun -N 2 -n 64 -O "${cmd[@]}" > "$work/st.txt" 2>&1 ||
            { echo "bench: start-up ($mode) failed: $(tail -3 "$work/st.txt")" >&2; exit 1; }
        e=${EPOCHREALTIME/./}
        echo "start $mode $((e - s))" >> "$out"
    done
done

# FUSE servers and page cache while a step of 64 ranks runs: mpi_hello 64
# HOLD, whose ranks stay in MPI (program and libraries mapped) for HOLD
# seconds once they have all said hello; counted once all 64 have, and the
# step must then end well (world size 64, exit 0). One step per mode.
cached() { awk '/^Cached:/ {print $2}' /proc/meminfo; }
for mode in join nojoin; do
    flag=; [ "$mode" = nojoin ] && flag=--no-join
    sync; echo 3 > /proc/sys/vm/drop_caches
    c0=$(cached)
    as_user timeout 120 srun -N 2 -n 64 -O --mpi=pmix "$work/bin/hpcrun" $flag "$work/ompi.sqfs" \
        mpi_hello 64 15 > "$work/mem.txt" 2>&1 &
    pid=$!
    for ((t = 0; t < 600; t++)); do
        [ "$(grep -c '^hello from rank' "$work/mem.txt")" -lt 64 ] || break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ "$(grep -c '^hello from rank' "$work/mem.txt")" = 64 ] ||
        { echo "bench: mpi_hello 64 ($mode) did not start: $(tail -3 "$work/mem.txt")" >&2; exit 1; }
    servers=$(pgrep -u hpcrun-test -x hpcrun-fuse | while read -r p; do ps -o stat= -p "$p"; done | grep -vc Z || true)
    c1=$(cached)
    wait "$pid" || { echo "bench: mpi_hello 64 ($mode) failed: $(tail -3 "$work/mem.txt")" >&2; exit 1; }
    echo "mem $mode $servers $(( (c1 - c0) / 1024 ))" >> "$out"
done

get() { awk -v k="$1" -v m="$2" -v s="$3" -v f="$4" '$1 == k && $2 == m && $3 == s {print $f}' "$out" | median; }
startup() { awk -v m="$1" '$1 == "start" && $2 == m {print $3}' "$out" | median; }
mkdir -p "$(dirname "$report")"
{
    echo "# MPI under Slurm: bare metal vs. hpcrun"
    echo
    echo "Generated by \`bench/mpi.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, Slurm $(SLURM_CONF="$work/rig/slurm.conf" srun --version | awk '{print $NF}'),"
    echo "Open MPI $(ompi_info --version 2>/dev/null | head -1 | awk '{print $NF}') (the host's, copied into a busybox image by"
    echo "\`images/build-mpi-image.sh\`), \`srun --mpi=pmix\`; two slurmd (n1, n2) on this one machine. $rounds rounds, each"
    echo "running every mode once in an order that rotates from round to round; medians, and ratios of the medians."
    echo "FUSE servers and page cache: counted once, while the 64 ranks of \`mpi_hello 64 15\` all run (after every"
    echo "rank has said hello, before any has finished), the page cache dropped before the step."
    echo
    echo "## Ping-pong, 2 ranks on one node (the same binary)"
    echo
    echo "| bytes | latency bare µs | latency hpcrun µs | ratio | bandwidth bare MB/s | bandwidth hpcrun MB/s | ratio |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for b in 0 8 1024 65536 1048576 4194304; do
        lb=$(get pp bare "$b" 4); lh=$(get pp hpcrun "$b" 4)
        bb=$(get pp bare "$b" 5); bh=$(get pp hpcrun "$b" 5)
        [ -n "$lb" ] || continue
        echo "| $b | $lb | $lh | $(awk -v a="$lh" -v b="$lb" 'BEGIN {printf "%.3f", a / b}') | $bb | $bh | $(awk -v a="$bh" -v b="$bb" 'BEGIN {printf (b > 0 ? "%.3f" : "-"), (b > 0 ? a / b : 0)}') |"
    done
    echo
    echo "## \`srun -n 64 -O\` start-up (two nodes, 32 ranks each)"
    echo
    sb=$(startup bare); sj=$(startup join); sn=$(startup nojoin)
    echo "| command | median ms | extra ms per rank over bare | FUSE servers while running | extra page cache MiB |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    echo "| \`srun -N 2 -n 64 -O /bin/true\` | $(awk -v u="$sb" 'BEGIN {printf "%.0f", u / 1000}') | 0 | 0 | - |"
    echo "| \`srun -N 2 -n 64 -O hpcrun img /bin/true\` (one container per node) | $(awk -v u="$sj" 'BEGIN {printf "%.0f", u / 1000}') | $(awk -v a="$sj" -v b="$sb" 'BEGIN {printf "%.2f", (a - b) / 64000}') | $(awk '$1 == "mem" && $2 == "join" {print $3}' "$out") | $(awk '$1 == "mem" && $2 == "join" {print $4}' "$out") |"
    echo "| \`srun -N 2 -n 64 -O hpcrun --no-join img /bin/true\` (a container per rank) | $(awk -v u="$sn" 'BEGIN {printf "%.0f", u / 1000}') | $(awk -v a="$sn" -v b="$sb" 'BEGIN {printf "%.2f", (a - b) / 64000}') | $(awk '$1 == "mem" && $2 == "nojoin" {print $3}' "$out") | $(awk '$1 == "mem" && $2 == "nojoin" {print $4}' "$out") |"
    echo
    [ ! -f "$here/mpi-notes.md" ] || cat "$here/mpi-notes.md"
} > "$report.tmp"
mv "$report.tmp" "$report"
cat "$report"
