# Root-only behaviour: hpcrun run by root (CI's own user, or root of a user
# namespace under unshare -r) works the same.
if [ "$(id -u)" = 0 ]; then
    r() { (cd / && timeout -k 5 "$TEST_TIMEOUT" "$HPCRUN" "$@"); }
    check_grep '^uid=0$' "run by root: uid 0 inside" r "$IMG/test.sqfs" hr-probe ids
    check_grep '^NoNewPrivs=1$' "run by root: no_new_privs is set" r "$IMG/test.sqfs" hr-probe caps
    check_rc 42 "run by root: exit status passes" r "$IMG/test.sqfs" sh -c 'exit 42'
    check_grep '^write=EROFS$' "run by root: the image root is read-only" r "$IMG/test.sqfs" hr-probe write /var/tmp/x
    out=$(r "$IMG/test.sqfs" hr-probe mounts 2>&1)
    bad=$(printf '%s\n' "$out" | awk '$3 !~ /(^|,)nosuid(,|$)/')
    [ -z "$bad" ] && ok "run by root: every mount is nosuid" || fail "run by root: every mount is nosuid" "$bad"
    if command -v unshare >/dev/null; then
        check_grep '^uid=0$' "under unshare -r (nested user namespace)" \
            as_user unshare -r "$HPCRUN" "$IMG/test.sqfs" hr-probe ids
    fi
fi
