# Point 8: the FUSE server and the mount live exactly as long as the container.

# No process is left in the container's mount namespace: the namespace, and
# every mount in it, is gone.
ns_gone() {
    local ino=$1 p
    for p in /proc/[0-9]*/ns/mnt; do
        [ "$(stat -L -c %i "$p" 2>/dev/null)" = "$ino" ] && return 1
    done
    return 0
}
mnt_of() { printf '%s\n' "$1" | sed -n 's/^mnt=//p'; }

wait_until 20 no_fuse || fail "no FUSE server before the lifecycle tests" "$(pgrep -a -x hpcrun-fuse)"
out=$(hpcrun "$IMG/test.sqfs" hr-probe ns 2>&1)
ino=$(mnt_of "$out")
if [ -n "$ino" ] && wait_until 10 ns_gone "$ino" && wait_until 10 no_fuse; then
    ok "normal exit: FUSE server and mount gone within 1 s"
else
    fail "normal exit: FUSE server and mount gone within 1 s" "mnt=$ino fuse=$(fuse_count)"
fi

out=$(hpcrun "$IMG/test.sqfs" sh -c 'hr-probe ns; kill -9 $$' 2>&1)
ino=$(mnt_of "$out")
if [ -n "$ino" ] && wait_until 10 ns_gone "$ino" && wait_until 10 no_fuse; then
    ok "death by signal: FUSE server and mount gone within 1 s"
else
    fail "death by signal: FUSE server and mount gone within 1 s" "mnt=$ino fuse=$(fuse_count)"
fi

rm -f "$UWORK/lc.pid" "$UWORK/lc.out"
as_user sh -c "echo \$\$ > '$UWORK/lc.pid'; exec '$HPCRUN' '$IMG/test.sqfs' sh -c 'hr-probe ns; exec sleep 30'" > "$UWORK/lc.out" 2>&1 &
bg=$!
if wait_until 100 grep -q '^mnt=' "$UWORK/lc.out"; then
    ino=$(mnt_of "$(cat "$UWORK/lc.out")")
    one_fuse() { [ "$(fuse_count)" = 1 ]; }
    wait_until 10 one_fuse && ok "a running container has exactly one FUSE server" ||
        fail "a running container has exactly one FUSE server" "$(fuse_count)"
    # the server ignores the signals a job step or terminal sends
    pkill -TERM -u "$TEST_UID" -x hpcrun-fuse
    sleep 0.2
    as_user true # keep timing comparable
    [ "$(fuse_count)" = 1 ] && ok "the FUSE server outlives SIGTERM sent to it while the app runs" ||
        fail "the FUSE server outlives SIGTERM sent to it while the app runs"
    kill -KILL "$(cat "$UWORK/lc.pid")"
    wait "$bg" 2>/dev/null
    if wait_until 10 no_fuse && wait_until 10 ns_gone "$ino"; then
        ok "hpcrun SIGKILLed: FUSE server and mount gone within 1 s"
    else
        fail "hpcrun SIGKILLed: FUSE server and mount gone within 1 s" "fuse=$(fuse_count)"
    fi
else
    kill "$bg" 2>/dev/null; wait "$bg"
    fail "hpcrun SIGKILLed: FUSE server and mount gone within 1 s" "container never started: $(cat "$UWORK/lc.out")"
fi

# 200 sequential launches leave nothing behind
snapshot() { # the test user's files in the temp dirs, and the host's mounts
    find /tmp /dev/shm /var/tmp -maxdepth 1 -user "$TEST_UID" 2>/dev/null | sort
    wc -l < /proc/self/mountinfo
}
before=$(snapshot)
n_ok=0
for i in $(seq 200); do
    hpcrun "$IMG/test.sqfs" true >/dev/null 2>&1 && n_ok=$((n_ok + 1))
done
[ "$n_ok" = 200 ] && ok "200 sequential launches succeed" || fail "200 sequential launches succeed" "$n_ok of 200"
wait_until 10 no_fuse && ok "200 launches leave no FUSE server" || fail "200 launches leave no FUSE server" "$(fuse_count)"
after=$(snapshot)
[ "$before" = "$after" ] && ok "200 launches leave no mounts or temp files" ||
    fail "200 launches leave no mounts or temp files" "$(diff <(echo "$before") <(echo "$after"))"
if is_rootless; then # the test user is the suite's own
    skip "200 launches leave no processes" "$ROOTLESS_WHY (a test user of its own)"
elif is_real_root; then # the test user has no processes of its own
    leftover=$(ps -o pid=,stat=,comm= -u "$TEST_UID" | awk '$2 !~ /^Z/' || true)
    [ -z "$leftover" ] && ok "200 launches leave no processes" || fail "200 launches leave no processes" "$leftover"
fi

# A background process the application leaves running loses the image when
# the application exits (documented in hpcrun(1), NOTES): reads fail, or a
# page of its own program can no longer be read (SIGBUS). It never hangs.
rm -f "$UWORK/daemon.out" "$UWORK/daemon.pid"
hpcrun "$IMG/test.sqfs" sh -c "(sleep 1; cat /etc/hpcrun-demo > '$UWORK/daemon.out' 2>&1) & echo \$! > '$UWORK/daemon.pid'; exit 0" >/dev/null 2>&1
dpid=$(cat "$UWORK/daemon.pid" 2>/dev/null)
daemon_gone() { ! kill -0 "$dpid" 2>/dev/null || [ "$(ps -o stat= -p "$dpid" | cut -c1)" = Z ]; }
if [ -n "$dpid" ] && wait_until 50 daemon_gone && ! grep -q 'inside the hpcrun demo image' "$UWORK/daemon.out" 2>/dev/null; then
    ok "a daemon left behind loses the image after the application exits"
else
    fail "a daemon left behind loses the image after the application exits" "pid '$dpid': $(cat "$UWORK/daemon.out" 2>&1)"
fi

# The FUSE server killed (SIGKILL) while the application runs: the
# application's reads of the image fail with ENOTCONN, hpcrun's status is the
# application's own (here 7, as it exits on that error; hpcrun(1), EXIT
# STATUS), and the mount goes with the application's mount namespace. The
# application waits on a FIFO (a shell builtin read) until the server is
# dead. Its shell is the host's static busybox, bound in: a shell from the
# image could die of SIGBUS instead, on a page of its program not yet read.
rm -f "$UWORK/fk.fifo" "$UWORK/fk.out" "$UWORK/fk.rc"
mkfifo -m 0600 "$UWORK/fk.fifo" && chown "$TEST_UID" "$UWORK/fk.fifo"
as_user sh -c "'$HPCRUN' -b /bin/busybox:/host/busybox '$IMG/test.sqfs' /host/busybox sh -c 'hr-probe ns; read go;
    if read line < /etc/hpcrun-demo; then echo \"read: \$line\"; exit 0; fi; exit 7' \
    < '$UWORK/fk.fifo' > '$UWORK/fk.out' 2>&1; echo \$? > '$UWORK/fk.rc'" &
bg=$!
exec 9<> "$UWORK/fk.fifo" # read-write: opens at once (fifo(7)), never hangs
one_fuse() { [ "$(fuse_count)" = 1 ]; }
if wait_until 100 grep -q '^mnt=' "$UWORK/fk.out" && wait_until 10 one_fuse; then
    ino=$(mnt_of "$(cat "$UWORK/fk.out")")
    pkill -KILL -u "$TEST_UID" -x hpcrun-fuse
    wait_until 10 no_fuse || fail "the FUSE server dies of SIGKILL" "$(fuse_count)"
    echo go >&9
    exec 9>&-
    wait "$bg"
    rm -f "$UWORK/fk.fifo"
    rc=$(cat "$UWORK/fk.rc" 2>/dev/null)
    [ "$rc" = 7 ] && grep -q 'Transport endpoint is not connected' "$UWORK/fk.out" &&
        ok "FUSE server killed: reads fail with ENOTCONN, hpcrun exits with the application's status" ||
        fail "FUSE server killed: reads fail with ENOTCONN, hpcrun exits with the application's status" \
            "exit '$rc': $(cat "$UWORK/fk.out")"
    wait_until 10 ns_gone "$ino" &&
        ok "FUSE server killed: nothing is left mounted once the application exits" ||
        fail "FUSE server killed: nothing is left mounted once the application exits" "mnt=$ino"
else
    exec 9>&-
    kill "$bg" 2>/dev/null; wait "$bg"
    fail "FUSE server killed: reads fail with ENOTCONN, hpcrun exits with the application's status" \
        "container never started: $(cat "$UWORK/fk.out")"
fi
