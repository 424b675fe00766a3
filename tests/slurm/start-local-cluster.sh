#!/usr/bin/env bash
# A one-node SLURM cluster on this machine (slurmctld + slurmd on localhost, munge for auth), for
# tests/test_slurm.py and CI. Debian/Ubuntu, as root. Idempotent, every step only when needed:
#   - installs Debian's slurm-wlm and munge with apt-get when sbatch/slurmd/munged are missing;
#   - creates the munge key, the state and log folders;
#   - writes /etc/slurm/slurm.conf for this host (name, CPUs, memory from `slurmd -C`), unless a
#     slurm.conf not written by this script is there (a real cluster's: then it is used as is);
#   - starts munged, slurmctld and slurmd when they are not running (restarts them when the
#     configuration changed), and waits until the node accepts jobs.
#
#   tests/slurm/start-local-cluster.sh          # install if needed, start, wait
#   tests/slurm/start-local-cluster.sh stop     # stop the daemons this script starts
#
# No accounting database (slurmdbd/MariaDB): the SLURM executor plugin polls job states with
# squeue (profiles/slurm + --slurm-status-command squeue), so finished jobs must stay visible
# to squeue for a while: MinJobAge=3600. Finished jobs are also written to JOBCOMP_LOG.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MARK="# written by egoinstruct tests/slurm/start-local-cluster.sh"
STATE=/var/lib/slurm
LOGS=/var/log/slurm
JOBCOMP_LOG=$LOGS/jobcomp.log
PARTITION=debug
WAIT_S=${SLURM_START_TIMEOUT_S:-90}

say() { echo "start-local-cluster: $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
seconds() { printf '%d.%d s' $(($1 / 1000)) $(($1 % 1000 / 100)); }
die() { echo "start-local-cluster: error: $*" >&2; exit 1; }

# A daemon runs when the pid in its pid file is a live process (not a zombie) with its name.
running() {
    local pid
    pid=$(cat "/run/$1.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] \
        && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

stop_daemon() {  # by its pid file (never by name: other daemons on this machine stay)
    local name=$1 pid
    running "$name" || return 0
    pid=$(cat "/run/$name.pid")
    kill "$pid"
    for _ in $(seq 100); do running "$name" || break; sleep 0.1; done
    ! running "$name" || die "$name (pid $pid) did not stop"
}

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts system daemons)"

if [ "${1:-}" = stop ]; then
    grep -qF "$MARK" "$CONF" 2>/dev/null || die "$CONF was not written by this script; not stopping anything"
    stop_daemon slurmd
    stop_daemon slurmctld
    say "slurmd and slurmctld stopped (munged left running)"
    exit 0
fi

start=$(now_ms)

# 1. Packages.
if ! command -v sbatch >/dev/null || ! command -v slurmd >/dev/null || ! command -v slurmctld >/dev/null \
    || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # Fresh machines may have no package lists yet; update only then or when the install fails.
    if [ -z "$(apt-cache policy slurm-wlm 2>/dev/null | grep -E 'Candidate: [0-9]')" ]; then
        apt-get update -qq
    fi
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; }
fi
installed=$(now_ms)

# 2. Munge: key (the package usually makes one) and daemon.
if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile /etc/munge/munge.key
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged --force
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
    munge -n | unmunge >/dev/null || die "munged does not answer (see /var/log/munge/munged.log)"
fi

# 3. slurm.conf for this host.
mkdir -p "$CONF_DIR" "$STATE/slurmctld" "$STATE/slurmd" "$LOGS"
changed=no
if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    say "$CONF exists and was not written by this script: using it as it is"
else
    host=$(hostname -s)
    # slurmd -C: "NodeName=<host> CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2
    # ThreadsPerCore=1 RealMemory=23456". Keep the CPU layout; offer 90 % of the memory (a node
    # that reports less than its configured RealMemory is drained).
    node=$(slurmd -C | head -n 1)
    memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
    layout=$(sed -e 's/^NodeName=[^ ]* //' -e 's/ *RealMemory=[0-9]*//' <<<"$node")
    want=$(cat <<EOF
$MARK
# A one-node cluster on this machine for tests; safe to delete with the daemons stopped.
ClusterName=egoinstruct-local
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# No cgroups (containers rarely allow them): processes tracked by parent pid, no CPU binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# No accounting database; squeue reports finished jobs for an hour, and every finished job is
# appended to the job completion log.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$JOBCOMP_LOG
MinJobAge=3600
InactiveLimit=0
KillWait=10
NodeName=$host NodeAddr=127.0.0.1 $layout RealMemory=$((memory * 9 / 10)) State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
)
    if [ "$(cat "$CONF" 2>/dev/null)" != "$want" ]; then
        say "writing $CONF ($host: $layout, RealMemory=$((memory * 9 / 10)))"
        printf '%s\n' "$want" > "$CONF"
        changed=yes
    fi
fi

# 4. Daemons: (re)start slurmctld, then slurmd; never those of a slurm.conf not written here.
if grep -qF "$MARK" "$CONF"; then
    if [ "$changed" = yes ]; then
        stop_daemon slurmd
        stop_daemon slurmctld
    fi
    if ! running slurmctld; then
        say "starting slurmctld"
        slurmctld
    fi
    if ! running slurmd; then
        say "starting slurmd"
        slurmd
    fi
fi

# 5. Wait until a node takes jobs; our node, left down or drained by an earlier run, is resumed.
ours=no
grep -qF "$MARK" "$CONF" && ours=yes
host=$(hostname -s)
state=""
for _ in $(seq "$((WAIT_S * 2))"); do
    states=$(sinfo --noheader --Node --format=%T 2>/dev/null || true)
    state=$(grep -m1 -xE 'idle|mixed|allocated|completing' <<<"$states" || true)
    [ -n "$state" ] && break
    if [ "$ours" = yes ] && grep -qE '^(down|drain)' <<<"$states"; then
        scontrol update NodeName="$host" State=RESUME 2>/dev/null || true
    fi
    sleep 0.5
done
[ -n "$state" ] || die "no node takes jobs after ${WAIT_S} s (states: $(echo $states)); see $LOGS/slurmctld.log and $LOGS/slurmd.log"
ready=$(now_ms)
say "cluster up: a node is $state, partitions: $(sinfo --noheader --format=%P | tr '\n' ' ')" \
    "(install $(seconds $((installed - start))), configure and start $(seconds $((ready - installed))))"
