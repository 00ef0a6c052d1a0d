#!/usr/bin/env bash
# run.sh — the main job: set up, build, train the seed CNN on MNIST, evaluate,
# write the model (mnist_cnn_model.h5), the run report (default
# results/run_report.json) and its pictures (results/plots/).
#
#   scripts/run.sh [--np N] [mnist_ddp options...]
#
# --np N runs N ranks under mpirun (default 1: a single process using all cores).
# Every other argument goes to mnist_ddp (see build/mnist_ddp --help).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
np=1
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --np) np="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
"$root/scripts/setup.sh"
"$root/scripts/build.sh" >/dev/null
# Defaults that the caller's own options replace.
defaults=()
case " ${args[*]-} " in *" --report"*) ;; *) mkdir -p "$root/results"; defaults+=(--report "$root/results/run_report.json") ;; esac
case " ${args[*]-} " in *" --data-dir"*) ;; *) defaults+=(--data-dir "$root/data/mnist") ;; esac
cd "$root"
report_path="$root/results/run_report.json"
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --report) report_path="${args[$((i + 1))]:-}" ;;
    --report=*) report_path="${args[$i]#--report=}" ;;
  esac
done
if [ "$np" -gt 1 ]; then
  mpi_flags=(--bind-to none)
  [ "$np" -gt "$(nproc)" ] && mpi_flags+=(--oversubscribe)
  [ "$(id -u)" -eq 0 ] && mpi_flags+=(--allow-run-as-root)
  mpirun "${mpi_flags[@]}" -np "$np" "$root/build/mnist_ddp" "${defaults[@]}" "${args[@]}"
else
  "$root/build/mnist_ddp" "${defaults[@]}" "${args[@]}"
fi
# The pictures of the run (sample images, curves, confusion matrix, predictions).
case " ${args[*]-} " in *" evaluate "*|*" predict "*) exit 0 ;; esac
if [ -n "$report_path" ] && [ -f "$report_path" ]; then
  data_dir="$root/data/mnist"
  for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[$i]}" = "--data-dir" ] && data_dir="${args[$((i + 1))]}"; done
  # Debian's python3 has matplotlib (setup.sh installs it); a python3 earlier on
  # PATH (a virtualenv, pyenv) may not.
  py=/usr/bin/python3
  [ -x "$py" ] || py=python3
  "$py" "$root/scripts/plots.py" --report "$report_path" --data-dir "$data_dir" --out-dir "$(dirname "$report_path")/plots"
fi
