#!/bin/bash
# Conversion benchmark: hpcimg convert against umoci unpack + mksquashfs on a
# realistic image (bench/make-debian-layout.sh: Debian 12 minbase + python3 +
# build-essential, four gzip layers, whiteouts), in one run, with wall time,
# CPU time and peak memory (GNU time), and the launch and read speed of the
# results through hpcrun.
#
#   bench/convert.sh [-w WORKDIR] [-o REPORT.md] [-l "LEVELS"]   (as root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
work=/var/tmp/hpcbench report=$here/results/convert.md levels="1 3 6 9"
while getopts w:o:l: o; do
    case $o in w) work=$OPTARG ;; o) report=$OPTARG ;; l) levels=$OPTARG ;; *) exit 2 ;; esac
done
for t in umoci mksquashfs unsquashfs /usr/bin/time docker-registry skopeo curl python3; do
    command -v "$t" >/dev/null || { echo "bench: $t missing (setup.sh installs it)" >&2; exit 1; }
done
[ -x "$top/src/hpcimg" ] || { echo "bench: build first (make)" >&2; exit 1; }
[ -f "$work/layout/index.json" ] || "$here/make-debian-layout.sh" "$work"
out=$work/out
rm -rf "$out" && mkdir -p "$out" && chmod 0755 "$work" "$out"
results=$out/results.txt
: > "$results"

# run NAME CMD...: one measured run; records wall, user+sys CPU, peak RSS (KiB)
run() {
    local name=$1
    shift
    sync
    echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    /usr/bin/time -o "$out/time.txt" -f "%e %U %S %M" "$@" >/dev/null 2>"$out/err.txt" ||
        { echo "bench: $name failed: $(tail -3 "$out/err.txt")" >&2; exit 1; }
    read -r wall user sys rss < "$out/time.txt"
    echo "$name $wall $(echo "$user + $sys" | bc) $rss" >> "$results"
    echo "  $name: ${wall}s wall, $(echo "$user + $sys" | bc)s CPU, $((rss / 1024)) MiB" >&2
}
size_of() { stat -c %s "$1"; }

echo "bench: baseline umoci unpack + mksquashfs (zstd, its default level 15)" >&2
rm -rf "$out/bundle"
run umoci umoci unpack --rootless --image "$work/layout:latest" "$out/bundle"
run mksquashfs15 mksquashfs "$out/bundle/rootfs" "$out/mksquashfs15.sqfs" -comp zstd -noappend -quiet -no-progress
echo "bench: hpcimg at the same settings" >&2
run hpcimg15 "$top/src/hpcimg" -q --comp zstd:15 convert "oci:$work/layout:latest" "$out/hpcimg15.sqfs"
# each level's pair in turn: mksquashfs first at the first level, hpcimg at
# the next, and so on (each conversion runs once, the page cache dropped)
first=mksquashfs
for l in $levels; do
    for tool in $first $([ "$first" = mksquashfs ] && echo hpcimg || echo mksquashfs); do
        if [ "$tool" = mksquashfs ]; then
            run "mksquashfs$l" mksquashfs "$out/bundle/rootfs" "$out/mksquashfs$l.sqfs" -comp zstd -Xcompression-level "$l" -noappend -quiet -no-progress
        else
            run "hpcimg$l" "$top/src/hpcimg" -q --comp "zstd:$l" convert "oci:$work/layout:latest" "$out/hpcimg$l.sqfs"
        fi
    done
    first=$([ "$first" = mksquashfs ] && echo hpcimg || echo mksquashfs)
done
run hpcimg-default "$top/src/hpcimg" -q convert "oci:$work/layout:latest" "$out/hpcimg-default.sqfs"
rm -rf "$out/bundle"

# ---- pull end to end from a registry on the loopback --------------------------
echo "bench: pull from docker-registry on 127.0.0.1" >&2
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$out/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $out/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$out/registry.yml" > "$out/registry.log" 2>&1 &
registry_pid=$!
trap 'kill "$registry_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
ref=127.0.0.1:$port/bench/debian:latest
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:latest" "docker://$ref"
run pull-hpcimg env XDG_CACHE_HOME="$out/cache" "$top/src/hpcimg" -q --insecure pull "docker://$ref" -o "$out/pulled-hpcimg.sqfs"
run pull-skopeo skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$out/skopeo:latest"
run pull-umoci umoci unpack --rootless --image "$out/skopeo:latest" "$out/bundle"
run pull-mksquashfs15 mksquashfs "$out/bundle/rootfs" "$out/pulled-mksquashfs15.sqfs" -comp zstd -noappend -quiet -no-progress
run pull-mksquashfs6 mksquashfs "$out/bundle/rootfs" "$out/pulled-mksquashfs6.sqfs" -comp zstd -Xcompression-level 6 -noappend -quiet -no-progress
kill "$registry_pid" 2>/dev/null || true
rm -rf "$out/bundle" "$out/skopeo" "$out/registry" "$out/cache" "$out"/pulled-*.sqfs

# Launch and read speed through hpcrun (page cache of the image file warm):
# python3 start-up, and reading every file under /usr.
id hpcrun-test >/dev/null 2>&1 || useradd --create-home --shell /bin/sh hpcrun-test
[ "$(stat -c %a /dev/fuse)" = 666 ] || chmod 0666 /dev/fuse
cp "$top/src/hpcrun" "$out/hpcrun"
chmod -R a+rX "$out"
as_user() { (cd / && setpriv --reuid=hpcrun-test --regid=hpcrun-test --init-groups env -i HOME=/home/hpcrun-test PATH=/usr/bin:/bin "$@"); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
timed() { local s=${EPOCHREALTIME/./}; "$@" >/dev/null 2>&1; local e=${EPOCHREALTIME/./}; echo $((e - s)); }
# Rounds over all the images, each once per round, in an order that
# rotates from round to round: 7 of python3 start-up, the first 3 also read
# /usr. The images' files are in the page cache first.
imgs=("$out"/*.sqfs)
for img in "${imgs[@]}"; do cat "$img" > /dev/null; done
: > "$out/reads.txt"
for ((r = 0; r < 7; r++)); do
    for ((k = 0; k < ${#imgs[@]}; k++)); do
        img=${imgs[(r + k) % ${#imgs[@]}]}
        echo "py $(basename "$img" .sqfs) $(timed as_user "$out/hpcrun" "$img" python3 -c pass)" >> "$out/reads.txt"
        [ "$r" -ge 3 ] ||
            echo "rd $(basename "$img" .sqfs) $(timed as_user "$out/hpcrun" "$img" sh -c 'tar -cf - /usr | wc -c')" >> "$out/reads.txt"
    done
done
for img in "${imgs[@]}"; do
    name=$(basename "$img" .sqfs)
    py=$(awk -v n="$name" '$1 == "py" && $2 == n {print $3}' "$out/reads.txt" | median)
    rd=$(awk -v n="$name" '$1 == "rd" && $2 == n {print $3}' "$out/reads.txt" | median)
    echo "read-$name $py $rd $(size_of "$img")" >> "$results"
    echo "  $name: python3 start ${py}us, read /usr ${rd}us, $(size_of "$img") bytes" >&2
done

# ---- report ----------------------------------------------------------------------
get() { awk -v n="$1" -v f="$2" '$1 == n {print $f}' "$results"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
base_wall=$(echo "$(get umoci 2) + $(get mksquashfs15 2)" | bc)
base_cpu=$(echo "$(get umoci 3) + $(get mksquashfs15 3)" | bc)
base_rss=$(get mksquashfs15 4)
[ "$(get umoci 4)" -gt "$base_rss" ] && base_rss=$(get umoci 4)
base_size=$(get read-mksquashfs15 4)
mkdir -p "$(dirname "$report")"
{
    echo "# Conversion: hpcimg convert vs. umoci unpack + mksquashfs"
    echo
    echo "Generated by \`bench/convert.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB,"
    echo "hpcimg $("$top/src/hpcimg" --version | cut -d' ' -f2), $(umoci --version), $(mksquashfs -version 2>&1 | head -1)."
    echo "Image: \`bench/make-debian-layout.sh\` (Debian 12 minbase + python3 + build-essential),"
    echo "$(du -cm "$work"/layout/blobs/sha256/* | tail -1 | cut -f1) MB of gzip layers ($(for f in "$work"/layers/*.tar.gz; do gzip -dc "$f" | wc -c; done | awk '{s+=$1} END {printf "%d", s/1048576}') MiB of tar), whiteouts in layer 3."
    echo "Each conversion ran once, page cache dropped before it, the two tools of a level in turn (mksquashfs first at"
    echo "the first level, hpcimg at the next): single runs, not medians. Read speeds are medians of rounds over all the"
    echo "images in a rotating order (7 of python3 start-up, 3 of reading /usr)."
    echo
    echo "| conversion | wall s | CPU s | peak MiB | image MiB | vs. umoci+mksquashfs (wall) | size vs. mksquashfs zstd 15 |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    echo "| umoci unpack + mksquashfs, zstd 15 | $base_wall | $base_cpu | $((base_rss / 1024)) | $(mib "$base_size") | 1.00 | 1.000 |"
    for n in hpcimg15 $(for l in $levels; do echo "mksquashfs$l hpcimg$l"; done) hpcimg-default; do
        w=$(get "$n" 2); c=$(get "$n" 3); r=$(get "$n" 4); s=$(get "read-$n" 4)
        case $n in mksquashfs*) w=$(echo "$w + $(get umoci 2)" | bc); c=$(echo "$c + $(get umoci 3)" | bc); label="umoci unpack + mksquashfs, zstd ${n#mksquashfs}" ;;
            hpcimg-default) label="**hpcimg convert, its default**" ;;
            *) label="hpcimg convert, zstd ${n#hpcimg}" ;; esac
        echo "| $label | $w | $c | $((r / 1024)) | $(mib "$s") | $(ratio "$base_wall" "$w")× | $(awk -v a="$s" -v b="$base_size" 'BEGIN {printf "%.3f", a / b}') |"
    done
    echo
    echo "## Pull from a registry on the loopback, end to end"
    echo
    pw=$(echo "$(get pull-skopeo 2) + $(get pull-umoci 2)" | bc)
    pc=$(echo "$(get pull-skopeo 3) + $(get pull-umoci 3)" | bc)
    echo "| pull | wall s | CPU s | peak MiB | vs. skopeo+umoci+mksquashfs zstd 15 (wall) |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    for l in 15 6; do
        w=$(echo "$pw + $(get "pull-mksquashfs$l" 2)" | bc); c=$(echo "$pc + $(get "pull-mksquashfs$l" 3)" | bc)
        [ "$l" = 15 ] && pbase=$w
        r=$(get "pull-mksquashfs$l" 4)
        echo "| skopeo copy + umoci unpack + mksquashfs, zstd $l | $w | $c | $((r / 1024)) | $(ratio "$pbase" "$w")× |"
    done
    echo "| **hpcimg pull** (its default, zstd 6) | $(get pull-hpcimg 2) | $(get pull-hpcimg 3) | $(( $(get pull-hpcimg 4) / 1024 )) | $(ratio "$pbase" "$(get pull-hpcimg 2)")× |"
    echo
    echo "## Reading the results through hpcrun"
    echo
    echo "| image | python3 -c pass, ms | read all of /usr, ms | size MiB |"
    echo "| --- | ---: | ---: | ---: |"
    for f in "$out"/*.sqfs; do
        n=$(basename "$f" .sqfs)
        echo "| $n | $(awk -v u="$(get "read-$n" 2)" 'BEGIN {printf "%.1f", u / 1000}') | $(awk -v u="$(get "read-$n" 3)" 'BEGIN {printf "%.0f", u / 1000}') | $(mib "$(get "read-$n" 4)") |"
    done
    echo
    [ ! -f "$here/convert-notes.md" ] || cat "$here/convert-notes.md"
} > "$report.tmp"
mv "$report.tmp" "$report"
cat "$report"
