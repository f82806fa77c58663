# The site config file (HPCRUN_CONFIG names one the test writes), as a node
# sees a file written for other nodes or for a newer hpcrun: a site bind
# whose source the node lacks, a key this hpcrun does not know, a missing
# file; --site-config, the admin's check; the sample make install puts in
# place.

SC=$WORK/siteconf
mkdir -p "$SC/data" && echo sc-marker >"$SC/data/f"
# conf NAME LINE...: write $SC/NAME, one argument a line, readable by the user
conf() {
    local name=$1
    shift
    printf '%s\n' "$@" >"$SC/$name"
    chmod -R a+rX "$SC"
}
# sc NAME CMD...: as the test user, with HPCRUN_CONFIG=$SC/NAME
sc() {
    local name=$1
    shift
    USER_ENV="HPCRUN_CONFIG=$SC/$name" as_user "$@"
}
# sc_out NAME ARGS...: hpcrun's exit status, then its stdout and stderr
sc_out() {
    local name=$1 out rc
    shift
    out=$(sc "$name" "$HPCRUN" "$@" 2>"$SC/stderr")
    rc=$?
    printf '%s\n%s\n' "$rc" "$out"
}

# A site bind whose source this node lacks: skipped, with one warning that
# names the file, the line and the path; the other binds still apply.
conf missing.conf '# /nonexistent is on other nodes' "bind = $SC/nonexistent" \
    "bind = $SC/data:/sc-data:ro"
out=$(sc_out missing.conf "$IMG/test.sqfs" cat /sc-data/f)
want="hpcrun: warning: $SC/missing.conf:2: bind $SC/nonexistent: no such file or directory on this node; skipped"
if [ "$out" = "0
sc-marker" ] && [ "$(cat "$SC/stderr")" = "$want" ]; then
    ok "a site bind missing on this node is skipped with one warning naming file, line and path"
else
    fail "a site bind missing on this node is skipped with one warning naming file, line and path" \
        "got: $out; stderr: $(cat "$SC/stderr")"
fi
out=$(sc missing.conf "$HPCRUN" -q "$IMG/test.sqfs" true 2>&1)
[ -z "$out" ] && ok "... -q hides that warning" || fail "... -q hides that warning" "$out"

# bind?: optional, silent when missing; with :ro as a plain bind
conf optional.conf "bind? = $SC/nonexistent:/x" "bind? = $SC/data:/opt-data:ro"
out=$(sc_out optional.conf "$IMG/test.sqfs" sh -c 'cat /opt-data/f; hr-probe write /opt-data/y; true')
if [ "$out" = "0
sc-marker
write=EROFS" ] && [ ! -s "$SC/stderr" ]; then
    ok "bind? skips a missing source silently, and binds a present one with its :ro"
else
    fail "bind? skips a missing source silently, and binds a present one with its :ro" \
        "got: $out; stderr: $(cat "$SC/stderr")"
fi

# The user's own binds with a missing source stay errors, under any site config.
check_rc "$HR_EXIT_FAIL" "a user's -b with a missing source still fails, with a site config" \
    sc optional.conf "$HPCRUN" -b "$SC/nonexistent:/u" "$IMG/test.sqfs" true
USER_ENV="HPCRUN_CONFIG=$SC/optional.conf HPCRUN_BIND=$SC/nonexistent:/u" check_grep \
    "^hpcrun: HPCRUN_BIND '$SC/nonexistent': No such file" "... and HPCRUN_BIND's, named as HPCRUN_BIND" \
    as_user "$HPCRUN" "$IMG/test.sqfs" true

# A key this hpcrun does not know: a launch warns once and goes on.
conf unknown.conf "gpu = none" "colour = red" "bind = $SC/data:/sc-data"
out=$(sc_out unknown.conf "$IMG/test.sqfs" cat /sc-data/f)
want="hpcrun: warning: $SC/unknown.conf:2: unknown key 'colour' (ignored)"
if [ "$out" = "0
sc-marker" ] && [ "$(cat "$SC/stderr")" = "$want" ]; then
    ok "an unknown site key: one warning naming file and line, the launch goes on"
else
    fail "an unknown site key: one warning naming file and line, the launch goes on" \
        "got: $out; stderr: $(cat "$SC/stderr")"
fi
# ... while --site-config, the admin's check, prints and then fails on it
out=$(sc_out unknown.conf --site-config)
if printf '%s\n' "$out" | head -2 | tr '\n' ' ' | grep -qx "125 # site config: $SC/unknown.conf " &&
    printf '%s\n' "$out" | grep -qx 'gpu=none' &&
    [ "$(cat "$SC/stderr")" = "hpcrun: $SC/unknown.conf:2: unknown key 'colour'" ]; then
    ok "--site-config prints the policy, then fails (125) on an unknown key"
else
    fail "--site-config prints the policy, then fails (125) on an unknown key" \
        "got: $out; stderr: $(cat "$SC/stderr")"
fi

check_grep "^warn  $SC/unknown.conf:2: unknown key 'colour': ignored" \
    "doctor warns of an unknown site key" sc unknown.conf "$HPCRUN" doctor

# A bad value of a known key stays an error everywhere.
conf badvalue.conf "stage-max-size = lots"
check_rc "$HR_EXIT_FAIL" "a bad value of a known site key fails a launch" \
    sc badvalue.conf "$HPCRUN" "$IMG/test.sqfs" true
check_rc "$HR_EXIT_FAIL" "... and --site-config" sc badvalue.conf "$HPCRUN" --site-config

# HPCRUN_CONFIG naming a file that is missing or unreadable: one line, 125.
out=$(sc_out none.conf "$IMG/test.sqfs" true)
if [ "$out" = 125 ] && [ "$(cat "$SC/stderr")" = "hpcrun: HPCRUN_CONFIG: $SC/none.conf: No such file or directory" ]; then
    ok "HPCRUN_CONFIG naming a missing file: one line naming both, exit 125"
else
    fail "HPCRUN_CONFIG naming a missing file: one line naming both, exit 125" \
        "got: $out; stderr: $(cat "$SC/stderr")"
fi
if is_rootless; then
    skip "HPCRUN_CONFIG naming an unreadable file fails" "$ROOTLESS_WHY (the test user is root, who can read it)"
else
    conf secret.conf "gpu = none" && chmod 0600 "$SC/secret.conf"
    USER_ENV="HPCRUN_CONFIG=$SC/secret.conf" check_grep \
        "^hpcrun: HPCRUN_CONFIG: $SC/secret.conf: Permission denied$" \
        "HPCRUN_CONFIG naming an unreadable file fails" as_user "$HPCRUN" --site-config
fi

# --site-config says which file it read, first.
check_grep "^# site config: $SC/missing.conf$" "--site-config names the file it read" \
    sc missing.conf "$HPCRUN" --site-config
default=$("$HPCRUN" --help | sed -n 's/.*instead of \(.*hpcrun\.conf\);.*/\1/p')
if [ -e "$default" ]; then
    want="# site config: $default"
else
    want="# site config: none ($default does not exist); shipped defaults"
fi
out=$(as_user "$HPCRUN" --site-config | head -1)
[ -n "$default" ] && [ "$out" = "$want" ] && ok "--site-config without HPCRUN_CONFIG names the default path" ||
    fail "--site-config without HPCRUN_CONFIG names the default path" "got: $out; want: $want"

# make install: the sample, every key commented at its default, in
# $sysconfdir/hpcrun/hpcrun.conf; parsed without a warning, it changes
# nothing; an admin's file is never replaced.
dest=$SC/destdir
if make -s -C "$top_builddir" install DESTDIR="$dest" >"$SC/install.log" 2>&1; then
    inst=$(find "$dest" -path '*/hpcrun/hpcrun.conf' -type f)
    chmod -R a+rX "$dest"
    shipped=$(USER_ENV="HPCRUN_CONFIG=/dev/null" as_user "$HPCRUN" --site-config | tail -n +2)
    out=$(USER_ENV="HPCRUN_CONFIG=$inst" as_user "$HPCRUN" --site-config 2>&1)
    if [ -n "$inst" ] && [ "$(printf '%s\n' "$out" | tail -n +2)" = "$shipped" ] &&
        printf '%s\n' "$out" | head -1 | grep -qx "# site config: $inst"; then
        ok "make install puts the sample site config in place, which parses cleanly to the shipped defaults"
    else
        fail "make install puts the sample site config in place, which parses cleanly to the shipped defaults" \
            "installed: '$inst'; got: $out"
    fi
    # what an admin needs beside the programs is installed with them
    for f in '*/doc/hpcrun/slurm-admin-guide.md' '*/libexec/hpcrun/prolog' '*/libexec/hpcrun/epilog' \
        '*/man1/hpcrun.1' '*/man1/hpcimg.1' '*/bin/hpcrun' '*/bin/hpcimg'; do
        check "make install installs ${f#\*/}" test -n "$(find "$dest" -path "$f" -type f)"
    done
    # each commented key, uncommented, holds the shipped default (the binds
    # and host-mpi are examples; the library sets' paths are x86_64's)
    sed 's/^#\([a-z?-]* =\)/\1/' "$inst" | grep -vE '^(bind|host-mpi)' |
        if [ "$(uname -m)" = x86_64 ]; then cat; else grep -v x86_64-linux-gnu; fi >"$SC/uncommented.conf"
    chmod a+r "$SC/uncommented.conf"
    out=$(USER_ENV="HPCRUN_CONFIG=$SC/uncommented.conf" as_user "$HPCRUN" --site-config 2>&1 | tail -n +2)
    [ "$out" = "$shipped" ] && ok "... and each of its keys, uncommented, says the shipped default" ||
        fail "... and each of its keys, uncommented, says the shipped default" "$(diff <(echo "$shipped") <(echo "$out"))"
    echo "# the admin's" >>"$inst"
    make -s -C "$top_builddir" install DESTDIR="$dest" >>"$SC/install.log" 2>&1
    check "... a second make install keeps the admin's changed file" grep -qx "# the admin's" "$inst"
    make -s -C "$top_builddir" uninstall DESTDIR="$dest" >>"$SC/install.log" 2>&1
    check "... which make uninstall keeps too" grep -qx "# the admin's" "$inst"
    sed -i '$d' "$inst" && make -s -C "$top_builddir" install DESTDIR="$dest" >>"$SC/install.log" 2>&1 &&
        make -s -C "$top_builddir" uninstall DESTDIR="$dest" >>"$SC/install.log" 2>&1
    check "... while it removes the unchanged sample" test ! -e "$inst"
else
    fail "make install puts the sample site config in place, which parses cleanly to the shipped defaults" \
        "make install failed: $(tail -5 "$SC/install.log")"
fi
rm -rf "$dest"
