# Point 4: cwd, home, host directories, binds, read-only root, /dev.

mkdir -p "$USER_HOME/proj/sub" && chown -R "$TEST_UID:$TEST_GID" "$USER_HOME/proj" 2>/dev/null
check_grep "^cwd=$USER_HOME/proj/sub\$" "cwd is the caller's cwd" \
    as_user sh -c "cd '$USER_HOME/proj/sub' && '$HPCRUN' '$IMG/test.sqfs' hr-probe cwd"
check_grep '^cwd=/etc$' "--workdir sets the cwd" hpcrun -w /etc "$IMG/test.sqfs" hr-probe cwd
check_rc "$HR_EXIT_FAIL" "--workdir that does not exist fails" hpcrun -w /nope "$IMG/test.sqfs" true
# a cwd outside home and /tmp is bound too
mkdir -p "$WORK/cwd-elsewhere" && chmod 0777 "$WORK/cwd-elsewhere"
check_grep "^cwd=$WORK/cwd-elsewhere\$" "a cwd outside home is bound" \
    as_user sh -c "cd '$WORK/cwd-elsewhere' && '$HPCRUN' '$IMG/test.sqfs' hr-probe cwd"

as_user sh -c "echo home-marker > '$USER_HOME/.hr-marker'"
check_grep '^home-marker$' "\$HOME is bound" hpcrun "$IMG/test.sqfs" cat "$USER_HOME/.hr-marker"
check_rc 1 "--no-home does not bind \$HOME" hpcrun --no-home -w / "$IMG/test.sqfs" test -e "$USER_HOME/.hr-marker"
as_user rm -f "$USER_HOME/.hr-marker"

# host /tmp and /dev/shm are shared both ways
name=hr-it-$$-$RANDOM
as_user sh -c "echo from-host > /dev/shm/$name.h; echo from-host > /tmp/$name.t"
check_grep '^from-host$' "a file the host writes in /dev/shm is visible inside" hpcrun "$IMG/test.sqfs" cat "/dev/shm/$name.h"
check_grep '^from-host$' "a file the host writes in /tmp is visible inside" hpcrun "$IMG/test.sqfs" cat "/tmp/$name.t"
hpcrun "$IMG/test.sqfs" sh -c "echo from-inside > /dev/shm/$name.c" >/dev/null 2>&1
[ "$(cat "/dev/shm/$name.c" 2>/dev/null)" = from-inside ] && ok "a file written in /dev/shm inside is visible on the host" ||
    fail "a file written in /dev/shm inside is visible on the host"
rm -f "/dev/shm/$name".* "/tmp/$name".*

for f in /etc/hosts /etc/resolv.conf; do
    if [ -e "$f" ]; then
        check_grep "^$(sha256sum < "$f" | cut -c1-64)" "$f is the host's" hpcrun "$IMG/test.sqfs" sh -c "sha256sum < $f"
    fi
done
check_grep "^$(cat /proc/sys/kernel/hostname)\$" "/proc is the host's" hpcrun "$IMG/test.sqfs" cat /proc/sys/kernel/hostname
check_grep "^$(cat /sys/devices/system/cpu/online)\$" "/sys is the host's" hpcrun "$IMG/test.sqfs" cat /sys/devices/system/cpu/online

# -b binds: rw, ro, created destinations, files
mkdir -p "$WORK/data" && echo data-marker > "$WORK/data/f" && chmod -R a+rwX "$WORK/data"
check_grep '^data-marker$' "-b binds a directory" hpcrun -b "$WORK/data:/data" "$IMG/test.sqfs" cat /data/f
check_grep '^write=ok$' "-b binds are writable by default" hpcrun -b "$WORK/data:/data" "$IMG/test.sqfs" hr-probe write /data/new
check_grep '^write=EROFS$' "-b ...:ro binds are read-only" hpcrun -b "$WORK/data:/data:ro" "$IMG/test.sqfs" hr-probe write /data/new2
check_grep '^data-marker$' "a missing bind destination is created" hpcrun -b "$WORK/data:/deep/new/dir" "$IMG/test.sqfs" cat /deep/new/dir/f
check_grep '^data-marker$' "a file can be bound onto a new path" hpcrun -b "$WORK/data/f:/etc/bound-file" "$IMG/test.sqfs" cat /etc/bound-file
check_rc 1 "created mount points are not in the next container" hpcrun "$IMG/test.sqfs" test -e /deep
check_grep 'bind' "a bind of a nonexistent source fails clearly" hpcrun -b /no/such/dir:/x "$IMG/test.sqfs" true
check_rc "$HR_EXIT_FAIL" "a bind of a nonexistent source exits 125" hpcrun -b /no/such/dir:/x "$IMG/test.sqfs" true
check_grep '/etc/passwd: [Nn]ot a directory' "a directory bound onto a file is refused" hpcrun -b "$WORK/data:/etc/passwd" "$IMG/test.sqfs" true

# read-only root, --writable-tmpfs
check_grep '^write=EROFS$' "the image root is read-only" hpcrun "$IMG/test.sqfs" hr-probe write /var/tmp/x
check_grep '^write=EROFS$' "the root is read-only even with created mount points" hpcrun -b "$WORK/data:/new" "$IMG/test.sqfs" hr-probe write /var/tmp/x
check_grep '^write=ok$' "--writable-tmpfs makes the root writable" hpcrun --writable-tmpfs "$IMG/test.sqfs" hr-probe write /var/tmp/x
check_grep '^write=ok$' "--writable-tmpfs with --fakeroot can write anywhere" hpcrun --writable-tmpfs --fakeroot "$IMG/test.sqfs" hr-probe write /etc/new
check_rc 1 "--writable-tmpfs changes vanish at exit" hpcrun --writable-tmpfs "$IMG/test.sqfs" test -e /var/tmp/x

# /dev
devs=$(hpcrun "$IMG/test.sqfs" ls /dev 2>&1 | tr '\n' ' ')
want="fd full null ptmx pts random shm stderr stdin stdout tty urandom zero "
[ "$devs" = "$want" ] && ok "/dev is the minimal set" || fail "/dev is the minimal set" "got: $devs"
check_grep '^1\+0 records in' "/dev/zero and /dev/null work" hpcrun "$IMG/test.sqfs" dd if=/dev/zero of=/dev/null bs=1 count=1
check_grep 'sda|vda|nvme|loop|mem' "--dev=host binds the host's /dev" hpcrun --dev=host "$IMG/test.sqfs" ls /dev

# site binds (the site config file) and HPCRUN_BIND, applied before -b
printf '# site defaults\nbind = %s:/site-data:ro\n' "$WORK/data" > "$WORK/site.conf"
chmod a+r "$WORK/site.conf"
site() { USER_ENV="HPCRUN_CONFIG=$WORK/site.conf" as_user "$HPCRUN" "$@"; }
check_grep '^data-marker$' "a site config bind applies" site "$IMG/test.sqfs" cat /site-data/f
check_grep '^write=EROFS$' "a site config bind keeps its ro" site "$IMG/test.sqfs" hr-probe write /site-data/x
printf 'colour = red\n' > "$WORK/bad.conf" && chmod a+r "$WORK/bad.conf"
USER_ENV="HPCRUN_CONFIG=$WORK/bad.conf" check_grep "bad.conf:1: unknown key 'colour'" "a bad site config is named with its line" as_user "$HPCRUN" "$IMG/test.sqfs" true
USER_ENV="HPCRUN_BIND=$WORK/data:/env-data" check_grep '^data-marker$' "HPCRUN_BIND binds" as_user "$HPCRUN" "$IMG/test.sqfs" cat /env-data/f
check_grep '^write=ok$' "--writable-tmpfs holds more than 16 MiB" \
    hpcrun --writable-tmpfs "$IMG/test.sqfs" sh -c 'dd if=/dev/zero of=/var/tmp/big bs=1M count=40 2>/dev/null && hr-probe write /var/tmp/after'
