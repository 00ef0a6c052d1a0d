#!/usr/bin/env bash
# test_cluster.sh — several nodes for real: a cluster of network namespaces on this
# machine, Slurm across it, MPI between its nodes, and a node lost mid-training.
#
#   test_cluster.sh MNIST_DDP_BIN DATA_DIR REPO_ROOT
#
# The cluster (as root): NODES (3) network namespaces, one per node, each with
# its own hostname (node1, node2, ...: a UTS namespace per process started in
# it, tests/cluster/node_exec.sh), its own address 10.77.0.N/24 on an interface
# cl0, a veth pair whose other end sits on a bridge inside a "switch" namespace
# of its own (the machine's network is not touched: traffic only between these
# namespaces), and the cluster's hosts file bind-mounted over /etc/hosts in the
# node's mount namespace. The file system is shared, as cluster nodes share NFS.
# MUNGE with one key (one munged: its socket is a file every namespace
# reaches), slurmctld on node1, slurmd on every node with NodeName = its
# hostname and NodeAddr = its address; each node claims 2 CPUs (the machine's
# cores oversubscribed NODES times), proctrack/linuxproc + task/none (several
# slurmd on one kernel cannot each own cgroups).
#
# The test runs in two parts: this script (outside) makes the namespaces and
# links and, whatever happens, removes them and kills every process left in
# them (ip netns pids), then checks that nothing is left: no namespace, no link,
# no process of the cluster, /etc/hosts unchanged, no new file of its nodes in
# the machine's /tmp or /dev/shm (each node has its own, in the test's directory). The same script with --inner runs on node1
# (node_exec.sh) and starts the daemons and the checks (tests/cluster/checks.sh).
#
# Exit 77 (ctest: skipped) with the reason when it cannot run: not root, network
# namespaces not available (ip netns add fails: the reason is printed), or the
# Slurm/MUNGE/iproute2 programs missing.
set -uo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 MNIST_DDP_BIN DATA_DIR REPO_ROOT" >&2
  exit 2
fi
bin=$(readlink -f "$1")
data=$(readlink -f "$2")
root=$(readlink -f "$3")
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
export PATH=$PATH:/usr/sbin:/sbin
# What every node must reach even where it lies under /tmp, which is node-local (node_exec.sh).
export MNIST_CLUSTER_KEEP="$root $(dirname "$bin") $data"

if [ "${4:-}" = --inner ]; then
  exec "$here/checks.sh" "$bin" "$data" "$root"
fi

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "network namespaces, veth links and slurmd need root: run as root"
for prog in ip nsenter unshare mount munged munge unmunge slurmctld slurmd sbatch srun squeue sinfo scontrol scancel mpirun; do
  command -v "$prog" >/dev/null 2>&1 || skip "$prog not found: scripts/setup.sh installs iproute2, munge, slurm and Open MPI"
done
[ -x "$bin" ] || { echo "FAIL: $bin is not an executable"; exit 1; }
[ -d "$data" ] || { echo "FAIL: no data directory $data"; exit 1; }

nodes=${MNIST_CLUSTER_NODES:-3}
# Not under /tmp: each node has its own /tmp (node_exec.sh), which would hide it.
tmp=$(mktemp -d "${MNIST_CLUSTER_TMP:-/var/tmp}/mnist_cluster.XXXXXX")
chmod 755 "$tmp"
export MNIST_CLUSTER_DIR=$tmp
prefix=mnc$$
echo "$prefix" >"$tmp/netns_prefix"
namespaces=("${prefix}_sw")
for i in $(seq "$nodes"); do namespaces+=("${prefix}_node$i"); done
hosts_sum=$(cksum </etc/hosts)
touch "$tmp/.start"
failed=0

inner_pid=""
teardown() {
  trap - EXIT INT TERM
  local ns pids left=""
  if [ -n "$inner_pid" ] && kill -0 "$inner_pid" 2>/dev/null; then
    echo "teardown: stopping the checks on node1 (pid $inner_pid)"
    kill -TERM "$inner_pid"
    for _ in $(seq 90); do kill -0 "$inner_pid" 2>/dev/null || break; sleep 1; done
  fi
  for ns in "${namespaces[@]}"; do
    ip netns list 2>/dev/null | grep -qw "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null | paste -sd, -)
    if [ -n "$pids" ]; then
      echo "teardown: killing what is left in $ns: $(ps -o pid=,args= -p "$pids" | tr '\n' ';')"
      kill -KILL ${pids//,/ } 2>/dev/null
      sleep 1
    fi
    ip netns del "$ns" 2>/dev/null
  done
  # What must be gone now.
  for ns in "${namespaces[@]}"; do
    ip netns list 2>/dev/null | grep -qw "$ns" && left+=" netns $ns;"
  done
  ip -o link show 2>/dev/null | grep -q "${prefix}" && left+=" links named $prefix;"
  pgrep -f "$tmp" >/dev/null 2>&1 && left+=" processes: $(pgrep -af "$tmp" | head -n 5 | tr '\n' ';')"
  [ "$(cksum </etc/hosts)" = "$hosts_sum" ] || left+=" /etc/hosts changed;"
  local f
  f=$(find /tmp /dev/shm -maxdepth 1 -newer "$tmp/.start" -name '*node[0-9]*'  2>/dev/null |
      grep -v "^$tmp" | head -n 5)
  [ -n "$f" ] && left+=" files: $(echo "$f" | tr '\n' ' ')"
  if [ -n "$left" ]; then
    echo "FAIL: teardown left behind:$left"
    failed=1
  else
    echo "ok: teardown: no namespace, link, process or file of the cluster left"
  fi
  if [ "$failed" -ne 0 ] || [ -n "${KEEP_CLUSTER_TMP:-}" ]; then
    echo "cluster files kept in $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$failed"
}
trap teardown EXIT
trap 'failed=1; exit 1' INT TERM

# ---- the network: a switch namespace with a bridge, a veth from it to each node ----
err=$(ip netns add "${prefix}_sw" 2>&1) || skip "ip netns add failed: $err"
ip -n "${prefix}_sw" link add br0 type bridge && ip -n "${prefix}_sw" link set br0 up ||
  { echo "FAIL: no bridge in the switch namespace"; failed=1; exit 1; }
: >"$tmp/hosts"
echo "127.0.0.1 localhost" >>"$tmp/hosts"
for i in $(seq "$nodes"); do
  ns=${prefix}_node$i
  mkdir -p "$tmp/nodes/node$i/tmp" "$tmp/nodes/node$i/shm"
  chmod 1777 "$tmp/nodes/node$i/tmp" "$tmp/nodes/node$i/shm"
  { ip netns add "$ns" &&
    ip -n "${prefix}_sw" link add "port$i" type veth peer name cl0 netns "$ns" &&
    ip -n "${prefix}_sw" link set "port$i" master br0 up &&
    ip -n "$ns" addr add "10.77.0.$i/24" dev cl0 &&
    ip -n "$ns" link set cl0 up &&
    ip -n "$ns" link set lo up; } || { echo "FAIL: could not set up $ns"; failed=1; exit 1; }
  echo "10.77.0.$i node$i" >>"$tmp/hosts"
done
echo "ok: $nodes nodes (namespaces ${prefix}_node1..$nodes, 10.77.0.1-$nodes on cl0), bridge br0 in ${prefix}_sw"

# ---- the rest on node1 -------------------------------------------------------------------
# In the background and waited for: a signal to this script interrupts `wait`,
# and the teardown passes it on to the inside, which stops its daemons.
"$here/node_exec.sh" node1 "$here/test_cluster.sh" "$bin" "$data" "$root" --inner &
inner_pid=$!
wait "$inner_pid"
rc=$?
inner_pid=""
[ "$rc" -eq 0 ] || failed=1
exit "$failed"
