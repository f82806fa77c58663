# Point 3: identity inside.
ids=$(hpcrun "$IMG/test.sqfs" hr-probe ids 2>&1)
printf '%s\n' "$ids" | grep -q "^uid=$TEST_UID\$" && printf '%s\n' "$ids" | grep -q "^gid=$TEST_GID\$" &&
    ok "uid and gid are the caller's" || fail "uid and gid are the caller's" "$ids"
check_grep "^$TEST_USER\$" "id -un resolves to the caller's name" hpcrun "$IMG/test.sqfs" id -un
check_grep "^$(id -gn "$TEST_USER")\$" "id -gn resolves to the caller's group" hpcrun "$IMG/test.sqfs" id -gn
check_grep '^root:x:0:0' "the image's own passwd entries stay" hpcrun "$IMG/test.sqfs" cat /etc/passwd
fr=$(hpcrun --fakeroot "$IMG/test.sqfs" hr-probe ids 2>&1)
printf '%s\n' "$fr" | grep -q '^uid=0$' && printf '%s\n' "$fr" | grep -q '^gid=0$' &&
    printf '%s\n' "$fr" | grep -q '^user=root$' && ok "--fakeroot is uid 0/gid 0 named root" ||
    fail "--fakeroot is uid 0/gid 0 named root" "$fr"
check_grep 'inside the hpcrun demo image' "the image's files are readable" hpcrun "$IMG/test.sqfs" cat /etc/hpcrun-demo
# the image file itself was not changed by any of this
sum1=$(sha256sum < "$IMG/test.sqfs")
hpcrun -b "$WORK:/new/mount/point" "$IMG/test.sqfs" true >/dev/null 2>&1
sum2=$(sha256sum < "$IMG/test.sqfs")
[ "$sum1" = "$sum2" ] && ok "the image file is never modified" || fail "the image file is never modified"
