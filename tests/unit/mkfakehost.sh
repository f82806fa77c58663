#!/bin/sh
# A fake host and a fake image for the host-library unit tests, built with the
# test build's compiler and cached with the real ldconfig:
#
#   OUT/host/fake/lib/          libfakecuda.so.1 -> libfakedep.so.2 -> libc.so.6;
#                               libfakecuda also needs libm.so.6 and
#                               libfakegone.so.7 (deleted after linking)
#   OUT/host/fake/lib/libibverbs/
#                               libfakeprov-rdmav34.so (a provider plugin, not
#                               in the cache) -> libfakeorigin.so.3 next to it
#   OUT/host/fake/bin/          fake-smi (ELF, -> libfakecuda.so.1), fake-script
#   OUT/host/fake/etc/fake.d/
#   OUT/host/fake/mpi/          MPI look-alikes exporting version strings
#   OUT/host/ld.so.cache{,.compat,.old}   ldconfig's three formats for /fake/lib
#   OUT/image/lib/              libfakedep.so.2 only, and its ld.so.cache
#
# and, outside both caches, a library that defines symbol versions and one
# that needs them, as the host and two images would have them:
#
#   OUT/host/fake/fab/          libfakefab.so.1 defining FAKE_1.0 and
#                               FAKE_PRIVATE_1; libfakemlx.so.1 needing both
#   OUT/image/newer/lib/        libfakefab.so.1 defining FAKE_1.0, FAKE_1.1
#                               and FAKE_PRIVATE_2; libfakemlx.so.1
#   OUT/image/same/lib/         libfakefab.so.1 defining FAKE_1.0 and
#                               FAKE_PRIVATE_0; libfakemlx.so.1
#
# ldconfig runs with -r OUT/host so it reads and writes only below it (also
# its aux cache): it needs no privilege and leaves the real host alone; the
# paths it records are relative to that root (/fake/lib/...).
#
# usage: mkfakehost.sh CC LDCONFIG OUT   (OUT absolute)
set -eu
cc=$1
ldconfig=$2
out=$3

case $out in /*) ;; *) echo "mkfakehost.sh: $out: not an absolute path" >&2; exit 1 ;; esac
if ! test -x "$ldconfig"; then
    echo "mkfakehost.sh: no ldconfig (configure found '$ldconfig')" >&2
    exit 1
fi
rm -rf "$out"
h=$out/host
lib=$h/fake/lib
mkdir -p "$lib/libibverbs" "$h/fake/bin" "$h/fake/etc/fake.d" "$h/fake/mpi" \
    "$h/fake/fab" "$out/image/lib" "$out/image/newer/lib" "$out/image/same/lib" \
    "$out/src"
s=$out/src

cat >"$s/dep.c" <<'EOF'
#define _GNU_SOURCE
#include <stdlib.h>
/* reallocarray: a GLIBC_2.26 version need */
void *fakedep(void *p, size_t n) { return reallocarray(p, n, 8); }
EOF
cat >"$s/gone.c" <<'EOF'
int fakegone(void) { return 7; }
EOF
cat >"$s/cuda.c" <<'EOF'
#include <math.h>
#include <stddef.h>
void *fakedep(void *p, size_t n);
int fakegone(void);
double fakecuda(double x) { return fakedep(NULL, 1) ? cos(x) + fakegone() : 0; }
EOF
cat >"$s/origin.c" <<'EOF'
int fakeorigin(void) { return 3; }
EOF
cat >"$s/prov.c" <<'EOF'
double fakecuda(double x);
int fakeorigin(void);
double fakeprov(void) { return fakecuda(1) + fakeorigin(); }
EOF
cat >"$s/smi.c" <<'EOF'
double fakecuda(double x);
int main(void) { return fakecuda(0) > 0; }
EOF
cat >"$s/mpi.c" <<'EOF'
/* a library's exported version string, as MPICH's MPII_Version_string or
 * Open MPI's ompi_version_string */
const char SYMBOL[] = VERSION;
int MPI_Init(int *argc, char ***argv) { (void)argc; (void)argv; return 0; }
EOF

cat >"$s/fab.c" <<'EOF'
/* a library with a public and a private interface, as rdma-core's
 * libibverbs (IBVERBS_1.x and IBVERBS_PRIVATE_n) */
int fakefab_open(void) { return 1; }
int fakefab_private(void) { return 2; }
#ifdef NEWER
int fakefab_open2(void) { return 3; }
#endif
EOF
cat >"$s/mlx.c" <<'EOF'
/* a library that uses both interfaces, as rdma-core's libmlx5 */
int fakefab_open(void);
int fakefab_private(void);
int fakemlx(void) { return fakefab_open() + fakefab_private(); }
EOF
# fab.c's version script: FAKE_1.0, FAKE_1.1 if asked for (-DNEWER), PRIVATE
fabmap() { # fabmap PRIVATE [1.1]
    echo "FAKE_1.0 { global: fakefab_open; local: *; };"
    if test $# -gt 1; then echo "FAKE_1.1 { global: fakefab_open2; } FAKE_1.0;"; fi
    echo "$1 { global: fakefab_private; };"
}

so() { # so OUTPUT SONAME SOURCE [LINK ARGS...]
    o=$1 soname=$2 src=$3
    shift 3
    if test -n "$soname"; then
        $cc -shared -fPIC -o "$o" -Wl,-soname,"$soname" "$src" "$@"
    else
        $cc -shared -fPIC -o "$o" "$src" "$@"
    fi
}

so "$lib/libfakedep.so.2.0" libfakedep.so.2 "$s/dep.c"
ln -s libfakedep.so.2.0 "$lib/libfakedep.so.2"
so "$lib/libfakegone.so.7" libfakegone.so.7 "$s/gone.c"
so "$lib/libfakecuda.so.1.0" libfakecuda.so.1 "$s/cuda.c" -Wl,--no-as-needed \
    "$lib/libfakedep.so.2.0" "$lib/libfakegone.so.7" -lm
so "$lib/libibverbs/libfakeorigin.so.3" libfakeorigin.so.3 "$s/origin.c"
so "$lib/libibverbs/libfakeprov-rdmav34.so" "" "$s/prov.c" -Wl,--no-as-needed \
    "$lib/libfakecuda.so.1.0" "$lib/libibverbs/libfakeorigin.so.3" -Wl,-rpath-link,"$lib"
$cc -o "$h/fake/bin/fake-smi" "$s/smi.c" -Wl,--no-as-needed "$lib/libfakecuda.so.1.0" \
    -Wl,-rpath-link,"$lib"
rm "$lib/libfakegone.so.7"
printf '#!/bin/sh\necho fake\n' >"$h/fake/bin/fake-script"
chmod 0755 "$h/fake/bin/fake-script"

m=$h/fake/mpi
so "$m/mpich.so" libmpi.so.12 "$s/mpi.c" -DSYMBOL=MPII_Version_string -DVERSION='"4.1.0"'
so "$m/mvapich.so" libmpich.so.12 "$s/mpi.c" -DSYMBOL=MPIR_Version_string \
    -DVERSION='"3.2.1"' -Wl,--hash-style=sysv
so "$m/cray.so" libmpi_cray.so.12 "$s/mpi.c" -DSYMBOL=MPII_Version_string \
    -DVERSION='"8.1.28"'
so "$m/ompi5.so" libmpi.so.40 "$s/mpi.c" -DSYMBOL=ompi_version_string -DVERSION='"5.0.3"'
so "$m/ompi4.so" libmpi.so.40 "$s/mpi.c" -DSYMBOL=ompi_version_string -DVERSION='"4.1.6"' \
    -Wl,--hash-style=sysv
so "$m/ompi110.so" libmpi.so.12 "$s/mpi.c" -DSYMBOL=ompi_version_string \
    -DVERSION='"1.10.7"'
so "$m/other.so" libother.so.1 "$s/mpi.c" -DSYMBOL=other_version -DVERSION='"1.0"'
so "$m/nover.so" libmpi.so.12 "$s/mpi.c" -DSYMBOL=no_version_here -DVERSION='"1"'

fabmap FAKE_PRIVATE_1 >"$s/host.map"
fabmap FAKE_PRIVATE_2 1.1 >"$s/newer.map"
fabmap FAKE_PRIVATE_0 >"$s/same.map"
so "$h/fake/fab/libfakefab.so.1" libfakefab.so.1 "$s/fab.c" -Wl,--version-script="$s/host.map"
so "$out/image/newer/lib/libfakefab.so.1" libfakefab.so.1 "$s/fab.c" -DNEWER \
    -Wl,--version-script="$s/newer.map"
so "$out/image/same/lib/libfakefab.so.1" libfakefab.so.1 "$s/fab.c" \
    -Wl,--version-script="$s/same.map"
so "$h/fake/fab/libfakemlx.so.1" libfakemlx.so.1 "$s/mlx.c" -Wl,--no-as-needed \
    "$h/fake/fab/libfakefab.so.1"
cp "$h/fake/fab/libfakemlx.so.1" "$out/image/newer/lib/"
cp "$h/fake/fab/libfakemlx.so.1" "$out/image/same/lib/"

echo /fake/lib >"$h/ld.so.conf"
for format in new compat old; do
    "$ldconfig" -c "$format" -r "$h" -C /ld.so.cache."$format" -f /ld.so.conf
done
mv "$h/ld.so.cache.new" "$h/ld.so.cache"
test -s "$h/ld.so.cache.old"

cp "$lib/libfakedep.so.2.0" "$out/image/lib/"
echo /lib >"$out/image/ld.so.conf"
"$ldconfig" -r "$out/image" -C /ld.so.cache -f /ld.so.conf
rm -rf "$s"
