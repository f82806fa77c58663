#!/bin/bash
# Real-image benchmark: hpcrun against Charliecloud's ch-run on the same
# SquashFS image and against ch-run on the unpacked directory (the floor),
# paired in one run, on Debian 12 with python3 and numpy
# (bench/make-realimage.sh).
#
#   bench/realimage.sh [-n ROUNDS] [-c CONC] [-b OLD_HPCRUN] [-w WORKDIR] [-o REPORT.md] [-q]
#
# Workloads, each launched as `hpcrun real.sqfs CMD`, `ch-run real.sqfs --
# CMD` and `ch-run rootfs -- CMD`: /bin/true, python3 -c pass, import numpy,
# an lstat storm (find over /usr /etc /var), reading a 512 MiB file; then CONC
# (64) python3 -c pass at once, with and without --join; then the page cache
# that 16 numpy containers add, and the RSS of hpcrun's FUSE servers.
# hpcrun runs in two modes, reported apart: cold (HPCRUN_LINGER=0, a fresh
# mount every launch) and warm (HPCRUN_LINGER=60 after a priming launch: the
# image's FUSE server lingers and the next launch reuses it). The cold
# phases all run first, once no process of the user has the image open, so
# no lingering server can serve them; the server the warm phase leaves is
# ended when the benchmark exits. -b adds another hpcrun binary (an earlier build) to
# the cold rounds. -q is a quick smoke run (few rounds). As root, the
# benchmark runs as the unprivileged user hpcrun-test (created if missing)
# and drops the page cache before each memory batch; it builds the image in
# WORKDIR (default /var/tmp/hpcbench-realimage) if it is not there.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
rounds=21 conc=64 conc_rounds=7 mem=16 mem_rounds=5 baseline='' quick='' rounds_given=''
work=/var/tmp/hpcbench-realimage report=$here/results/realimage.md
while getopts n:c:b:w:o:q o; do
    case $o in
        n) rounds=$OPTARG rounds_given=1 ;; c) conc=$OPTARG ;; b) baseline=$OPTARG ;; w) work=$OPTARG ;;
        o) report=$OPTARG ;; q) quick=1 ;;
        *) exit 2 ;;
    esac
done
if [ -n "$quick" ]; then
    [ -n "$rounds_given" ] || rounds=3
    conc_rounds=2 mem_rounds=1
fi
[ -x "$top/src/hpcrun" ] || { echo "bench: build first (make)" >&2; exit 1; }
command -v ch-run >/dev/null || { echo "bench: ch-run missing (apt-get install charliecloud-runtime)" >&2; exit 1; }
if [ ! -f "$work/real.sqfs" ] || [ ! -f "$work/rootfs.done" ]; then
    [ "$(id -u)" = 0 ] || { echo "bench: no image in $work: run bench/make-realimage.sh $work as root" >&2; exit 1; }
    "$here/make-realimage.sh" "$work"
fi
[ -z "$baseline" ] || [ -x "$baseline" ] || { echo "bench: -b $baseline: not an executable" >&2; exit 1; }

bin=$(mktemp -d /tmp/hpcrun-realbench.XXXXXX)
chmod 0755 "$bin"
cp "$top/src/hpcrun" "$here/realimage-timing.sh" "$bin/"
[ -z "$baseline" ] || cp "$baseline" "$bin/hpcrun-baseline"
mkdir -m 1777 "$bin/out"
out=$bin/out

if [ "$(id -u)" = 0 ]; then
    user=hpcrun-test
    id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
    [ "$(stat -c %a /dev/fuse)" = 666 ] || chmod 0666 /dev/fuse
    runas() { setpriv --reuid="$user" --regid="$user" --init-groups \
        env -i HOME="/home/$user" USER="$user" PATH=/usr/bin:/bin "$@"; }
else
    user=$(id -un)
    runas() { "$@"; }
fi
timing() { (cd "$bin" && runas bash ./realimage-timing.sh "$work" "$@"); }
# fuse_servers: how many hpcrun-fuse processes of the user serve this image,
# and the sum of their RSS in KiB.
fuse_servers() {
    ps -u "$user" -o comm=,rss=,args= |
        awk -v img="$work/real.sqfs" '$1 == "hpcrun-fuse" && index($0, img) {n++; s += $2} END {print n + 0, s + 0}'
}
# stop_servers: the warm launches leave a server lingering for 60 s; end it
# so that the next user of the machine finds none (the integration tests
# count the test user's). By PID, as only the benchmark runs this image; with
# SIGKILL, as a server ignores SIGTERM (it outlives the signals sent to its
# application), and a lingering one has no application to lose.
server_pids() {
    ps -u "$user" -o pid=,comm=,args= | awk -v img="$work/real.sqfs" '$2 == "hpcrun-fuse" && index($0, img) {print $1}'
}
stop_servers() {
    local pids t
    pids=$(server_pids)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086 # a list of PIDs
    kill -KILL $pids 2>/dev/null || true
    for ((t = 0; t < 30; t++)); do
        [ -n "$(server_pids)" ] || return 0
        sleep 0.1
    done
}
trap 'stop_servers; rm -rf "$bin"' EXIT
trap 'exit 130' INT TERM
has_linger=
! "$top/src/hpcrun" --help | grep -q -- --linger || has_linger=1
started=$(date +%s) load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# A server left lingering (by an earlier run's warm phase) would serve the
# cold launches: wait until no process of the user has this image on its
# command line (a server keeps its hpcrun's; other users of hpcrun-test run
# other images).
no_servers() {
    local t
    for ((t = 0; t < 120; t++)); do
        pgrep -u "$user" -f -- "$work/real.sqfs" >/dev/null || return 0
        sleep 1
    done
    echo "bench: warning: processes of $user still run $work/real.sqfs after 120 s" >&2
    echo "processes of $user on real.sqfs were still running when the cold phase began." >>"$out/warnings.txt"
}
no_servers
echo "bench: cold, $rounds rounds" >&2
timing single cold "$rounds"
echo "bench: $conc concurrent, $conc_rounds rounds" >&2
timing concurrent "$conc" "$conc_rounds"

# ---- memory: page cache and FUSE servers around a batch ------------------------
kib_cached() { awk '/^(Cached|Buffers):/ {s += $2} END {print s}' /proc/meminfo; }
# mem_batch LAUNCHER ROUND: one batch of $mem numpy containers; records the
# largest growth of Cached+Buffers over its value before the batch, the
# largest number of hpcrun-fuse processes on this image and the largest sum
# of their RSS, sampled every 0.1 s, and the batch's wall time.
mem_batch() {
    local f=$1 before peak=0 fuse_n=0 fuse_rss=0 c n r s pid
    if [ "$(id -u)" = 0 ]; then
        sync
        echo 3 >/proc/sys/vm/drop_caches
    fi
    before=$(kib_cached)
    s=${EPOCHREALTIME/./}
    timing batch "$f" "$mem" "realimage-mem-$$-$2" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        c=$(kib_cached)
        read -r n r < <(fuse_servers)
        [ "$c" -le "$peak" ] || peak=$c
        [ "$n" -le "$fuse_n" ] || fuse_n=$n
        [ "$r" -le "$fuse_rss" ] || fuse_rss=$r
        sleep 0.1
    done
    wait "$pid" || exit 1
    echo "$f $((peak - before)) $fuse_n $fuse_rss $((${EPOCHREALTIME/./} - s))" >>"$out/memory.txt"
}
echo "bench: memory, $mem numpy containers, $mem_rounds rounds" >&2
mem_names=(dir chsq hpcj hpc)
for ((i = 0; i < mem_rounds; i++)); do
    for ((k = 0; k < ${#mem_names[@]}; k++)); do
        mem_batch "${mem_names[$(((i + k) % ${#mem_names[@]}))]}" "$i"
    done
done

echo "bench: warm, $rounds rounds" >&2
timing single warm "$rounds"
# One server left means the warm launches reused it rather than each leaving
# its own.
servers_left=$(fuse_servers | cut -d' ' -f1)
stop_servers
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ----------------------------------------------------------------------
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ms() { awk -v us="$1" 'BEGIN {printf "%.1f", us/1000}'; }
mib() { awk -v kib="$1" 'BEGIN {printf "%.0f", kib/1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else printf "n/a"}'; }
# med FILE COLUMN KEY...: the median of COLUMN over the lines whose first
# fields are KEY...
med() {
    local file=$1 col=$2
    shift 2
    awk -v k="$*" -v c="$col" -v n=$# '{l = $1; for (i = 2; i <= n; i++) l = l " " $i} l == k {print $c}' "$out/$file" | median
}
met() { awk -v r="$1" -v b="$2" 'BEGIN {print (r != "n/a" && r <= b) ? "met" : "**not met**"}'; }
label() {
    case $1 in
        true) echo "\`/bin/true\`" ;; pass) echo "\`python3 -c pass\`" ;;
        numpy) echo "\`python3 -c 'import numpy'\`" ;;
        find) printf '%s\n' "lstat storm: \`find /usr /etc /var -printf '%s\\n'\`" ;;
        cat) echo "read 512 MiB: \`cat /data/big\`" ;;
    esac
}
who() {
    case $1 in
        dir) echo "\`ch-run rootfs --\` (directory, the floor)" ;;
        chsq) echo "\`ch-run real.sqfs --\`" ;;
        cold) echo "**\`hpcrun real.sqfs\`, cold**" ;;
        warm) echo "**\`hpcrun real.sqfs\`, warm**" ;;
        base) echo "\`hpcrun\` baseline ($(basename "$baseline"), -b), cold" ;;
        hpcj) echo "**\`hpcrun --join=KEY real.sqfs\`** (one container)" ;;
        hpc) echo "**\`hpcrun --no-join real.sqfs\`**" ;;
    esac
}
# vs MODE WORKLOAD LAUNCHER OTHER: LAUNCHER's median over OTHER's, same rounds
vs() { ratio "$(med "single-$1.txt" 3 "$2" "$3")" "$(med "single-$1.txt" 3 "$2" "$4")"; }
target() { # DESCRIPTION RATIO BOUND
    echo "| $1 | $2 | ≤ $3 | $(met "$2" "$3") |"
}
table_row() { # FILE COL KEY LAUNCHER: a row with the ratios to dir and chsq
    local m d c
    m=$(med "$1" "$2" ${3:+"$3"} "$4") d=$(med "$1" "$2" ${3:+"$3"} dir) c=$(med "$1" "$2" ${3:+"$3"} chsq)
    echo "| $(who "$4") | $(ms "$m") | $(ratio "$m" "$d") | $(ratio "$m" "$c") |"
}
sqfs_bytes=$(stat -c %s "$work/real.sqfs")
mkdir -p "$(dirname "$report")"
{
    echo "# Real image: hpcrun vs. ch-run on the SquashFS vs. ch-run on the directory"
    echo
    if [ -n "$quick" ]; then
        echo "**A quick run (\`-q\`): $rounds rounds, $conc_rounds of the concurrent batch, $mem_rounds of the"
        echo "memory batch. It checks that the benchmark works; with so few rounds its numbers"
        echo "are not a measurement.**"
        echo
    fi
    echo "Generated by \`bench/realimage.sh\` on $(date -u +%Y-%m-%d) in $((($(date +%s) - started) / 60)) min,"
    echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r), load average $load_start at the start, $load_end at the end;"
    echo "hpcrun $("$top/src/hpcrun" --version | head -1 | cut -d' ' -f2), ch-run $(USER=${USER:-bench} ch-run --version 2>&1 | head -1), $(mksquashfs -version 2>&1 | head -1 | cut -d' ' -f1-3)."
    echo "Image: \`bench/make-realimage.sh\`: Debian 12 minbase with python3 $(dpkg-query --admindir="$work/rootfs/var/lib/dpkg" -W -f '${Version}' python3)"
    echo "and python3-numpy $(dpkg-query --admindir="$work/rootfs/var/lib/dpkg" -W -f '${Version}' python3-numpy), plus 512 MiB of incompressible data at /data/big:"
    echo "\`real.sqfs\` $((sqfs_bytes / 1048576)) MiB (zstd, mksquashfs's default level, 128 KiB blocks, $(unsquashfs -s "$work/real.sqfs" | awk '/Number of inodes/ {print $4}') inodes),"
    echo "the directory $(du -sm "$work/rootfs" | cut -f1) MiB. Run as $user."
    if [ -n "$has_linger" ]; then
        echo "Warm: this hpcrun knows \`--linger\`; HPCRUN_LINGER=60 after a priming launch;"
        echo "after the warm rounds, $servers_left \`hpcrun-fuse\` process(es) served the image (1: the warm"
        echo "launches reused one server)."
    else
        echo "**Warm = cold for this build**: its \`hpcrun --help\` does not mention \`--linger\`, so"
        echo "HPCRUN_LINGER=60 changes nothing and the warm rows measure cold launches again."
    fi
    [ ! -f "$out/warnings.txt" ] || sed 's/^/**Warning:** /' "$out/warnings.txt"
    echo
    echo "## Targets"
    echo
    echo "Ratios of medians from the same paired rounds; \"dir\" is \`ch-run rootfs\`."
    echo
    echo "| target | measured | bound | |"
    echo "| --- | ---: | ---: | --- |"
    target "cold: \`import numpy\`, hpcrun / dir" "$(vs cold numpy cold dir)" 1.5
    target "cold: \`python3 -c pass\`, hpcrun / dir" "$(vs cold pass cold dir)" 1.5
    target "cold: lstat storm, hpcrun / dir" "$(vs cold find cold dir)" 2
    target "cold: \`/bin/true\`, hpcrun / ch-run real.sqfs" "$(vs cold true cold chsq)" 0.5
    target "warm: \`import numpy\`, hpcrun / dir" "$(vs warm numpy warm dir)" 1.15
    target "warm: \`python3 -c pass\`, hpcrun / dir" "$(vs warm pass warm dir)" 1.15
    target "$conc concurrent \`python3 -c pass\`, hpcrun --join / dir" "$(ratio "$(med concurrent.txt 2 hpcj)" "$(med concurrent.txt 2 dir)")" 1.2
    target "$conc concurrent \`python3 -c pass\`, hpcrun without --join / dir" "$(ratio "$(med concurrent.txt 2 hpc)" "$(med concurrent.txt 2 dir)")" 2
    target "page cache of $mem \`import numpy\`, hpcrun --join / dir" "$(ratio "$(med memory.txt 2 hpcj)" "$(med memory.txt 2 dir)")" 1.2
    target "page cache of $mem \`import numpy\`, hpcrun without --join / dir" "$(ratio "$(med memory.txt 2 hpc)" "$(med memory.txt 2 dir)")" 1.2
    echo
    for w in true pass numpy find cat; do
        echo "## $(label $w)"
        echo
        echo "Median wall time of one launch, $rounds paired rounds per mode."
        echo
        echo "| launcher | median ms | vs. dir | vs. ch-run real.sqfs |"
        echo "| --- | ---: | ---: | ---: |"
        for f in dir chsq cold; do table_row single-cold.txt 3 $w $f; done
        [ -z "$baseline" ] || table_row single-cold.txt 3 $w base
        echo "| *warm rounds:* | | | |"
        for f in dir chsq warm; do table_row single-warm.txt 3 $w $f; done
        if [ -n "$baseline" ]; then
            echo
            echo "This build against the baseline, cold, paired: **$(vs cold $w cold base)×** the baseline's median."
        fi
        echo
    done
    echo "## $conc concurrent \`python3 -c pass\`, cold"
    echo
    echo "Median wall time of the batch, $conc_rounds paired rounds."
    echo
    echo "| launcher | median ms | vs. dir | vs. ch-run real.sqfs |"
    echo "| --- | ---: | ---: | ---: |"
    for f in dir chsq hpcj hpc; do table_row concurrent.txt 2 "" $f; done
    echo
    echo "## Memory: $mem concurrent \`python3 -c 'import numpy, time; time.sleep(2)'\`, cold"
    echo
    echo "Medians of $mem_rounds paired rounds. *Page cache added*: the largest value of"
    echo "Cached + Buffers (/proc/meminfo) sampled every 0.1 s while the batch runs, less"
    if [ "$(id -u)" = 0 ]; then
        echo "its value just after \`echo 3 >/proc/sys/vm/drop_caches\` before the batch."
    else
        echo "its value before the batch (not run as root: the page cache was not dropped, so"
        echo "what was cached already does not count)."
    fi
    echo "*FUSE servers*: the most \`hpcrun-fuse\` processes of $user on real.sqfs seen at"
    echo "once, and the largest sum of their RSS."
    echo
    echo "| launcher | page cache added, MiB | vs. dir | vs. ch-run real.sqfs | FUSE servers | their RSS, MiB | batch wall s |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for f in dir chsq hpcj hpc; do
        m=$(med memory.txt 2 $f) servers="– | –"
        case $f in hpc*) servers="$(med memory.txt 3 $f) | $(mib "$(med memory.txt 4 $f)")" ;; esac
        echo "| $(who $f) | $(mib "$m") | $(ratio "$m" "$(med memory.txt 2 dir)") | $(ratio "$m" "$(med memory.txt 2 chsq)") |" \
            "$servers | $(awk -v us="$(med memory.txt 5 $f)" 'BEGIN {printf "%.1f", us/1e6}') |"
    done
    echo
    cat "$here/realimage-notes.md"
} >"$report.tmp"
mv "$report.tmp" "$report"
cat "$report"
