# Point 9: bad images give one line, exit 125, no hang, nothing left mounted.

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
# corrupt the inode table (its start is the u64 at byte 64 of the superblock)
cp "$IMG/test.sqfs" "$IMG/bad/corrupt-meta.sqfs"
itab=$(od -An -t u8 -j 64 -N 8 "$IMG/test.sqfs" | tr -d ' ')
head -c 512 /dev/urandom | dd of="$IMG/bad/corrupt-meta.sqfs" bs=1 seek="$itab" conv=notrunc status=none
# corrupt file data in the middle of the image (busybox's blocks)
cp "$IMG/test.sqfs" "$IMG/bad/corrupt-data.sqfs"
head -c 65536 /dev/zero | tr '\0' '\377' | dd of="$IMG/bad/corrupt-data.sqfs" bs=1 seek=200000 conv=notrunc status=none
cp "$IMG/test.sqfs" "$IMG/bad/unreadable.sqfs" && chmod 0600 "$IMG/bad/unreadable.sqfs"
[ "$(id -u)" = 0 ] && chown root "$IMG/bad/unreadable.sqfs"
chmod a+r "$IMG"/bad/*.sqfs 2>/dev/null; chmod 0600 "$IMG/bad/unreadable.sqfs"

bad_image "missing image" "$IMG/bad/none.sqfs: No such file or directory" "$IMG/bad/none.sqfs"
bad_image "a directory" "is a directory" "$IMG/bad"
bad_image "an empty file" "empty file" "$IMG/bad/empty.sqfs"
bad_image "a short non-SquashFS file" "not a SquashFS image \(too small\)" "$IMG/bad/text.sqfs"
head -c 4096 /dev/urandom > "$IMG/bad/random.sqfs" && chmod a+r "$IMG/bad/random.sqfs"
bad_image "a non-SquashFS file" "not a SquashFS image \(bad magic\)" "$IMG/bad/random.sqfs"
bad_image "a truncated image" "truncated" "$IMG/bad/truncated.sqfs"
bad_image "a corrupted image" "corrupted" "$IMG/bad/corrupt-meta.sqfs"
if [ "$(id -u)" = 0 ]; then
    bad_image "an unreadable image" "Permission denied" "$IMG/bad/unreadable.sqfs"
fi
bad_image "an offset past the end" "no SquashFS image at offset" --offset 99999999 "$IMG/test.sqfs"
rc=0
out=$(hpcrun "$IMG/bad/corrupt-data.sqfs" sh -c 'cat /bin/busybox > /dev/null' 2>&1) || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$rc" != 137 ] &&
    ok "corrupted file data fails with an I/O error, no hang (exit $rc)" ||
    fail "corrupted file data fails with an I/O error, no hang" "exit $rc: $out"
wait_until 10 no_fuse && ok "bad input leaves no FUSE server" || fail "bad input leaves no FUSE server" "$(fuse_count)"

# A directory entry whose name length field is corrupted: libsquashfuse would
# copy 64 KiB into a 257-byte buffer. hpcrun must refuse it, not crash.
build --comp none --probe "$PROBE" "$IMG/bad/plain.sqfs"
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
