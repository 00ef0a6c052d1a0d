#!/bin/bash
# rsh_agent.sh NODE WORD... — Open MPI's plm_rsh_agent for the test cluster: what
# ssh would do (run the words as one command line of a shell on NODE), by
# entering the node's namespaces with node_exec.sh instead of logging in.
#   mpirun --hostfile H --mca plm_rsh_agent tests/cluster/rsh_agent.sh ...
set -eu
node=$1
shift
exec "$(dirname "$(readlink -f "$0")")/node_exec.sh" "$node" sh -c "$*"
