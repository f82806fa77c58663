# Faults in the converter: `hpcimg convert` and `hpcimg pull` SIGKILLed at
# random moments, a full disk under the output and under the blob cache,
# and a hostile registry (hostilereg.py, a proxy in front of a real
# docker-registry on 127.0.0.1) that resets connections, sends short bodies
# and lies about sizes and digests. Every time: no partial or wrong image at
# the output path, one line on stderr that names the reference (or file)
# and the problem, a blob cache that holds only blobs whose content has
# their name, and a retry against the honest registry, with the same cache,
# that succeeds.
#
# HF_KILLS (8) kills of each program; HF_SEED repeats their moments.
# Sourced by the suite runner (lib.sh helpers; $WORK, $HPCIMG, $HR_EXIT_FAIL).

HF_KILLS=${HF_KILLS:-8}
HF_SEED=${HF_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
HF=$WORK/hfaults
HF_MKOCI=$(dirname "${BASH_SOURCE[0]}")/mkoci.py
HF_HOSTILE=$(dirname "${BASH_SOURCE[0]}")/hostilereg.py
HF_PIDS=""
HF_MOUNTS=""
rm -rf "$HF"
mkdir -p "$HF"

hf_stop_all() {
    local p m
    for p in $HF_PIDS; do kill "$p" 2>/dev/null; done
    for p in $HF_PIDS; do wait "$p" 2>/dev/null; done
    for m in $HF_MOUNTS; do umount "$m" 2>/dev/null; done
    HF_PIDS=""
    HF_MOUNTS=""
}
trap 'hf_stop_all; rm -rf "$WORK"' EXIT

hf_missing=""
for t in docker-registry skopeo unsquashfs; do
    command -v "$t" >/dev/null || hf_missing="$hf_missing $t"
done
"$HPCIMG" --version | grep -q libcurl || hf_missing="$hf_missing libcurl"
[ "$(id -u)" = 0 ] || hf_missing="$hf_missing root (to mount the small tmpfs)"
if [ -n "$hf_missing" ]; then
    fail "converter faults" "missing:$hf_missing"
    return 0 2>/dev/null || exit 0
fi

hf_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# The image's tree and its one big file, not its bytes: source.json records
# when it was pulled.
hf_tree() { unsquashfs -lln "$1" | grep -v hpcrun | awk '{ $3 = ""; $4 = ""; $5 = ""; print }'; }
hf_same() {
    [ "$(hf_tree "$1")" = "$(hf_tree "$2")" ] &&
        cmp -s <(unsquashfs -cat "$1" big.bin) <(unsquashfs -cat "$2" big.bin)
}
# Every blob in the cache has the content its name says (partial files may
# hold any prefix).
hf_cache_valid() {
    local f
    for f in "$1"/hpcrun/blobs/sha256/*; do
        case $f in *.partial | */\*) continue ;; esac
        [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || return 1
    done
}
hf_tmpfs() { # a tmpfs of $2 at $1
    mkdir -p "$1" && mount -t tmpfs -o "size=$2,mode=0755" hpcrun-test "$1" &&
        HF_MOUNTS="$1 $HF_MOUNTS"
}

# ---- images, an honest registry and a hostile one ----------------------------------------
python3 "$HF_MKOCI" big "$HF/big" big1 >/dev/null
python3 "$HF_MKOCI" big "$HF/other" big2 >/dev/null
XDG_CACHE_HOME=$HF/unused "$HPCIMG" -q convert "oci:$HF/big:latest" "$HF/ref.sqfs" ||
    fail "converter faults: the reference conversion" "exit $?"
hf_port=$(hf_free_port)
cat >"$HF/registry.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $HF/store
http:
  addr: 127.0.0.1:$hf_port
EOF
docker-registry serve "$HF/registry.yml" >"$HF/registry.log" 2>&1 &
HF_PIDS="$HF_PIDS $!"
G=127.0.0.1:$hf_port
hf_bad_port=$(hf_free_port)
python3 "$HF_HOSTILE" "$hf_bad_port" "$G" test/other:1 >"$HF/hostile.log" 2>&1 &
HF_PIDS="$HF_PIDS $!"
HX=127.0.0.1:$hf_bad_port
if wait_until 150 curl -s -o /dev/null "http://$G/v2/" && wait_until 100 curl -s -o /dev/null "http://$HX/v2/" &&
    skopeo copy -q --dest-tls-verify=false "oci:$HF/big:latest" "docker://$G/test/big:1" >/dev/null &&
    skopeo copy -q --dest-tls-verify=false "oci:$HF/other:latest" "docker://$G/test/other:1" >/dev/null; then
    ok "converter faults: an honest registry and a hostile one start"
else
    fail "converter faults: an honest registry and a hostile one start" \
        "$(cat "$HF/registry.log" "$HF/hostile.log" | tail -20)"
    hf_stop_all
    trap 'rm -rf "$WORK"' EXIT
    return 0 2>/dev/null || exit 0
fi
hf_pull() { # CACHE ARGS...: pull with this blob cache
    local cache=$1
    shift
    XDG_CACHE_HOME=$cache "$HPCIMG" --insecure pull "$@"
}
hf_pull "$HF/cache0" -q "$G/test/big:1" -o "$HF/pref.sqfs"
check "converter faults: the honest pull gives the converted tree" hf_same "$HF/pref.sqfs" "$HF/ref.sqfs"
hf_mdigest=sha256:$(skopeo inspect --raw --tls-verify=false "docker://$G/test/big:1" | sha256sum | cut -d' ' -f1)

# After a failed pull to $HF/fc.sqfs or $HF/h.sqfs: neither exists, the
# cache CACHE is valid.
hf_failed_clean() { [ ! -e "$HF/fc.sqfs" ] && [ ! -e "$HF/h.sqfs" ] && hf_cache_valid "$1"; }
# The honest registry, with the blob cache CACHE: the whole image.
hf_retry() {
    rm -f "$HF/retry.sqfs"
    hf_pull "$1" -q "$G/test/big:1" -o "$HF/retry.sqfs" && hf_same "$HF/retry.sqfs" "$HF/pref.sqfs"
}

# ---- killed at a random moment -------------------------------------------------------------
# What a kill may leave at the output path: nothing, or (killed after the
# rename) the whole image; in the output directory nothing else.
hf_out_ok() { # DIR REFERENCE
    local left
    left=$(ls -A "$1")
    [ -z "$left" ] || { [ "$left" = out.sqfs ] && hf_same "$1/out.sqfs" "$2"; }
}
echo "converter faults: seed $HF_SEED (HF_SEED=$HF_SEED repeats it), $HF_KILLS kills each"
RANDOM=$HF_SEED
hf_bad=""
for i in $(seq "$HF_KILLS"); do
    rm -rf "$HF/k" && mkdir -p "$HF/k"
    delay=$((RANDOM % 300))
    XDG_CACHE_HOME=$HF/unused "$HPCIMG" -q convert "oci:$HF/big:latest" "$HF/k/out.sqfs" &
    p=$!
    sleep "$(printf '0.%03d' "$delay")"
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    hf_out_ok "$HF/k" "$HF/ref.sqfs" || hf_bad="$hf_bad kill $i at $delay ms: $(ls -lA "$HF/k");"
done
[ -z "$hf_bad" ] && ok "convert SIGKILLed at random moments ($HF_KILLS): no partial image, no temporary file" ||
    fail "convert SIGKILLed at random moments (seed $HF_SEED): no partial image, no temporary file" "$hf_bad"
check "... and converting again succeeds" sh -c "
    XDG_CACHE_HOME='$HF/unused' '$HPCIMG' -q convert 'oci:$HF/big:latest' '$HF/k/out.sqfs' &&
    cmp '$HF/k/out.sqfs' '$HF/ref.sqfs'"

hf_bad=""
for i in $(seq "$HF_KILLS"); do
    rm -rf "$HF/k" "$HF/kcache" && mkdir -p "$HF/k"
    delay=$((RANDOM % 300))
    hf_pull "$HF/kcache" -q "$G/test/big:1" -o "$HF/k/out.sqfs" &
    p=$!
    sleep "$(printf '0.%03d' "$delay")"
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    what="kill $i at $delay ms ($(find "$HF/kcache" -type f -printf '%f %s; ' 2>/dev/null))"
    hf_out_ok "$HF/k" "$HF/pref.sqfs" || hf_bad="$hf_bad $what: output $(ls -lA "$HF/k");"
    hf_cache_valid "$HF/kcache" || hf_bad="$hf_bad $what: a cached blob does not match its name;"
    rm -f "$HF/k/out.sqfs"
    out=$(hf_retry "$HF/kcache" 2>&1) || hf_bad="$hf_bad $what: the retry failed: $out;"
done
[ -z "$hf_bad" ] && ok "pull SIGKILLed at random moments ($HF_KILLS): no partial image, a cache the retry completes" ||
    fail "pull SIGKILLed at random moments (seed $HF_SEED): no partial image, a cache the retry completes" "$hf_bad"

# ---- a full disk -------------------------------------------------------------------------
# hf_fails PATTERN NAME CMD...: CMD fails (exit $HR_EXIT_FAIL) with one line
# on stderr, which matches PATTERN.
hf_fails() {
    local pat=$1 name=$2 err rc
    shift 2
    err=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" = "$HR_EXIT_FAIL" ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] &&
        printf '%s\n' "$err" | grep -qE -- "$pat"; then
        ok "$name"
    else
        fail "$name" "exit $rc (want $HR_EXIT_FAIL), want one line matching /$pat/: $err"
    fi
}
if hf_tmpfs "$HF/full" 1m && hf_tmpfs "$HF/fullcache" 1m; then
    hf_fails "^hpcimg: $HF/full/big.sqfs: .*No space left on device" \
        "convert to a full disk: one line naming the output and ENOSPC" \
        env XDG_CACHE_HOME="$HF/unused" "$HPCIMG" convert "oci:$HF/big:latest" "$HF/full/big.sqfs"
    check "... leaves nothing on it" test -z "$(ls -A "$HF/full")"
    hf_fails "^hpcimg: $HF/full/big.sqfs: .*No space left on device" \
        "pull to a full disk: one line naming the output and ENOSPC" \
        hf_pull "$HF/cache0" "$G/test/big:1" -o "$HF/full/big.sqfs"
    check "... leaves nothing on it" test -z "$(ls -A "$HF/full")"
    hf_fails "^hpcimg: $G/test/big:1: $HF/fullcache/hpcrun/blobs/sha256/[0-9a-f]{64}\.partial: No space left on device" \
        "pull with the blob cache on a full disk: one line naming the reference, the file and ENOSPC" \
        hf_pull "$HF/fullcache" "$G/test/big:1" -o "$HF/fc.sqfs"
    check "... no output, a valid cache" hf_failed_clean "$HF/fullcache"
    mount -o remount,size=64m "$HF/fullcache"
    check "... with room again, the retry succeeds" hf_retry "$HF/fullcache"
    check "... and leaves no partial file" test -z "$(find "$HF/fullcache" -name '*.partial')"
else
    fail "converter faults: a full disk" "cannot mount a small tmpfs"
fi

# ---- a hostile registry --------------------------------------------------------------------
hf_blob="blob sha256:[0-9a-f]{64}"
hf_hostile() { # MODE PATTERN WHAT [REF]: a pull through MODE fails as PATTERN says
    local mode=$1 pat=$2 what=$3 ref=${4:-$HX/$1/test/big:1} cache=$HF/c-$1
    rm -rf "$cache" "$HF/h.sqfs"
    hf_fails "^hpcimg: $ref: $pat" "hostile registry, $what: one line naming the reference and the problem" \
        hf_pull "$cache" "$ref" -o "$HF/h.sqfs"
    check "... ($mode) no output, no wrong blob cached" hf_failed_clean "$cache"
    check "... ($mode) the retry against the honest registry, same cache, succeeds" hf_retry "$cache"
}
hf_hostile reset "$hf_blob: .*(reset|closed|Recv failure)" "connection reset half-way"
hf_hostile short "$hf_blob: transfer closed with [0-9]+ bytes remaining" "short body"
hf_hostile long "$hf_blob: transfer closed with 1000 bytes remaining" "Content-Length larger than the blob"
hf_hostile small "$hf_blob: the registry sent more than the [0-9]+ bytes its descriptor gives" \
    "a manifest that gives layers 1000 bytes too small"
hf_hostile large "$hf_blob: size mismatch \([0-9]+ bytes, its descriptor says [0-9]+\)" \
    "a manifest that gives layers 1000 bytes too large"
hf_hostile digest "$hf_blob: digest mismatch" "a blob with a changed byte"
hf_hostile mlie "manifest sha256:[0-9a-f]{64}: digest mismatch" "a manifest that does not match its Docker-Content-Digest"
hf_hostile swap "manifest $hf_mdigest: digest mismatch" "another image's manifest for a digest" \
    "$HX/swap/test/big@$hf_mdigest"

hf_stop_all
trap 'rm -rf "$WORK"' EXIT
