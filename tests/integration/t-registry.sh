# hpcimg pull from real registries on 127.0.0.1: Debian's docker-registry
# (distribution 2.8) over plain HTTP, over HTTPS with a CA made here, and
# with htpasswd basic auth; images pushed with skopeo from layouts built by
# mkoci.py; and with token auth against a token service (regaux.py) that
# also plays the blob storage the registry redirects to. Every server listens on a free loopback port and is stopped by
# PID at the end (and by the EXIT trap if the suite dies).
# Sourced by the suite runner (lib.sh helpers; $WORK, $HPCIMG, $HR_EXIT_FAIL).

RG_DIR=$WORK/registry
RG_MKOCI=$(dirname "${BASH_SOURCE[0]}")/mkoci.py
RG_CACHE=$RG_DIR/cache
RG_BLOBS=$RG_CACHE/hpcrun/blobs/sha256
RG_PIDS=""
rm -rf "$RG_DIR"
mkdir -p "$RG_DIR"

rg_missing=""
for t in docker-registry skopeo htpasswd openssl curl; do
    command -v "$t" >/dev/null || rg_missing="$rg_missing $t"
done

rg_stop_all() {
    local p
    for p in $RG_PIDS; do kill "$p" 2>/dev/null; done
    for p in $RG_PIDS; do wait "$p" 2>/dev/null; done
    RG_PIDS=""
}
trap 'rg_stop_all; rm -rf "$WORK"' EXIT

rg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# rg_start NAME SCHEME HTTP_EXTRA TOP_EXTRA: a registry whose address lands
# in $RG_ADDR, its PID in $RG_PID; waits (bounded) until /v2/ answers.
rg_start() {
    local name=$1 scheme=$2 port
    port=$(rg_free_port)
    cat >"$RG_DIR/$name.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $RG_DIR/$name-store
http:
  addr: 127.0.0.1:$port
${3:-}
${4:-}
EOF
    docker-registry serve "$RG_DIR/$name.yml" >"$RG_DIR/$name.log" 2>&1 &
    RG_PID=$!
    RG_PIDS="$RG_PIDS $RG_PID"
    RG_ADDR=127.0.0.1:$port
    wait_until 150 curl -sk -o /dev/null "$scheme://$RG_ADDR/v2/"
}

rg_mk() { python3 "$RG_MKOCI" "$@" >/dev/null; }
# skopeo copy LAYOUT:TAG to REGISTRY/REPO:TAG (extra skopeo options first)
rg_push() {
    local src=$1 dst=$2
    shift 2
    skopeo copy -q "$@" --dest-tls-verify=false "oci:$src" "docker://$dst" >/dev/null
}
rg_pull() { XDG_CACHE_HOME=$RG_CACHE "$HPCIMG" -q "$@"; }
rg_ls() { unsquashfs -lln "$1" | grep -v hpcrun | awk '{ $3 = ""; $4 = ""; $5 = ""; print }'; }
rg_same_tree() { [ "$(rg_ls "$1")" = "$(rg_ls "$2")" ]; }
rg_blob_gets() { grep -c "GET /v2/$2/blobs/" "$RG_DIR/$1.log"; }
rg_cached() { [ -f "$RG_BLOBS/${1#sha256:}" ]; }
rg_no_partial() { [ -z "$(find "$RG_CACHE" -name '*.partial' -size +0)" ]; }
# The registry's own copy of a blob (filesystem driver layout).
rg_stored() {
    local h=${2#sha256:}
    echo "$RG_DIR/$1-store/docker/registry/v2/blobs/sha256/${h:0:2}/$h/data"
}
rg_flip_byte() {
    python3 - "$1" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 1
open(p, "wb").write(bytes(b))
EOF
}
rg_layer_digest() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["layers"][0]["digest"])' "$1"; }

"$HPCIMG" --version | grep -q libcurl || rg_missing="$rg_missing libcurl (hpcimg built without it: apt-get install libcurl4-openssl-dev, configure again)"
if [ -n "$rg_missing" ]; then
    fail "registry tests" "missing:$rg_missing (apt-get install docker-registry skopeo apache2-utils openssl curl)"
    return 0 2>/dev/null || exit 0
fi

# ---- test images -----------------------------------------------------------------------
rg_mk stack "$RG_DIR/stack"       # gzip, zstd and plain layers, whiteouts, devices ...
rg_mk multi "$RG_DIR/multi"       # an index of an arm64 and an amd64 image
rg_mk big "$RG_DIR/big" big1      # one 4 MiB layer
rg_mk unique "$RG_DIR/u1" one     # layers no other image shares, to damage
rg_mk unique "$RG_DIR/u2" two
rg_mk bad-diffid "$RG_DIR/baddiff" # a layer whose tar does not match the config's diff_id
rg_bb=$(command -v busybox || true)
if [ -n "$rg_bb" ] && ! ldd "$rg_bb" >/dev/null 2>&1; then
    rg_mk runnable "$RG_DIR/run" "$rg_bb"
    rg_mk runnable-zstd "$RG_DIR/runz" "$rg_bb"
fi
XDG_CACHE_HOME=$RG_DIR/unused "$HPCIMG" -q convert "oci:$RG_DIR/stack:latest" \
    "$RG_DIR/stack-conv.sqfs"

# ---- plain HTTP ------------------------------------------------------------------------
# schema 1 pushes allowed, to see pull refuse them
if rg_start http http "" "compatibility:
  schema1:
    enabled: true"; then ok "plain HTTP registry starts"; else fail "plain HTTP registry starts" "$(cat "$RG_DIR/http.log")"; fi
H=$RG_ADDR
H_PID=$RG_PID
check "push the test images with skopeo" sh -c "
    $(declare -f rg_push); rg_push '$RG_DIR/stack:latest' '$H/test/stack:1' &&
    rg_push '$RG_DIR/multi:multi' '$H/test/multi:1' --all &&
    rg_push '$RG_DIR/big:latest' '$H/test/big:1' &&
    rg_push '$RG_DIR/u1:latest' '$H/test/u1:1' &&
    rg_push '$RG_DIR/u2:latest' '$H/test/u2:1' &&
    rg_push '$RG_DIR/baddiff:latest' '$H/test/baddiff:1' &&
    rg_push '$RG_DIR/multi:multi' '$H/test/list:1' --all --format v2s2 &&
    { [ ! -d '$RG_DIR/run' ] || { rg_push '$RG_DIR/run:latest' '$H/test/run:v2s2' --format v2s2 &&
      rg_push '$RG_DIR/run:latest' '$H/test/run:s1' --format v2s1 &&
      rg_push '$RG_DIR/runz:latest' '$H/test/run:zstd'; }; }"

# The checks below run in $RG_DIR (default output names): without it they
# cannot run, and that is a failure, not a silent end of the file.
if ! cd "$RG_DIR"; then
    fail "registry tests: cd $RG_DIR" "the remaining registry checks did not run"
    rg_stop_all
    trap 'rm -rf "$WORK"' EXIT
    return 0 2>/dev/null || exit 0
fi
check_grep "^hpcimg: docker://$H/test/stack:1: TLS failure: .*--insecure" \
    "plain HTTP needs --insecure" rg_pull pull "docker://$H/test/stack:1"
check "no output after a failed pull" test ! -e "$RG_DIR/stack_1.sqfs"
check "pull over HTTP with --insecure, default output NAME_TAG.sqfs" \
    rg_pull --insecure pull "docker://$H/test/stack:1"
check "pulled image equals the converted layout (whiteouts, zstd and plain layers)" \
    rg_same_tree "$RG_DIR/stack_1.sqfs" "$RG_DIR/stack-conv.sqfs"
rg_mdigest=$(skopeo inspect --raw --tls-verify=false "docker://$H/test/stack:1" | sha256sum | cut -d' ' -f1)
check_grep "\"reference\": \"docker://$H/test/stack:1\"" "source.json records the reference" \
    "$HPCIMG" inspect "$RG_DIR/stack_1.sqfs"
check_grep "\"manifest_digest\": \"sha256:$rg_mdigest\"" "source.json records the manifest digest" \
    "$HPCIMG" inspect "$RG_DIR/stack_1.sqfs"
check "the blob cache holds the manifest" rg_cached "sha256:$rg_mdigest"
check "no temporary files left in the cache" sh -c "[ -z \"\$(find '$RG_CACHE' -name '.tmp*' -o -name '*.partial')\" ]"

rg_before=$(rg_blob_gets http test/stack)
check "a second pull succeeds" rg_pull --insecure pull "$H/test/stack:1" -o "$RG_DIR/again.sqfs"
check "a second pull downloads no blob" test "$(rg_blob_gets http test/stack)" = "$rg_before"
check "a second pull gives the same bytes" cmp "$RG_DIR/stack_1.sqfs" "$RG_DIR/again.sqfs"
check "two pulls at once share one cache" sh -c "
    XDG_CACHE_HOME='$RG_DIR/cache2' '$HPCIMG' -q --insecure pull '$H/test/big:1' -o '$RG_DIR/c1.sqfs' & p=\$!
    XDG_CACHE_HOME='$RG_DIR/cache2' '$HPCIMG' -q --insecure pull '$H/test/big:1' -o '$RG_DIR/c2.sqfs' || exit 1
    wait \$p && cmp '$RG_DIR/c1.sqfs' '$RG_DIR/c2.sqfs' &&
    [ -z \"\$(find '$RG_DIR/cache2' -name '*.partial')\" ]"

case $(uname -m) in x86_64) rg_arch=amd64 ;; aarch64) rg_arch=arm64 ;; *) rg_arch="" ;; esac
if [ -n "$rg_arch" ]; then
    check "multi-platform index: the host's platform" sh -c "
        XDG_CACHE_HOME='$RG_CACHE' '$HPCIMG' -q --insecure pull '$H/test/multi:1' -o m.sqfs &&
        [ \"\$(unsquashfs -cat m.sqfs arch)\" = $rg_arch ]"
fi
check "multi-platform index: --platform linux/arm64" sh -c "
    XDG_CACHE_HOME='$RG_CACHE' '$HPCIMG' -q --insecure --platform linux/arm64 pull '$H/test/multi:1' -o arm.sqfs &&
    [ \"\$(unsquashfs -cat arm.sqfs arch)\" = arm64 ]"
check_grep "no image for platform linux/s390x" "a platform the index lacks" \
    rg_pull --insecure --platform linux/s390x pull "$H/test/multi:1" -o s390x.sqfs
check "Docker manifest list: --platform linux/arm64" sh -c "
    skopeo inspect --raw --tls-verify=false 'docker://$H/test/list:1' | grep -q manifest.list.v2 &&
    XDG_CACHE_HOME='$RG_CACHE' '$HPCIMG' -q --insecure --platform linux/arm64 pull '$H/test/list:1' -o list.sqfs &&
    [ \"\$(unsquashfs -cat list.sqfs arch)\" = arm64 ]"

if [ -d "$RG_DIR/run" ]; then
    check "pull a Docker v2 schema 2 image" \
        rg_pull --insecure pull "$H/test/run:v2s2" -o "$RG_DIR/run.sqfs"
    chmod 644 "$RG_DIR/run.sqfs"
    check_grep '^greeting=hello world cwd=/data$' "hpcrun runs the pulled image with its config" \
        hpcrun "$RG_DIR/run.sqfs"
    check "pull an image with a zstd layer" \
        rg_pull --insecure pull "$H/test/run:zstd" -o "$RG_DIR/runz.sqfs"
    chmod 644 "$RG_DIR/runz.sqfs"
    check_grep '^greeting=hello world cwd=/data$' "hpcrun runs the zstd image" \
        hpcrun "$RG_DIR/runz.sqfs"
    check_grep "^hpcimg: $H/test/run:s1: the registry answered with a Docker schema 1 manifest" \
        "a schema 1 manifest is refused" rg_pull --insecure pull "$H/test/run:s1" -o "$RG_DIR/s1.sqfs"
    check "schema 1: no output" test ! -e "$RG_DIR/s1.sqfs"
else
    fail "pull a Docker v2 schema 2 image" "needs a static busybox"
fi

# errors: one line naming the reference and the registry's error code
echo keep >"$RG_DIR/kept.sqfs"
check_grep "^hpcimg: $H/test/nothere:1: manifest 1: MANIFEST_UNKNOWN" "unknown repository" \
    rg_pull --insecure pull "$H/test/nothere:1" -o "$RG_DIR/kept.sqfs"
check_rc "$HR_EXIT_FAIL" "unknown tag exits $HR_EXIT_FAIL" \
    rg_pull --insecure pull "$H/test/stack:nope" -o "$RG_DIR/kept.sqfs"
rg_closed=$(rg_free_port)
check_grep "^hpcimg: 127.0.0.1:$rg_closed/x:1: network unreachable" "connection refused" \
    rg_pull --insecure pull "127.0.0.1:$rg_closed/x:1" -o "$RG_DIR/kept.sqfs"
check "an existing output file is untouched by failed pulls" test "$(cat "$RG_DIR/kept.sqfs")" = keep
check_grep "invalid repository name" "bad reference" rg_pull pull "docker://$H/Bad/Name"
check_grep "^hpcimg: busybox:1: network unreachable: 127.0.0.1:$rg_closed" \
    "bare REPO:TAG goes to HPCIMG_REGISTRY" \
    env HPCIMG_REGISTRY="127.0.0.1:$rg_closed" XDG_CACHE_HOME="$RG_CACHE" "$HPCIMG" --insecure pull busybox:1

# a damaged layer in the registry: refused by digest, nothing cached, no output
u1_layer=$(rg_layer_digest "$(rg_stored http "$(skopeo inspect --raw --tls-verify=false "docker://$H/test/u1:1" | sha256sum | sed 's/ .*//; s/^/sha256:/')")")
rg_flip_byte "$(rg_stored http "$u1_layer")"
check_grep "^hpcimg: $H/test/u1:1: blob $u1_layer: digest mismatch" "damaged blob refused, naming its digest" \
    rg_pull --insecure pull "$H/test/u1:1" -o "$RG_DIR/u1.sqfs"
check "damaged blob: no output" test ! -e "$RG_DIR/u1.sqfs"
check "damaged blob: nothing cached" sh -c "! ls '$RG_BLOBS/' | grep -q '${u1_layer#sha256:}'"

# a layer whose uncompressed tar does not match the config's diff_id
check_grep "^hpcimg: sha256:[0-9a-f]{64}: layer diff_id mismatch" "diff_id mismatch refused, naming the digest" \
    rg_pull --insecure pull "$H/test/baddiff:1" -o "$RG_DIR/baddiff.sqfs"
check "diff_id mismatch: no output" test ! -e "$RG_DIR/baddiff.sqfs"

# a damaged manifest: its content does not match Docker-Content-Digest
u2_mdigest=sha256:$(skopeo inspect --raw --tls-verify=false "docker://$H/test/u2:1" | sha256sum | cut -d' ' -f1)
rg_flip_byte "$(rg_stored http "$u2_mdigest")"
check_grep "^hpcimg: $H/test/u2:1: manifest $u2_mdigest: digest mismatch" "damaged manifest refused" \
    rg_pull --insecure pull "$H/test/u2:1" -o "$RG_DIR/u2.sqfs"
check_grep "digest mismatch" "damaged manifest pulled by digest refused" \
    rg_pull --insecure pull "$H/test/u2@$u2_mdigest" -o "$RG_DIR/u2.sqfs"
check "damaged manifest: no output, not cached" sh -c "[ ! -e '$RG_DIR/u2.sqfs' ] && ! [ -e '$RG_BLOBS/${u2_mdigest#sha256:}' ]"

# resume: a partial file from an interrupted pull is continued with Range
big_m=sha256:$(skopeo inspect --raw --tls-verify=false "docker://$H/test/big:1" | sha256sum | cut -d' ' -f1)
big_layer=$(rg_layer_digest "$(rg_stored http "$big_m")")
head -c 1000000 "$(rg_stored http "$big_layer")" >"$RG_BLOBS/${big_layer#sha256:}.partial"
check_grep "resuming after 1000000 bytes" "an interrupted download resumes" \
    env XDG_CACHE_HOME="$RG_CACHE" "$HPCIMG" -v --insecure pull "$H/test/big:1" -o "$RG_DIR/big.sqfs"
check_grep "GET /v2/test/big/blobs/$big_layer HTTP/1.1\" 206" "the resume asked for a range" \
    cat "$RG_DIR/http.log"
check "the resumed layer is complete" bash -c "unsquashfs -cat '$RG_DIR/big.sqfs' big.bin | cmp - <(python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(\"big1\").randbytes(4 << 20))')"
check "no partial file left" rg_no_partial
rm -f "$RG_BLOBS/${big_layer#sha256:}"
head -c 1000000 /dev/zero >"$RG_BLOBS/${big_layer#sha256:}.partial"
check "a damaged partial file is downloaded again" \
    rg_pull --insecure --parallel 1 pull "$H/test/big:1" -o "$RG_DIR/big2.sqfs"
check "... to the same image" cmp "$RG_DIR/big.sqfs" "$RG_DIR/big2.sqfs"

# by digest with the registry gone: everything comes from the cache
kill "$H_PID" && wait "$H_PID" 2>/dev/null
check "pull by digest from the cache with the registry stopped" \
    rg_pull pull "docker://$H/test/stack@sha256:$rg_mdigest" -o "$RG_DIR/bydigest.sqfs"
check "... gives the same tree" rg_same_tree "$RG_DIR/bydigest.sqfs" "$RG_DIR/stack-conv.sqfs"
check_grep "\"manifest_digest\": \"sha256:$rg_mdigest\"" "... recording the digest" \
    "$HPCIMG" inspect "$RG_DIR/bydigest.sqfs"

# ---- HTTPS with a CA made here ------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$RG_DIR/ca.key" -out "$RG_DIR/ca.crt" \
    -days 2 -subj /CN=hpcrun-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$RG_DIR/srv.key" -out "$RG_DIR/srv.csr" \
    -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$RG_DIR/srv.ext"
openssl x509 -req -in "$RG_DIR/srv.csr" -CA "$RG_DIR/ca.crt" -CAkey "$RG_DIR/ca.key" \
    -CAcreateserial -out "$RG_DIR/srv.crt" -days 2 -extfile "$RG_DIR/srv.ext" 2>/dev/null
if rg_start https https "  tls:
    certificate: $RG_DIR/srv.crt
    key: $RG_DIR/srv.key"; then ok "HTTPS registry starts"; else fail "HTTPS registry starts" "$(cat "$RG_DIR/https.log")"; fi
S=$RG_ADDR
check "push to the HTTPS registry" rg_push "$RG_DIR/stack:latest" "$S/test/stack:1"
check_grep "^hpcimg: $S/test/stack:1: TLS failure: .*--ca-cert" "an unknown CA is a TLS failure" \
    rg_pull pull "$S/test/stack:1" -o "$RG_DIR/tls.sqfs"
check "TLS failure: no output" test ! -e "$RG_DIR/tls.sqfs"
rm -rf "$RG_CACHE"
check "pull over HTTPS with --ca-cert" \
    rg_pull --ca-cert "$RG_DIR/ca.crt" pull "$S/test/stack:1" -o "$RG_DIR/tls.sqfs"
check "... the same tree" rg_same_tree "$RG_DIR/tls.sqfs" "$RG_DIR/stack-conv.sqfs"
rm -rf "$RG_CACHE"
check "--insecure also allows TLS without verification" \
    rg_pull --insecure pull "$S/test/stack:1" -o "$RG_DIR/tls2.sqfs"

# ---- the blob cache is the user's alone ---------------------------------------------------------
# A private registry's layers must not be readable by other users, also
# where homes are 0755 (Debian's default): directories 0700, files 0600.
rg_modes() { find "$@" -exec stat -c '%a %F %n' {} +; }
rg_not_private() { rg_modes "$@" | grep -vE '^(700 directory|600 regular( empty)? file) '; }
rm -rf "$RG_CACHE"
check "a pull into a new cache" \
    rg_pull --ca-cert "$RG_DIR/ca.crt" pull "$S/test/stack:1" -o "$RG_DIR/modes.sqfs"
check "... its directories are 0700 and its files 0600 (stat)" \
    sh -c "[ -n \"\$(find '$RG_CACHE' -type f)\" ] && ! { $(declare -f rg_modes rg_not_private); rg_not_private '$RG_CACHE'; }"
check "... the output image keeps its mode, 0666 less the umask" \
    test "$(stat -c %a "$RG_DIR/modes.sqfs")" = "$(printf '%o' $((0666 & ~0$(umask))))"
if [ "$(id -u)" = 0 ]; then # the test user's own home: ~/.cache/hpcrun by default
    rm -rf "$USER_HOME/.cache/hpcrun"
    install -d -o "$TEST_UID" -g "$TEST_GID" -m 0755 "$USER_HOME/.cache"
    check "a pull as an unprivileged user" \
        as_user "$HPCIMG" -q --ca-cert "$RG_DIR/ca.crt" pull "$S/test/stack:1" -o "$UWORK/user.sqfs"
    check "... caches in ~/.cache/hpcrun" test -f "$USER_HOME/.cache/hpcrun/blobs/sha256/$rg_mdigest"
    check "... 0700 directories and 0600 files" \
        sh -c "! { $(declare -f rg_modes rg_not_private); rg_not_private '$USER_HOME/.cache/hpcrun'; }"
    rg_layer=$(rg_layer_digest "$USER_HOME/.cache/hpcrun/blobs/sha256/$rg_mdigest")
    check "another user cannot read a cached layer (home $(stat -c %a "$USER_HOME"), ~/.cache $(stat -c %a "$USER_HOME/.cache"))" \
        other_cannot_read "$USER_HOME/.cache/hpcrun/blobs/sha256/${rg_layer#sha256:}"
    # a cache an older hpcimg left open (0755 directories, a 0644 blob) is closed
    as_user chmod 0755 .cache/hpcrun .cache/hpcrun/blobs .cache/hpcrun/blobs/sha256
    as_user chmod 0644 ".cache/hpcrun/blobs/sha256/${rg_layer#sha256:}"
    check "a pull with an open cache from an older hpcimg" \
        as_user "$HPCIMG" -q --ca-cert "$RG_DIR/ca.crt" pull "$S/test/stack:1" -o "$UWORK/user.sqfs"
    check "... makes its directories 0700 and its blobs 0600" \
        sh -c "! { $(declare -f rg_modes rg_not_private); rg_not_private '$USER_HOME/.cache/hpcrun'; }"
    rm -rf "$USER_HOME/.cache/hpcrun" "$UWORK/user.sqfs"
    # a cache directory that belongs to someone else is refused
    mkdir -p "$UWORK/foreign/hpcrun" && chmod 0777 "$UWORK/foreign/hpcrun"
    USER_ENV="XDG_CACHE_HOME=$UWORK/foreign" check_grep \
        "^hpcimg: $UWORK/foreign/hpcrun: the blob cache belongs to uid 0, not to you \(uid $TEST_UID\)" \
        "a cache directory of another user is refused, naming it" \
        as_user "$HPCIMG" --ca-cert "$RG_DIR/ca.crt" pull "$S/test/stack:1" -o "$UWORK/foreign.sqfs"
    check "... nothing written into it, no output" \
        sh -c "[ -z \"\$(ls -A '$UWORK/foreign/hpcrun')\" ] && [ ! -e '$UWORK/foreign.sqfs' ]"
    rm -rf "$UWORK/foreign"
else
    fail "the blob cache is private to its user" "needs root, to pull as one user and read as another"
fi
rm -rf "$RG_CACHE"
if command -v script >/dev/null; then
    check_grep "downloading 4/4 blobs" "a progress line on a terminal" \
        script -qec "env XDG_CACHE_HOME='$RG_CACHE' '$HPCIMG' --ca-cert '$RG_DIR/ca.crt' pull '$S/test/stack:1' -o '$RG_DIR/tty.sqfs'" /dev/null
fi
rm -rf "$RG_CACHE"
check_grep "sha256:[0-9a-f]{64}: downloaded, [0-9]+ bytes" "-v without a terminal: a line per blob" \
    env XDG_CACHE_HOME="$RG_CACHE" "$HPCIMG" -v --ca-cert "$RG_DIR/ca.crt" pull "$S/test/stack:1" -o "$RG_DIR/tty.sqfs"
check "no progress line without a terminal" sh -c "! XDG_CACHE_HOME='$RG_DIR/cache3' '$HPCIMG' --ca-cert '$RG_DIR/ca.crt' pull '$S/test/stack:1' -o '$RG_DIR/tty2.sqfs' 2>&1 | grep -q downloading"

# ---- basic auth (htpasswd) ------------------------------------------------------------------
htpasswd -Bbn tester 's3cret pass' >"$RG_DIR/htpasswd" 2>/dev/null
if rg_start basic http "" "auth:
  htpasswd:
    realm: hpcrun-test
    path: $RG_DIR/htpasswd"; then ok "basic-auth registry starts"; else fail "basic-auth registry starts" "$(cat "$RG_DIR/basic.log")"; fi
B=$RG_ADDR
check "push with credentials" rg_push "$RG_DIR/u1:latest" "$B/test/u1:1" --dest-creds 'tester:s3cret pass'
rm -rf "$RG_CACHE"
check_grep "^hpcimg: $B/test/u1:1: UNAUTHORIZED: credentials required" "no credentials: UNAUTHORIZED" \
    rg_pull --insecure pull "$B/test/u1:1" -o "$RG_DIR/b.sqfs"
check_grep "^hpcimg: $B/test/u1:1: UNAUTHORIZED: credentials refused" "wrong credentials: UNAUTHORIZED" \
    rg_pull --insecure --creds tester:wrong pull "$B/test/u1:1" -o "$RG_DIR/b.sqfs"
check "--creds USER:PASS" rg_pull --insecure --creds 'tester:s3cret pass' pull "$B/test/u1:1" -o "$RG_DIR/b.sqfs"
rm -rf "$RG_CACHE" "$RG_DIR/b.sqfs"
rg_auth=$(printf 'tester:s3cret pass' | base64 -w0)
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$B" "$rg_auth" >"$RG_DIR/auth.json"
check "credentials from \$REGISTRY_AUTH_FILE" \
    env REGISTRY_AUTH_FILE="$RG_DIR/auth.json" XDG_CACHE_HOME="$RG_CACHE" "$HPCIMG" -q --insecure pull "$B/test/u1:1" -o "$RG_DIR/b.sqfs"
rm -rf "$RG_CACHE" "$RG_DIR/b.sqfs"
mkdir -p "$RG_DIR/home/.docker"
cp "$RG_DIR/auth.json" "$RG_DIR/home/.docker/config.json"
rg_out=$(env HOME="$RG_DIR/home" XDG_CACHE_HOME="$RG_CACHE" "$HPCIMG" -vv --insecure pull "$B/test/u1:1" -o "$RG_DIR/b.sqfs" 2>&1)
check "credentials from ~/.docker/config.json" test -s "$RG_DIR/b.sqfs"
check "credentials never printed" sh -c "! printf '%s' \"\$1\" | grep -qE 's3cret|$rg_auth'" _ "$rg_out"

# ---- credentials stay with the registry -----------------------------------------------------
# The registry redirects blob GETs to "storage" on another loopback address
# that answers 401 with a Bearer realm of its own over plain HTTP and
# records every Authorization header it is sent: what a host the registry
# only points to would do to collect the user's credentials.
rg_evil_port=$(rg_free_port)
REGAUX_HOSTILE=1 REGAUX_ADDR=127.0.0.2 REGAUX_AUTH_LOG="$RG_DIR/evil-auth.log" \
    python3 "$(dirname "${BASH_SOURCE[0]}")/regaux.py" "$rg_evil_port" /dev/null /dev/null \
    "$RG_DIR/evil-store" 1 x x >"$RG_DIR/evil.log" 2>&1 &
RG_PIDS="$RG_PIDS $!"
wait_until 100 curl -s -o /dev/null "http://127.0.0.2:$rg_evil_port/token"
if rg_start redirected http "" "auth:
  htpasswd:
    realm: hpcrun-test
    path: $RG_DIR/htpasswd
middleware:
  storage:
    - name: redirect
      options:
        baseurl: http://127.0.0.2:$rg_evil_port/"; then ok "registry redirecting to hostile storage starts"; else fail "registry redirecting to hostile storage starts" "$(cat "$RG_DIR/redirected.log")"; fi
R=$RG_ADDR
check "push to it" rg_push "$RG_DIR/u1:latest" "$R/test/u1:1" --dest-creds 'tester:s3cret pass'
: >"$RG_DIR/evil-auth.log" # what skopeo sent is not hpcimg's doing
rm -rf "$RG_CACHE"
check_rc "$HR_EXIT_FAIL" "a 401 from where a redirect led fails the pull (exit $HR_EXIT_FAIL)" \
    rg_pull --insecure --creds 'tester:s3cret pass' pull "$R/test/u1:1" -o "$RG_DIR/evil.sqfs"
check_grep "^hpcimg: $R/test/u1:1: HTTP 401 from http://127.0.0.2:$rg_evil_port, where the registry redirected: not authenticating there" \
    "... with a line naming the redirect target" \
    rg_pull --insecure --creds 'tester:s3cret pass' pull "$R/test/u1:1" -o "$RG_DIR/evil.sqfs"
check "... the hostile storage was asked for the blob" grep -q '^/docker/registry/v2/blobs/' "$RG_DIR/evil-auth.log"
check "... and received no Authorization header, so no credentials" \
    sh -c "! grep -v '	-\$' '$RG_DIR/evil-auth.log' && ! grep -qE '$rg_auth|s3cret' '$RG_DIR/evil-auth.log'"
check "... no output" test ! -e "$RG_DIR/evil.sqfs"

# ---- bearer tokens (a token service made here) and redirects to blob storage -----------------
# The registry trusts tokens signed with tok.key (auth.token); its redirect
# middleware answers blob GETs with 307 to regaux.py's storage side, which
# refuses any request carrying Authorization. Tokens say expires_in 1.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$RG_DIR/tok.key" -out "$RG_DIR/tok.crt" \
    -days 2 -subj /CN=hpcrun-test-token 2>/dev/null
rg_aux_port=$(rg_free_port)
python3 "$(dirname "${BASH_SOURCE[0]}")/regaux.py" "$rg_aux_port" "$RG_DIR/tok.key" \
    "$RG_DIR/tok.crt" "$RG_DIR/bearer-store" 1 'pusher:pw' 'tester:pw' >"$RG_DIR/aux.log" 2>&1 &
RG_PIDS="$RG_PIDS $!"
wait_until 100 curl -s -o /dev/null "http://127.0.0.1:$rg_aux_port/token"
if rg_start bearer http "" "auth:
  token:
    realm: http://127.0.0.1:$rg_aux_port/token
    service: hpcrun-test
    issuer: hpcrun-test-issuer
    rootcertbundle: $RG_DIR/tok.crt
middleware:
  storage:
    - name: redirect
      options:
        baseurl: http://localhost:$rg_aux_port/"; then ok "token-auth registry starts"; else fail "token-auth registry starts" "$(cat "$RG_DIR/bearer.log")"; fi
T=$RG_ADDR
check "push with a token" sh -c "
    $(declare -f rg_push); rg_push '$RG_DIR/stack:latest' '$T/test/stack:1' --dest-creds pusher:pw &&
    rg_push '$RG_DIR/u1:latest' '$T/test/secret:1' --dest-creds pusher:pw"
rm -rf "$RG_CACHE"
rg_aux_lines=$(wc -l <"$RG_DIR/aux.log")
rg_aux_new() { tail -n +"$((rg_aux_lines + 1))" "$RG_DIR/aux.log"; }
check "anonymous pull with a bearer token" \
    rg_pull --insecure pull "$T/test/stack:1" -o "$RG_DIR/bearer.sqfs"
check "... the same tree" rg_same_tree "$RG_DIR/bearer.sqfs" "$RG_DIR/stack-conv.sqfs"
check_grep '" 307 ' "blob GETs were redirected (307)" cat "$RG_DIR/bearer.log"
check "redirects followed without the registry's Authorization" sh -c "
    [ \$(grep -c '^GET /docker/registry/v2/blobs/.* auth=no 200' '$RG_DIR/aux.log') -ge 4 ] &&
    ! grep -q 'auth=yes 403' '$RG_DIR/aux.log'"
check "blobs download in parallel" sh -c "grep -q '^inflight=[2-9]' '$RG_DIR/aux.log'"
rm -rf "$RG_CACHE"
rg_aux_lines=$(wc -l <"$RG_DIR/aux.log")
check "--parallel 1 downloads one blob at a time" sh -c "
    XDG_CACHE_HOME='$RG_CACHE' '$HPCIMG' -q --insecure --parallel 1 pull '$T/test/stack:1' -o '$RG_DIR/bearer1.sqfs' &&
    [ -z \"\$(tail -n +$((rg_aux_lines + 1)) '$RG_DIR/aux.log' | grep '^inflight=[2-9]')\" ]"
check "a token that expires is renewed during the pull (4 blobs, 0.3 s each, expires_in 1)" \
    test "$(rg_aux_new | grep -c '^GET /token?service=hpcrun-test&scope=repository%3Atest%2Fstack%3Apull auth=no 200')" -ge 2
# a pull killed half-way leaves its partial blob; the next pull resumes it
check "push a large image" sh -c "$(declare -f rg_push); rg_push '$RG_DIR/big:latest' '$T/test/big:1' --dest-creds pusher:pw"
rg_partial=$RG_BLOBS/${big_layer#sha256:}.partial
rm -rf "$RG_CACHE"
XDG_CACHE_HOME=$RG_CACHE "$HPCIMG" -q --insecure pull "$T/test/big:1" -o "$RG_DIR/killed.sqfs" >/dev/null 2>&1 &
rg_pull_pid=$!
rg_partial_size() { [ "$(stat -c %s "$rg_partial" 2>/dev/null)" = 1048576 ]; }
if wait_until 300 rg_partial_size; then ok "a stalled pull holds 1 MiB of the blob"; else fail "a stalled pull holds 1 MiB of the blob" "$(ls -l "$RG_BLOBS")"; fi
kill "$rg_pull_pid"
wait "$rg_pull_pid" 2>/dev/null
check "the killed pull leaves its partial file and no output" \
    sh -c "[ -s '$rg_partial' ] && [ ! -e '$RG_DIR/killed.sqfs' ]"
check_grep "resuming after 1048576 bytes" "the next pull resumes it" \
    env XDG_CACHE_HOME="$RG_CACHE" "$HPCIMG" -v --insecure pull "$T/test/big:1" -o "$RG_DIR/resumed.sqfs"
check "... with a Range request answered 206" grep -q "^GET /docker/registry/v2/blobs/.*/${big_layer#sha256:}/data auth=no 206" "$RG_DIR/aux.log"
check "... to the whole layer" bash -c "cmp <(unsquashfs -cat '$RG_DIR/resumed.sqfs' big.bin) <(unsquashfs -cat '$RG_DIR/big.sqfs' big.bin)"

# a 401 in the middle of the blob downloads: a new token, the blob again
check "push an image whose tokens fail every second time" sh -c "$(declare -f rg_push); rg_push '$RG_DIR/stack:latest' '$T/test/flaky:1' --dest-creds pusher:pw"
rm -rf "$RG_CACHE"
check "a blob answered 401 is fetched again with a new token" sh -c "
    XDG_CACHE_HOME='$RG_CACHE' '$HPCIMG' -q --insecure --parallel 1 pull '$T/test/flaky:1' -o '$RG_DIR/flaky.sqfs' &&
    grep -q 'GET /v2/test/flaky/blobs/.*\" 401 ' '$RG_DIR/bearer.log'"
check "... the same tree" rg_same_tree "$RG_DIR/flaky.sqfs" "$RG_DIR/stack-conv.sqfs"

check_grep "^hpcimg: $T/test/secret:1: token: UNAUTHORIZED" "token refused without credentials" \
    rg_pull --insecure pull "$T/test/secret:1" -o "$RG_DIR/secret.sqfs"
check_grep "^hpcimg: $T/test/secret:1: token: UNAUTHORIZED" "token refused with wrong credentials" \
    rg_pull --insecure --creds tester:nope pull "$T/test/secret:1" -o "$RG_DIR/secret.sqfs"
check "no output when the token is refused" test ! -e "$RG_DIR/secret.sqfs"
check "a token with credentials" \
    rg_pull --insecure --creds tester:pw pull "$T/test/secret:1" -o "$RG_DIR/secret.sqfs"
check_grep "^hpcimg: $T/test/denied:1: token: DENIED" "access denied names DENIED" \
    rg_pull --insecure pull "$T/test/denied:1" -o "$RG_DIR/denied.sqfs"

# A registry reached over HTTPS whose token realm is plain HTTP: the realm
# gets no credentials (they would cross the network in clear text); the
# token is asked for anonymously, with a warning that says why.
if rg_start bearertls https "  tls:
    certificate: $RG_DIR/srv.crt
    key: $RG_DIR/srv.key" "auth:
  token:
    realm: http://127.0.0.1:$rg_aux_port/token
    service: hpcrun-test
    issuer: hpcrun-test-issuer
    rootcertbundle: $RG_DIR/tok.crt"; then ok "HTTPS registry with a plain HTTP token realm starts"; else fail "HTTPS registry with a plain HTTP token realm starts" "$(cat "$RG_DIR/bearertls.log")"; fi
BT=$RG_ADDR
check "push to it" sh -c "$(declare -f rg_push); rg_push '$RG_DIR/stack:latest' '$BT/test/stack:1' --dest-creds pusher:pw"
rm -rf "$RG_CACHE"
rg_aux_lines=$(wc -l <"$RG_DIR/aux.log")
check_grep "^hpcimg: warning: $BT/test/stack:1: token realm http://127.0.0.1:$rg_aux_port/token is not HTTPS: asking it for a token without the credentials" \
    "HTTPS registry, plain HTTP realm: a warning naming the realm" \
    env XDG_CACHE_HOME="$RG_CACHE" "$HPCIMG" --ca-cert "$RG_DIR/ca.crt" --creds tester:pw pull "$BT/test/stack:1" -o "$RG_DIR/bt.sqfs"
check "... the pull succeeds with an anonymous token" rg_same_tree "$RG_DIR/bt.sqfs" "$RG_DIR/stack-conv.sqfs"
check "... the realm was asked, never with credentials" sh -c "
    $(declare -f rg_aux_new); rg_aux_lines=$rg_aux_lines; RG_DIR='$RG_DIR'
    rg_aux_new | grep -q '^GET /token.* auth=no 200' && ! rg_aux_new | grep -q '^GET /token.* auth=yes'"

# ---- the end: every server stopped by PID ------------------------------------------------------
cd "$WORK" || true
rg_stop_all
trap 'rm -rf "$WORK"' EXIT
