#!/usr/bin/env bash
# A real one-node Slurm cluster from Debian's slurm-wlm and munge, started here as local daemons
# in a temporary folder (munged with its own key and socket; slurmctld and slurmd with -c, a
# generated slurm.conf on free local ports, SlurmUser=root, select/cons_tres). It submits a
# 4-shard campaign with `flipsweep slurm --submit`, waits for the merge job, checks that the
# merged folder equals an unsharded run's (trials.csv apart from seconds, clean.csv, faults.csv,
# summary.csv, summary.md), and shuts everything down.
#
# Usage: slurm_campaign_test.sh BUILD_DIR SOURCE_DIR
# Exit 0: passed; 77: skipped, with the reason (Slurm or munge missing, or they cannot start
# here: the daemons' logs are printed); anything else: failed.
set -uo pipefail
build_dir=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
flipsweep="$build_dir/flipsweep"
skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAILED: $*"; exit 1; }

for tool in munged slurmctld slurmd sbatch squeue scontrol sinfo; do
  command -v "$tool" > /dev/null || skip "$tool not found (scripts/install-deps.sh installs slurm-wlm and munge)"
done
[ "$(id -u)" -eq 0 ] || skip "the local cluster runs its daemons as root (SlurmUser=root); run as root"
[ -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || skip "dataset-fashion-mnist not installed"
[ -x "$flipsweep" ] || fail "$flipsweep not built"

work=$(mktemp -d /tmp/flipsweep-slurm.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  SLURM_CONF="$work/slurm.conf" scontrol shutdown > /dev/null 2>&1
  sleep 1
  for f in "$work"/slurmctld.pid "$work"/slurmd.pid "$work"/munged.pid; do
    [ -s "$f" ] && kill "$(cat "$f")" 2> /dev/null
  done
  sleep 0.5
  for f in "$work"/slurmctld.pid "$work"/slurmd.pid "$work"/munged.pid; do
    [ -s "$f" ] && kill -9 "$(cat "$f")" 2> /dev/null
  done
  [ "${KEEP_SLURM_WORK:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
show_logs() {
  for log in "$work"/munged.log "$work"/slurmctld.log "$work"/slurmd.log; do
    [ -f "$log" ] && { echo "--- $log"; tail -n 30 "$log"; }
  done
}

# munge: its own key, socket and files, so nothing of the host's munge is touched.
mkdir -p "$work/munge"
chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
socket="$work/munge/munge.socket"
munged --force --key-file="$work/munge/munge.key" --socket="$socket" --pid-file="$work/munged.pid" \
  --log-file="$work/munged.log" --seed-file="$work/munge/seed" \
  || { show_logs; skip "munged cannot start here"; }
for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done
munge -n -S "$socket" | unmunge -S "$socket" > /dev/null 2>&1 || { show_logs; skip "munge does not authenticate here"; }

free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ctld_port=$(free_port)
slurmd_port=$(free_port)
host=$(hostname -s)
node_line=$(slurmd -C | head -n 1)  # NodeName=<host> CPUs=... RealMemory=...
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" << EOF
ClusterName=flipsweeptest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=flipsweep Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/slurm.conf"
slurmctld -c -f "$SLURM_CONF" || { show_logs; skip "slurmctld cannot start here"; }
slurmd -c -f "$SLURM_CONF" || { show_logs; skip "slurmd cannot start here"; }
ready=0
for _ in $(seq 120); do
  state=$(sinfo -h -N -o '%t' 2> /dev/null | head -n 1)
  [ "$state" = "idle" ] && { ready=1; break; }
  sleep 0.5
done
[ "$ready" = 1 ] || { sinfo 2>&1; show_logs; skip "the node did not become idle within 60 s (state '${state:-none}')"; }
echo "cluster up: node $host idle, slurmctld on port $ctld_port"

# The campaign: golden ResNet20 on 32 Fashion-MNIST images, 2 formats × 2 BERs × 8 trials.
cat > "$work/campaign.yaml" << EOF
name: slurmtest
seed: 11
trials: 8
ber: [1.0e-5, 1.0e-4]
formats: [fp32, q2.5]
models:
  - {name: plain, path: $source_dir/tests/golden/resnet20_cifar/model.onnx}
dataset:
  spec: fashion-mnist-test
  limit: 32
  preprocess: {pad: 2, channels: 3}
batch_size: 16
EOF
"$flipsweep" run "$work/campaign.yaml" --save-faults --no-progress --threads 1 --out "$work/whole" > "$work/whole.log" 2>&1 \
  || { cat "$work/whole.log"; fail "the unsharded run failed"; }

submit_output=$("$flipsweep" slurm "$work/campaign.yaml" --shards 4 --out "$work/sharded" --cpus-per-task 1 \
  --time 00:10:00 --run-options "--save-faults" --submit 2>&1) || { echo "$submit_output"; fail "flipsweep slurm --submit failed"; }
echo "$submit_output"
merge_job=$(echo "$submit_output" | sed -n 's/.*merge job \([0-9]*\).*/\1/p')
[ -n "$merge_job" ] || fail "no merge job id in the output"

# Wait (up to 5 minutes) until the merge job has left the queue.
for _ in $(seq 600); do
  squeue -h -j "$merge_job" 2> /dev/null | grep -q . || break
  sleep 0.5
done
squeue -h -j "$merge_job" 2> /dev/null | grep -q . && { squeue; show_logs; fail "the merge job did not finish within 5 minutes"; }
for log in "$work"/sharded/slurm/*.log; do echo "--- $log"; tail -n 5 "$log"; done
[ -f "$work/sharded/merged-from.txt" ] || { show_logs; fail "the merge job wrote no merged campaign"; }

# The merged folder equals the unsharded run (trials.csv apart from the seconds column).
without_seconds() { awk -F, 'BEGIN { OFS = "," } { $12 = ""; print }' "$1"; }
diff <(without_seconds "$work/whole/trials.csv") <(without_seconds "$work/sharded/trials.csv") > "$work/trials.diff" \
  || { head -n 20 "$work/trials.diff"; fail "merged trials.csv differs from the unsharded run's"; }
for file in clean.csv faults.csv summary.csv summary.md; do
  cmp -s "$work/whole/$file" "$work/sharded/$file" || { diff "$work/whole/$file" "$work/sharded/$file" | head -n 20; fail "$file differs"; }
done
rows=$(($(wc -l < "$work/sharded/trials.csv") - 1))
[ "$rows" -eq 32 ] || fail "expected 32 trials, merged $rows"
echo "PASSED: 4 shards run as a Slurm job array, merged by the dependent job, equal to the unsharded run ($rows trials)"
