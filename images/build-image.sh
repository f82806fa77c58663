#!/bin/sh
# Build a small SquashFS image from Debian's busybox-static, offline.
#
#   images/build-image.sh [OPTIONS] OUT.sqfs
#     --comp gzip|xz|lz4|zstd|lzo|none   compression (default: zstd)
#     --probe FILE                  add the static test helper as /usr/bin/hr-probe
#     --config FILE                 add FILE as /.hpcrun/config.json
#     --hostile                     add the traps the safety tests need (symlinks
#                                   that point out of the image, a setuid probe)
#     --bare                        only /bin (busybox) and the probe: no /etc,
#                                   /dev, /proc, /tmp or any other mount point
#     --xattr                       give /etc/hpcrun-demo the xattr user.hpcrun=demo
#     --busybox FILE                busybox to use (default: /bin/busybox)
#     --tree DIR                    copy DIR's contents over the tree (extra
#                                   files such as an MPI runtime; see
#                                   build-mpi-image.sh)
#
# The tree has what a launcher expects (dev proc sys tmp home etc/hosts ...)
# and one marker, /etc/hpcrun-demo, that shows a process is inside.
set -eu

comp=zstd probe= config= hostile=0 xattr=0 bare=0 busybox=/bin/busybox extra=
while [ $# -gt 1 ]; do
    case "$1" in
        --comp) comp=$2; shift 2 ;;
        --probe) probe=$2; shift 2 ;;
        --config) config=$2; shift 2 ;;
        --hostile) hostile=1; shift ;;
        --xattr) xattr=1; shift ;;
        --bare) bare=1; shift ;;
        --busybox) busybox=$2; shift 2 ;;
        --tree) extra=$2; shift 2 ;;
        *) echo "build-image.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[ $# -eq 1 ] || { echo "usage: build-image.sh [OPTIONS] OUT.sqfs" >&2; exit 2; }
out=$1
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
out=$(abs "$out")
[ -z "$probe" ] || probe=$(abs "$probe")
[ -z "$config" ] || config=$(abs "$config")
[ -z "$extra" ] || extra=$(abs "$extra")
mksquashfs=$(command -v mksquashfs || echo /usr/bin/mksquashfs)
[ -x "$mksquashfs" ] || { echo "build-image.sh: mksquashfs not found (apt-get install squashfs-tools)" >&2; exit 1; }
[ -x "$busybox" ] || { echo "build-image.sh: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }

tree=$(mktemp -d "${TMPDIR:-/tmp}/hpcrun-image.XXXXXX")
trap 'rm -rf "$tree"' EXIT
trap 'exit 130' INT TERM # exit, so the EXIT trap cleans up and nothing runs on
chmod 0755 "$tree"
cd "$tree"
mkdir -p bin sbin usr/bin usr/sbin etc dev proc sys tmp home root mnt opt \
         var/tmp run .hpcrun
chmod 1777 tmp var/tmp
chmod 0700 root
cp "$busybox" bin/busybox
# One symlink per applet, where busybox would install it.
"$busybox" --list-full | while read -r applet; do
    [ -e "$applet" ] || [ "$applet" = bin/busybox ] || ln -s /bin/busybox "$applet"
done
cat > etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > etc/group <<'G'
root:x:0:
nogroup:x:65534:
G
: > etc/hosts
: > etc/resolv.conf
cat > etc/os-release <<'O'
NAME="hpcrun demo"
PRETTY_NAME="hpcrun demo image (busybox)"
ID=hpcrun-demo
O
echo "inside the hpcrun demo image" > etc/hpcrun-demo
[ "$xattr" = 0 ] || setfattr -n user.hpcrun -v demo etc/hpcrun-demo
[ -z "$probe" ] || install -m 0755 "$probe" usr/bin/hr-probe
[ -z "$config" ] || install -m 0644 "$config" .hpcrun/config.json
if [ "$hostile" = 1 ]; then
    ln -s /etc mnt/abs-etc                 # absolute link to a system dir
    ln -s ../../../../../../etc mnt/up-etc  # relative link climbing past /
    ln -s /nonexistent/deep mnt/dangling   # dangling link
    mkdir -p opt/secret && chmod 0700 opt/secret
    echo secret > opt/secret/file
    [ -z "$probe" ] || install -m 4755 "$probe" usr/bin/hr-probe-suid
fi
# after busybox, so that a real program in the extra tree replaces an applet link
[ -z "$extra" ] || cp -a "$extra/." .
if [ "$bare" = 1 ]; then
    find . -mindepth 1 -maxdepth 1 ! -name bin ! -name usr -exec rm -rf {} +
    rm -rf usr/sbin
fi
cd /
rm -f "$out"
if [ "$comp" = none ]; then
    set -- -noI -noD -noF -noX
else
    set -- -comp "$comp"
fi
"$mksquashfs" "$tree" "$out" "$@" -all-root -noappend -quiet -no-progress >/dev/null
chmod 0644 "$out"
