#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the sweep tests (docs/tests.md, "Slurm").
#
#   tests/cluster/slurm.sh install      apt-get install what is missing (root)
#   tests/cluster/slurm.sh start DIR    munge, MariaDB, slurmdbd, slurmctld, slurmd; waits for the node
#   tests/cluster/slurm.sh stop DIR     cancels its jobs, stops every daemon it started (by pid)
#
# Everything lives under DIR: the configuration (DIR/etc/slurm.conf: point SLURM_CONF at it), the
# munge key and socket, the database, the state, logs and pid files. Ports are free ones picked at
# start, so clusters started by other checkouts on the same machine do not collide. Accounting
# (sacct) is on: slurmdbd stores it in a MariaDB server of its own (TCP on 127.0.0.1 only).
# The node is this machine with all its CPUs, one partition "debug"; no cgroups
# (proctrack/linuxproc, task/none), so it runs in containers too. Needs root.
set -euo pipefail

PACKAGES=(slurm-wlm slurm-client munge slurmdbd mariadb-server)

die() { echo "slurm.sh: $*" >&2; exit 1; }

install() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurm-wlm)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmdbd >/dev/null || missing+=(slurmdbd)
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: install them as root (apt-get install ${PACKAGES[*]})"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run NAME CMD...: start a daemon in the foreground of its own session, remember its pid
run() {
    local name=$1; shift
    setsid "$@" >"$DIR/log/$name.out" 2>&1 < /dev/null &
    echo $! >"$DIR/pids/$name"
}

wait_for() {  # wait_for SECONDS WHAT CMD...: until CMD succeeds
    local limit=$1 what=$2; shift 2
    local end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || { echo "slurm.sh: $what did not come up in ${limit} s; logs in $DIR/log" >&2
                                   tail -n 5 "$DIR"/log/*.out "$DIR"/log/*.log >&2 2>/dev/null || true
                                   stop; exit 1; }
        sleep 0.2
    done
}

start() {
    [ "$(id -u)" -eq 0 ] || die "start needs root (the daemons run as root)"
    install
    mkdir -p "$DIR"/{etc,log,pids,munge,db,state,spool}
    chmod 700 "$DIR" "$DIR/munge"
    local host cpus mem ctld_port slurmd_port dbd_port db_port name
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
    ctld_port=$(free_port); slurmd_port=$(free_port); dbd_port=$(free_port); db_port=$(free_port)
    name="bb$$"

    # munge: a fresh key, its own socket
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$DIR/munge/munge.key"
    run munged munged --foreground --force --socket="$DIR/munge/munge.sock" --key-file="$DIR/munge/munge.key" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/seed"
    # MariaDB: a new data folder, TCP on 127.0.0.1 only, a user for slurmdbd
    mariadb-install-db --no-defaults --datadir="$DIR/db" --user=root --auth-root-authentication-method=normal \
        --skip-test-db >"$DIR/log/mariadb-install.out" 2>&1 || die "mariadb-install-db failed: $DIR/log/mariadb-install.out"
    run mariadbd mariadbd --no-defaults --datadir="$DIR/db" --user=root --bind-address=127.0.0.1 --port="$db_port" \
        --socket="$DIR/db.sock" --pid-file="$DIR/db.pid" --log-error="$DIR/log/mariadb.log" --skip-name-resolve \
        --innodb-buffer-pool-size=32M
    wait_for 60 munged munge -n --socket="$DIR/munge/munge.sock"
    wait_for 60 MariaDB mariadb --no-defaults --socket="$DIR/db.sock" -uroot -e "select 1"
    mariadb --no-defaults --socket="$DIR/db.sock" -uroot -e \
        "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm'; GRANT ALL ON *.* TO 'slurm'@'127.0.0.1';"

    cat >"$DIR/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.sock
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/pids/slurmdbd.pidfile
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_$name
EOF
    chmod 600 "$DIR/etc/slurmdbd.conf"
    cat >"$DIR/etc/slurm.conf" <<EOF
ClusterName=$name
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/pids/slurmctld.pidfile
SlurmdPidFile=$DIR/pids/slurmd.pidfile
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
AccountingStoragePass=$DIR/munge/munge.sock
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
ReturnToService=2
KillWait=3
MinJobAge=300
MessageTimeout=5
SlurmctldTimeout=10
SlurmdTimeout=30
InactiveLimit=0
Waittime=0
JobRequeue=1
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$DIR/etc/slurm.conf"
    run slurmdbd slurmdbd -D
    export SLURM_CONF="$DIR/etc/slurm.conf"
    wait_for 60 slurmdbd bash -c "exec 3<>/dev/tcp/127.0.0.1/$dbd_port"
    run slurmctld slurmctld -D -c -i -f "$DIR/etc/slurm.conf"
    wait_for 60 slurmctld scontrol ping
    run slurmd slurmd -D -N "$host" -f "$DIR/etc/slurm.conf"
    wait_for 60 "the node" bash -c "sinfo -h -o %t | grep -qx idle"
    wait_for 60 "accounting" sacct -n -X -S now
    echo "$DIR/etc/slurm.conf"
}

terminate() {  # terminate NAME...: SIGTERM each daemon started as NAME, wait (20 s, then SIGKILL)
    local name pid pids=() end
    for name in "$@"; do
        [ -s "$DIR/pids/$name" ] || continue
        pid=$(cat "$DIR/pids/$name")
        kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        rm -f "$DIR/pids/$name"
    done
    end=$((SECONDS + 20))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    done
}

stop() {
    export SLURM_CONF="$DIR/etc/slurm.conf"
    if [ -s "$DIR/pids/slurmctld" ] && kill -0 "$(cat "$DIR/pids/slurmctld")" 2>/dev/null; then
        # the jobs' processes (slurmstepd and below) end with their jobs, not with slurmd
        scancel --full --quiet -u "$(id -un)" 2>/dev/null || true
        local end=$((SECONDS + 20))
        while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ $SECONDS -lt $end ]; do sleep 0.5; done
    fi
    # in three waves, each waiting for the ones it sends to (slurmctld flushes to slurmdbd, which
    # flushes to MariaDB; everything authenticates through munge)
    terminate slurmd slurmctld
    terminate slurmdbd
    terminate mariadbd munged
    return 0
}

cmd=${1:-}
case "$cmd" in
    install) install ;;
    start|stop)
        [ -n "${2:-}" ] || die "usage: $0 $cmd DIR"
        mkdir -p "$2"
        DIR=$(cd "$2" && pwd)
        "$cmd" ;;
    *) die "usage: $0 install | start DIR | stop DIR" ;;
esac
