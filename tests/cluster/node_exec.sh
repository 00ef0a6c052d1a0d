#!/bin/bash
# node_exec.sh NODE COMMAND [ARG...] — run COMMAND on node NODE of the test cluster
# of tests/cluster/test_cluster.sh: in the node's network namespace (nsenter
# --net, the namespace `ip netns add` made), in a UTS namespace of its own with
# the node's hostname and a private mount namespace (unshare --uts --mount) in
# which the cluster's hosts file is bind-mounted over /etc/hosts (the machine's
# /etc/hosts is not touched) and the node's own directories over /tmp and
# /dev/shm (node-local, as on real nodes: Slurm's PMIx plugin, Open MPI's
# session directories and shared-memory segments use fixed names there that
# would collide between nodes, and nothing lands in the machine's). Not `ip netns exec`: it remounts /sys, which
# hides /sys/fs/cgroup, and slurmd refuses to start without it. Every step
# execs: COMMAND keeps this process's pid.
# MNIST_CLUSTER_DIR names the cluster's directory (its netns_prefix and hosts files).
set -eu
if [ $# -lt 2 ]; then
  echo "usage: node_exec.sh NODE COMMAND [ARG...]" >&2
  exit 2
fi
dir=${MNIST_CLUSTER_DIR:?node_exec.sh: MNIST_CLUSTER_DIR is not set}
node=$1
shift
prefix=$(cat "$dir/netns_prefix")
grep -q "[[:space:]]$node\$" "$dir/hosts" || { echo "node_exec.sh: no node '$node' in $dir/hosts" >&2; exit 2; }
# MNIST_CLUSTER_KEEP: paths the nodes must see although they lie under /tmp (a
# checkout, build or data directory there, as in a CI clone): each is bound to
# the same place inside the node's /tmp, as an NFS home stays visible on a node.
exec nsenter --net="/run/netns/${prefix}_$node" unshare --uts --mount --propagation private sh -c \
  'node_tmp="$1/nodes/$2/tmp"
   for p in ${MNIST_CLUSTER_KEEP:-}; do
     case "$p" in /tmp/?*) mkdir -p "$node_tmp/${p#/tmp/}" && mount --bind "$p" "$node_tmp/${p#/tmp/}" || exit 1 ;; esac
   done
   mount --bind "$1/hosts" /etc/hosts && mount --rbind "$node_tmp" /tmp &&
   mount --bind "$1/nodes/$2/shm" /dev/shm && hostname "$2" && shift 2 && exec "$@"' node_exec "$dir" "$node" "$@"
