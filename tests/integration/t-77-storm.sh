# Faults and load on the launch: a kill storm and a crowd.
#
# Kill storm: launches, alone or as 3 members of one --join key, each sent
# SIGKILL at a random moment: hpcrun while it sets up, the application, or
# the FUSE server. After each one nothing of it may remain: no process of the
# test user (so no mount namespace of its, and no mount in one), no hpcrun
# FUSE mount on the host, no join socket (@hpcrun/UID/... in /proc/net/unix),
# no new file in the user's temporary and cache directories. The members the
# kill did not aim at run their application to its end (status 5) unless the
# FUSE server was the target. A second, short pass runs with HPCRUN_LINGER=2
# (a FUSE server may outlive its last container that long) and checks the
# same 5 s after its last launch.
#
# Crowd: CROWD_JOIN launches at once with one --join key and CROWD_SOLO
# without; application I exits with I % 100 and each status is checked.
#
# Sizes (bench/faults.sh runs the full ones): STORM_N (50), STORM_LINGER_N
# (8), CROWD_JOIN (256), CROWD_SOLO (64); STORM_SEED repeats a storm,
# STORM_TARGETS ("hpcrun app fuse") narrows what it kills.

STORM_N=${STORM_N:-50}
STORM_LINGER_N=${STORM_LINGER_N:-8}
CROWD_JOIN=${CROWD_JOIN:-256}
CROWD_SOLO=${CROWD_SOLO:-64}
STORM_SEED=${STORM_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
ST_DIR=$UWORK/storm
ST_RUN=$UWORK/storm-run # the user's $XDG_RUNTIME_DIR here: the join secret's
ST_LIMIT=20             # seconds any one launch may take
rm -rf "$ST_DIR" "$ST_RUN"
mkdir -p "$ST_DIR" && chmod 1777 "$ST_DIR"
install -d -m 0700 -o "$TEST_UID" -g "$TEST_GID" "$ST_RUN"
st_env="XDG_RUNTIME_DIR=$ST_RUN"

# What a launch may leave behind, one line each; empty when nothing is.
st_procs() { ps -o pid=,stat=,comm=,args= -u "$TEST_UID" | awk '$2 !~ /^Z/'; } # comm: hpcrun-fuse, hpcrun-join
st_leftovers() {
    local p
    st_procs | sed 's/^/process: /'
    for p in $(pgrep -u "$TEST_UID"); do
        sed -n "s|^|mount in /proc/$p: |p" "/proc/$p/mountinfo" 2>/dev/null | grep -F ' - fuse'
    done
    grep -F ' - fuse.squashfuse ' /proc/self/mountinfo | sed 's/^/host mount: /'
    grep -F "@hpcrun/$TEST_UID/" /proc/net/unix | sed 's/^/join socket: /'
}
st_files() { # the user's files in the temp dirs, the runtime dir and hpcrun's caches
    find /tmp /dev/shm /var/tmp -maxdepth 1 -user "$TEST_UID" 2>/dev/null
    find "$ST_RUN" "$USER_HOME/.cache/hpcrun" 2>/dev/null
}
st_clean() { [ -z "$(st_leftovers)" ]; }

# One launch of the storm: st_launch I MEMBERS TARGET; sets st_what to what
# was killed when, and st_bad to why it failed (empty: it passed).
st_launch() {
    local i=$1 members=$2 target=$3 k pids=() key=storm-$STORM_SEED-$i delay victim=-1 rc t0=$SECONDS
    local join=""
    [ "$members" = 1 ] || join=--join=$key
    rm -f "$ST_DIR"/*
    for k in $(seq "$members"); do
        USER_ENV="$st_env ${ST_LINGER_ENV:-}" TEST_TIMEOUT=$ST_LIMIT \
            as_user sh -c "echo \$\$ > '$ST_DIR/pid.$k'; exec '$HPCRUN' $join '$IMG/test.sqfs' \
                sh -c 'echo up > $ST_DIR/up.$k; sleep 0.2; exit 5'" > "$ST_DIR/out.$k" 2>&1 &
        pids+=($!)
    done
    k=$((RANDOM % members + 1))
    case $target in
    hpcrun) delay=$((RANDOM % 60)) ;;
    app) wait_until 100 test -s "$ST_DIR/up.$k"; delay=$((RANDOM % 150)) ;;
    fuse) delay=$((RANDOM % 200)) ;;
    esac
    sleep "$(printf '0.%03d' "$delay")"
    local phase="setting up"
    [ ! -s "$ST_DIR/up.$k" ] || phase="application running"
    if [ "$target" = fuse ]; then
        pkill -KILL -u "$TEST_UID" -x hpcrun-fuse && st_what="hpcrun-fuse" || st_what="no hpcrun-fuse (none yet or gone)"
    else
        victim=$k
        kill -KILL "$(cat "$ST_DIR/pid.$k" 2>/dev/null)" 2>/dev/null &&
            st_what="member $k (hpcrun, $target)" || st_what="member $k (not started or already exited)"
    fi
    st_what="launch $i ($members member(s)${join:+ $join}): SIGKILL to $st_what at $delay ms, member $k $phase"
    st_bad=""
    for k in $(seq "$members"); do
        wait "${pids[$((k - 1))]}"
        rc=$?
        [ "$rc" = 5 ] || [ "$k" = "$victim" ] || [ "$target" = fuse ] ||
            st_bad="$st_bad member $k exited $rc: $(head -c 300 "$ST_DIR/out.$k");"
    done
    # as_user's timeout ended what still ran after ST_LIMIT seconds
    [ $((SECONDS - t0)) -lt "$ST_LIMIT" ] || st_bad="$st_bad a member still ran after ${ST_LIMIT}s;"
}

read -r -a st_targets <<<"${STORM_TARGETS:-hpcrun app fuse}"
echo "storm: seed $STORM_SEED (STORM_SEED=$STORM_SEED repeats it), $STORM_N launches"
RANDOM=$STORM_SEED
# What earlier tests left is theirs, not the storm's: said and cleared.
if ! wait_until 50 st_clean; then
    fail "the test user has nothing left from earlier tests before the storm" "$(st_leftovers | head -20)"
    pkill -KILL -u "$TEST_UID"
fi
# one --join launch first, so the join secret exists before the snapshot
USER_ENV=$st_env hpcrun --join=storm-warm "$IMG/test.sqfs" true >/dev/null 2>&1
wait_until 50 st_clean
st_before=$(st_files | sort)
st_failed=0
st_t0=$SECONDS
for i in $(seq "$STORM_N"); do
    members=1
    [ $((RANDOM % 2)) = 0 ] || members=3
    st_launch "$i" "$members" "${st_targets[$((RANDOM % ${#st_targets[@]}))]}"
    if ! wait_until 50 st_clean; then
        st_bad="$st_bad left behind: $(st_leftovers | head -20)"
        # clear it, so the next launches are judged on their own
        pkill -KILL -u "$TEST_UID"
        wait_until 50 st_clean
    fi
    st_after=$(st_files | sort)
    [ "$st_after" = "$st_before" ] ||
        st_bad="$st_bad files: $(diff <(echo "$st_before") <(echo "$st_after") | grep '^[<>]' | head -10)"
    if [ -n "$st_bad" ]; then
        st_failed=$((st_failed + 1))
        fail "storm: $st_what" "$st_bad"
    fi
    [ "$((i % 100))" != 0 ] || echo "storm: $i launches"
done
echo "storm: $STORM_N launches took $((SECONDS - st_t0)) s"
[ "$st_failed" = 0 ] &&
    ok "kill storm: $STORM_N launches (seed $STORM_SEED), each SIGKILLed, leave no process, mount, FUSE server, join socket or file" ||
    fail "kill storm: $st_failed of $STORM_N launches (seed $STORM_SEED) failed"

# With a linger time: the same, 5 s after the last launch.
ST_LINGER_ENV=HPCRUN_LINGER=2
st_failed=""
for i in $(seq "$STORM_LINGER_N"); do
    members=1
    [ $((RANDOM % 2)) = 0 ] || members=3
    st_launch "L$i" "$members" "${st_targets[$((RANDOM % ${#st_targets[@]}))]}"
    [ -z "$st_bad" ] || st_failed="$st_failed $st_what: $st_bad;"
done
ST_LINGER_ENV=""
sleep 5
st_after=$(st_files | sort)
[ "$st_after" = "$st_before" ] ||
    st_failed="$st_failed files: $(diff <(echo "$st_before") <(echo "$st_after") | grep '^[<>]' | head -10)"
st_clean || st_failed="$st_failed left behind 5 s after: $(st_leftovers | head -20)"
[ -z "$st_failed" ] &&
    ok "kill storm with HPCRUN_LINGER=2: $STORM_LINGER_N launches leave nothing 5 s after the last" ||
    fail "kill storm with HPCRUN_LINGER=2 (seed $STORM_SEED)" "$st_failed"
pkill -KILL -u "$TEST_UID"
wait_until 50 st_clean

# ---- the crowd -------------------------------------------------------------------------
# crowd MEMBERS JOIN: launches at once, application I exits I % 100.
crowd() {
    local n=$1 join=$2 i pids=() rc bad="" t0=$SECONDS
    for i in $(seq 0 $((n - 1))); do
        USER_ENV=$st_env TEST_TIMEOUT=120 \
            as_user "$HPCRUN" $join "$IMG/test.sqfs" sh -c "exit $((i % 100))" > "$ST_DIR/crowd.$i" 2>&1 &
        pids+=($!)
    done
    for i in $(seq 0 $((n - 1))); do
        wait "${pids[$i]}"
        rc=$?
        [ "$rc" = $((i % 100)) ] || bad="$bad launch $i exited $rc, want $((i % 100)): $(head -c 300 "$ST_DIR/crowd.$i");"
    done
    crowd_bad=$(printf '%s' "$bad" | head -c 3000)
    echo "crowd: $n launches ${join:-without --join} took $((SECONDS - t0)) s"
}
rm -f "$ST_DIR"/*
crowd "$CROWD_JOIN" --join=crowd-$STORM_SEED
[ -z "$crowd_bad" ] && ok "crowd: $CROWD_JOIN launches at once with one --join key, every exit status right" ||
    fail "crowd: $CROWD_JOIN launches at once with one --join key, every exit status right" "$crowd_bad"
crowd "$CROWD_SOLO" ""
[ -z "$crowd_bad" ] && ok "crowd: $CROWD_SOLO launches at once without --join, every exit status right" ||
    fail "crowd: $CROWD_SOLO launches at once without --join, every exit status right" "$crowd_bad"
wait_until 50 st_clean && ok "the crowds leave no process, mount, FUSE server or join socket" ||
    fail "the crowds leave no process, mount, FUSE server or join socket" "$(st_leftovers | head -20)"
rm -rf "$ST_DIR" "$ST_RUN"
