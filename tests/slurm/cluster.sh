#!/usr/bin/env bash
# A single-node Slurm cluster on 127.0.0.1 for the Slurm launcher test:
#   cluster.sh start DIR   writes DIR/slurm.conf, starts munged (if none
#                          runs), slurmctld and slurmd, waits for the node
#   cluster.sh stop DIR    stops what start started (by their pid files)
# Needs root, munge and slurm-wlm. Ports are picked free at start.
set -euo pipefail
cmd=$1
dir=$(realpath "$2")
conf="$dir/slurm.conf"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop() {
  # Let jobs finish their cleanup while the daemons still answer.
  for _ in $(seq 100); do
    [ -z "$(SLURM_CONF="$conf" squeue -h 2>/dev/null)" ] && break
    sleep 0.1
  done
  for p in slurmd slurmctld munged; do
    if [ -f "$dir/$p.pid" ]; then
      kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
    fi
  done
  for _ in $(seq 50); do
    alive=0
    for p in slurmd slurmctld munged; do
      if [ -f "$dir/$p.pid" ] && kill -0 "$(cat "$dir/$p.pid")" 2>/dev/null; then alive=1; fi
    done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  # Job steps of this cluster that outlived slurmd (they carry its config).
  for p in $(pgrep -x slurmstepd || true); do
    if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$conf"; then
      kill -9 "$p" 2>/dev/null || true
    fi
  done
}

case $cmd in
start)
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo) - 1024 ))
  # munge: a key if there is none, our own daemon on our own socket.
  if [ ! -f /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  chown munge:munge "$dir/munge"
  chmod 0700 "$dir/munge"
  sock="$dir/munge/munge.socket"
  runuser -u munge -- munged --socket="$sock" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" --force
  cp "$dir/munge/munged.pid" "$dir/munged.pid"
  cat > "$conf" <<CONF
ClusterName=distobtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$sock
CryptoType=crypto/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmUser=root
SlurmdUser=root
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SchedulerType=sched/builtin
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:16
CONF
  export SLURM_CONF="$conf"
  slurmctld -f "$conf"
  slurmd -f "$conf"
  for _ in $(seq 150); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      exit 0
    fi
    sleep 0.2
  done
  echo "slurm did not come up:" >&2
  tail -5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
  stop
  exit 1
  ;;
stop)
  stop
  ;;
esac
