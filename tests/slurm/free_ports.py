#!/usr/bin/env python3
"""free_ports.py — two TCP ports free on 127.0.0.1 now, printed on one line, for the
one-node Slurm cluster of tests/slurm/test_slurm.sh (slurmctld and slurmd), so that
it never takes the fixed ports of a system Slurm.
"""
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
