#!/usr/bin/env python3
"""torch_seed_cnn.py — the seed CNN in PyTorch: training images/s beside mnist_ddp.

The same model as mnist_ddp's seed CNN (src/nn/spec.cpp): Conv2D 32/32, 64/64,
128 (3x3 'same', ReLU, each followed by BatchNormalization), max-pooling after
the 2nd, 4th and 5th, Dropout 0.25 after each pool, Dense 256 (ReLU) +
BatchNormalization + Dropout 0.5, Dense 10 (softmax, fused into the
cross-entropy loss). Keras's BatchNormalization defaults (momentum 0.99,
epsilon 1e-3), Adam as mnist_ddp's (lr 1e-3, betas 0.9/0.999, epsilon 1e-7),
batch 128, the training images held on the device and shuffled there (no
augmentation: compare with `mnist_ddp --batch-size 128 --no-augment`). FP32:
TF32 is off unless --tf32, as in mnist_ddp (PyTorch allows TF32 in cuDNN
convolutions by default). The model must have 437 738 trainable parameters, as
mnist_ddp's: the script says so and exits 1 when it has not.

  python3 bench/torch_seed_cnn.py --mode both               # GPU: eager, then torch.compile
  python3 bench/torch_seed_cnn.py --device cpu --threads 2  # CPU: channels_last, then NCHW

On the CPU PyTorch runs on --threads threads (default $MNIST_DDP_THREADS, else
every core this process may use: bench_cpu's default) and in both memory
layouts: channels_last (NHWC, where its convolutions run on oneDNN) and NCHW
(its default). --layout picks one; on CUDA the default is NCHW only.
torch.compile needs torch 2; with torch 1.x (Debian's 1.13) the compile mode
is reported as not run. Prints the torch version, its oneDNN, CPU capability
and threads, then one line per run ("torch eager channels_last: N images/s
..."); with --json FILE, writes it all there. Exit 77 (skipped) when torch or
the asked device is missing, with the reason on stderr. scripts/gpu_check.sh
runs it on the GPU machine, scripts/bench.sh beside bench_cpu on the CPU.
"""
import argparse
import gzip
import json
import os
import platform
import re
import struct
import sys
import time

SKIP = 77
TRAINABLE_PARAMETERS = 437738  # mnist_ddp's seed CNN (src/nn/spec.cpp)
LAYOUTS = ["channels_last", "nchw"]


def default_threads():
    env = os.environ.get("MNIST_DDP_THREADS")
    if env:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--mode", choices=["eager", "compile", "both"], default=None,
                   help="default: both on CUDA, eager on the CPU")
    p.add_argument("--layout", choices=LAYOUTS + ["both"], default=None,
                   help="memory layout; default: both on the CPU (channels_last first), nchw on CUDA")
    p.add_argument("--threads", type=int, default=default_threads(),
                   help="CPU threads (torch.set_num_threads); default $MNIST_DDP_THREADS, else all cores")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=300, help="timed training steps per mode")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first (compilation happens here)")
    p.add_argument("--data-dir", default=os.environ.get("MNIST_DDP_DATA_DIR", "data/mnist"),
                   help="MNIST IDX files (.gz or not); random images when absent")
    p.add_argument("--tf32", action="store_true", help="allow TF32 tensor cores (default: FP32 only)")
    p.add_argument("--json", help="write the results to this file")
    args = p.parse_args()
    if args.threads < 1:
        p.error("--threads must be at least 1, not %d" % args.threads)
    if args.batch_size < 1 or args.steps < 1 or args.warmup < 0:
        p.error("--batch-size and --steps must be at least 1, --warmup at least 0")
    cpu = not args.device.startswith("cuda")
    args.mode = args.mode or ("eager" if cpu else "both")
    args.layout = args.layout or ("both" if cpu else "nchw")
    return args


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


def trainable_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def measure(torch, mode, layout, x, y, args, device):
    """Trains a fresh model for warmup + steps batches; images/s over the timed steps."""
    torch.manual_seed(42)
    memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    model = seed_cnn(torch.nn).to(device).to(memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
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
        loss = loss_fn(net(x[idx].contiguous(memory_format=memory_format)), y[idx])
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
    return {"mode": mode, "layout": layout, "images_per_second": args.steps * b / seconds,
            "timed_steps": args.steps, "timed_seconds": seconds, "warmup_steps": args.warmup,
            "warmup_seconds": warmup_s, "final_loss": float(loss.item())}


def cpu_name():
    """The CPU model, family and model numbers, and whether it has AVX-512 (oneDNN's ISA choice)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or "cpu"
    flags = fields.get("flags", "").split()
    isa = "avx512f" if "avx512f" in flags else ("avx2, no avx512f" if "avx2" in flags else "no avx2")
    return "%s (family %s model %s; %s)" % (fields.get("model name", "?"), fields.get("cpu family", "?"),
                                            fields.get("model", "?"), isa)


def torch_context(torch, device, args):
    """What ran: torch's version, its oneDNN and CPU capability, threads, the device."""
    config = torch.__config__.show()
    onednn = re.search(r"MKL-DNN (v[\w.]+)", config)
    capability = re.search(r"CPU capability usage: (\S+)", config)
    ctx = {"torch": torch.__version__, "batch_size": args.batch_size, "tf32": args.tf32,
           "onednn": onednn.group(1) if onednn else "not in torch.__config__.show()",
           "mkldnn_available": torch.backends.mkldnn.is_available(),
           "cpu_capability": capability.group(1) if capability else "unknown"}
    if device.type == "cuda":
        ctx["device"] = torch.cuda.get_device_name(device)
    else:
        torch.set_num_threads(args.threads)
        ctx.update(device="cpu", cpu=cpu_name(), threads=torch.get_num_threads(),
                   load_average=" ".join(open("/proc/loadavg").read().split()[:3])
                   if os.path.exists("/proc/loadavg") else "unknown")
    return ctx


def describe(ctx):
    if ctx["device"] != "cpu":
        return "torch %s on %s, TF32 %s" % (ctx["torch"], ctx["device"], "on" if ctx["tf32"] else "off")
    return "torch %s, oneDNN %s (mkldnn %s), CPU capability %s, %d threads, %s, load %s" % (
        ctx["torch"], ctx["onednn"], "on" if ctx["mkldnn_available"] else "off", ctx["cpu_capability"],
        ctx["threads"], ctx["cpu"], ctx["load_average"])


def check_model(torch):
    """The parameter count of mnist_ddp's seed CNN, or exit 1."""
    count = trainable_parameters(seed_cnn(torch.nn))
    print("torch model: %d trainable parameters (mnist_ddp: %d)" % (count, TRAINABLE_PARAMETERS), flush=True)
    if count != TRAINABLE_PARAMETERS:
        print("torch_seed_cnn.py: the PyTorch model has %d trainable parameters, mnist_ddp's seed CNN %d: "
              "not the same network" % (count, TRAINABLE_PARAMETERS), file=sys.stderr)
        sys.exit(1)
    return count


def main():
    args = parse_args()
    try:
        import torch
    except ImportError as e:
        print("torch_seed_cnn.py: skipped: PyTorch is not installed (%s; scripts/setup.sh --bench installs "
              "Debian's python3-torch)" % e, file=sys.stderr)
        return SKIP
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("torch_seed_cnn.py: skipped: torch %s sees no CUDA device" % torch.__version__, file=sys.stderr)
        return SKIP
    device = torch.device(args.device)
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = True  # algorithm search, as mnist_ddp's cudnnFind
    results = torch_context(torch, device, args)
    results["trainable_parameters"] = check_model(torch)
    print("torch context: " + describe(results), flush=True)
    x, y, results["data"] = load_images(torch, args.data_dir, device)
    results["runs"], results["not_run"] = [], []
    modes = ["eager", "compile"] if args.mode == "both" else [args.mode]
    layouts = LAYOUTS if args.layout == "both" else [args.layout]
    for mode in modes:
        if mode == "compile" and not hasattr(torch, "compile"):
            why = "torch.compile: not in torch %s (needs torch 2)" % torch.__version__
            print("torch compile: not run: " + why, flush=True)
            results["not_run"].append(why)
            continue
        for layout in layouts:
            r = measure(torch, mode, layout, x, y, args, device)
            results["runs"].append(r)
            print("torch %s %s: %.0f images/s at batch %d (warm-up %d steps %.1f s, %d timed steps %.1f s)" %
                  (mode, layout, r["images_per_second"], args.batch_size, r["warmup_steps"], r["warmup_seconds"],
                   r["timed_steps"], r["timed_seconds"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
