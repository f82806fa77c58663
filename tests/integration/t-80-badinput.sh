# Point 9: bad images give one line, exit 125, no hang, nothing left mounted;
# so does a node without a usable /dev/fuse or user namespaces (at the end).

bad_image() {
    local name=$1 pat=$2 out rc lines
    shift 2
    out=$(hpcrun "$@" true 2>&1)
    rc=$?
    lines=$(printf '%s\n' "$out" | wc -l)
    if [ "$rc" = "$HR_EXIT_FAIL" ] && [ "$lines" = 1 ] && printf '%s' "$out" | grep -qE "^hpcrun: .*$pat"; then
        ok "$name"
    else
        fail "$name" "exit $rc, $lines lines: $out"
    fi
}
mkdir -p "$IMG/bad"
: > "$IMG/bad/empty.sqfs"
echo "just some text, not an image" > "$IMG/bad/text.sqfs"
head -c $(( $(stat -c %s "$IMG/test.sqfs") / 2 )) "$IMG/test.sqfs" > "$IMG/bad/truncated.sqfs"
# corrupt the header of the inode table's metadata block that holds the root
# inode: the table starts at the u64 at byte 64 of the superblock, the root
# inode's reference (byte 32) is that block's offset in it << 16 | the offset
# in the block; 0xffff is no valid header (uncompressed, 32767 bytes > 8 KiB)
cp "$IMG/test.sqfs" "$IMG/bad/corrupt-meta.sqfs"
itab=$(od -An -t u8 -j 64 -N 8 "$IMG/test.sqfs" | tr -d ' ')
rootblk=$(( $(od -An -t u8 -j 32 -N 8 "$IMG/test.sqfs" | tr -d ' ') >> 16 ))
printf '\377\377' | dd of="$IMG/bad/corrupt-meta.sqfs" bs=1 seek=$((itab + rootblk)) conv=notrunc status=none
cp "$IMG/test.sqfs" "$IMG/bad/unreadable.sqfs" && chmod 0600 "$IMG/bad/unreadable.sqfs"
is_real_root && chown root "$IMG/bad/unreadable.sqfs"
chmod a+r "$IMG"/bad/*.sqfs 2>/dev/null; chmod 0600 "$IMG/bad/unreadable.sqfs"

bad_image "missing image" "$IMG/bad/none.sqfs: No such file or directory" "$IMG/bad/none.sqfs"
bad_image "a directory" "is a directory" "$IMG/bad"
bad_image "an empty file" "empty file" "$IMG/bad/empty.sqfs"
bad_image "a short non-SquashFS file" "not a SquashFS image \(too small\)" "$IMG/bad/text.sqfs"
# the same 4096 pseudo-random bytes every run (a fixed seed)
python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(80).randbytes(4096))' \
    > "$IMG/bad/random.sqfs" && chmod a+r "$IMG/bad/random.sqfs"
bad_image "a non-SquashFS file" "not a SquashFS image \(bad magic\)" "$IMG/bad/random.sqfs"
bad_image "a truncated image" "truncated" "$IMG/bad/truncated.sqfs"
bad_image "a corrupted inode table (the root's block)" \
    "corrupt-meta.sqfs: corrupted SquashFS image \(cannot read the root directory\)$" "$IMG/bad/corrupt-meta.sqfs"
if is_rootless; then
    skip "an unreadable image" "$ROOTLESS_WHY (a file of another user)"
elif is_real_root; then
    bad_image "an unreadable image" "Permission denied" "$IMG/bad/unreadable.sqfs"
fi
bad_image "an offset past the end" "no SquashFS image at offset" --offset 99999999 "$IMG/test.sqfs"

# Damaged file data (hpcrun(1), EXIT STATUS and DIAGNOSTICS): the image
# opens and the program runs; its reads of a damaged block fail with EIO,
# which it reports with its own status (busybox cat: 1), and a page of a
# mapped file (as a program's own code is) that cannot be read kills it with
# SIGBUS, which the parent sees as hpcrun's (128 + 7). The damage is the
# same every run: the sixth of /opt/data's ten compressed blocks, found with
# rdsquashfs, overwritten with 0xff bytes that no decompressor takes.
rm -rf "$WORK/data-tree" && mkdir -p "$WORK/data-tree/opt"
seq 1 200000 > "$WORK/data-tree/opt/data"
build --probe "$PROBE" --tree "$WORK/data-tree" "$IMG/bad/data.sqfs"
cp "$IMG/bad/data.sqfs" "$IMG/bad/corrupt-data.sqfs"
if ! stat_out=$(rdsquashfs -s /opt/data "$IMG/bad/data.sqfs" 2>&1); then
    fail "damaged file data: rdsquashfs (squashfs-tools-ng) finds the file's blocks" "$stat_out"
else
    at=$(printf '%s\n' "$stat_out" | awk '/^Blocks start:/ { at = $3 }
        /Block #[0-4] size:/ { at += $4 } END { print at }')
    len=$(printf '%s\n' "$stat_out" | awk '/Block #5 size:/ { print $4 }')
    head -c "$len" /dev/zero | tr '\0' '\377' |
        dd of="$IMG/bad/corrupt-data.sqfs" bs=1 seek="$at" conv=notrunc status=none
    chmod a+r "$IMG/bad/data.sqfs" "$IMG/bad/corrupt-data.sqfs"
    check_rc 0 "damaged file data: the undamaged image reads whole" \
        hpcrun "$IMG/bad/data.sqfs" sh -c 'cat /opt/data > /dev/null'
    check_rc 1 "damaged file data: a read of it fails with EIO, the program's status (cat: 1)" \
        hpcrun "$IMG/bad/corrupt-data.sqfs" sh -c 'cat /opt/data > /dev/null'
    check_grep '^cat: read error: Input/output error$' "... which the program reports as an I/O error" \
        hpcrun "$IMG/bad/corrupt-data.sqfs" sh -c 'cat /opt/data > /dev/null'
    check_grep '^1$' "... while the undamaged blocks before it still read" \
        hpcrun "$IMG/bad/corrupt-data.sqfs" head -n 1 /opt/data
    check_rc 135 "damaged file data: a mapped page of it kills the program with SIGBUS (128 + 7)" \
        hpcrun "$IMG/bad/corrupt-data.sqfs" hr-probe mapread /opt/data
    check_grep '^sum=' "... and the undamaged image maps whole" \
        hpcrun "$IMG/bad/data.sqfs" hr-probe mapread /opt/data
fi
wait_until 10 no_fuse && ok "bad input leaves no FUSE server" || fail "bad input leaves no FUSE server" "$(fuse_count)"

# A damaged inode that only the program's launch reads: the image opens, the
# FUSE server answers the exec's lookup of /bin/busybox (all applets link to
# it) with EIO, and that names the image, not the program. The inode table of
# an uncompressed image is plain: busybox's inode is the basic file inode
# (type 2) whose file_size (at byte 28) is busybox's size; its type becomes
# 255, which no inode has.
build --comp none --probe "$PROBE" "$IMG/bad/plain.sqfs"
python3 - "$IMG/bad/plain.sqfs" "$IMG/bad/bad-inode.sqfs" "$(stat -c %s /bin/busybox)" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
itab, dtab = struct.unpack_from("<QQ", data, 64)
size = struct.pack("<I", int(sys.argv[3]))
at = [p - 28 for p in range(itab + 28, dtab - 4)
      if data[p:p + 4] == size and data[p - 28:p - 26] == b"\x02\x00"]
assert len(at) == 1, at
data[at[0]:at[0] + 2] = b"\xff\x00"
open(sys.argv[2], "wb").write(data)
PY
chmod a+r "$IMG/bad/bad-inode.sqfs"
bad_image "a damaged inode of the program: the image is named, not the program (exit 125)" \
    "$IMG/bad/bad-inode.sqfs: damaged image: cannot read /bin/true \(Input/output error\)$" \
    "$IMG/bad/bad-inode.sqfs"
check_grep "^hpcrun: $IMG/bad/bad-inode.sqfs: damaged image: cannot read /bin/busybox \\(Input/output error\\)\$" \
    "... named by its path" hpcrun "$IMG/bad/bad-inode.sqfs" /bin/busybox true
check_grep "^uid=$TEST_UID$" "... while the image's other files still run" \
    hpcrun "$IMG/bad/bad-inode.sqfs" hr-probe ids
wait_until 10 no_fuse && ok "a damaged image leaves no FUSE server" || fail "a damaged image leaves no FUSE server" "$(fuse_count)"

# A directory entry whose name length field is corrupted: libsquashfuse would
# copy 64 KiB into a 257-byte buffer. hpcrun must refuse it, not crash.
python3 - "$IMG/bad/plain.sqfs" "$IMG/bad/longname.sqfs" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
name = b"hpcrun-demo"
dtab = int.from_bytes(data[72:80], "little")  # directory_table_start
i = data.index(name, dtab)
assert data[i - 2:i] == (len(name) - 1).to_bytes(2, "little")
data[i - 2:i] = b"\xff\xff"
open(sys.argv[2], "wb").write(data)
PY
chmod a+r "$IMG/bad/longname.sqfs"
bad_image "a corrupted directory entry (name too long)" "corrupted" "$IMG/bad/longname.sqfs"
out=$(hpcrun "$IMG/bad/longname.sqfs" ls /etc 2>&1); rc=$?
[ "$rc" -lt 128 ] && ok "listing a corrupted directory does not crash (exit $rc)" ||
    fail "listing a corrupted directory does not crash" "exit $rc: $out"

# Programs that are there but cannot run on this node say why, in one line,
# and exit $HR_EXIT_CANNOT_EXEC (126); a command that is not there stays 127.
exec_fails() {
    local name=$1 want=$2 pat=$3 out rc lines
    shift 3
    out=$(hpcrun "$IMG/bad/exec.sqfs" "$@" 2>&1)
    rc=$?
    lines=$(printf '%s\n' "$out" | wc -l)
    if [ "$rc" = "$want" ] && [ "$lines" = 1 ] && printf '%s' "$out" | grep -qE "^hpcrun: $pat\$"; then
        ok "$name"
    else
        fail "$name" "exit $rc (want $want), $lines lines: $out"
    fi
}
rm -rf "$WORK/exec-tree" && mkdir -p "$WORK/exec-tree/usr/bin" "$WORK/exec-tree/opt"
# a dynamic program of the host: the busybox image has no ELF interpreter
cp /bin/true "$WORK/exec-tree/usr/bin/host-true"
interp=$(python3 - /bin/true <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
phoff, = struct.unpack_from("<Q", d, 32)
phentsize, phnum = struct.unpack_from("<HH", d, 54)
for i in range(phnum):
    t, = struct.unpack_from("<I", d, phoff + i * phentsize)
    if t == 3:  # PT_INTERP
        off, = struct.unpack_from("<Q", d, phoff + i * phentsize + 8)
        print(d[off:d.index(b"\0", off)].decode())
PY
)
# the static probe, marked as another machine's (e_machine, the u16 at 18)
case $(uname -m) in
x86_64) foreign=aarch64 em=183 ;;
*) foreign=x86_64 em=62 ;;
esac
cp "$PROBE" "$WORK/exec-tree/usr/bin/foreign"
printf "$(printf '\\%03o\\%03o' $((em & 255)) $((em >> 8)))" |
    dd of="$WORK/exec-tree/usr/bin/foreign" bs=1 seek=18 conv=notrunc status=none
printf '#!/usr/bin/python3\nprint("hello")\n' > "$WORK/exec-tree/usr/bin/py-script"
printf 'echo "no #! line: $1"\n' > "$WORK/exec-tree/opt/sh-script"
chmod 0755 "$WORK"/exec-tree/usr/bin/* "$WORK/exec-tree/opt/sh-script"
build --probe "$PROBE" --tree "$WORK/exec-tree" "$IMG/bad/exec.sqfs"
chmod a+r "$IMG/bad/exec.sqfs"
exec_fails "a host program without its ELF interpreter in the image" "$HR_EXIT_CANNOT_EXEC" \
    "host-true: its ELF interpreter $interp is not in the image \(a program built for another system\?\)" \
    host-true
exec_fails "... named by its path" "$HR_EXIT_CANNOT_EXEC" \
    "/usr/bin/host-true: its ELF interpreter $interp is not in the image .*" /usr/bin/host-true
exec_fails "a program for another machine" "$HR_EXIT_CANNOT_EXEC" \
    "foreign: built for $foreign, this node is $(uname -m)" foreign
exec_fails "a script whose #! interpreter is not in the image" "$HR_EXIT_CANNOT_EXEC" \
    "py-script: its interpreter /usr/bin/python3 is not in the image" py-script
exec_fails "a command that is not there" "$HR_EXIT_NOT_FOUND" \
    "no-such-command: command not found in the container" no-such-command
check_grep '^no #! line: arg$' "a script without #! still runs with /bin/sh (as execvp does)" \
    hpcrun --env PATH=/opt:/bin "$IMG/bad/exec.sqfs" sh-script arg

# An Apptainer SIF file: the message says at which byte its SquashFS starts,
# and --offset with that number runs it. The file is laid out as Apptainer
# writes one (github.com/apptainer/sif): a global header, descriptors at
# 4096, a definition file, then the SquashFS (primary system partition).
python3 - "$IMG/test.sqfs" "$IMG/bad/image.sif" <<'PY'
import struct, sys
sqfs = open(sys.argv[1], "rb").read()
deffile = b"Bootstrap: docker\nFrom: busybox\n"
descoff, data = 4096, 32768
sqoff = data + 4096
def desc(dtype, did, off, size, extra=b""):
    d = struct.pack("<iBIIIqqqqqqq", dtype, 1, did, 0xf0000001, 0, off, size, size, 0, 0, 0, 0)
    return d + b"\0" * 128 + extra.ljust(384, b"\0")
descs = desc(0x4001, 1, data, len(deffile))
descs += desc(0x4004, 2, sqoff, len(sqfs), struct.pack("<ii3s", 1, 2, b"02\0"))
hdr = b"#!/usr/bin/env run-singularity\n".ljust(32, b"\0") + b"SIF_MAGIC\0" + b"01\0" + b"02\0"
hdr += b"\x11" * 16 + struct.pack("<qqqqqqqq", 0, 0, 46, 48, descoff, len(descs), data,
                                  sqoff + len(sqfs) - data)
f = hdr.ljust(descoff, b"\0") + descs.ljust(48 * 585, b"\0")
f = f.ljust(data, b"\0") + deffile
f = f.ljust(sqoff, b"\0") + sqfs
open(sys.argv[2], "wb").write(f)
PY
chmod a+r "$IMG/bad/image.sif"
sif_at=$((32768 + 4096))
bad_image "an Apptainer SIF file: the message gives the --offset that runs it" \
    "image.sif: an Apptainer SIF file; its SquashFS partition starts at byte $sif_at: run it with --offset $sif_at$" \
    "$IMG/bad/image.sif"
check_grep '^inside the hpcrun demo image$' "... and --offset $sif_at runs the SIF file" \
    hpcrun --offset "$sif_at" "$IMG/bad/image.sif" cat /etc/hpcrun-demo
check_grep "^hpcrun: .*image.sif: an Apptainer SIF file; its SquashFS partition starts at byte $sif_at: run it with --offset $sif_at$" \
    "hpcrun doctor names the --offset of a SIF file" hpcrun doctor "$IMG/bad/image.sif"
# a SIF file whose partition is not SquashFS (here: its descriptor says ext3)
python3 - "$IMG/bad/image.sif" "$IMG/bad/ext3.sif" <<'PY'
import sys
f = bytearray(open(sys.argv[1], "rb").read())
f[4096 + 585 + 201] = 2
open(sys.argv[2], "wb").write(f)
PY
chmod a+r "$IMG/bad/ext3.sif"
bad_image "a SIF file without a SquashFS partition: how to find one" \
    "ext3.sif: an Apptainer SIF file, but with no SquashFS system partition .*apptainer sif list" \
    "$IMG/bad/ext3.sif"

# ---- a node without a usable /dev/fuse or user namespaces -----------------------
# Each launch fails before it creates anything: one line with the admin's fix,
# exit 125, and no process, mount or temp file of the test user left.
user_leftovers() {
    find /tmp /dev/shm /var/tmp -maxdepth 1 -user "$TEST_UID" 2>/dev/null | sort
    ps -u "$TEST_UID" -o stat= | grep -vc '^Z' # live processes (lib.sh: zombies wait for init)
}
node_fails() {
    local name=$1 pat=$2 out rc lines before after
    shift 2
    before=$(user_leftovers)
    out=$("$@" "$HPCRUN" "$IMG/test.sqfs" true 2>&1)
    rc=$?
    lines=$(printf '%s\n' "$out" | wc -l)
    after=$(user_leftovers)
    if [ "$rc" = "$HR_EXIT_FAIL" ] && [ "$lines" = 1 ] && printf '%s' "$out" | grep -qE "^hpcrun: $pat\$" &&
        [ "$before" = "$after" ] && wait_until 10 no_fuse; then
        ok "$name"
    else
        fail "$name" "exit $rc, $lines lines: $out; left: $before / $after"
    fi
}

# The host's /dev/fuse is not touched: root changes it in a private mount
# namespace only, then runs hpcrun there as the test user.
as_user_in_mntns() {
    local setup=$1
    shift
    (cd "$USER_HOME" && timeout -k 5 "$TEST_TIMEOUT" \
        unshare -m --propagation private sh -c "$setup"' && exec "$@"' sh \
        setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups \
        env -i HOME="$USER_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" \
        PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb HPCRUN_LINGER=0 ${SANITIZER_ENV:-} "$@")
}
fuse_0600() {
    as_user_in_mntns "mount -t tmpfs -o size=64k,mode=0755 tmpfs '$WORK/fusedev' &&
        mknod -m 0600 '$WORK/fusedev/fuse' c 10 229 && mount --bind '$WORK/fusedev/fuse' /dev/fuse" "$@"
}
fuse_missing() { # a /dev without it (the fuse module not loaded)
    as_user_in_mntns "mount -t tmpfs -o size=64k,mode=0755 tmpfs /dev && mknod -m 0666 /dev/null c 1 3" "$@"
}
fuse_not_fuse() { as_user_in_mntns "mount --bind /dev/null /dev/fuse" "$@"; }

# A user namespace made by root, with the test user mapped to itself, whose
# own user.max_user_namespaces is 0: the limit is per user namespace and
# bounds the namespaces created inside it (user_namespaces(7), "/proc/sys/user"),
# so the test sees a node that forbids them while the host's sysctl stays.
as_user_no_userns() {
    local fifo=$WORK/userns.fifo pid c i=0
    rm -f "$fifo" && mkfifo -m 0600 "$fifo" || return 1
    # root of the new namespace waits for its maps, then execs again to get
    # its capabilities there and lowers the limit
    (cd "$USER_HOME" && exec timeout -k 5 "$TEST_TIMEOUT" unshare -U sh -c '
        read _ < "$1" && shift &&
        exec sh -c "echo 0 > /proc/sys/user/max_user_namespaces && exec \"\$@\"" sh "$@"' \
        sh "$fifo" setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --clear-groups \
        env -i HOME="$USER_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" \
        PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb HPCRUN_LINGER=0 ${SANITIZER_ENV:-} "$@") &
    pid=$!
    # timeout's child, the unshare, once it is in its user namespace
    in_userns() {
        c=$(pgrep -P "$pid" | head -1)
        [ -n "$c" ] && [ "$(readlink "/proc/$c/ns/user")" != "$(readlink /proc/self/ns/user)" ]
    }
    until in_userns; do
        i=$((i + 1))
        [ "$i" -le 50 ] || { kill "$pid"; wait "$pid"; return 1; }
        sleep 0.1
    done
    # each map in one write(2), as the kernel wants it (cat of a here-doc)
    cat > "/proc/$c/uid_map" <<M && cat > "/proc/$c/gid_map" <<M
0 0 1
$TEST_UID $TEST_UID 1
M
0 0 1
$TEST_GID $TEST_GID 1
M
    echo go > "$fifo"
    wait "$pid"
}

if is_rootless; then
    skip "a node without /dev/fuse or user namespaces" "$ROOTLESS_WHY (device nodes, another user)"
elif is_real_root; then
    mkdir -p "$WORK/fusedev"
    node_fails "/dev/fuse mode 0600: its mode and the fix, exit 125, nothing left" \
        '/dev/fuse: Permission denied \(mode 0600; it must be 0666, as distributions ship it: an admin can run: chmod 0666 /dev/fuse\)' \
        fuse_0600
    node_fails "no /dev/fuse: the module and the fix, exit 125, nothing left" \
        '/dev/fuse: missing \(the fuse kernel module is not loaded\); an admin can run: modprobe fuse' \
        fuse_missing
    node_fails "another file at /dev/fuse: the device it must be, exit 125, nothing left" \
        '/dev/fuse: not the FUSE device \(want character device 10:229\); an admin can recreate it: mknod -m 0666 /dev/fuse c 10 229' \
        fuse_not_fuse
    check_rc 0 "... and a launch in such a namespace works with the real /dev/fuse" \
        as_user_in_mntns true "$HPCRUN" "$IMG/test.sqfs" true
    max_userns=$(cat /proc/sys/user/max_user_namespaces)
    node_fails "user.max_user_namespaces=0: the sysctl and the fix, exit 125, nothing left" \
        'cannot create a user namespace: No space left on device \(user.max_user_namespaces is 0 on this node; a site admin sets it with sysctl -w user.max_user_namespaces=15000\)' \
        as_user_no_userns
    check_rc 0 "... and the host's user.max_user_namespaces is untouched" \
        test "$(cat /proc/sys/user/max_user_namespaces)" = "$max_userns"
else
    fail "a node without /dev/fuse or user namespaces" "needs root to build one (run the suite as root)"
fi
