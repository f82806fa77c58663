#!/bin/sh
# Write the seeds of tests/fuzz/corpus/ that come from the build and the
# test data: the generated ones (mkseeds.py), SquashFS images made by
# images/build-image.sh (with a two-line stand-in for busybox, to keep them
# small), the unit tests' fake host (ld.so.cache files, tiny ELF libraries;
# `make check TESTS=` builds it) and the sample site config.
#   tests/fuzz/mkseeds.sh [FAKEHOST]      (from the top of the checkout)
set -eu
fakehost=${1:-tests/unit/fakehost}
c=tests/fuzz/corpus
python3 tests/fuzz/mkseeds.py

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\necho bin/sh; echo usr/bin/env\n' >"$tmp/busybox"
chmod 0755 "$tmp/busybox"
printf '{"config":{"Env":["PATH=/bin","A=b"],"Entrypoint":["/bin/sh"],"Cmd":["-c","x"],"WorkingDir":"/tmp","User":"1:1"}}\n' >"$tmp/config.json"
mkdir -p "$c/image"
images/build-image.sh --comp gzip --busybox "$tmp/busybox" --config "$tmp/config.json" \
    --hostile --xattr "$c/image/gzip-hostile.sqfs"
images/build-image.sh --comp zstd --busybox "$tmp/busybox" --bare "$c/image/zstd-bare.sqfs"
images/build-image.sh --comp none --busybox "$tmp/busybox" "$c/image/uncompressed.sqfs"

mkdir -p "$c/ldcache" "$c/elf"
cp "$fakehost/host/ld.so.cache" "$c/ldcache/host"
cp "$fakehost/host/ld.so.cache.old" "$c/ldcache/old-format"
cp "$fakehost/image/ld.so.cache" "$c/ldcache/image"
cp "$fakehost/host/fake/lib/libfakedep.so.2.0" "$c/elf/libfakedep"
cp "$fakehost/host/fake/mpi/mpich.so" "$c/elf/mpich"
cp "$fakehost/host/fake/lib/libfakecuda.so.1.0" "$c/elf/libfakecuda"
printf '#!/lib/ld-missing/sh -e\n' >"$c/elf/script"
cp etc/hpcrun.conf.sample "$c/config/sample"
