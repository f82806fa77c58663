# Point 7: stdio, inherited fds, exit status, signals, exec errors.

check_grep '^piped-in$' "stdin reaches the application" as_user sh -c "echo piped-in | '$HPCRUN' '$IMG/test.sqfs' cat"
check_grep '^out$' "stdout reaches the caller" hpcrun "$IMG/test.sqfs" echo out
out=$(hpcrun "$IMG/test.sqfs" sh -c 'echo err >&2' 2>&1 >/dev/null)
[ "$out" = err ] && ok "stderr reaches the caller" || fail "stderr reaches the caller" "$out"
echo fd-content > "$WORK/fdfile" && chmod a+r "$WORK/fdfile"
check_grep '^fd-content$' "an inherited fd (5) reaches the application" \
    as_user sh -c "exec 5<'$WORK/fdfile'; '$HPCRUN' '$IMG/test.sqfs' sh -c 'cat <&5'"
check_grep '^PMI_FD=7 fd7=pipe' "PMI_FD-style inherited pipe passes unchanged" \
    as_user sh -c "echo x | (exec 7<&0; PMI_FD=7 '$HPCRUN' '$IMG/test.sqfs' sh -c 'echo PMI_FD=\$PMI_FD fd7=\$(readlink /proc/self/fd/7)')"

check_rc 42 "exit 42 gives 42" hpcrun "$IMG/test.sqfs" sh -c 'exit 42'
check_rc 0 "exit 0 gives 0" hpcrun "$IMG/test.sqfs" true
# death by a signal is seen as death by that signal, not as an exit code
for s in 9 15 6; do
    check_grep "^signal=$s\$" "killed by signal $s: the parent sees signal $s" \
        as_user perl -e 'system(@ARGV); print(($? & 127) ? "signal=" . ($? & 127) : "exit=" . ($? >> 8))' \
        "$HPCRUN" "$IMG/test.sqfs" hr-probe kill $s
done

# signals sent to the hpcrun PID reach the application
for s in TERM INT HUP USR1 USR2; do
    num=$(kill -l "$s")
    rm -f "$UWORK/sig.out" "$UWORK/sig.pid"
    as_user sh -c "echo \$\$ > '$UWORK/sig.pid'; exec '$HPCRUN' '$IMG/test.sqfs' hr-probe trap 10" > "$UWORK/sig.out" 2>&1 &
    bg=$!
    if wait_until 100 grep -q ready "$UWORK/sig.out"; then
        kill -s "$s" "$(cat "$UWORK/sig.pid")"
        wait "$bg"
        grep -q "^caught=$num\$" "$UWORK/sig.out" && ok "SIG$s to hpcrun reaches the application" ||
            fail "SIG$s to hpcrun reaches the application" "$(cat "$UWORK/sig.out")"
    else
        kill "$bg" 2>/dev/null; wait "$bg"
        fail "SIG$s to hpcrun reaches the application" "never ready: $(cat "$UWORK/sig.out")"
    fi
done
pids=$(as_user sh -c "echo \$\$; exec '$HPCRUN' '$IMG/test.sqfs' sh -c 'echo \$\$'" 2>&1)
[ "$(printf '%s\n' "$pids" | sort -u | wc -l)" = 1 ] && ok "the application runs as hpcrun's own PID" ||
    fail "the application runs as hpcrun's own PID" "$pids"
check_rc "$HR_EXIT_NOT_FOUND" "a command not in the image exits 127" hpcrun "$IMG/test.sqfs" no-such-command
check_grep 'no-such-command: command not found' "command not found names the command" hpcrun "$IMG/test.sqfs" no-such-command
check_rc "$HR_EXIT_CANNOT_EXEC" "a non-executable command exits 126" hpcrun "$IMG/test.sqfs" /etc/hpcrun-demo
check_rc "$HR_EXIT_CANNOT_EXEC" "a directory as command exits 126" hpcrun "$IMG/test.sqfs" /etc

# standard descriptors the caller closed stay closed for the application,
# and hpcrun's own descriptors never land on them
check_grep '^fd1=.*pipe|^fd1=' "stdin closed: the application runs" as_user sh -c "'$HPCRUN' '$IMG/test.sqfs' hr-probe fds <&-"
out=$(as_user sh -c "'$HPCRUN' '$IMG/test.sqfs' sh -c 'cat /bin/busybox | wc -c; hr-probe fds' <&-" 2>&1)
if printf '%s\n' "$out" | grep -q '^1982256$\|^[0-9]\{6,\}$' && ! printf '%s\n' "$out" | grep -q '^fd0='; then
    ok "stdin closed: it stays closed and the image reads fine"
else
    fail "stdin closed: it stays closed and the image reads fine" "$out"
fi
check_grep '^ignored-ok$' "runs with SIGCHLD ignored by the caller" \
    as_user perl -e '$SIG{CHLD} = "IGNORE"; exec @ARGV' "$HPCRUN" "$IMG/test.sqfs" sh -c 'echo ignored-ok'
