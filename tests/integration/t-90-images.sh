# Point 10: every compression libsquashfuse reads, and images at an offset.
for comp in gzip xz lz4 zstd lzo; do
    build --probe "$PROBE" --comp "$comp" "$IMG/comp-$comp.sqfs"
    chmod a+r "$IMG/comp-$comp.sqfs"
    check_grep 'inside the hpcrun demo image' "a $comp image runs" hpcrun "$IMG/comp-$comp.sqfs" cat /etc/hpcrun-demo
done
# What the FUSE server answers, against the image itself: every name of a
# directory with its type, mode, size and symlink target (listings carry the
# attributes: READDIRPLUS; /usr/bin takes several listing buffers), and
# files read whole after a page in their middle was read first.
want=$(unsquashfs -lln "$IMG/test.sqfs" 2>/dev/null |
    awk '$6 ~ "^squashfs-root/usr/bin/" { sub("^squashfs-root/usr/bin/", "", $6); print $1, $3, $6, $8 }' | sort)
got=$(hpcrun "$IMG/test.sqfs" ls -ln /usr/bin 2>&1 | awk 'NR > 1 { print $1, $5, $9, $11 }' | sort)
[ -n "$want" ] && [ "$got" = "$want" ] && ok "a listing shows every name of the image with its attributes" ||
    fail "a listing shows every name of the image with its attributes" "$(diff <(echo "$want") <(echo "$got") | head -20)"
want="$(sha256sum < /bin/busybox) $(sha256sum < "$PROBE")"
got=$(hpcrun "$IMG/test.sqfs" sh -c 'dd if=/bin/busybox of=/dev/null bs=4096 skip=100 count=1 2>/dev/null;
    dd if=/usr/bin/hr-probe of=/dev/null bs=4096 skip=50 count=1 2>/dev/null;
    echo "$(sha256sum < /bin/busybox) $(sha256sum < /usr/bin/hr-probe)"' 2>&1)
[ "$got" = "$want" ] && ok "files read in any order have the image's contents" ||
    fail "files read in any order have the image's contents" "got '$got', want '$want'"
# A READ decompresses a whole 128 KiB block: the server puts all of it in
# the page cache, so the program's next faults in it need no round trip.
check_grep '^resident=32/32$' "one page read puts its whole block in the page cache" \
    hpcrun "$IMG/test.sqfs" hr-probe resident /bin/busybox

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

# Arguments to an image's entrypoint (Docker's entrypoint + cmd rules):
# hpcrun run IMAGE ARG... runs Entrypoint + ARGs, hpcrun IMAGE CMD... runs CMD
# alone, --entrypoint=PROG replaces the Entrypoint and drops the Cmd.
check_exact() { # WANT NAME CMD...: CMD's stdout+stderr is exactly WANT
    local want=$1 name=$2 out
    shift 2
    out=$("$@" 2>&1)
    if [ "$out" = "$want" ]; then ok "$name"; else fail "$name" "got '$out', want '$want'"; fi
}
cat > "$WORK/ep.json" <<'J'
{"config": {"Entrypoint": ["/bin/echo", "ep"], "Cmd": ["default"], "WorkingDir": "/opt"}}
J
build --probe "$PROBE" --config "$WORK/ep.json" "$IMG/ep.sqfs"
chmod a+r "$IMG/ep.sqfs"
check_exact 'ep a b' "hpcrun run passes its ARGs to the image's entrypoint" hpcrun run "$IMG/ep.sqfs" a b
check_exact 'ep default' "hpcrun run without ARGs runs entrypoint + cmd" hpcrun run "$IMG/ep.sqfs"
check_exact 'ep default' "...as hpcrun IMAGE does" hpcrun "$IMG/ep.sqfs"
check_exact 'x' "a command after IMAGE still replaces the entrypoint" hpcrun "$IMG/ep.sqfs" echo x
check_exact 'z' "--entrypoint before run replaces the entrypoint, ARGs follow it" \
    hpcrun --entrypoint=/bin/echo run "$IMG/ep.sqfs" z
check_exact 'z' "--entrypoint after run likewise" hpcrun run --entrypoint /bin/echo "$IMG/ep.sqfs" z
check_exact '/opt' "--entrypoint alone runs PROG without the image's cmd, in WorkingDir" \
    hpcrun --entrypoint=/bin/pwd "$IMG/ep.sqfs"
check_exact 'y' "--entrypoint= clears the entrypoint: the ARGs are the command" \
    hpcrun run --entrypoint= "$IMG/ep.sqfs" echo y
check_exact 'run:from-image:/opt' "hpcrun run gives ARGs to a sh -c entrypoint, in WorkingDir" \
    hpcrun run "$IMG/config.sqfs" 'echo run:$IMAGE_VAR:$(pwd)'
check_grep '^command +/bin/echo ep a b$' "--dry-run shows the entrypoint with the ARGs" \
    hpcrun --dry-run run "$IMG/ep.sqfs" a b
check_rc "$HR_EXIT_FAIL" "--entrypoint with a command (no run) is refused" \
    hpcrun --entrypoint=/bin/echo "$IMG/ep.sqfs" z
check_exact 'hpcrun: --entrypoint: not with a command, which replaces the entrypoint (to pass PROG arguments: hpcrun run --entrypoint=PROG IMAGE ARG...)' \
    "...with one line that says what to write instead" hpcrun --entrypoint=/bin/echo "$IMG/ep.sqfs" z
# an image file named run is given as ./run, or after --
cp "$IMG/ep.sqfs" "$IMG/run"
chmod a+r "$IMG/run"
check_exact 'ep default' "an image named run runs as ./run" as_user sh -c "cd '$IMG' && '$HPCRUN' ./run"
check_exact 'ep default' "...or after --" as_user sh -c "cd '$IMG' && '$HPCRUN' -- run"
check_exact 'ep q' "...and with hpcrun run" as_user sh -c "cd '$IMG' && '$HPCRUN' run run q"
