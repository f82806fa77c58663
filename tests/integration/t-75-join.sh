# --join: launches that share a key share one user+mount namespace, one image
# mount and one FUSE server; cross-memory attach works between them; the
# mount lives until the last of them exits.

join_key=it-$$-$RANDOM
for i in 1 2 3 4; do
    hpcrun --join="$join_key" "$IMG/test.sqfs" hr-probe hold 3 > "$UWORK/join.$i" 2>&1 &
done
held() { [ "$(cat "$UWORK"/join.[1-4] 2>/dev/null | grep -c '^pid=')" = 4 ]; }
if wait_until 100 held; then
    ok "4 launches with one --join key all start"
    [ "$(cat "$UWORK"/join.[1-4] | sed -n 's/.*mnt=//p' | sort -u | wc -l)" = 1 ] &&
        ok "they share one mount namespace" || fail "they share one mount namespace" "$(cat "$UWORK"/join.*)"
    [ "$(fuse_count)" = 1 ] && ok "4 launches with one --join key run 1 FUSE server" ||
        fail "4 launches with one --join key run 1 FUSE server" "$(fuse_count)"
    read -r pid addr < <(sed -n 's/^pid=\([0-9]*\) addr=\([0-9a-fx]*\).*/\1 \2/p' "$UWORK/join.1")
    check_grep '^pvr=hpcrun!$' "process_vm_readv into another member works (cross-memory attach)" \
        hpcrun --join="$join_key" "$IMG/test.sqfs" hr-probe pvr "$pid" "$addr"
    check_grep '^pvr=EPERM$' "...and fails from a container that did not join" \
        hpcrun "$IMG/test.sqfs" hr-probe pvr "$pid" "$addr"
else
    fail "4 launches with one --join key all start" "$(cat "$UWORK"/join.* 2>&1)"
fi
wait
wait_until 10 no_fuse && ok "the shared mount is gone within 1 s of the last member" ||
    fail "the shared mount is gone within 1 s of the last member" "$(fuse_count)"

# the leader may exit first: the others keep the image
rm -f "$UWORK/late.out"
hpcrun --join="$join_key-2" "$IMG/test.sqfs" sh -c 'sleep 0.3' >/dev/null 2>&1 &
lead=$!
sleep 0.1
hpcrun --join="$join_key-2" "$IMG/test.sqfs" sh -c 'sleep 1; cat /etc/hpcrun-demo' > "$UWORK/late.out" 2>&1
wait "$lead"
grep -q 'inside the hpcrun demo image' "$UWORK/late.out" &&
    ok "a member keeps the image after the leader exits" ||
    fail "a member keeps the image after the leader exits" "$(cat "$UWORK/late.out")"
wait_until 10 no_fuse && ok "then the mount goes with the last member" || fail "then the mount goes with the last member"

check_rc 7 "a member's exit status is its own" hpcrun --join="$join_key-3" "$IMG/test.sqfs" sh -c 'exit 7'
check_grep 'not in a Slurm job step' "--join without a key outside Slurm is refused" hpcrun --join "$IMG/test.sqfs" true
slurm_env="SLURM_JOB_ID=77 SLURM_STEP_ID=3 SLURMD_NODENAME=n9"
USER_ENV="$slurm_env" check_grep '^join     slurm:77\.3@n9\|' \
    "under Slurm, --join is the default (job.step@node)" as_user "$HPCRUN" --dry-run "$IMG/test.sqfs" true
out=$(USER_ENV="$slurm_env" as_user "$HPCRUN" --no-join --dry-run "$IMG/test.sqfs" true 2>&1)
printf '%s\n' "$out" | grep -q '^join ' && fail "--no-join turns it off" "$out" || ok "--no-join turns it off"

# A leader that fails half-way (a bind its root cannot take) lets nobody into
# what it left: the others find no leader and build their own container.
mkdir -p "$WORK/joindata" && chmod a+rx "$WORK/joindata"
hpcrun --join="$join_key-4" -b "$WORK/joindata:/etc/passwd" "$IMG/test.sqfs" true >/dev/null 2>&1 &
lead=$!
for i in 1 2 3; do
    hpcrun --join="$join_key-4" "$IMG/test.sqfs" sh -c 'id -un; cat /etc/hpcrun-demo' > "$UWORK/after-fail.$i" 2>&1 &
done
wait
good=0
for i in 1 2 3; do
    grep -q "^$TEST_USER\$" "$UWORK/after-fail.$i" && grep -q 'inside the hpcrun demo image' "$UWORK/after-fail.$i" &&
        good=$((good + 1))
done
[ "$good" = 3 ] && ok "after a failed leader, the others still run in a whole container" ||
    fail "after a failed leader, the others still run in a whole container" "$(cat "$UWORK"/after-fail.*)"
wait_until 10 no_fuse && ok "...and leave no FUSE server" || fail "...and leave no FUSE server" "$(fuse_count)"

# The socket's name is an HMAC of the join key under a secret of the user's,
# made on first use: ranks that all start before it exists agree on one.
fresh=$UWORK/fresh-cache
pids=()
for i in 1 2 3 4; do
    USER_ENV="XDG_CACHE_HOME=$fresh" hpcrun --join="$join_key-5" "$IMG/test.sqfs" hr-probe hold 1 \
        > "$UWORK/fresh.$i" 2>&1 &
    pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
out=$(cat "$UWORK"/fresh.[1-4])
[ "$bad" = 0 ] && [ "$(printf '%s\n' "$out" | sed -n 's/.*mnt=//p' | sort -u | wc -l)" = 1 ] &&
    ! printf '%s\n' "$out" | grep -q 'hpcrun:' &&
    ok "4 ranks that start before the user's join secret exists share one container" ||
    fail "4 ranks that start before the user's join secret exists share one container" "$bad failed: $out"
if is_rootless; then
    skip "the user's join secret: where it lives, and the ones refused" "$ROOTLESS_WHY (the test user is root, whose secret lives in a directory of root's own)"
else
    [ "$(stat -c '%a %U %s' "$fresh/hpcrun/join" "$fresh/hpcrun/join/key" 2>&1 | tr '\n' ' ')" = \
        "700 $TEST_USER 4096 600 $TEST_USER 32 " ] &&
        ok "the secret is a 0600 file of 32 bytes in a 0700 directory of the user's" ||
        fail "the secret is a 0600 file of 32 bytes in a 0700 directory of the user's" \
            "$(ls -la "$fresh/hpcrun/join" 2>&1)"

    # $XDG_RUNTIME_DIR (node-local) holds it when it is the user's; one copied
    # from a login node, missing here, is passed over without a word.
    as_user mkdir -m 0700 "$UWORK/run"
    USER_ENV="XDG_RUNTIME_DIR=$UWORK/run XDG_CACHE_HOME=$UWORK/run-cache" \
        hpcrun --join="$join_key-6" "$IMG/test.sqfs" true
    [ -f "$UWORK/run/hpcrun/join/key" ] && [ ! -e "$UWORK/run-cache/hpcrun/join" ] &&
        ok "the secret lives in \$XDG_RUNTIME_DIR when that is the user's" ||
        fail "the secret lives in \$XDG_RUNTIME_DIR when that is the user's" "$(find "$UWORK"/run* 2>&1)"
    out=$(USER_ENV="XDG_RUNTIME_DIR=$UWORK/no-such-run XDG_CACHE_HOME=$UWORK/run-cache" \
        hpcrun --join="$join_key-6" "$IMG/test.sqfs" cat /etc/hpcrun-demo 2>&1)
    printf '%s\n' "$out" | grep -q 'inside the hpcrun demo image' && ! printf '%s\n' "$out" | grep -q warning &&
        [ -f "$UWORK/run-cache/hpcrun/join/key" ] &&
        ok "a missing \$XDG_RUNTIME_DIR: the secret lives in the cache directory, no warning" ||
        fail "a missing \$XDG_RUNTIME_DIR: the secret lives in the cache directory, no warning" "$out"

    # No usable secret: each launch warns in one line and runs in a container of
    # its own, with its own exit status and output; nothing fails.
    join_alone() { # NAME WARNING-PATTERN [VAR=VALUE...]
        local name=$1 pat=$2 i p bad=0 out
        shift 2
        local pids=()
        for i in 1 2; do
            USER_ENV="$*" hpcrun --join="$join_key-7" "$IMG/test.sqfs" sh -c 'cat /etc/hpcrun-demo; exit 3' \
                > "$UWORK/alone.$i" 2>&1 &
            pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p"; [ $? = 3 ] || bad=$((bad + 1)); done
        for i in 1 2; do
            out=$(cat "$UWORK/alone.$i")
            printf '%s\n' "$out" | grep -q 'inside the hpcrun demo image' &&
                [ "$(printf '%s\n' "$out" | grep -c '^hpcrun:')" = 1 ] &&
                printf '%s\n' "$out" | grep -qE "^hpcrun: warning: --join: $pat; this launch runs in a container of its own\$" ||
                bad=$((bad + 1))
        done
        [ "$bad" = 0 ] && ok "$name: one warning, a container of its own" ||
            fail "$name: one warning, a container of its own" "$(cat "$UWORK"/alone.[12])"
    }
    if [ -n "${OTHER_USER:-}" ]; then
        # made by another user, readable: a key there would be one they know
        mkdir -p "$WORK/foreign/hpcrun/join" && chmod -R 0755 "$WORK/foreign" &&
            chown "$TEST_USER" "$WORK/foreign" && chown -R "$OTHER_USER" "$WORK/foreign/hpcrun"
        join_alone "the secret's directory is another user's" \
            ".*/foreign/hpcrun: owned by uid $OTHER_UID, not by uid $TEST_UID" "XDG_CACHE_HOME=$WORK/foreign"
        # the cache directory itself another user's (a HOME of someone else's)
        mkdir -p "$WORK/foreign2" && chown "$OTHER_USER" "$WORK/foreign2" && chmod 0777 "$WORK/foreign2"
        join_alone "the secret's base directory is another user's" \
            ".*/foreign2: owned by uid $OTHER_UID, not by uid $TEST_UID" "XDG_CACHE_HOME=$WORK/foreign2"
        check "... and nothing is made in it" test -z "$(ls -A "$WORK/foreign2")"
    else
        fail "the secret's directory is another user's: one warning, a container of its own" "needs root for a second user"
    fi
    as_user sh -c "mkdir -p '$UWORK/open/hpcrun/join' && chmod 0755 '$UWORK/open/hpcrun/join'"
    join_alone "the secret's directory is open to others" ".*/open/hpcrun/join: mode 0755 lets other users in \(want 0700\)" \
        "XDG_CACHE_HOME=$UWORK/open"
    as_user sh -c "mkdir -p -m 0700 '$UWORK/rkey/hpcrun/join' && head -c 32 /dev/zero > '$UWORK/rkey/hpcrun/join/key' && chmod 0644 '$UWORK/rkey/hpcrun/join/key'"
    join_alone "the secret is readable by others" ".*/rkey/hpcrun/join/key: mode 0644 lets other users in \(want 0600\)" \
        "XDG_CACHE_HOME=$UWORK/rkey"
    as_user sh -c "mkdir -p -m 0700 '$UWORK/lkey/hpcrun/join' && ln -s /etc/hostname '$UWORK/lkey/hpcrun/join/key'"
    join_alone "the secret is a symlink" ".*/lkey/hpcrun/join/key: Too many levels of symbolic links" \
        "XDG_CACHE_HOME=$UWORK/lkey"
fi

# The name is held by another user (it is no secret once bound: a later
# launch with the same key finds it taken): one warning, a container of its
# own. The name is the one this key had a moment ago (hpcrun -v says it).
name=$(hpcrun -v --join="$join_key-7" "$IMG/test.sqfs" true 2>&1 | sed -n 's/.*--join: leading @//p')
if is_rootless; then
    skip "the socket's name is held by another user" "$ROOTLESS_WHY"
elif [ -n "$name" ] && sq_pid=$(squat_start "$name" 30); then
    join_alone "the socket's name is held by another user" "@$name is held by uid $OTHER_UID, not by you"
    kill "$sq_pid"
else
    fail "the socket's name is held by another user: one warning, a container of its own" \
        "no name from hpcrun -v ('$name') or the other user could not bind it"
fi
# ... or held with its queue kept full, where a blocking connect(2) would
# wait for as long as that user likes: each launch gives up within seconds.
if is_rootless; then
    skip "the socket's name is held with a full queue" "$ROOTLESS_WHY"
elif [ -n "$name" ] && sq_pid=$(squat_start "$name" 60 full); then
    join_alone "the socket's name is held with a full queue" "@$name takes no one in \(its queue stays full\)"
    kill "$sq_pid"
else
    fail "the socket's name is held with a full queue: one warning, a container of its own" \
        "no name from hpcrun -v ('$name') or the other user could not bind it"
fi
# Root uses its own directory for the secret, never one its environment
# names (sudo -E with a user's HOME): nothing of root's lands there.
if is_rootless; then
    skip "root with a user's HOME makes nothing there for --join" "$ROOTLESS_WHY"
elif is_real_root; then
    mkdir -p "$UWORK/rootenv" && chown "$TEST_USER" "$UWORK/rootenv"
    HOME=$UWORK/rootenv XDG_CACHE_HOME=$UWORK/rootenv XDG_RUNTIME_DIR=$UWORK/rootenv \
        timeout 60 "$HPCRUN" --join="$join_key-root" "$IMG/test.sqfs" true >"$UWORK/rootenv.out" 2>&1
    [ -z "$(find "$UWORK/rootenv" -user 0)" ] && ok "root with a user's HOME makes nothing there for --join" ||
        fail "root with a user's HOME makes nothing there for --join" "$(ls -laR "$UWORK/rootenv"; cat "$UWORK/rootenv.out")"
fi
wait_until 10 no_fuse && ok "...and the lone containers leave no FUSE server" ||
    fail "...and the lone containers leave no FUSE server" "$(fuse_count)"

# --join-lead (how the SPANK plugin has a container built): the parent binds
# the step's socket and hands it over; hpcrun builds the container, prints
# its key once members may enter, and exits. Its server keeps the container
# for the parent until the parent joined and left, or, as here, died first.
LEAD_PARENT='
import os, socket, subprocess, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0hpcrun-it-lead-%d" % os.getpid())
s.listen(8)
p = subprocess.run([sys.argv[1], "--join=" + sys.argv[3], "--join-lead=%d" % s.fileno(),
                    sys.argv[2], "true"], pass_fds=[s.fileno()], capture_output=True, timeout=30)
print("rc=%d" % p.returncode, p.stdout.decode().split("|")[0], p.stderr.decode(), flush=True)
time.sleep(float(sys.argv[4]))
'
# (its server is told from others by its environment: HPCRUN_IT_LEAD)
lead_servers() {
    local p n=0
    for p in $(pgrep -u "$TEST_UID" -x hpcrun-fuse); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "HPCRUN_IT_LEAD=$join_key" && n=$((n + 1))
    done
    echo "$n"
}
no_lead_server() { [ "$(lead_servers)" = 0 ]; }
rm -f "$UWORK/lead.out"
USER_ENV="HPCRUN_IT_LEAD=$join_key" as_user python3 -c "$LEAD_PARENT" "$HPCRUN" "$IMG/test.sqfs" "$join_key-5" 3 \
    >"$UWORK/lead.out" 2>&1 &
lead=$!
if wait_until 200 grep -q '^rc=' "$UWORK/lead.out" && grep -q "^rc=0 key:$join_key-5 *\$" "$UWORK/lead.out"; then
    ok "--join-lead builds the container and prints its key"
    [ "$(lead_servers)" = 1 ] && ok "--join-lead: the server keeps the container for the parent after hpcrun exits" ||
        fail "--join-lead: the server keeps the container for the parent after hpcrun exits" "$(lead_servers)"
else
    fail "--join-lead builds the container and prints its key" "$(cat "$UWORK/lead.out")"
fi
wait "$lead"
wait_until 20 no_lead_server && ok "--join-lead: the server is gone with the parent, which never joined" ||
    fail "--join-lead: the server is gone with the parent, which never joined" "$(lead_servers)"
check_grep '^hpcrun: --join-lead 5: not a listening socket$' "--join-lead on a descriptor that is no socket is refused" \
    hpcrun --join=k --join-lead=5 "$IMG/test.sqfs" true
check_grep '^hpcrun: --join-lead: needs --join=KEY$' "--join-lead without a key is refused" \
    hpcrun --join-lead=5 "$IMG/test.sqfs" true
