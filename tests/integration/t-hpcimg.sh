# hpcimg: conversion of OCI layouts, docker save archives and directories.
# Sourced by the suite runner (lib.sh helpers; $WORK, $HPCIMG, $HR_EXIT_FAIL).
# Inputs are built offline by mkoci.py; results are checked with unsquashfs.

HI_DIR=$WORK/hpcimg
HI_MKOCI=$(dirname "${BASH_SOURCE[0]}")/mkoci.py
rm -rf "$HI_DIR"
mkdir -p "$HI_DIR"

hi_mk() { python3 "$HI_MKOCI" "$@" >/dev/null; }
# The listing of an image: "mode uid/gid path[ -> target]", without sizes
# and times, so it compares across sources.
hi_ls() { unsquashfs -lln "$1" | awk '{ $3 = ""; $4 = ""; $5 = ""; print }' | sed 's/  */ /g'; }
hi_has() { hi_ls "$1" | grep -qE -- "$2"; }
hi_lacks() { ! hi_ls "$1" | grep -qE -- "$2"; }
hi_cat() { unsquashfs -cat "$1" "$2" 2>/dev/null; }
hi_clean_dir() { [ "$(ls -A "$1")" = "$2" ]; }
# CMD fails with exit $HR_EXIT_FAIL and one line of output that matches PATTERN.
hi_one_error() {
    local pat=$1 out rc
    shift
    out=$("$@" 2>&1)
    rc=$?
    [ "$rc" = "$HR_EXIT_FAIL" ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] &&
        printf '%s\n' "$out" | grep -qE -- "$pat"
}

# ---- the command line -------------------------------------------------------------
check "hpcimg --help" "$HPCIMG" --help
check_grep '^hpcimg [0-9.]+ \(features:.*libsquashfs' "hpcimg --version" "$HPCIMG" --version
check_rc "$HR_EXIT_FAIL" "hpcimg without a command fails" "$HPCIMG"
check_grep '^hpcimg: pull: needs REF' "hpcimg pull without REF" "$HPCIMG" pull
check_rc "$HR_EXIT_FAIL" "hpcimg pull of a bad reference exits $HR_EXIT_FAIL" \
    "$HPCIMG" pull 'docker://example/Bad:1'
check_grep '^hpcimg: nope:x: unknown source' "unknown source type" \
    "$HPCIMG" convert nope:x "$HI_DIR/x.sqfs"
check_grep '^hpcimg: --comp brotli: not supported' "unknown compressor" \
    "$HPCIMG" --comp brotli convert dir:/ "$HI_DIR/x.sqfs"
check_rc "$HR_EXIT_FAIL" "-j 0 refused" "$HPCIMG" -j 0 convert dir:/ "$HI_DIR/x.sqfs"
check_grep '^hpcimg: convert: -o is for pull' "convert refuses -o instead of ignoring it" \
    "$HPCIMG" convert dir:/nonexistent "$HI_DIR/x.sqfs" -o "$HI_DIR/y.sqfs"

# hpcimg(1): every long option of the help texts, every exit code of the
# program, and a page that renders without warnings
hi_top=$(dirname "${BASH_SOURCE[0]}")/../..
hi_man=$hi_top/doc/hpcimg.1
hi_missing=""
for hi_opt in $(for hi_cmd in "" convert pull inspect; do "$HPCIMG" $hi_cmd --help; done |
    grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    grep -qF -- "$(printf '%s' "$hi_opt" | sed 's/-/\\-/g')" "$hi_man" ||
        hi_missing="$hi_missing $hi_opt"
done
if [ -z "$hi_missing" ]; then ok "hpcimg(1) documents every option in the help texts"; else
    fail "hpcimg(1) documents every option in the help texts" "missing:$hi_missing"; fi
for hi_code in $(grep -oE 'HR_EXIT_[A-Z_]+' "$hi_top/src/cli/hpcimg.c" | sort -u); do
    check "hpcimg(1) documents exit code ${!hi_code} ($hi_code)" \
        grep -q "^\.B ${!hi_code}\$" "$hi_man"
done
check_man_renders "hpcimg(1)" "$hi_man"

# ---- an OCI layout with three layers -------------------------------------------------
hi_mk stack "$HI_DIR/stack"
S=$HI_DIR/stack.sqfs
check "convert oci:DIR:TAG" "$HPCIMG" -q convert "oci:$HI_DIR/stack:latest" "$S"
check "output is a SquashFS image" unsquashfs -s "$S"
check "upper layer wins (etc/hosts from the top layer)" \
    test "$(hi_cat "$S" etc/hosts)" = upper
check "whiteout .wh.NAME hides a lower file" hi_lacks "$S" 'etc/gone$'
check "whiteout of a directory hides it and its contents" hi_lacks "$S" 'root/keep'
check "opaque directory hides lower contents" hi_lacks "$S" 'data/(old1|sub)'
check "opaque directory keeps its own layer's entries" hi_has "$S" '^-rw-r--r-- 0/0 .*data/new$'
check "directory metadata from the layer that describes it" \
    hi_has "$S" '^drwxr-x--- 1000/100 squashfs-root/data$'
check "file -> directory type change" hi_has "$S" '^d.* squashfs-root/typechg$'
check "file -> directory keeps the new contents" hi_has "$S" 'typechg/inside$'
check "setuid and owner kept" hi_has "$S" '^-rwsr-xr-x 1000/100 .*usr/bin/tool$'
check "setgid kept" hi_has "$S" '^-rwx--s--x 0/42 .*usr/bin/sgid$'
check "sticky directory kept" hi_has "$S" '^drwxrwxrwt 0/0 .*root/tmp$'
check "relative symlink" hi_has "$S" 'root/sym_rel -> etc/hosts$'
check "absolute symlink" hi_has "$S" 'root/sym_abs -> /etc/hosts$'
check "dangling symlink" hi_has "$S" 'root/sym_dangling -> /nonexistent/target$'
check "character device" hi_has "$S" '^crw-rw-rw- 0/0 .*dev/null$'
check "block device" hi_has "$S" '^brw-rw---- 0/0 .*dev/sda$'
check "fifo" hi_has "$S" '^prw------- 0/0 .*root/fifo$'
check "long names (PAX)" hi_has "$S" "/$(printf 'f%.0s' $(seq 200))\$"
check "UTF-8 names" test "$(hi_cat "$S" 'ünï/日本語.txt')" = "utf-8 ✓"
check "multi-block file content" \
    test "$(hi_cat "$S" big | sha256sum)" = \
    "$(python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256))*2048)' | sha256sum)"
check "an image cannot bring its own /.hpcrun" \
    test -z "$(hi_cat "$S" .hpcrun/config.json | grep evil)"

rm -rf "$HI_DIR/x"
if unsquashfs -q -d "$HI_DIR/x" "$S" >/dev/null 2>&1; then
    X=$HI_DIR/x
    check "hardlinks are real hardlinks" \
        test "$(stat -c '%h %i' "$X/hl/orig")" = "$(stat -c '%h %i' "$X/hl/link2")"
    check "hardlink count" test "$(stat -c %h "$X/hl/orig")" = 3
    check "hardlink to a file replaced by an upper layer keeps the old data" \
        test "$(cat "$X/hl2/b")" = "lower a"
    check "... and the links still share an inode" \
        test "$(stat -c %i "$X/hl2/b")" = "$(stat -c %i "$X/hl2/c")"
    check "... while the upper file is separate" test "$(cat "$X/hl2/a")" = "upper a"
    check "mtime kept" test "$(stat -c %Y "$X/mtime")" = 1234567890
    check "device numbers (major 240, minor 1000)" \
        test "$(stat -c '%t %T' "$X/dev/bigminor")" = "f0 3e8"
    check_grep "user.comment.*hello" "xattr user.*" \
        python3 -c "import os; print(os.listxattr('$X/xattr'), os.getxattr('$X/xattr', 'user.comment'))"
    check_grep "security.capability" "xattr security.capability" \
        python3 -c "import os; print(os.listxattr('$X/xattr'))"
else
    fail "unsquashfs extracts the image"
fi

# The kernel's own reader, where loop mounts are allowed (root, loop devices).
# Without root or a loop device it cannot run (said, and skipped); a kernel
# that rejects the image we wrote is a failure.
mkdir -p "$HI_DIR/mnt"
hi_kmount=skip
if [ "$(id -u)" = 0 ] && losetup -f >/dev/null 2>&1; then
    if hi_out=$(mount -t squashfs -o loop,ro "$S" "$HI_DIR/mnt" 2>&1); then
        hi_kmount=yes
    else
        hi_kmount=rejected
        fail "kernel mount of a converted image" "the kernel rejects it: $hi_out"
    fi
fi
if [ "$hi_kmount" = yes ]; then
    M=$HI_DIR/mnt
    check "kernel mount: upper layer wins" test "$(cat "$M/etc/hosts")" = upper
    check "kernel mount: hardlinks" test "$(stat -c %i "$M/hl/orig")" = "$(stat -c %i "$M/hl/link")"
    check "kernel mount: device numbers" test "$(stat -c '%t %T' "$M/dev/bigminor")" = "f0 3e8"
    check "kernel mount: security.capability" python3 -c \
        "import os; assert os.getxattr('$M/xattr', 'security.capability')[:4] == bytes([1,0,0,2])"
    umount "$HI_DIR/mnt"
    hi_lz4=$HI_DIR/lz4.sqfs
    if "$HPCIMG" -q --comp lz4 convert "oci:$HI_DIR/stack" "$hi_lz4" &&
        mount -t squashfs -o loop,ro "$hi_lz4" "$HI_DIR/mnt" 2>/dev/null; then
        check "kernel mount of an lz4 image" test "$(cat "$HI_DIR/mnt/usr/bin/sgid")" = x
        umount "$HI_DIR/mnt"
    else
        fail "kernel mount of an lz4 image"
    fi
elif [ "$hi_kmount" = skip ]; then
    echo "SKIP: kernel mount checks (need root and a free loop device: losetup -f; unsquashfs checks ran)"
fi

# ---- metadata -------------------------------------------------------------------------
check_grep '"Entrypoint"' "inspect shows config.json" "$HPCIMG" inspect "$S"
check_grep '"manifest_digest": "sha256:[0-9a-f]{64}"' "inspect shows source.json" \
    "$HPCIMG" inspect "$S"
check "inspect --json is one JSON object" sh -c \
    "'$HPCIMG' inspect --json '$S' | python3 -c 'import json,sys; d=json.load(sys.stdin); \
assert d[\"config\"][\"Env\"][1] == \"GREETING=hello world\"; \
assert d[\"config\"][\"Cmd\"] == [\"--flag\", \"arg with space\"]; \
assert d[\"config\"][\"WorkingDir\"] == \"/data\" and d[\"config\"][\"User\"] == \"1000:100\"; \
assert d[\"config\"][\"Labels\"] == {\"org.example.name\": \"stack\"}; \
assert \"ExposedPorts\" not in d[\"config\"]; \
assert d[\"source\"][\"platform\"] == \"linux/amd64\"; \
assert d[\"source\"][\"converted\"] == \"2024-03-01T12:00:00Z\"'"
check_rc "$HR_EXIT_FAIL" "inspect of a non-image fails" "$HPCIMG" inspect "$HI_MKOCI"

# ---- determinism -------------------------------------------------------------------------
check "convert again with -j 1" "$HPCIMG" -q -j 1 convert "oci:$HI_DIR/stack:latest" "$HI_DIR/s1.sqfs"
check "convert again with -j 4" "$HPCIMG" -q -j 4 convert "oci:$HI_DIR/stack:latest" "$HI_DIR/s4.sqfs"
check "same input, same bytes (-j 1)" cmp "$S" "$HI_DIR/s1.sqfs"
check "same input, same bytes (-j 4)" cmp "$S" "$HI_DIR/s4.sqfs"
# The same image built again from scratch (same relative reference).
mkdir -p "$HI_DIR/again"
hi_mk stack "$HI_DIR/again/stack"
check "a rebuilt layout gives the same bytes" sh -c \
    "cd '$HI_DIR' && '$HPCIMG' -q convert oci:stack:latest '$HI_DIR/r1.sqfs' && \
     cd '$HI_DIR/again' && '$HPCIMG' -q convert oci:stack:latest '$HI_DIR/r2.sqfs' && \
     cmp '$HI_DIR/r1.sqfs' '$HI_DIR/r2.sqfs'"
# ...and wherever the layout lies, however its path is typed: source.json
# keeps the source's kind and last path component only.
check "the same layout by another path gives the same bytes" sh -c \
    "cd '$HI_DIR/again/..' && '$HPCIMG' -q convert oci:./again//stack/:latest '$HI_DIR/r3.sqfs' && \
     cmp '$HI_DIR/r1.sqfs' '$HI_DIR/r3.sqfs'"
check_grep '"reference": "oci:stack:latest"' "source.json names a local source without its directory" \
    "$HPCIMG" inspect "$HI_DIR/r3.sqfs"
check "oci:DIR without a tag (one image)" "$HPCIMG" -q convert "oci:$HI_DIR/stack" "$HI_DIR/notag.sqfs"
check_grep "no image tagged nope" "oci:DIR:TAG with an unknown tag" \
    "$HPCIMG" convert "oci:$HI_DIR/stack:nope" "$HI_DIR/nope.sqfs"
for c in gzip xz lz4; do
    check "--comp $c" sh -c "'$HPCIMG' -q --comp $c convert 'oci:$HI_DIR/stack' '$HI_DIR/c.sqfs' && \
        unsquashfs -s '$HI_DIR/c.sqfs' | grep -q 'Compression $c' && \
        [ \"\$(unsquashfs -cat '$HI_DIR/c.sqfs' etc/hosts)\" = upper ]"
done

# ---- docker save archive -----------------------------------------------------------------
hi_mk stack-docker "$HI_DIR/stack-docker.tar"
D=$HI_DIR/docker.sqfs
check "convert docker-archive:" "$HPCIMG" -q convert "docker-archive:$HI_DIR/stack-docker.tar" "$D"
check "docker-archive gives the same tree as the OCI layout" sh -c \
    "[ \"\$(unsquashfs -lln '$D' | grep -v hpcrun)\" = \"\$(unsquashfs -lln '$S' | grep -v hpcrun)\" ]"
check_grep '"reference": "docker-archive:' "docker-archive source.json" "$HPCIMG" inspect "$D"

# An output that names an input is refused before anything is written: the
# archive itself, through a hard link, a symbolic link or "..", a blob of an
# OCI layout, a file of a dir: tree; each input stays as it was.
hi_in=$HI_DIR/in-out
rm -rf "$hi_in" && mkdir -p "$hi_in/sub" "$hi_in/tree"
cp "$HI_DIR/stack-docker.tar" "$hi_in/bb.tar"
ln "$hi_in/bb.tar" "$hi_in/hard.tar"
ln -s bb.tar "$hi_in/sym.tar"
cp -r "$HI_DIR/stack" "$hi_in/layout"
hi_blob=$(ls "$hi_in/layout/blobs/sha256" | head -1)
echo keep >"$hi_in/tree/f"
hi_sum() { (cd "$hi_in" && find . -type f -exec sha256sum {} + | sort); }
hi_before=$(hi_sum)
for hi_case in "docker-archive:$hi_in/bb.tar|$hi_in/bb.tar|the archive itself" \
    "docker-archive:$hi_in/bb.tar|$hi_in/hard.tar|a hard link to the archive" \
    "docker-archive:$hi_in/bb.tar|$hi_in/sym.tar|a symbolic link to the archive" \
    "docker-archive:$hi_in/bb.tar|$hi_in/sub/../bb.tar|the archive through .." \
    "oci:$hi_in/layout|$hi_in/layout/blobs/sha256/$hi_blob|a blob of the OCI layout" \
    "dir:$hi_in/tree|$hi_in/tree/f|a file of the dir: tree"; do
    IFS='|' read -r hi_src hi_out hi_what <<<"$hi_case"
    check "an output that names the input is refused: $hi_what" hi_one_error \
        "^hpcimg: $hi_out: the output would replace the input " "$HPCIMG" -q convert "$hi_src" "$hi_out"
done
check "... and every input is as it was" test "$(hi_sum)" = "$hi_before"
check "an output beside the archive is written as usual" \
    "$HPCIMG" -q convert "docker-archive:$hi_in/bb.tar" "$hi_in/bb.sqfs"

check "docker-archive: an empty User is not written" sh -c \
    "! unsquashfs -cat '$D' .hpcrun/config.json | grep -q User"

# Compressed `docker save` output (| gzip, | zstd, | xz) gives the very bytes
# of the uncompressed archive. Each copy has the same name in a directory of
# its own, so the reference in source.json is the same too. stack-docker's
# members are small (kept in memory by the index pass); stack-docker-big has
# two layers of over 1 MiB, stored bottom first, that stream from the
# archive, one of them twice (hardlinks to a file an upper layer replaced).
hi_mk stack-docker-big "$HI_DIR/stack-docker-big.tar"
for hi_tar in stack-docker stack-docker-big; do
    hi_dz=$HI_DIR/dz-$hi_tar
    mkdir -p "$hi_dz/none"
    cp "$HI_DIR/$hi_tar.tar" "$hi_dz/none/img"
    check "$hi_tar: convert the uncompressed archive" sh -c \
        "cd '$hi_dz/none' && '$HPCIMG' -q convert docker-archive:img out.sqfs"
    for c in gzip zstd xz; do
        if ! command -v "$c" >/dev/null; then
            fail "$hi_tar | $c: same bytes as uncompressed" "$c missing (install it)"
            continue
        fi
        mkdir -p "$hi_dz/$c"
        "$c" -c "$HI_DIR/$hi_tar.tar" >"$hi_dz/$c/img"
        check "$hi_tar | $c: same bytes as uncompressed" sh -c \
            "cd '$hi_dz/$c' && '$HPCIMG' -q convert docker-archive:img out.sqfs && \
             cmp out.sqfs ../none/out.sqfs"
    done
done
hi_dz=$HI_DIR/dz-stack-docker-big
check "compressed docker-archive: the tree of the OCI layout, plus the large files" test \
    "$(hi_ls "$hi_dz/gzip/out.sqfs" | grep -v -e hpcrun -e pad)" = "$(hi_ls "$S" | grep -v hpcrun)"
check "compressed docker-archive: a large streamed file" test \
    "$(hi_cat "$hi_dz/zstd/out.sqfs" pad1.bin | sha256sum)" = \
    "$(python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(1).randbytes(3 << 19))' | sha256sum)"
check "compressed docker-archive: hardlinks from the second pass" \
    test "$(hi_cat "$hi_dz/xz/out.sqfs" hl2/c)" = "lower a"
check_grep "img: decompressing from the start for blobs/sha256/[0-9a-f]{64} \(pass 4\)" \
    "compressed docker-archive: layers behind the stream decompress it again" \
    sh -c "cd '$hi_dz/gzip' && '$HPCIMG' -v convert docker-archive:img '$HI_DIR/v.sqfs'"
mkdir -p "$HI_DIR/out-dz"
echo previous >"$HI_DIR/out-dz/img.sqfs"
head -c 1000000 "$hi_dz/gzip/img" >"$HI_DIR/truncated.tar.gz"
check "truncated compressed docker-archive: one line naming the file" hi_one_error \
    "^hpcimg: $HI_DIR/truncated.tar.gz: corrupt archive: " \
    "$HPCIMG" convert "docker-archive:$HI_DIR/truncated.tar.gz" "$HI_DIR/out-dz/img.sqfs"
echo '[]' | gzip >"$HI_DIR/notar.gz"
check "compressed file that is not a tar: one line naming the file" hi_one_error \
    "^hpcimg: $HI_DIR/notar.gz: not a tar archive, plain or compressed: " \
    "$HPCIMG" convert "docker-archive:$HI_DIR/notar.gz" "$HI_DIR/out-dz/img.sqfs"
check "compressed docker-archive errors: existing FILE untouched, no temp file" sh -c \
    "[ \"\$(cat '$HI_DIR/out-dz/img.sqfs')\" = previous ] && \
     [ \"\$(ls -A '$HI_DIR/out-dz')\" = img.sqfs ]"

# ---- the outer tar of an uncompressed docker-archive ------------------------------------
# libarchive reads its headers; each layer is then read in place at the offset
# the index found. Members named through PAX and GNU long-name records.
for hi_fmt in pax gnu; do
    hi_mk "stack-docker-$hi_fmt" "$HI_DIR/stack-docker-$hi_fmt.tar"
    check "docker-archive, $hi_fmt tar with long member names: the tree of the OCI layout" \
        sh -c "'$HPCIMG' -q convert 'docker-archive:$HI_DIR/stack-docker-$hi_fmt.tar' \
               '$HI_DIR/docker-$hi_fmt.sqfs' && \
               [ \"\$(unsquashfs -lln '$HI_DIR/docker-$hi_fmt.sqfs' | grep -v hpcrun)\" = \
                 \"\$(unsquashfs -lln '$S' | grep -v hpcrun)\" ]"
done
# Hostile headers: each is refused at once (timeout bounds a parser that
# would not advance) with one line naming the archive, and no output.
mkdir -p "$HI_DIR/out-ht"
echo previous >"$HI_DIR/out-ht/img.sqfs"
head -c 300000 "$HI_DIR/stack-docker.tar" >"$HI_DIR/docker-truncated.tar"
for hi_how in negsize:corrupt pax-short:corrupt pax-nonl:corrupt oversize:truncated \
    truncated:truncated; do
    hi_tar=$HI_DIR/docker-${hi_how%%:*}.tar
    [ -e "$hi_tar" ] || hi_mk "docker-${hi_how%%:*}" "$hi_tar"
    check "docker-archive ${hi_how%%:*}: refused promptly, one line naming the file" \
        hi_one_error "^hpcimg: $hi_tar: ${hi_how#*:} archive: " \
        timeout 30 "$HPCIMG" convert "docker-archive:$hi_tar" "$HI_DIR/out-ht/img.sqfs"
done
check "docker-archive hostile headers: existing FILE untouched, no temp file" \
    sh -c "[ \"\$(cat '$HI_DIR/out-ht/img.sqfs')\" = previous ] && \
           [ \"\$(ls -A '$HI_DIR/out-ht')\" = img.sqfs ]"
check "docker-archive hostile header, no FILE before: none after" sh -c \
    "! timeout 30 '$HPCIMG' -q convert 'docker-archive:$HI_DIR/docker-negsize.tar' \
       '$HI_DIR/out-ht/new.sqfs' 2>/dev/null && [ \"\$(ls -A '$HI_DIR/out-ht')\" = img.sqfs ]"

# ---- run a converted image with hpcrun: the config applies -----------------------------
hi_busybox=$(command -v busybox || true)
if [ -n "$hi_busybox" ] && [ -x "$HPCRUN" ] &&
    ! ldd "$hi_busybox" >/dev/null 2>&1; then
    hi_mk runnable "$HI_DIR/runnable" "$hi_busybox"
    check "convert a runnable image" \
        "$HPCIMG" -q convert "oci:$HI_DIR/runnable" "$HI_DIR/runnable.sqfs"
    chmod 644 "$HI_DIR/runnable.sqfs"
    check_grep '^greeting=hello world cwd=/data$' \
        "hpcrun IMAGE runs Entrypoint+Cmd with Env and WorkingDir" \
        hpcrun "$HI_DIR/runnable.sqfs"
    check_grep '^hi$' "hpcrun IMAGE CMD runs CMD" \
        hpcrun "$HI_DIR/runnable.sqfs" /bin/busybox echo hi
else
    fail "hpcrun runs a converted image" "needs a static busybox and a built hpcrun"
fi

# ---- a multi-platform index ----------------------------------------------------------------
hi_mk multi "$HI_DIR/multi"
case $(uname -m) in
x86_64) hi_arch=amd64 ;;
aarch64) hi_arch=arm64 ;;
*) hi_arch="" ;;
esac
if [ -n "$hi_arch" ]; then
    check "multi-platform index: the host's platform is chosen" sh -c \
        "'$HPCIMG' -q convert 'oci:$HI_DIR/multi:multi' '$HI_DIR/multi.sqfs' && \
         [ \"\$(unsquashfs -cat '$HI_DIR/multi.sqfs' arch)\" = $hi_arch ] && \
         '$HPCIMG' inspect '$HI_DIR/multi.sqfs' | grep -q '\"platform\": \"linux/$hi_arch\"'"
fi

check "--platform picks from a multi-platform index" sh -c \
    "'$HPCIMG' -q --platform linux/arm64 convert 'oci:$HI_DIR/multi:multi' '$HI_DIR/arm.sqfs' && \
     [ \"\$(unsquashfs -cat '$HI_DIR/arm.sqfs' arch)\" = arm64 ]"
check_grep "no image for platform linux/s390x" "--platform that the index lacks" \
    "$HPCIMG" --platform linux/s390x convert "oci:$HI_DIR/multi:multi" "$HI_DIR/s390x.sqfs"
check_rc "$HR_EXIT_FAIL" "--platform without a slash" \
    "$HPCIMG" --platform arm64 convert "oci:$HI_DIR/multi:multi" "$HI_DIR/s390x.sqfs"

# ---- a layout with several images: no tag names them; another machine's image --------------
if [ -n "$hi_arch" ]; then
    hi_mk tags "$HI_DIR/tags" "$hi_arch"
    check "oci:DIR of several images for this platform: one line listing them" hi_one_error \
        "^hpcimg: oci:$HI_DIR/tags: 4 images for linux/$hi_arch; name one: oci:$HI_DIR/tags:v1, oci:$HI_DIR/tags:v2, oci:$HI_DIR/tags:latest, sha256:[0-9a-f]{12} \(untagged\)\$" \
        "$HPCIMG" convert "oci:$HI_DIR/tags" "$HI_DIR/tags.sqfs"
    check "... and one it names converts" sh -c \
        "'$HPCIMG' -q convert 'oci:$HI_DIR/tags:v2' '$HI_DIR/tags.sqfs' && \
         [ \"\$(unsquashfs -cat '$HI_DIR/tags.sqfs' f)\" = two ]"
    check "... with --platform that none has: the list names their platforms" hi_one_error \
        "^hpcimg: oci:$HI_DIR/tags: 4 images, none marked as linux/s390x; name one: oci:$HI_DIR/tags:v1 \(linux/$hi_arch\), .*, sha256:[0-9a-f]{12} \(untagged, linux/$hi_arch\)\$" \
        "$HPCIMG" --platform linux/s390x convert "oci:$HI_DIR/tags" "$HI_DIR/tags.sqfs"
    hi_mk tags-same "$HI_DIR/tags-same" "$hi_arch"
    check "oci:DIR of one image under two tags needs no tag" \
        "$HPCIMG" -q convert "oci:$HI_DIR/tags-same" "$HI_DIR/tags.sqfs"
    hi_other=arm64
    [ "$hi_arch" != arm64 ] || hi_other=amd64
    hi_mk foreign "$HI_DIR/foreign" "$hi_other"
    check "converting another machine's image warns in one line, and converts" sh -c \
        "out=\$('$HPCIMG' convert 'oci:$HI_DIR/foreign' '$HI_DIR/foreign.sqfs' 2>&1) && \
         [ \"\$out\" = 'hpcimg: warning: oci:$HI_DIR/foreign: an image for linux/$hi_other, this host is linux/$hi_arch: its programs will not run here (--platform linux/$hi_other says that is intended)' ]"
    check "... but not when --platform asks for that platform" sh -c \
        "out=\$('$HPCIMG' --platform linux/$hi_other convert 'oci:$HI_DIR/foreign' \
         '$HI_DIR/foreign.sqfs' 2>&1) && [ -z \"\$out\" ]"
fi
hi_mk tags-noplat "$HI_DIR/noplat"
check "oci:DIR of images that name no platform: one line listing them" hi_one_error \
    "^hpcimg: oci:$HI_DIR/noplat: 2 images, none marked as linux/[a-z0-9]+; name one: oci:$HI_DIR/noplat:v1, oci:$HI_DIR/noplat:v2\$" \
    "$HPCIMG" convert "oci:$HI_DIR/noplat" "$HI_DIR/noplat.sqfs"

# ---- a plain directory --------------------------------------------------------------------
mkdir -p "$HI_DIR/tree/sub"
echo one >"$HI_DIR/tree/one"
ln "$HI_DIR/tree/one" "$HI_DIR/tree/sub/hard"
ln -s ../one "$HI_DIR/tree/sub/sym"
chmod 4711 "$HI_DIR/tree/one"
mkfifo "$HI_DIR/tree/fifo"
touch -d @1500000000 "$HI_DIR/tree/one"
check "convert dir:" "$HPCIMG" -q convert "dir:$HI_DIR/tree" "$HI_DIR/tree.sqfs"
check "dir: setuid file" hi_has "$HI_DIR/tree.sqfs" '^-rws--x--x .*root/one$'
check "dir: symlink" hi_has "$HI_DIR/tree.sqfs" 'sub/sym -> ../one$'
check "dir: fifo" hi_has "$HI_DIR/tree.sqfs" '^p.*root/fifo$'
check "dir: /.hpcrun/source.json" test -n "$(hi_cat "$HI_DIR/tree.sqfs" .hpcrun/source.json)"
rm -rf "$HI_DIR/tx"
check "dir: hardlinks kept" sh -c "unsquashfs -q -d '$HI_DIR/tx' '$HI_DIR/tree.sqfs' >/dev/null && \
    [ \"\$(stat -c %i '$HI_DIR/tx/one')\" = \"\$(stat -c %i '$HI_DIR/tx/sub/hard')\" ]"
check "dir: same bytes twice" sh -c "'$HPCIMG' -q convert 'dir:$HI_DIR/tree' '$HI_DIR/tree2.sqfs' && \
    cmp '$HI_DIR/tree.sqfs' '$HI_DIR/tree2.sqfs'"
check_rc "$HR_EXIT_FAIL" "dir: of a missing directory" \
    "$HPCIMG" convert "dir:$HI_DIR/missing" "$HI_DIR/m.sqfs"
check "dir: of a regular file says so" hi_one_error \
    "^hpcimg: $HI_DIR/tree/one: not a directory\$" \
    "$HPCIMG" convert "dir:$HI_DIR/tree/one" "$HI_DIR/m.sqfs"

# ---- hostile entries ---------------------------------------------------------------------
hi_mk hostile "$HI_DIR/hostile"
H=$HI_DIR/hostile.sqfs
mkdir -p "$HI_DIR/cwd"
check "hostile layers convert (unsafe entries skipped)" \
    sh -c "cd '$HI_DIR/cwd' && '$HPCIMG' -q convert 'oci:$HI_DIR/hostile' '$H'"
check "nothing was written outside the output" sh -c \
    "[ -z \"\$(ls -A '$HI_DIR/cwd')\" ] && [ ! -e '$HI_DIR/escape' ] && [ ! -e '$WORK/escape' ] && \
     [ ! -e /tmp/pwned ] && [ ! -e /escape ] && [ ! -e /escape2 ]"
check "../ entries are dropped" hi_lacks "$H" 'escape'
check "absolute paths land inside the image" test "$(hi_cat "$H" abs)" = "abs is fine"
check "no entry through a symlink of the same layer" hi_lacks "$H" 'evil/'
check "no entry beneath a file" hi_lacks "$H" 'file/under'
check "a symlink of a lower layer is not followed" hi_has "$H" '^d.* squashfs-root/lowlink$'
check "... the upper entry stays inside" test "$(hi_cat "$H" lowlink/pwned)" = "stays inside"
check "hardlink to ../../etc/passwd dropped" hi_lacks "$H" 'root/hl'
check_grep 'warning: .*\.\./escape: unsafe entry, skipped' "unsafe entries are reported" \
    "$HPCIMG" convert "oci:$HI_DIR/hostile" "$H"

# ---- bad input: clear error, exit 125, no output, an existing FILE untouched -------------
for bad in corrupt bad-blob bad-diffid bad-manifest; do
    hi_mk "$bad" "$HI_DIR/$bad"
    mkdir -p "$HI_DIR/out-$bad"
    echo previous >"$HI_DIR/out-$bad/img.sqfs"
    check_rc "$HR_EXIT_FAIL" "$bad: exit $HR_EXIT_FAIL" \
        "$HPCIMG" convert "oci:$HI_DIR/$bad" "$HI_DIR/out-$bad/img.sqfs"
    check "$bad: existing FILE untouched, no temp file" sh -c \
        "[ \"\$(cat '$HI_DIR/out-$bad/img.sqfs')\" = previous ] && \
         [ \"\$(ls -A '$HI_DIR/out-$bad')\" = img.sqfs ]"
done
check_grep '^hpcimg: sha256:[0-9a-f]{64}: corrupt layer|^hpcimg: sha256:[0-9a-f]{64}: cannot read layer' \
    "corrupt layer: one line naming the digest" \
    "$HPCIMG" convert "oci:$HI_DIR/corrupt" "$HI_DIR/o.sqfs"
check_grep '^hpcimg: sha256:[0-9a-f]{64}: layer digest mismatch' "blob digest mismatch names it" \
    "$HPCIMG" convert "oci:$HI_DIR/bad-blob" "$HI_DIR/o.sqfs"
check_grep '^hpcimg: sha256:[0-9a-f]{64}: layer diff_id mismatch' "diff_id mismatch names it" \
    "$HPCIMG" convert "oci:$HI_DIR/bad-diffid" "$HI_DIR/o.sqfs"
check_grep 'not an image manifest \(media type application/vnd.oci.image.config' \
    "manifest of the wrong media type" \
    "$HPCIMG" convert "oci:$HI_DIR/bad-manifest" "$HI_DIR/o.sqfs"
# A tampered config blob: its digest no longer matches.
cp -r "$HI_DIR/stack" "$HI_DIR/badcfg"
hi_cfg=$(python3 -c "import json,sys; i=json.load(open('$HI_DIR/badcfg/index.json')); \
m=json.load(open('$HI_DIR/badcfg/blobs/sha256/'+i['manifests'][0]['digest'][7:])); \
print(m['config']['digest'][7:])")
sed -i 's/hello world/hello wOrld/' "$HI_DIR/badcfg/blobs/sha256/$hi_cfg"
check_grep "^hpcimg: sha256:$hi_cfg: digest mismatch" "tampered config is refused" \
    "$HPCIMG" convert "oci:$HI_DIR/badcfg" "$HI_DIR/o.sqfs"
check_rc "$HR_EXIT_FAIL" "destination directory missing" \
    "$HPCIMG" convert "oci:$HI_DIR/stack" "$HI_DIR/no/such/dir/img.sqfs"
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$HI_DIR/ro"
    chmod 755 "$HI_DIR/ro"
    check_grep "^hpcimg: $HI_DIR/ro/img.sqfs: cannot create the output file: Permission denied" \
        "unwritable destination" setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$HPCIMG" convert "oci:$HI_DIR/stack" "$HI_DIR/ro/img.sqfs"
fi

# ---- interrupted and out of space -------------------------------------------------------
# A slow conversion: 64 MiB of incompressible data through xz on one thread.
mkdir -p "$HI_DIR/slow" "$HI_DIR/out-sig"
head -c $((64 << 20)) /dev/urandom >"$HI_DIR/slow/random"
for sig in TERM INT; do
    echo previous >"$HI_DIR/out-sig/img.sqfs"
    # Background jobs of a script start with SIGINT ignored; undo that.
    env --default-signal=INT,TERM "$HPCIMG" -q -j 1 --comp xz convert "dir:$HI_DIR/slow" \
        "$HI_DIR/out-sig/img.sqfs" &
    hi_pid=$!
    sleep 1
    kill -"$sig" "$hi_pid"
    wait "$hi_pid"
    hi_rc=$?
    if [ "$hi_rc" -gt 128 ] && [ "$(cat "$HI_DIR/out-sig/img.sqfs")" = previous ] &&
        hi_clean_dir "$HI_DIR/out-sig" img.sqfs; then
        ok "SIG$sig: no partial file, existing FILE untouched"
    else
        fail "SIG$sig: no partial file, existing FILE untouched" \
            "rc $hi_rc; dir: $(ls -A "$HI_DIR/out-sig")"
    fi
done

if [ "$(id -u)" = 0 ] && mkdir -p "$HI_DIR/small" &&
    mount -t tmpfs -o size=4m tmpfs "$HI_DIR/small" 2>/dev/null; then
    echo previous >"$HI_DIR/small/img.sqfs"
    check_grep '^hpcimg: .*img.sqfs: .*No space left on device' "disk full: clear error" \
        "$HPCIMG" -q --comp lz4 convert "dir:$HI_DIR/slow" "$HI_DIR/small/img.sqfs"
    check "disk full: existing FILE untouched, no temp file" sh -c \
        "[ \"\$(cat '$HI_DIR/small/img.sqfs')\" = previous ] && \
         [ \"\$(ls -A '$HI_DIR/small')\" = img.sqfs ]"
    umount "$HI_DIR/small"
else
    fail "disk full test" "needs root and a tmpfs mount (run the suite as root)"
fi
rm -rf "$HI_DIR/slow"

# compression level and block size
mkdir -p "$WORK/lvl" && head -c 300000 /dev/urandom | od -An -x > "$WORK/lvl/text"
check "--comp zstd:3 --block-size 1M converts" "$HPCIMG" -q --comp zstd:3 --block-size 1M convert "dir:$WORK/lvl" "$WORK/lvl3.sqfs"
check_grep 'Block size 1048576' "--block-size sets the image's block size" unsquashfs -s "$WORK/lvl3.sqfs"
check "--comp zstd:19 converts" "$HPCIMG" -q --comp zstd:19 convert "dir:$WORK/lvl" "$WORK/lvl19.sqfs"
[ "$(stat -c %s "$WORK/lvl19.sqfs")" -lt "$(stat -c %s "$WORK/lvl3.sqfs")" ] &&
    ok "a higher zstd level gives a smaller image" || fail "a higher zstd level gives a smaller image"
check_rc "$HR_EXIT_FAIL" "an out-of-range level is refused" "$HPCIMG" --comp zstd:23 convert "dir:$WORK/lvl" "$WORK/bad.sqfs"
check_rc "$HR_EXIT_FAIL" "a block size that is not a power of two is refused" "$HPCIMG" --block-size 100K convert "dir:$WORK/lvl" "$WORK/bad.sqfs"
[ ! -e "$WORK/bad.sqfs" ] && ok "refused options leave no output" || fail "refused options leave no output"

# pull takes the same conversion options: a pull by digest whose blobs are all
# in the cache (copied from the OCI layout) needs no registry at all
if "$HPCIMG" --version | grep -q libcurl; then
    mkdir -p "$WORK/pullcache/hpcrun/blobs/sha256"
    cp "$HI_DIR/stack/blobs/sha256/"* "$WORK/pullcache/hpcrun/blobs/sha256/"
    hi_mdigest=$(python3 -c "import json; print(json.load(open('$HI_DIR/stack/index.json'))['manifests'][0]['digest'])")
    check "pull from the blob cache with --comp zstd:3 --block-size 64K" env \
        XDG_CACHE_HOME="$WORK/pullcache" "$HPCIMG" -q --comp zstd:3 --block-size 64K \
        pull "localhost:1/stack@$hi_mdigest" -o "$WORK/pulled.sqfs"
    check_grep 'Block size 65536' "pull: --block-size sets the image's block size" \
        unsquashfs -s "$WORK/pulled.sqfs"
    check_grep 'compression-level 3' "pull: --comp ALG:LEVEL sets the level" \
        unsquashfs -s "$WORK/pulled.sqfs"
fi
