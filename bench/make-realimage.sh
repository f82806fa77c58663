#!/bin/bash
# Build the real image for bench/realimage.sh: Debian 12 minbase with python3
# and numpy (debootstrap, from Debian's repositories), plus 512 MiB of
# incompressible data at /data/big, as
#   WORKDIR/rootfs/    the unpacked tree (what ch-run runs from a directory)
#   WORKDIR/real.sqfs  mksquashfs of it with zstd at mksquashfs's default
#                      level, as a site would make it
#
#   bench/make-realimage.sh WORKDIR       (as root; reuses what exists)
#
# DEBIAN_MIRROR overrides the mirror. DEBOOTSTRAP_ROOT=DIR copies a ready
# debootstrap root of the same suite, variant and packages instead of running
# debootstrap (DIR is only read).
set -euo pipefail
work=$1
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
big_bytes=$((512 * 1024 * 1024))
[ "$(id -u)" = 0 ] || { echo "make-realimage: run as root (debootstrap)" >&2; exit 1; }
mkdir -p "$work"
chmod 0755 "$work"
cd "$work"

# The marker lives beside the tree, not in it, so the image does not carry it.
if [ ! -f rootfs.done ]; then
    rm -rf rootfs rootfs.tmp real.sqfs
    if [ -n "${DEBOOTSTRAP_ROOT:-}" ]; then
        cp -a "$DEBOOTSTRAP_ROOT" rootfs.tmp
    else
        debootstrap --variant=minbase --include=python3,python3-numpy bookworm rootfs.tmp "$mirror" \
            >debootstrap.log 2>&1 || { echo "make-realimage: debootstrap failed, see $work/debootstrap.log" >&2; exit 1; }
        rm -rf rootfs.tmp/var/cache/apt/archives/*.deb rootfs.tmp/var/lib/apt/lists/*
    fi
    [ -d rootfs.tmp/usr/lib/python3/dist-packages/numpy ] ||
        { echo "make-realimage: no numpy in the debootstrap root" >&2; exit 1; }
    mv rootfs.tmp rootfs
    touch rootfs.done
fi

# /data/big: AES-256-CTR of zeros under a fixed key, so every build has the
# same bytes and no compressor can shrink them (mksquashfs stores its blocks
# uncompressed: reading it costs FUSE round trips and copies, no zstd).
if [ "$(stat -c %s rootfs/data/big 2>/dev/null)" != "$big_bytes" ]; then
    rm -f real.sqfs
    mkdir -p rootfs/data && chmod 0755 rootfs/data
    openssl enc -aes-256-ctr -nosalt -K "$(printf '%064d' 0)" -iv "$(printf '%032d' 0)" -in /dev/zero 2>/dev/null |
        head -c "$big_bytes" >rootfs/data/big.tmp || true
    [ "$(stat -c %s rootfs/data/big.tmp)" = "$big_bytes" ] || { echo "make-realimage: openssl failed" >&2; exit 1; }
    chmod 0644 rootfs/data/big.tmp
    mv rootfs/data/big.tmp rootfs/data/big
fi

if [ ! -f real.sqfs ]; then
    mksquashfs rootfs real.sqfs.tmp -comp zstd -noappend -quiet -no-progress >/dev/null
    chmod 0644 real.sqfs.tmp
    mv real.sqfs.tmp real.sqfs
fi
du -sh rootfs real.sqfs | sed 's/^/  /'
