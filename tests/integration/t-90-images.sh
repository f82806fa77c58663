# Point 10: every compression libsquashfuse reads, and images at an offset.
for comp in gzip xz lz4 zstd lzo; do
    build --probe "$PROBE" --comp "$comp" "$IMG/comp-$comp.sqfs"
    chmod a+r "$IMG/comp-$comp.sqfs"
    check_grep 'inside the hpcrun demo image' "a $comp image runs" hpcrun "$IMG/comp-$comp.sqfs" cat /etc/hpcrun-demo
done
# a SquashFS stored after a header, as in Apptainer's SIF files
{ head -c 12288 /dev/zero; cat "$IMG/test.sqfs"; } > "$IMG/offset.img"
chmod a+r "$IMG/offset.img"
check_grep 'inside the hpcrun demo image' "--offset runs an image stored at a byte offset" \
    hpcrun --offset 12288 "$IMG/offset.img" cat /etc/hpcrun-demo
check_grep 'not a SquashFS image at offset 4096' "a wrong --offset fails clearly" hpcrun --offset 4096 "$IMG/offset.img" true
check_grep 'bad magic' "an offset image without --offset fails clearly" hpcrun "$IMG/offset.img" true

# extended attributes pass through; an image without any answers ENODATA/ENOTSUP
build --probe "$PROBE" --xattr "$IMG/xattr.sqfs"
chmod a+r "$IMG/xattr.sqfs"
check_grep '^xattr=demo$' "an image's xattrs are visible inside" hpcrun "$IMG/xattr.sqfs" hr-probe getxattr /etc/hpcrun-demo user.hpcrun
check_grep '^xattr=E(NODATA|NOTSUP|OPNOTSUPP)$' "an image without xattrs reports none" hpcrun "$IMG/test.sqfs" hr-probe getxattr /etc/hpcrun-demo user.hpcrun

# an image with no mount points at all (no /etc, /dev, /proc, /tmp, /home)
build --probe "$PROBE" --bare "$IMG/bare.sqfs"
chmod a+r "$IMG/bare.sqfs"
check_grep "^user=$TEST_USER\$" "an image without /etc, /dev, /proc or /tmp runs" hpcrun "$IMG/bare.sqfs" hr-probe ids
check_grep '^write=EROFS$' "...and its root stays read-only" hpcrun "$IMG/bare.sqfs" hr-probe write /x
