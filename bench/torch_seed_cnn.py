#!/usr/bin/env python3
"""torch_seed_cnn.py — the seed CNN in PyTorch: training images/s beside mnist_ddp.

The same model as mnist_ddp's seed CNN (src/nn/spec.cpp): Conv2D 32/32, 64/64,
128 (3x3 'same', ReLU, each followed by BatchNormalization), max-pooling after
the 2nd, 4th and 5th, Dropout 0.25 after each pool, Dense 256 (ReLU) +
BatchNormalization + Dropout 0.5, Dense 10 (softmax, fused into the
cross-entropy loss). Keras's BatchNormalization defaults (momentum 0.99,
epsilon 1e-3), Adam (lr 1e-3), batch 128, the training images held on the
device and shuffled there (no augmentation: compare with
`mnist_ddp --batch-size 128 --no-augment`). FP32: TF32 is off unless --tf32,
as in mnist_ddp (PyTorch allows TF32 in cuDNN convolutions by default).

  python3 bench/torch_seed_cnn.py --mode both               # eager, then torch.compile
  python3 bench/torch_seed_cnn.py --device cpu --steps 5    # anywhere torch is installed

Prints one line per mode ("torch eager: N images/s ...") and, with --json FILE,
writes the figures there. Exit 77 (skipped) when torch or the asked device is
missing, with the reason on stderr; scripts/gpu_check.sh runs it on the GPU machine.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

SKIP = 77


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--mode", choices=["eager", "compile", "both"], default="both")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=300, help="timed training steps per mode")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first (compilation happens here)")
    p.add_argument("--data-dir", default=os.environ.get("MNIST_DDP_DATA_DIR", "data/mnist"),
                   help="MNIST IDX files (.gz or not); random images when absent")
    p.add_argument("--tf32", action="store_true", help="allow TF32 tensor cores (default: FP32 only)")
    p.add_argument("--json", help="write the results to this file")
    return p.parse_args()


def read_idx(path):
    """An IDX file (gzip-compressed or not) as (dims, bytes)."""
    for name in (path, path + ".gz"):
        if os.path.exists(name):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(name, "rb") as f:
                data = f.read()
            ndim = data[3]
            dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
            return dims, data[4 + 4 * ndim:]
    return None, None


def load_images(torch, data_dir, device):
    """The training images (n, 1, 28, 28) in [0, 1] and labels, on the device."""
    dims, pixels = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte"))
    _, labels = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte"))
    if dims is None or labels is None:
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(60000, 1, 28, 28, generator=gen)
        y = torch.randint(0, 10, (60000,), generator=gen)
        return x.to(device), y.to(device), "random (no MNIST files in %s)" % data_dir
    x = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).reshape(dims[0], 1, dims[1], dims[2])
    y = torch.frombuffer(bytearray(labels), dtype=torch.uint8).long()
    return (x.float() / 255.0).to(device), y.to(device), "MNIST " + data_dir


def seed_cnn(nn):
    def conv(cin, cout):  # Conv2D(activation='relu') then BatchNormalization, as in the seed CNN
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)]

    return nn.Sequential(
        *conv(1, 32), *conv(32, 32), nn.MaxPool2d(2), nn.Dropout(0.25),
        *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2), nn.Dropout(0.25),
        *conv(64, 128), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(128 * 3 * 3, 256), nn.ReLU(), nn.BatchNorm1d(256, eps=1e-3, momentum=0.01),
        nn.Dropout(0.5), nn.Linear(256, 10))


def measure(torch, mode, x, y, args, device):
    """Trains a fresh model for warmup + steps batches; images/s over the timed steps."""
    torch.manual_seed(42)
    model = seed_cnn(torch.nn).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    net = torch.compile(model) if mode == "compile" else model
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    n, b = x.shape[0], args.batch_size
    order = torch.randperm(n, device=device)
    position = [0]

    def step():
        nonlocal order
        if position[0] + b > n:
            order, position[0] = torch.randperm(n, device=device), 0
        idx = order[position[0]:position[0] + b]
        position[0] += b
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        return loss

    model.train()
    start = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync()
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    sync()
    seconds = time.perf_counter() - start
    return {"mode": mode, "images_per_second": args.steps * b / seconds, "timed_steps": args.steps,
            "timed_seconds": seconds, "warmup_steps": args.warmup, "warmup_seconds": warmup_s,
            "final_loss": float(loss.item())}


def main():
    args = parse_args()
    try:
        import torch
    except ImportError as e:
        print("torch_seed_cnn.py: skipped: PyTorch is not installed (%s)" % e, file=sys.stderr)
        return SKIP
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("torch_seed_cnn.py: skipped: torch %s sees no CUDA device" % torch.__version__, file=sys.stderr)
        return SKIP
    device = torch.device(args.device)
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = True  # algorithm search, as mnist_ddp's cudnnFind
    x, y, source = load_images(torch, args.data_dir, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    results = {"torch": torch.__version__, "device": name, "batch_size": args.batch_size, "tf32": args.tf32,
               "data": source, "runs": []}
    modes = ["eager", "compile"] if args.mode == "both" else [args.mode]
    for mode in modes:
        r = measure(torch, mode, x, y, args, device)
        results["runs"].append(r)
        print("torch %s: %.0f images/s at batch %d (%s, torch %s, TF32 %s; warm-up %d steps %.1f s)" %
              (mode, r["images_per_second"], args.batch_size, name, torch.__version__,
               "on" if args.tf32 else "off", r["warmup_steps"], r["warmup_seconds"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
