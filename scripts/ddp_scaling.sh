#!/usr/bin/env bash
# ddp_scaling.sh — the accuracy table of --lr-scaling and --warmup-epochs: the
# test accuracy after 1 and after 3 epochs on 1, 2 and 4 ranks (oversubscribed
# is fine) at 64 images per rank, without scaling and with linear and sqrt
# scaling plus a one-epoch warm-up; writes results/ddp_scaling/table.{md,csv},
# the reports and the logs.
#
#   scripts/ddp_scaling.sh                     # the table (7 runs of 3 epochs; ~30 min on 2 quiet cores)
#   scripts/ddp_scaling.sh --ranks "1 2" --epochs 2 --train-limit 6000 --out /tmp/t   # a quick look
#
# Each configuration trains epoch 1 with a checkpoint, is evaluated on the test
# set, then resumes from that checkpoint to epoch 3 (--resume continues a run
# bit for bit, tests/cli/test_faults.sh), so one pass gives both figures. The
# schedule of epoch 1 does not depend on --epochs: the warm-up is a function of
# the position in the run, ReduceLROnPlateau and EarlyStopping act at epoch
# ends; so the 1-epoch figure is the one of a 1-epoch run. With one rank every
# rule is the same rate: one run. The 3-epoch model is the best epoch's
# (EarlyStopping's restore_best_weights, as in every run of the program).
#
# Arguments (all optional): --ranks "1 2 4", --epochs 3, --batch 64,
# --train-limit N and --test-limit N (0: all), --threads T (1), --bin PATH (build/mnist_ddp),
# --data-dir DIR (data/mnist), --out DIR (results/ddp_scaling),
# --mpirun "CMD" (mpirun --oversubscribe --bind-to none [--allow-run-as-root] -np).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ranks="1 2 4" epochs=3 batch=64 limit=0 test_limit=0 threads=1
bin=${MNIST_DDP_BIN:-$root/build/mnist_ddp} data=$root/data/mnist out=$root/results/ddp_scaling
mpirun_cmd="mpirun --oversubscribe --bind-to none"
[ "$(id -u)" -eq 0 ] && mpirun_cmd+=" --allow-run-as-root"
mpirun_cmd+=" -np"
while [ $# -gt 0 ]; do
  case $1 in
    --ranks) ranks=$2 ;; --epochs) epochs=$2 ;; --batch) batch=$2 ;; --train-limit) limit=$2 ;; --test-limit) test_limit=$2 ;;
    --threads) threads=$2 ;; --bin) bin=$2 ;; --data-dir) data=$2 ;; --out) out=$2 ;; --mpirun) mpirun_cmd=$2 ;;
    *) echo "ddp_scaling.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
mkdir -p "$out/reports" "$out/logs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
csv=$out/table.csv
echo "ranks,global_batch,lr_scaling,warmup_epochs,lr_scale,test_accuracy_epoch1,test_accuracy_epoch$epochs,val_accuracy_epoch$epochs,seconds" >"$csv"
commands=$out/commands.txt
: >"$commands"

run() {  # run RANKS LOG ARGS...
  local np=$1 log=$2
  shift 2
  echo "$mpirun_cmd $np $bin $*" >>"$commands"
  # shellcheck disable=SC2086
  $mpirun_cmd "$np" "$bin" "$@" >"$log" 2>&1 || { echo "ddp_scaling.sh: failed, see $log" >&2; tail -5 "$log" >&2; exit 1; }
}
value() { /usr/bin/python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

for np in $ranks; do
  for rule in none linear sqrt; do
    [ "$np" -eq 1 ] && [ "$rule" != none ] && continue  # one rank: the same rate
    warmup=0
    [ "$rule" != none ] && warmup=1
    name=np${np}_${rule}
    common=(--data-dir "$data" --train-limit "$limit" --test-limit "$test_limit" --batch-size "$batch" --threads "$threads" --progress epoch
            --lr-scaling "$rule" --warmup-epochs "$warmup" --checkpoint "$work/$name.ck.h5")
    start=$SECONDS
    run "$np" "$out/logs/$name.epoch1.log" "${common[@]}" --epochs 1 --output "$work/$name.1.h5" \
      --report "$out/reports/$name.epoch1.json"
    run "$np" "$out/logs/$name.epoch$epochs.log" "${common[@]}" --epochs "$epochs" --resume "$work/$name.ck.h5" \
      --output "$work/$name.$epochs.h5" --report "$out/reports/$name.epoch$epochs.json"
    r1=$out/reports/$name.epoch1.json r3=$out/reports/$name.epoch$epochs.json
    echo "$np,$((np * batch)),$rule,$warmup,$(value "$r3" 'r["lr_scale"]'),$(value "$r1" 'r["test"]["accuracy"]'),$(value "$r3" 'r["test"]["accuracy"]'),$(value "$r3" 'r["history"][-1]["val_accuracy"]'),$((SECONDS - start))" >>"$csv"
  done
done

/usr/bin/python3 - "$csv" "$out/table.md" "$epochs" "$(uname -n), $(nproc) cores, $(date -u +%Y-%m-%d)" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
epochs = sys.argv[3]
with open(sys.argv[2], "w") as f:
    f.write("# Test accuracy with --lr-scaling and --warmup-epochs\n\n")
    f.write("Made by `scripts/ddp_scaling.sh` (the commands: `commands.txt`) on %s; 64 images per rank, "
            "Adam, lr 1e-3 for one rank's batch, the program's other defaults.\n\n" % sys.argv[4])
    f.write("| ranks | global batch | lr scaling | warm-up epochs | lr scale | test acc. 1 epoch | test acc. %s epochs | s |\n" % epochs)
    f.write("|---:|---:|---|---:|---:|---:|---:|---:|\n")
    for r in rows:
        f.write("| %s | %s | %s | %s | %.3g | %.2f %% | %.2f %% | %s |\n" % (
            r["ranks"], r["global_batch"], r["lr_scaling"], r["warmup_epochs"], float(r["lr_scale"]),
            100 * float(r["test_accuracy_epoch1"]), 100 * float(r["test_accuracy_epoch" + epochs]), r["seconds"]))
PY
echo "ddp_scaling.sh: wrote $csv and $out/table.md"
