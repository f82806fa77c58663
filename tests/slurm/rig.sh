#!/bin/bash
# A real Slurm on this one machine, for the tests: munged with a fresh key,
# slurmctld and two slurmd (nodes n1 and n2, 4 CPUs each), started as root
# without systemd, everything under one directory.
#
#   tests/slurm/rig.sh start DIR [SPOOL]
#                           start it; prints "export SLURM_CONF=..." once
#                           both nodes are idle (at most ~30 s). The slurmd
#                           spools go to SPOOL/spool-n1 and -n2 (default: DIR),
#                           the nodes' TmpFS to DIR/tmp-n1 and -n2.
#   tests/slurm/rig.sh stop DIR
#                           stop everything it started, by PID, and remove SPOOL
#
# Options, in the environment of "start":
#   HPCRUN_SPANK_PLUGIN=SO  load the hpcrun SPANK plugin (srun --container-image)
#   HPCRUN_RIG_PROLOG=FILE, HPCRUN_RIG_EPILOG=FILE  Prolog= and Epilog= with
#                           PrologFlags=Alloc (as batch/slurm/README.md says),
#                           run through wrappers in DIR that set, for them,
#   HPCRUN_RIG_CONFIG=FILE  the site config (HPCRUN_CONFIG), and
#   HPCRUN_RIG_HPCRUN=FILE  the hpcrun they ask for it, which is also the one
#                           the SPANK plugin runs (default: the installed one)
#
# DIR must not exist before start (its parents must be searchable by the
# slurm and munge users and by the test user). Clients need SLURM_CONF=
# DIR/slurm.conf. Every daemon the rig starts, and every process those start
# (slurmstepd, the tasks' parents), carries HPCRUN_SLURM_RIG=DIR in its
# environment: stop kills exactly those, even after a daemon died.
#
# Facts behind the configuration (Debian 12, Slurm 22.05, munge 0.5.15):
# - two slurmd on one host share the kernel, /tmp and /dev/shm: each node
#   gets its own spool and TmpFS (else both create the same PMIx app dir
#   and the launch fails with "File exists");
# - the nodes declare 4 CPUs whatever the hardware (config_overrides), so
#   "srun -n 4" fits on one node and "-N 2 -n 4" on both;
# - proctrack/linuxproc and task/none need no cgroup setup.
set -u

die() {
    echo "slurm rig: $*" >&2
    # a start that fails half-way stops what it started
    [ "$action" != start ] || [ ! -f "$dir/pids" ] || do_stop
    exit 1
}

usage() { die "usage: rig.sh start DIR [SPOOL] | stop DIR"; }

# The last lines of those of these logs that exist, for error messages.
logs() {
    local f
    for f; do
        [ ! -s "$f" ] || tail -n 5 "$f"
    done
}

action=${1:-}
[ $# -eq 2 ] || [ $# -eq 3 ] || usage
dir=$2
case "$dir" in /*) ;; *) dir=$PWD/$dir ;; esac
spool=${3:-$dir}
case "$spool" in /*) ;; *) spool=$PWD/$spool ;; esac

# Ports: ask the kernel for free ones (bound then released; the daemons bind
# them a moment later).
free_ports() {
    python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))'
}

rig_pids() {
    # Every process whose environment names this rig (daemons and their
    # descendants). /proc/PID/environ is readable by root.
    local e p
    for e in /proc/[0-9]*/environ; do
        p=${e#/proc/}
        p=${p%/environ}
        [ "$p" != $$ ] || continue
        if { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qxF "HPCRUN_SLURM_RIG=$dir"; then
            echo "$p"
        fi
    done
}

start_daemon() {
    local name=$1
    shift
    # setsid: the daemons must not get the terminal's or the test's signals.
    HPCRUN_SLURM_RIG=$dir setsid "$@" </dev/null >>"$dir/log/$name.out" 2>&1 &
    echo "$! $name" >>"$dir/pids"
}

nodes_idle() {
    local out
    out=$(SLURM_CONF=$dir/slurm.conf sinfo -h -N -o '%N %t' 2>/dev/null) || return 1
    [ "$(printf '%s\n' "$out" | grep -cE '^n[12] idle$')" = 2 ]
}

do_start() {
    local ctld_port p1 p2 host i c pid name
    [ "$(id -u)" = 0 ] || die "must run as root (it starts slurmd and munged)"
    for c in munged slurmctld slurmd sinfo srun python3 setpriv; do
        command -v "$c" >/dev/null ||
            die "$c not found (apt-get install munge slurmctld slurmd slurm-client python3)"
    done
    id slurm >/dev/null 2>&1 || die "no 'slurm' user (the slurmctld package creates it)"
    id munge >/dev/null 2>&1 || die "no 'munge' user (the munge package creates it)"
    [ ! -e "$dir" ] || die "$dir exists; give a fresh directory"
    mkdir -p "$dir" || die "cannot create $dir"
    chmod 0755 "$dir"
    mkdir -p "$dir/munge" "$dir/state" "$dir/log" "$spool/spool-n1" "$spool/spool-n2" \
        "$dir/tmp-n1" "$dir/tmp-n2" || die "cannot create directories in $dir and $spool"
    echo "$spool" >"$dir/spool"
    : >"$dir/pids"
    chmod 1777 "$dir/tmp-n1" "$dir/tmp-n2"
    chown munge:munge "$dir/munge"
    chmod 0755 "$dir/munge"
    chown slurm:slurm "$dir/state" "$dir/log"
    chmod 0755 "$dir/state" "$dir/log"

    # munge: a fresh key, our own socket (clients find it through AuthInfo).
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none ||
        die "cannot write the munge key"
    chown munge:munge "$dir/munge/munge.key"
    chmod 0400 "$dir/munge/munge.key"
    HPCRUN_SLURM_RIG=$dir setsid setpriv --reuid=munge --regid=munge --clear-groups \
        munged -F --force --key-file="$dir/munge/munge.key" \
        --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
        --seed-file="$dir/munge/munged.seed" --log-file="$dir/munge/munged.log" \
        </dev/null >>"$dir/log/munged.out" 2>&1 &
    echo "$! munged" >>"$dir/pids"
    for i in $(seq 100); do
        [ -S "$dir/munge/munge.socket" ] && break
        sleep 0.1
    done
    [ -S "$dir/munge/munge.socket" ] ||
        die "munged did not create its socket in 10 s: $(logs "$dir/log/munged.out" "$dir/munge/munged.log")"

    read -r ctld_port p1 p2 <<<"$(free_ports)" || die "cannot find free ports"
    host=$(hostname -s)
    cat >"$dir/slurm.conf" <<EOF
# written by tests/slurm/rig.sh
ClusterName=hpcrun-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$spool/spool-%n
TmpFS=$dir/tmp-%n
SlurmctldPidFile=$dir/state/slurmctld.pid
SlurmdPidFile=$spool/spool-%n/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
KillWait=5
InactiveLimit=0
MinJobAge=2
SlurmdTimeout=30
NodeName=n1 NodeHostname=$host NodeAddr=127.0.0.1 Port=$p1 CPUs=4 Boards=1 SocketsPerBoard=1 CoresPerSocket=4 ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN
NodeName=n2 NodeHostname=$host NodeAddr=127.0.0.1 Port=$p2 CPUs=4 Boards=1 SocketsPerBoard=1 CoresPerSocket=4 ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=n1,n2 Default=YES MaxTime=10 State=UP
EOF
    # HPCRUN_SPANK_PLUGIN: the hpcrun SPANK plugin to load (srun --container-image)
    if [ -n "${HPCRUN_SPANK_PLUGIN:-}" ]; then
        [ -r "$HPCRUN_SPANK_PLUGIN" ] || die "$HPCRUN_SPANK_PLUGIN: no such plugin"
        # and the hpcrun it runs to build the containers (hpcrun=PATH)
        echo "required $HPCRUN_SPANK_PLUGIN${HPCRUN_RIG_HPCRUN:+ hpcrun=$HPCRUN_RIG_HPCRUN}" \
            >"$dir/plugstack.conf"
        chmod 0644 "$dir/plugstack.conf"
        echo "PlugStackConfig=$dir/plugstack.conf" >> "$dir/slurm.conf"
    fi
    # HPCRUN_RIG_PROLOG/EPILOG: slurmd runs them with a fixed environment,
    # so the site config and hpcrun's path reach them through a wrapper.
    for c in prolog epilog; do
        local script var
        var=HPCRUN_RIG_$(echo "$c" | tr a-z A-Z)
        script=${!var:-}
        [ -n "$script" ] || continue
        [ -x "$script" ] || die "$script: not an executable $c"
        {
            echo '#!/bin/sh'
            echo "HPCRUN_CONFIG='${HPCRUN_RIG_CONFIG:-}' HPCRUN_PROLOG_HPCRUN='${HPCRUN_RIG_HPCRUN:-}'"
            echo 'export HPCRUN_CONFIG HPCRUN_PROLOG_HPCRUN'
            echo "[ -n \"\$HPCRUN_CONFIG\" ] || unset HPCRUN_CONFIG"
            echo "[ -n \"\$HPCRUN_PROLOG_HPCRUN\" ] || unset HPCRUN_PROLOG_HPCRUN"
            echo "exec '$script' \"\$@\""
        } >"$dir/$c"
        chmod 0755 "$dir/$c"
        if [ "$c" = prolog ]; then
            printf 'Prolog=%s\nPrologFlags=Alloc\n' "$dir/prolog" >>"$dir/slurm.conf"
        else
            echo "Epilog=$dir/epilog" >>"$dir/slurm.conf"
        fi
    done
    chmod 0644 "$dir/slurm.conf"
    export SLURM_CONF=$dir/slurm.conf

    start_daemon slurmctld slurmctld -D -i -f "$dir/slurm.conf"
    start_daemon slurmd-n1 slurmd -D -N n1 -f "$dir/slurm.conf"
    start_daemon slurmd-n2 slurmd -D -N n2 -f "$dir/slurm.conf"
    for i in $(seq 300); do
        nodes_idle && break
        # a daemon that died will not come back: say so at once
        while read -r pid name; do
            kill -0 "$pid" 2>/dev/null ||
                die "$name exited: $(logs "$dir/log/$name.out" "$dir/log/$name.log")"
        done <"$dir/pids"
        sleep 0.1
    done
    nodes_idle || die "nodes n1 and n2 not idle after 30 s: $(sinfo -N 2>&1 | tail -3); $(logs "$dir/log/slurmctld.log")"
    echo "export SLURM_CONF=$dir/slurm.conf"
}

do_stop() {
    local pid name i left
    [ -d "$dir" ] || return 0
    # Jobs first, so that slurmd delivers their signals and cleans up.
    if [ -f "$dir/slurm.conf" ]; then
        SLURM_CONF=$dir/slurm.conf timeout 5 scancel --full --quiet --partition=test \
            2>/dev/null || true
    fi
    if [ -f "$dir/pids" ]; then
        while read -r pid name; do
            kill -TERM "$pid" 2>/dev/null || true
        done <"$dir/pids"
    fi
    for i in $(seq 100); do
        left=$(rig_pids)
        [ -n "$left" ] || break
        # shellcheck disable=SC2086 # a list of PIDs
        [ "$i" != 50 ] || kill -TERM $left 2>/dev/null
        sleep 0.1
    done
    left=$(rig_pids)
    if [ -n "$left" ]; then
        echo "slurm rig: killing what did not stop in 10 s: $left" >&2
        # shellcheck disable=SC2086 # a list of PIDs
        kill -KILL $left 2>/dev/null
        sleep 0.2
    fi
    # a spool outside DIR is ours too (DIR itself is the caller's to remove)
    if [ -f "$dir/spool" ]; then
        spool=$(cat "$dir/spool")
        [ "$spool" = "$dir" ] || rm -rf "$spool/spool-n1" "$spool/spool-n2"
        [ "$spool" = "$dir" ] || rmdir "$spool" 2>/dev/null
    fi
    return 0
}

case "$action" in
    start) do_start ;;
    stop) do_stop ;;
    *) usage ;;
esac
