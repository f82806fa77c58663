#!/bin/sh
# Build a busybox-based SquashFS image with an MPI inside, offline: the
# host's Open MPI or MPICH runtime (libraries, their plugins, data files and
# the closure of their shared libraries from ldd) and the mpi-examples
# programs compiled against it.
#
#   images/build-mpi-image.sh [--comp ALG] openmpi|mpich OUT.sqfs
#
# Needs the Debian packages openmpi-bin libopenmpi-dev (openmpi) or mpich
# libmpich-dev (mpich). The programs land in /usr/bin: mpi_hello,
# mpi_pingpong, mpi_allreduce. The image's MPI talks to Slurm itself: Open
# MPI through PMIx (srun --mpi=pmix), MPICH through PMI-2 (srun --mpi=pmi2).
set -eu

comp=zstd
while [ $# -gt 2 ]; do
    case "$1" in
        --comp) comp=$2; shift 2 ;;
        *) echo "build-mpi-image.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[ $# -eq 2 ] || { echo "usage: build-mpi-image.sh [--comp ALG] openmpi|mpich OUT.sqfs" >&2; exit 2; }
mpi=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
lib=/usr/lib/$multiarch

# What each MPI needs at run time besides the libraries ldd names: the
# directories of the plugins it dlopens and its data files.
case "$mpi" in
    openmpi)
        mpicc=mpicc.openmpi
        dirs="$lib/openmpi/lib $lib/pmix2/lib /etc/openmpi /usr/share/openmpi"
        files=
        pkgs="openmpi-bin libopenmpi-dev"
        ;;
    mpich)
        mpicc=mpicc.mpich
        dirs="$lib/ucx"
        files=
        pkgs="mpich libmpich-dev"
        ;;
    *) echo "build-mpi-image.sh: MPI must be openmpi or mpich, not '$mpi'" >&2; exit 2 ;;
esac
command -v "$mpicc" >/dev/null ||
    { echo "build-mpi-image.sh: $mpicc not found (apt-get install $pkgs)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/hpcrun-mpi-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM # exit, so the EXIT trap cleans up and nothing runs on
tree=$work/tree
mkdir -p "$tree/usr/bin" "$tree/usr/lib64" "$tree/etc"
# merged /usr, as on the host: binaries name /lib64/ld-linux-x86-64.so.2
ln -s usr/lib "$tree/lib"
ln -s usr/lib64 "$tree/lib64"

make -s -C "$top/mpi-examples" MPICC="$mpicc" OUT="$tree/usr/bin" >&2

# Copy a host file to the same (canonical) path in the tree, and the
# symlink it was reached through, if any.
copy_file() {
    real=$(readlink -f "$1")
    [ -e "$tree$real" ] || tar -C / -cf - "${real#/}" | tar -C "$tree" -xf -
    case "$1" in
        /lib/* | /lib64/*) link=/usr$1 ;;
        *) link=$1 ;;
    esac
    if [ "$link" != "$real" ] && [ ! -e "$tree$link" ] && [ ! -L "$tree$link" ]; then
        mkdir -p "$tree$(dirname "$link")"
        ln -s "$real" "$tree$link"
    fi
}

for d in $dirs; do
    [ -e "$d" ] || { echo "build-mpi-image.sh: $d missing (apt-get install $pkgs)" >&2; exit 1; }
    # (tar, not "cp -a --parents", which fails on some coreutils versions)
    tar -C / -cf - "${d#/}" | tar -C "$tree" -xf -
done
for f in $files; do
    [ -e "$f" ] || { echo "build-mpi-image.sh: $f missing (apt-get install $pkgs)" >&2; exit 1; }
    copy_file "$f"
done
# Every ELF file in the tree, and what they need, until nothing new appears.
: >"$work/seen"
while :; do
    find "$tree" -type f \( -name '*.so*' -o -perm -u+x \) >"$work/elves"
    new=0
    while read -r f; do
        grep -qxF "$f" "$work/seen" && continue
        echo "$f" >>"$work/seen"
        ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' |
            while read -r so; do copy_file "$so"; done
        new=1
    done <"$work/elves"
    [ "$new" = 1 ] || break
done
[ -e "$tree/lib64/ld-linux-x86-64.so.2" ] || copy_file /lib64/ld-linux-x86-64.so.2
# the loader's cache, for the tree's own library directories
printf '%s\n' "$lib" /usr/local/lib >"$tree/etc/ld.so.conf"
ldconfig -r "$tree"
"$here/build-image.sh" --comp "$comp" --tree "$tree" "$out"
