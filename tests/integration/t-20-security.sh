# Points 1, 2 and 5: no privilege, only user+mount namespaces, mount safety.

# 1. refuse setuid / setgid / file capabilities
if is_rootless; then
    skip "setuid/capability refusal tests (setuid root copies, setcap)" "$ROOTLESS_WHY"
elif is_real_root; then
    cp "$HPCRUN" "$WORK/hpcrun-suid" && chown root:root "$WORK/hpcrun-suid" && chmod 4755 "$WORK/hpcrun-suid"
    check_rc "$HR_EXIT_FAIL" "refuses to run setuid root" as_user "$WORK/hpcrun-suid" "$IMG/test.sqfs" true
    check_grep 'refusing to run setuid' "setuid refusal says why" as_user "$WORK/hpcrun-suid" "$IMG/test.sqfs" true
    # refused before reading any file the user names: no line of a root-only file leaks
    out=$(USER_ENV="HPCRUN_CONFIG=/etc/shadow" as_user "$WORK/hpcrun-suid" "$IMG/test.sqfs" true 2>&1)
    if printf '%s' "$out" | grep -q 'refusing to run setuid' && ! printf '%s' "$out" | grep -q 'root:'; then
        ok "setuid refusal comes before reading HPCRUN_CONFIG"
    else
        fail "setuid refusal comes before reading HPCRUN_CONFIG" "$out"
    fi
    cp "$HPCRUN" "$WORK/hpcrun-sgid" && chown root:root "$WORK/hpcrun-sgid" && chmod 2755 "$WORK/hpcrun-sgid"
    check_rc "$HR_EXIT_FAIL" "refuses to run setgid" as_user "$WORK/hpcrun-sgid" "$IMG/test.sqfs" true
    # installed setuid but owned by the caller (real == effective): the bits alone refuse
    cp "$HPCRUN" "$WORK/hpcrun-ownsuid" && chown "$TEST_UID" "$WORK/hpcrun-ownsuid" && chmod 4755 "$WORK/hpcrun-ownsuid"
    check_grep 'installed setuid or setgid' "refuses an executable with the setuid bit" as_user "$WORK/hpcrun-ownsuid" "$IMG/test.sqfs" true
    if command -v setcap >/dev/null; then
        cp "$HPCRUN" "$WORK/hpcrun-caps" && setcap cap_sys_admin+ep "$WORK/hpcrun-caps"
        check_rc "$HR_EXIT_FAIL" "refuses to run with file capabilities" as_user "$WORK/hpcrun-caps" "$IMG/test.sqfs" true
        check_grep 'capabilities' "capability refusal says why" as_user "$WORK/hpcrun-caps" "$IMG/test.sqfs" true
    else
        fail "refuses to run with file capabilities" "setcap missing (apt-get install libcap2-bin)"
    fi
    rm -f "$WORK"/hpcrun-suid "$WORK"/hpcrun-sgid "$WORK"/hpcrun-ownsuid "$WORK"/hpcrun-caps
else
    fail "setuid/capability refusal tests" "need root to make setuid copies"
fi

# 2. namespaces: only user and mnt are new
inside=$(hpcrun "$IMG/test.sqfs" hr-probe ns 2>&1)
outside=$(as_user "$PROBE" ns 2>&1)
for ns in pid net ipc uts; do
    a=$(printf '%s\n' "$inside" | grep "^$ns=")
    b=$(printf '%s\n' "$outside" | grep "^$ns=")
    if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "$ns namespace is the host's"; else
        fail "$ns namespace is the host's" "inside '$a' outside '$b'"; fi
done
for ns in user mnt; do
    a=$(printf '%s\n' "$inside" | grep "^$ns=")
    b=$(printf '%s\n' "$outside" | grep "^$ns=")
    if [ -n "$a" ] && [ "$a" != "$b" ]; then ok "$ns namespace is new"; else
        fail "$ns namespace is new" "inside '$a' outside '$b'"; fi
done

# 5. mount safety
mkdir -p "$WORK/bindsrc" && echo marker > "$WORK/bindsrc/file" && chmod -R a+rX "$WORK/bindsrc"
out=$(hpcrun -b "$WORK/bindsrc:/mnt/abs-etc" "$IMG/test.sqfs" sh -c 'cat /etc/file; cat /etc/hpcrun-demo 2>&1' 2>&1)
if printf '%s\n' "$out" | grep -q '^marker$' && ! grep -q marker /etc/file 2>/dev/null; then
    ok "bind onto an absolute symlink lands inside the container"
else
    fail "bind onto an absolute symlink lands inside the container" "$out"
fi
check_grep '^marker$' "bind onto a ../../ symlink stays inside" \
    hpcrun -b "$WORK/bindsrc:/mnt/up-etc" "$IMG/test.sqfs" cat /etc/file
check_grep '^marker$' "bind onto a dangling symlink creates its target inside" \
    hpcrun -b "$WORK/bindsrc:/mnt/dangling" "$IMG/test.sqfs" cat /nonexistent/deep/file
[ ! -e /nonexistent ] && ok "dangling-symlink bind touched no host path" ||
    fail "dangling-symlink bind touched no host path" "/nonexistent exists on the host"

mounts=$(hpcrun --writable-tmpfs "$IMG/test.sqfs" hr-probe mounts 2>&1)
bad=$(printf '%s\n' "$mounts" | awk '$3 !~ /(^|,)nosuid(,|$)/')
[ -z "$bad" ] && ok "every mount is nosuid" || fail "every mount is nosuid" "$bad"
bad=$(printf '%s\n' "$mounts" | awk '$3 !~ /(^|,)nodev(,|$)/ && $1 !~ /^\/dev\/(null|zero|full|random|urandom|tty|ptmx|pts)$/')
[ -z "$bad" ] && ok "every mount but device binds is nodev" || fail "every mount but device binds is nodev" "$bad"
bad=$(hpcrun --dev=host "$IMG/test.sqfs" hr-probe mounts 2>&1 | awk '$3 !~ /(^|,)nosuid(,|$)/')
[ -z "$bad" ] && ok "every mount is nosuid with --dev=host" || fail "every mount is nosuid with --dev=host" "$bad"

check_grep '^NoNewPrivs=1$' "no_new_privs is set" hpcrun "$IMG/test.sqfs" hr-probe caps
caps=$(hpcrun "$IMG/test.sqfs" hr-probe caps 2>&1)
if printf '%s\n' "$caps" | grep -q '^CapEff=0000000000000000$' &&
    printf '%s\n' "$caps" | grep -q '^CapPrm=0000000000000000$' &&
    printf '%s\n' "$caps" | grep -q '^CapBnd=0000000000000000$'; then
    ok "capabilities are dropped (effective, permitted, bounding)"
else
    fail "capabilities are dropped (effective, permitted, bounding)" "$caps"
fi
check_grep '^CapEff=0*[1-9a-f]' "--fakeroot keeps namespace capabilities" hpcrun --fakeroot "$IMG/test.sqfs" hr-probe caps
check_grep "^euid=$TEST_UID\$" "a setuid-root binary in the image gains nothing" \
    hpcrun "$IMG/test.sqfs" hr-probe-suid ids
if is_rootless; then
    skip "a 0700 root directory in the image stays closed" "$ROOTLESS_WHY (the test user is root, who can open it)"
else
    check_grep 'Permission denied' "a 0700 root directory in the image stays closed" \
        hpcrun "$IMG/test.sqfs" cat /opt/secret/file
fi

# 6. --join: another user of the node cannot make a step's launches fail by
# taking the abstract socket name they would use first. The attacker holds
# the name a predictable scheme gives (FNV-1a of the join key, computable
# from the job's ids and the image) while the step's ranks start: they must
# all start, without a warning, in one container.
old_join_name() {
    python3 -c 'import sys
h = 1469598103934665603
for b in sys.argv[2].encode():
    h = ((h ^ b) * 1099511628211) % 2**64
print("hpcrun/%s/%016x" % (sys.argv[1], h))' "$1" "$2"
}
sq_key=squat-$$-$RANDOM
sq_join=$(hpcrun --join="$sq_key" --dry-run "$IMG/test.sqfs" true 2>&1 | sed -n 's/^join     //p')
if is_rootless; then
    skip "--join: 4 ranks start while another user holds the predictable socket name" "$ROOTLESS_WHY"
elif [ -n "$sq_join" ] && sq_pid=$(squat_start "$(old_join_name "$TEST_UID" "$sq_join")" 30); then
    sq_pids=()
    for i in 1 2 3 4; do
        hpcrun --join="$sq_key" "$IMG/test.sqfs" hr-probe hold 2 > "$UWORK/squat.$i" 2>&1 &
        sq_pids+=($!)
    done
    sq_bad=0
    for p in "${sq_pids[@]}"; do wait "$p" || sq_bad=$((sq_bad + 1)); done
    kill "$sq_pid"
    sq_out=$(cat "$UWORK"/squat.[1-4])
    if [ "$sq_bad" = 0 ] && [ "$(printf '%s\n' "$sq_out" | grep -c '^pid=')" = 4 ] &&
        ! printf '%s\n' "$sq_out" | grep -q 'hpcrun:'; then
        ok "--join: 4 ranks start while another user holds the predictable socket name"
    else
        fail "--join: 4 ranks start while another user holds the predictable socket name" \
            "$sq_bad failed: $sq_out"
    fi
    [ "$(printf '%s\n' "$sq_out" | sed -n 's/.*mnt=//p' | sort -u | wc -l)" = 1 ] &&
        ok "--join: ...and share one container" ||
        fail "--join: ...and share one container" "$sq_out"
else
    fail "--join: 4 ranks start while another user holds the predictable socket name" \
        "no join key from --dry-run ('$sq_join') or the other user could not bind the name"
fi
