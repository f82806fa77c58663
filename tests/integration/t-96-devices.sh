# Devices and host libraries: stand-in GPU and RDMA device nodes (mknod with
# the real majors, in a private /dev that root mounts in a mount namespace of
# its own, so the host's /dev is never touched), stand-in driver libraries
# with the real sonames in a test ld.so.cache, a saved hwloc topology of a
# 4-GPU node, and hpcrun run as the unprivileged user. The host's own GPU
# and fabric drivers are hidden from the stand-ins (their /proc and /sys
# files too), so the answers are the same on a GPU node; only the last
# checks, of this host as it is, depend on what it has.

DEVW=$WORK/devices
mkdir -p "$DEVW"
# A copy the test user can read wherever the checkout lies (root's 0700 home)
install -m 0644 "$top_srcdir/tests/data/topo/nvidia-a100.xml" "$DEVW/nvidia-a100.xml"
install -m 0644 "$top_srcdir/tests/data/topo/plain.xml" "$DEVW/plain.xml"
TOPO_NV=$DEVW/nvidia-a100.xml

# The private /dev: what a launch needs, plus the stand-ins (none with
# FAKEDEV_NODES=none: a node without GPU or fabric). Runs as root in a new
# mount namespace (unshare -m), then execs the command given. A real
# driver's files that hpcrun reads besides /dev (the NVIDIA driver's minors
# by bus ID, the RDMA devices' names) are covered by empty directories, so
# that a GPU node's own devices are neither found nor mixed with the
# stand-ins.
cat > "$DEVW/fakedev.sh" <<'EOF'
#!/bin/sh
set -e
mount --make-rprivate /
orig=$(mktemp -d /tmp/hpcrun-fakedev.XXXXXX)
mount --bind /dev "$orig"
mount -t tmpfs -o mode=0755 fakedev /dev
for n in null zero full random urandom tty ptmx fuse; do cp -a "$orig/$n" /dev/ ||
    { echo "fakedev: cannot copy /dev/$n" >&2; exit 1; }; done
mkdir -p /dev/pts /dev/shm /dev/infiniband /dev/dri
mount --bind "$orig/pts" /dev/pts
mount --bind "$orig/shm" /dev/shm
umount "$orig" && rmdir "$orig"
chmod "${FAKEDEV_FUSE_MODE:-0666}" /dev/fuse
for d in /proc/driver/nvidia /sys/class/infiniband_verbs; do
    [ ! -d "$d" ] || mount -t tmpfs -o mode=0755,ro hidden "$d"
done
if [ "${FAKEDEV_NODES:-}" != none ]; then
    for i in 0 1 2 3; do mknod -m 0666 /dev/nvidia$i c 195 $i; done
    mknod -m 0666 /dev/nvidiactl c 195 255
    mknod -m 0666 /dev/nvidia-uvm c 511 0
    mknod -m 0666 /dev/nvidia-uvm-tools c 511 1
    mknod -m 0666 /dev/infiniband/uverbs0 c 231 192
    mknod -m 0666 /dev/infiniband/rdma_cm c 10 58
fi
exec "$@"
EOF
chmod 0755 "$DEVW/fakedev.sh"

# as_user, inside the private /dev
dev_user() {
    (cd "$USER_HOME" && timeout -k 5 "$TEST_TIMEOUT" unshare -m "$DEVW/fakedev.sh" \
        setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups \
        env -i HOME="$USER_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" \
        PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb HPCRUN_LINGER=0 \
        HPCRUN_CONFIG="$DEVW/site.conf" ${SANITIZER_ENV:-} ${USER_ENV:-} "$@")
}
dev_hpcrun() { dev_user "$HPCRUN" "$@"; }

# ---- stand-in host driver: libraries with the real sonames, a tool ------------
build_standins() {
    local h=$DEVW/host
    mkdir -p "$h/lib" "$h/old" "$h/bin" "$h/fakelibc" "$h/src"
    cat > "$h/src/dep.c" <<'EOF'
const char *fakedep_name(void) { return "dependency"; }
EOF
    cat > "$h/src/cuda.c" <<'EOF'
#include <stdio.h>
const char *fakedep_name(void);
int cuDriverGetVersion(int *v) { printf("host libcuda stand-in, with its %s\n", fakedep_name()); *v = 12040; return 0; }
EOF
    cat > "$h/src/usecuda.c" <<'EOF'
int cuDriverGetVersion(int *v);
int main(void) { int v = 0; return cuDriverGetVersion(&v) == 0 && v == 12040 ? 0 : 1; }
EOF
    # a libc that defines GLIBC_2.99, to make a library that needs it
    printf 'GLIBC_2.99 { global: newer_than_any; local: *; };\n' > "$h/src/libc.map"
    printf 'int newer_than_any(void) { return 0; }\n' > "$h/src/libc.c"
    printf 'int newer_than_any(void);\nint nvmlInit(void) { return newer_than_any(); }\n' > "$h/src/ml.c"
    gcc -shared -fPIC -Wl,-soname,libfakedep.so.1 -o "$h/lib/libfakedep.so.1" "$h/src/dep.c" &&
        gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$h/lib/libcuda.so.1.550.54" "$h/src/cuda.c" \
            "$h/lib/libfakedep.so.1" &&
        ln -sf libcuda.so.1.550.54 "$h/lib/libcuda.so.1" &&
        gcc -o "$h/src/usecuda" "$h/src/usecuda.c" "$h/lib/libcuda.so.1" -Wl,-rpath-link,"$h/lib" &&
        gcc -shared -fPIC -nostdlib -Wl,-soname,libc.so.6 -Wl,--version-script="$h/src/libc.map" \
            -o "$h/fakelibc/libc.so.6" "$h/src/libc.c" &&
        gcc -shared -fPIC -nostdlib -Wl,-soname,libnvidia-ml.so.1 -o "$h/old/libnvidia-ml.so.1" \
            "$h/src/ml.c" "$h/fakelibc/libc.so.6" &&
        cp "$h/lib/libcuda.so.1.550.54" "$h/old/libcuda.so.1" &&
        cp "$h/lib/libfakedep.so.1" "$h/old/" || return 1
    cp "$PROBE" "$h/bin/nvidia-smi"
    echo "$h/lib" > "$h/ld.so.conf"
    echo "$h/old" > "$h/old.conf"
    ldconfig -X -C "$h/ld.so.cache" -f "$h/ld.so.conf" &&
        ldconfig -X -C "$h/old.cache" -f "$h/old.conf" || return 1
    cat > "$DEVW/site.conf" <<EOF
ld-so-cache = $h/ld.so.cache
host-tool-path = $h/bin
EOF
    sed "s|$h/ld.so.cache|$h/old.cache|" "$DEVW/site.conf" > "$DEVW/site-old.conf"
    # an image with glibc (the host's) and the program that uses libcuda
    local t=$DEVW/tree
    mkdir -p "$t/usr/lib/x86_64-linux-gnu" "$t/lib64" "$t/usr/bin"
    cp -L /lib/x86_64-linux-gnu/libc.so.6 "$t/usr/lib/x86_64-linux-gnu/"
    cp -L /lib64/ld-linux-x86-64.so.2 "$t/lib64/"
    cp "$h/src/usecuda" "$t/usr/bin/"
    build --probe "$PROBE" --tree "$t" "$IMG/glibc.sqfs"
    chmod -R a+rX "$DEVW"
}

if is_rootless; then
    skip "devices: the stand-in device nodes" "$ROOTLESS_WHY (mknod, another user)"
elif ! is_real_root; then
    fail "devices: the stand-in device nodes need root (CI runs the suite as root)"
elif [ ! -f "$TOPO_NV" ]; then
    fail "devices: $TOPO_NV missing"
elif ! build_standins >"$DEVW/build.log" 2>&1; then
    fail "devices: stand-in driver build" "$(tail -5 "$DEVW/build.log")"
else
    G=$IMG/glibc.sqfs
    T="--topology $TOPO_NV"

    # what the job was given decides what exists inside
    check_grep '^/dev/nvidia0 /dev/nvidia1 /dev/nvidia2 /dev/nvidia3 /dev/nvidiactl$' \
        "devices: all 4 GPUs without an allocation" \
        dev_hpcrun $T "$G" sh -c 'echo $(ls /dev/nvidia[0-9]* /dev/nvidiactl)'
    USER_ENV="CUDA_VISIBLE_DEVICES=1,3" check_grep '^/dev/nvidia1 /dev/nvidia3 CVD=0,1$' \
        "devices: CUDA_VISIBLE_DEVICES=1,3 binds nvidia1 and nvidia3 only, renumbered 0,1" \
        dev_hpcrun $T "$G" sh -c 'echo $(ls /dev/nvidia[0-9]*) CVD=$CUDA_VISIBLE_DEVICES'
    USER_ENV="SLURM_STEP_GPUS=2 CUDA_VISIBLE_DEVICES=0" check_grep '^/dev/nvidia2$' \
        "devices: SLURM_STEP_GPUS=2 wins: only nvidia2" \
        dev_hpcrun $T "$G" sh -c 'echo $(ls /dev/nvidia[0-9]*)'
    USER_ENV="CUDA_VISIBLE_DEVICES=0" check_rc 1 \
        "devices: a GPU not allocated is absent (nvidia3 with CUDA_VISIBLE_DEVICES=0)" \
        dev_hpcrun $T "$G" test -e /dev/nvidia3
    check_grep '^none$' "devices: --gpu=none binds no GPU" \
        dev_hpcrun $T --gpu=none "$G" sh -c 'ls /dev/nvidia* 2>/dev/null || echo none'
    check_grep '^/dev/infiniband/rdma_cm /dev/infiniband/uverbs0$' \
        "devices: the mlx5 NIC's uverbs and rdma_cm are bound" \
        dev_hpcrun $T "$G" sh -c 'echo $(ls /dev/infiniband/*)'
    check_grep '^none$' "devices: --fabric=none binds no RDMA device" \
        dev_hpcrun $T --fabric=none "$G" sh -c 'ls /dev/infiniband 2>/dev/null || echo none'
    check_grep 'c 195' "devices: a bound node is the real character device" \
        dev_hpcrun $T "$G" sh -c 'ls -l /dev/nvidia0 | sed "s/^c.* \([0-9]*\), *\([0-9]*\) .*/c \1/"'
    USER_ENV="CUDA_VISIBLE_DEVICES=7" check_grep 'CUDA_VISIBLE_DEVICES.*no GPU bound' \
        "devices: an allocation naming a GPU that is not there: a warning, no GPU (--gpu=auto)" \
        dev_hpcrun $T "$G" sh -c 'ls /dev/nvidia[0-9]* 2>/dev/null; true'
    USER_ENV="CUDA_VISIBLE_DEVICES=7" check_rc "$HR_EXIT_FAIL" \
        "devices: ... and an error with --gpu=nvidia" \
        dev_hpcrun $T --gpu=nvidia "$G" true
    check_rc "$HR_EXIT_FAIL" "devices: --gpu=amd on an NVIDIA node fails" \
        dev_hpcrun $T --gpu=amd "$G" true

    # host libraries: found through the test ld.so.cache, bound under their sonames
    check_grep 'host libcuda stand-in, with its dependency' \
        "hostlibs: a program in the image loads the host's libcuda (and its dependency)" \
        dev_hpcrun $T "$G" usecuda
    check_grep '^/.hpcrun/host/lib:?' "hostlibs: the host library directory is first on LD_LIBRARY_PATH" \
        dev_hpcrun $T "$G" sh -c 'echo $LD_LIBRARY_PATH'
    check_grep '^libcuda.so.1 libfakedep.so.1 $' \
        "hostlibs: the driver and its dependency, not glibc's own libraries" \
        dev_hpcrun $T "$G" sh -c 'cd /.hpcrun/host/lib && ls | grep -E "^(libcuda|libfakedep|libc\.|libm\.|ld-)" | tr "\n" " "'
    check_grep '^/.hpcrun/host/bin/nvidia-smi cwd=' "hostlibs: host tools (nvidia-smi) are on PATH" \
        dev_hpcrun $T "$G" sh -c 'echo $(command -v nvidia-smi) $(nvidia-smi cwd)'
    check_grep 'read-only' "hostlibs: host libraries are read-only inside" \
        dev_hpcrun $T "$G" sh -c 'echo x > /.hpcrun/host/lib/libcuda.so.1 2>&1 || echo read-only'
    check_rc 1 "hostlibs: --gpu=none binds no driver library" \
        dev_hpcrun $T --gpu=none "$G" test -e /.hpcrun/host/lib/libcuda.so.1

    # the glibc check
    swap_site() { cp "$DEVW/$1" "$DEVW/site.conf"; }
    cp "$DEVW/site.conf" "$DEVW/site-new.conf"
    swap_site site-old.conf
    check_grep 'need glibc 2\.99 \(libnvidia-ml\.so\.1\).* has glibc 2\.3[0-9]' \
        "glibc: host libraries newer than the image's glibc are refused, both versions named" \
        dev_hpcrun $T "$G" true
    check_rc 1 "glibc: a refused set is not bound (--gpu=auto still runs)" \
        dev_hpcrun -q $T "$G" test -e /.hpcrun/host/lib/libcuda.so.1
    check_rc "$HR_EXIT_FAIL" "glibc: with --gpu=nvidia the refusal fails the launch" \
        dev_hpcrun $T --gpu=nvidia "$G" true
    # a node whose driver libraries are missing (here: the site names one
    # that is not there): --gpu=auto goes on without, --gpu=nvidia fails
    { cat "$DEVW/site-new.conf"; echo "host-libs-nvidia = libnvidia-absent.so.1"; } > "$DEVW/site.conf"
    check_rc 0 "hostlibs: --gpu=auto without the driver's libraries still runs" \
        dev_hpcrun -q $T "$G" true
    check_rc "$HR_EXIT_FAIL" "hostlibs: --gpu=nvidia without the driver's libraries fails (125)" \
        dev_hpcrun $T --gpu=nvidia "$G" true
    check_grep 'gpu=nvidia: none of the host.s nvidia driver libraries is in .*ld\.so\.cache' \
        "hostlibs: ... saying which cache lacks them" dev_hpcrun $T --gpu=nvidia "$G" true
    swap_site site-new.conf
    check_grep 'has no glibc' "glibc: an image without glibc (static busybox) gets no host libraries" \
        dev_hpcrun $T "$IMG/test.sqfs" true

    # what hpcrun says it does
    USER_ENV="CUDA_VISIBLE_DEVICES=1" check_grep 'not allocated' \
        "--devices: names the GPUs not allocated" dev_hpcrun $T --devices
    check_grep 'hostlib +/.hpcrun/host/lib/libcuda.so.1 <- ' \
        "--devices IMAGE: lists the host libraries it would bind" dev_hpcrun $T --devices "$G"
    check_grep 'mount +bind +/dev/nvidia0 ' "--dry-run: shows the device binds" \
        dev_hpcrun $T --dry-run "$G" true
    check_grep '^device ' "--dry-run: shows what was found" dev_hpcrun $T --dry-run "$G" true

    # doctor
    check_grep 'doctor: 0 problems' "doctor: a working node and image have no problem" \
        dev_user "$HPCRUN" doctor $T "$G"
    check_rc 1 "doctor: exits 1 for a broken image" dev_user "$HPCRUN" doctor "$WORK/config.json"
    export FAKEDEV_FUSE_MODE=0600
    check_grep 'FAIL +/dev/fuse: Permission denied.*fix \(root\): chmod 0666 /dev/fuse' \
        "doctor: an unusable /dev/fuse is a problem, with its fix" dev_user "$HPCRUN" doctor
    check_rc 1 "doctor: exits 1 when /dev/fuse is unusable" dev_user "$HPCRUN" doctor
    unset FAKEDEV_FUSE_MODE
    swap_site site-old.conf
    check_grep 'warn .*need glibc 2\.99' "doctor: reports the glibc mismatch" \
        dev_user "$HPCRUN" doctor $T "$G"
    swap_site site-new.conf

    # a node with no GPU (no device node, a topology without one): nothing
    # is discovered, nothing bound, no cost
    FAKEDEV_NODES=none check_grep '^device +none found' "--devices on a node without GPUs says so" \
        dev_hpcrun --topology "$DEVW/plain.xml" --devices
    FAKEDEV_NODES=none check_grep '^none$' "... and a launch there binds none" \
        dev_hpcrun --topology "$DEVW/plain.xml" "$G" sh -c 'ls /dev/nvidia* /dev/infiniband 2>/dev/null || echo none'
fi

# this host as it is: a node with a GPU or fabric device (the paths
# hr_dev_host_has_any looks at) lists them, one without says none found
host_devs=""
for p in /dev/nvidiactl /dev/nvidia0 /dev/kfd /dev/dri/renderD128 /dev/infiniband /dev/cxi0 /dev/hfi1_0; do
    [ ! -e "$p" ] || host_devs="$host_devs $p"
done
if [ -n "$host_devs" ]; then
    check "--devices on this node (with$host_devs) lists what it found" \
        as_user sh -c "! '$HPCRUN' --devices 2>&1 | grep -q 'none found'"
else
    check_grep '^device +none found' "--devices on this node (no GPU) says so" hpcrun --devices
fi
check_grep 'doctor: 0 problems' "doctor: this node can launch" hpcrun doctor "$IMG/test.sqfs"
# the containers above are gone with their FUSE servers (bounded wait)
check "devices: no FUSE server left" wait_until 50 no_fuse
