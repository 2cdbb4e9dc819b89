#!/usr/bin/env bash
# Self-test of the cluster path on this machine: install a single-node Slurm from Debian's
# packages (slurmctld, slurmd, munge), start it with a private configuration, run a small sweep
# through scripts/sweep-slurm.sh (a job array and a dependent merge job), and check that the
# merged CSV and JSON are byte-identical to an unsharded run. Needs root and apt-get.
set -euo pipefail

usage() {
    cat <<USAGE
usage: scripts/slurm-selftest.sh [-s SPEC] [-n SHARDS] [-d DIR] [-k] [-h]
Install single-node Slurm (Debian slurmctld, slurmd, munge; needs root), start it, run sweep
SPEC as a job array of SHARDS shards plus a merge job, and compare with the unsharded sweep.
  -s SPEC    sweep to run (default workloads/sweeps/tsp-chips-formats.ron)
  -n SHARDS  shards (default 3)
  -d DIR     work directory: Slurm configuration, state, logs and results (default: a new one)
  -k         keep the daemons started here running afterwards (default: stop them)
  -h         this help
Exit status 0 when the merged result is byte-identical to the unsharded one.
USAGE
}

root=$(cd "$(dirname "$0")/.." && pwd)
spec=$root/workloads/sweeps/tsp-chips-formats.ron shards=3 dir="" keep=""
while getopts "s:n:d:kh" opt; do
    case $opt in
        s) spec=$(readlink -f "$OPTARG") ;;
        n) shards=$OPTARG ;;
        d) dir=$OPTARG ;;
        k) keep=1 ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "slurm-selftest: run as root (it installs packages)" >&2; exit 2; }
start=$(date +%s)
step() { echo "[$(( $(date +%s) - start )) s] $*"; }

step "installing slurmctld, slurmd, munge"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null

accsim=$root/target/release/accsim
if [ ! -x "$accsim" ]; then
    step "building accsim"
    (cd "$root" && cargo build --release)
fi

dir=${dir:-$(mktemp -d /tmp/accsim-slurm.XXXXXX)}
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
dir=$(readlink -f "$dir")
chmod 755 "$dir" # munged runs as user munge and keeps its pid file in here
started=()
cleanup() {
    if [ -z "$keep" ]; then
        for pidfile in "${started[@]}"; do
            [ -f "$pidfile" ] || continue
            pid=$(cat "$pidfile")
            kill "$pid" 2>/dev/null || continue
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
            done
        done
    fi
}
trap cleanup EXIT

step "starting munged"
if ! munge -n </dev/null >/dev/null 2>&1; then
    [ -f /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    install -d -o munge -g munge -m 755 /run/munge "$dir/munge"
    runuser -u munge -- munged --pid-file="$dir/munge/munged.pid"
    started+=("$dir/munge/munged.pid")
fi

step "starting slurmctld and slurmd ($dir)"
host=$(hostname -s)
node=$(slurmd -C | head -n 1)
cat >"$dir/slurm.conf" <<CONF
ClusterName=accsim-selftest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=selftest Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
started+=("$dir/slurmd.pid" "$dir/slurmctld.pid")
slurmctld -c
slurmd
for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 1
done
if [ "$state" != idle ]; then
    echo "slurm-selftest: node $host is '${state:-unreachable}', not idle; see $dir/*.log" >&2
    exit 1
fi

step "unsharded sweep of $(basename "$spec")"
"$accsim" sweep "$spec" --out "$dir/local" >/dev/null

step "the same sweep through Slurm: $shards shards and a merge job"
"$root/scripts/sweep-slurm.sh" -n "$shards" -c 1 -t 10m -w -b "$accsim" "$spec" "$dir/cluster"

stem=$(basename "$spec" .ron)
for ext in csv json; do
    if ! cmp "$dir/local/$stem.$ext" "$dir/cluster/$stem.$ext"; then
        echo "slurm-selftest: FAIL: merged $stem.$ext differs from the unsharded one ($dir)" >&2
        exit 1
    fi
done
step "PASS: the merged $stem.csv and $stem.json are byte-identical to the unsharded run ($dir)"
