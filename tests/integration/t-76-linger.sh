# Warm launches: an image's FUSE server lingers after its last container
# (--linger, HPCRUN_LINGER, the site's "linger"), and the next launch of the
# same image by the same user reuses its mount. Nothing lingers past the
# linger time, --list shows what lingers, and other users, other ways of
# mounting the image and a changed image file get a server of their own.

# Listening image sockets of uid $1 (abstract names, /proc/net/unix).
linger_socks() {
    awk -v p="@hpcrun-image/$1/" 'index($8, p) == 1 && $4 == "00010000"' /proc/net/unix | wc -l
}
fuse_is() { [ "$(fuse_count)" = "$1" ]; }
kill_servers() {
    pkill -KILL -u "$TEST_UID" -x hpcrun-fuse
    [ -z "${OTHER_USER:-}" ] || pkill -KILL -u "$OTHER_USER" -x hpcrun-fuse
    wait_until 50 no_fuse
}
limg=$UWORK/linger.sqfs
install -m 0644 "$IMG/test.sqfs" "$limg"
kill_servers || fail "no FUSE server before the linger tests" "$(pgrep -a -x hpcrun-fuse)"

# ---- it lingers, it is reused, it goes ---------------------------------------------
check "a launch with --linger=3 runs" hpcrun --linger=3 "$limg" true
if fuse_is 1 && [ "$(linger_socks "$TEST_UID")" = 1 ]; then
    ok "its server outlives it, listening for the next launch"
else
    fail "its server outlives it, listening for the next launch" "$(fuse_count) servers, $(linger_socks "$TEST_UID") sockets"
fi
check_grep "^[0-9]+ +0 +[0-9]+s +3s +$limg\$" "--list shows it: pid, no container, idle, linger, image" \
    hpcrun --list
out=$(hpcrun -v --linger=3 "$limg" cat /etc/hpcrun-demo 2>&1)
if printf '%s\n' "$out" | grep -q "FUSE (a lingering server's mount)" &&
    printf '%s\n' "$out" | grep -q 'inside the hpcrun demo image' && fuse_is 1; then
    ok "the next launch of the image reuses the lingering mount (a warm launch)"
else
    fail "the next launch of the image reuses the lingering mount (a warm launch)" "$out; $(fuse_count) servers"
fi
hpcrun --linger=3 "$limg" hr-probe hold 3 > "$UWORK/linger.hold" 2>&1 &
holder=$!
if wait_until 50 grep -q '^pid=' "$UWORK/linger.hold"; then
    check_grep "^[0-9]+ +1 +- +3s +$limg\$" "--list counts a running warm container" hpcrun --list
else
    fail "--list counts a running warm container" "$(cat "$UWORK/linger.hold")"
fi
wait "$holder" && ok "the warm container exits with its own status" ||
    fail "the warm container exits with its own status" "$(cat "$UWORK/linger.hold")"
check_rc 7 "...7 when it exits 7" hpcrun --linger=3 "$limg" sh -c 'exit 7'
sleep 1.5
fuse_is 1 && ok "1.5 s after its last container the server still lingers" ||
    fail "1.5 s after its last container the server still lingers" "$(fuse_count)"
if wait_until 35 no_fuse && [ "$(linger_socks "$TEST_UID")" = 0 ]; then
    ok "it is gone, socket and all, once its 3 s linger time is over"
else
    fail "it is gone, socket and all, once its 3 s linger time is over" "$(fuse_count) servers"
fi
check_grep '^PID +CONTAINERS +IDLE +LINGER +IMAGE$' "--list then shows none" hpcrun --list
[ "$(hpcrun --list | wc -l)" = 1 ] && ok "...not one" || fail "...not one" "$(hpcrun --list)"
check "--linger=0 runs" hpcrun --linger=0 "$limg" true
wait_until 10 no_fuse && ok "with --linger=0 nothing outlives the container" ||
    fail "with --linger=0 nothing outlives the container" "$(fuse_count)"

# ---- what is shared, and what is not ------------------------------------------------
hpcrun --linger=5 "$limg" true
mkdir -p "$UWORK/ldata" && chmod 0777 "$UWORK/ldata"
check_grep '^wrote$' "a warm container with a bind writes through it" \
    hpcrun --linger=5 -b "$UWORK/ldata:/data" --env LINGER_VAR=one "$limg" \
    sh -c 'echo x > /data/f && echo wrote'
out=$(hpcrun -v --linger=5 "$limg" sh -c 'ls /data 2>&1; echo "var=${LINGER_VAR:-unset}"' 2>&1)
if printf '%s\n' "$out" | grep -q "lingering server's mount" &&
    printf '%s\n' "$out" | grep -q '^var=unset$' && ! printf '%s\n' "$out" | grep -q '^f$'; then
    ok "the next warm container has neither the other's bind nor its environment"
else
    fail "the next warm container has neither the other's bind nor its environment" "$out"
fi
check_grep '^wrote$' "a warm --writable-tmpfs container writes to its root" \
    hpcrun --linger=5 --writable-tmpfs "$limg" sh -c 'echo x > /etc/linger-new && echo wrote'
check_grep '^absent$' "...which the next one does not see" \
    hpcrun --linger=5 --writable-tmpfs "$limg" sh -c 'test -e /etc/linger-new && echo present || echo absent'
fuse_is 2 && ok "--writable-tmpfs (every file reported as the user's) has a server of its own" ||
    fail "--writable-tmpfs (every file reported as the user's) has a server of its own" "$(fuse_count)"
servers=2
if [ "$TEST_UID" = 0 ]; then # under unshare -r: the ids inside are 0 either way
    skip "--fakeroot (other ids inside) never reuses a mount made for other ids" \
        "the test user is uid 0 already, so --fakeroot maps the same ids"
else
    servers=3
    out=$(hpcrun -v --linger=5 --fakeroot "$limg" id -u 2>&1)
    if printf '%s\n' "$out" | grep -q '^0$' && ! printf '%s\n' "$out" | grep -q "lingering server" && fuse_is 3; then
        ok "--fakeroot (other ids inside) never reuses a mount made for other ids"
    else
        fail "--fakeroot (other ids inside) never reuses a mount made for other ids" "$out; $(fuse_count)"
    fi
fi
touch "$limg"
out=$(hpcrun -v --linger=5 "$limg" true 2>&1)
if ! printf '%s\n' "$out" | grep -q "lingering server" && fuse_is $((servers + 1)); then
    ok "a changed image file is mounted anew"
else
    fail "a changed image file is mounted anew" "$out; $(fuse_count)"
fi
kill -KILL $(pgrep -u "$TEST_UID" -x hpcrun-fuse)
check_grep 'inside the hpcrun demo image' "after its servers were killed the image launches cold" \
    hpcrun --linger=5 "$limg" cat /etc/hpcrun-demo
kill_servers

# ---- with --join -----------------------------------------------------------------
hpcrun --linger=5 "$limg" true
key=linger-$$-$RANDOM
for i in 1 2; do
    hpcrun --linger=5 --join="$key" "$limg" hr-probe hold 2 > "$UWORK/ljoin.$i" 2>&1 &
done
lheld() { [ "$(cat "$UWORK"/ljoin.[12] 2>/dev/null | grep -c '^pid=')" = 2 ]; }
if wait_until 100 lheld &&
    [ "$(cat "$UWORK"/ljoin.[12] | sed -n 's/.*mnt=//p' | sort -u | wc -l)" = 1 ] && fuse_is 1; then
    ok "--join members share one container built on the lingering mount"
else
    fail "--join members share one container built on the lingering mount" "$(cat "$UWORK"/ljoin.*); $(fuse_count)"
fi
wait
kill_servers

# ---- the default, the environment, the site --------------------------------------
as_user env -u HPCRUN_LINGER "$HPCRUN" "$limg" true
check_grep " 60s +$limg\$" "by default a server lingers 60 s" hpcrun --list
kill_servers
USER_ENV="HPCRUN_LINGER=soon" check_grep "HPCRUN_LINGER: 'soon' is not a time" \
    "HPCRUN_LINGER=soon is refused, naming it" as_user "$HPCRUN" "$limg" true
USER_ENV="HPCRUN_LINGER=soon" check_rc "$HR_EXIT_FAIL" "...with exit 125" as_user "$HPCRUN" "$limg" true
check_grep "--linger: '200h' is longer than a week" "--linger=200h is refused" hpcrun --linger=200h "$limg" true
check_grep "--linger: '3d' is not a time" "--linger=3d is refused" hpcrun --linger=3d "$limg" true
USER_ENV="HPCRUN_LINGER=2m" check_grep " 120s +$limg\$" "HPCRUN_LINGER=2m lingers 120 s" \
    as_user sh -c "\"$HPCRUN\" \"$limg\" true && \"$HPCRUN\" --list"
kill_servers
printf 'linger = 0\n' > "$UWORK/linger.conf"
chmod 0644 "$UWORK/linger.conf"
USER_ENV="HPCRUN_CONFIG=$UWORK/linger.conf" check_grep '^linger=0$' "--site-config shows the site's linger" \
    as_user env -u HPCRUN_LINGER "$HPCRUN" --site-config
USER_ENV="HPCRUN_CONFIG=$UWORK/linger.conf" as_user env -u HPCRUN_LINGER "$HPCRUN" "$limg" true
wait_until 10 no_fuse && ok "site linger = 0: nothing lingers" || fail "site linger = 0: nothing lingers" "$(fuse_count)"

# ---- another user ------------------------------------------------------------------
if [ -n "${OTHER_USER:-}" ]; then
    other_uid=$(id -u "$OTHER_USER")
    # its secret (the socket's name needs one) in a cache directory of its own
    install -d -o "$OTHER_USER" -m 0700 "$WORK/other-cache"
    export OTHER_ENV="XDG_CACHE_HOME=$WORK/other-cache"
    hpcrun --linger=10 "$limg" true
    name=$(awk -v p="@hpcrun-image/$TEST_UID/" 'index($8, p) == 1 && $4 == "00010000" {print substr($8, 2)}' /proc/net/unix | head -1)
    out=$(OTHER_ENV="$OTHER_ENV HPCRUN_LINGER=10" as_other "$HPCRUN" -v "$limg" true 2>&1)
    if ! printf '%s\n' "$out" | grep -q "lingering server" && [ "$(linger_socks "$other_uid")" = 1 ]; then
        ok "another user's launch of the same image never reuses the user's mount"
    else
        fail "another user's launch of the same image never reuses the user's mount" "$out"
    fi
    out=$(as_other "$HPCRUN" --list 2>&1)
    printf '%s\n' "$out" | grep -q "^$(pgrep -u "$TEST_UID" -x hpcrun-fuse | head -1) " &&
        fail "--list shows only one's own servers" "$out" || ok "--list shows only one's own servers"
    cat > "$UWORK/lattack.py" <<'PY'
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect("\0" + sys.argv[1])
fd = os.pidfd_open(os.getpid())
try:
    s.sendmsg([b"j"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
    msg, anc, flags, addr = s.recvmsg(1, socket.CMSG_SPACE(8))
except (ConnectionError, socket.timeout):
    msg, anc = b"", []
print("got fds" if anc else "refused")
s2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s2.settimeout(5)
s2.connect("\0" + sys.argv[1])
try:
    s2.send(b"?")
    print("status:" + s2.recv(4096).decode())
except (ConnectionError, socket.timeout):
    print("status refused")
PY
    chmod 0644 "$UWORK/lattack.py"
    out=$(as_other python3 "$UWORK/lattack.py" "$name" 2>&1)
    if printf '%s\n' "$out" | grep -q '^refused$' && printf '%s\n' "$out" | grep -qx 'status:\|status refused'; then
        ok "another user who finds the socket gets neither the namespaces nor the status"
    else
        fail "another user who finds the socket gets neither the namespaces nor the status" "$out"
    fi
    unset OTHER_ENV
    kill_servers
fi
