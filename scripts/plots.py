#!/usr/bin/python3
"""Draw the pictures of the classic Keras MNIST notebook from mnist_ddp's outputs.

Usage:
    scripts/plots.py --report results/run_report.json \\
                     --data-dir data/mnist --out-dir results/plots

Inputs:
  --report    the JSON run report written by `mnist_ddp --report FILE`
              (keys used: history, test, data, best_epoch; optionally
              test_predictions, a list of
              {"index": i, "label": l, "predicted": p, "probability": q}).
  --data-dir  the directory holding the four MNIST IDX files
              (train-images-idx3-ubyte, train-labels-idx1-ubyte,
               t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte).
  --out-dir   where the PNGs go (created if needed).

Outputs (PNG, ~110 dpi):
  sample_images.png       3x6 grid of the first training images, label as title
  class_distribution.png  label counts of the train and test IDX files
  training_curves.png     loss, accuracy (train + validation) and learning rate
                          per epoch
  confusion_matrix.png    the 10x10 test confusion matrix (rows = true label)
                          as an annotated heat map
  predictions.png         a 5x6 grid of test images titled "pred P (true T)",
                          green when right, red when wrong, wrong ones first;
                          skipped with a message when the report has no
                          "test_predictions" key.

Needs python3 with numpy and matplotlib (Debian: python3-numpy,
python3-matplotlib). Exits with status 1 and a message on stderr when an input
file is missing or malformed (status 2 for bad command-line usage).
"""

import argparse
import json
import math
import os
import sys

try:
    import numpy as np
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
except ImportError as exc:  # pragma: no cover - environment problem
    sys.stderr.write(
        "plots.py: error: %s\n"
        "  this script needs numpy and matplotlib (Debian: apt-get install "
        "python3-numpy python3-matplotlib); run it with /usr/bin/python3 if "
        "another python3 comes first in PATH\n" % exc)
    sys.exit(1)

PROG = "plots.py"
DPI = 110
NUM_CLASSES = 10
RIGHT_COLOR = "#1a7f1a"
WRONG_COLOR = "#c62828"

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class InputError(Exception):
    """A missing or malformed input file."""


# ----------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------

def _idx_header(path, expected_magic, ndim):
    if not os.path.isfile(path):
        raise InputError("missing IDX file: %s" % path)
    header_len = 4 + 4 * ndim
    with open(path, "rb") as f:
        head = f.read(header_len)
    if len(head) < header_len:
        raise InputError("%s: truncated IDX header" % path)
    words = np.frombuffer(head, dtype=">u4")
    if int(words[0]) != expected_magic:
        raise InputError("%s: bad IDX magic 0x%08x (expected 0x%08x)"
                         % (path, int(words[0]), expected_magic))
    dims = tuple(int(d) for d in words[1:])
    expected_size = header_len + int(np.prod(dims))
    actual_size = os.path.getsize(path)
    if actual_size != expected_size:
        raise InputError("%s: size %d bytes, header says %d"
                         % (path, actual_size, expected_size))
    return header_len, dims


def read_idx_labels(path):
    """All labels of an IDX1 ubyte file, as a uint8 array."""
    offset, (n,) = _idx_header(path, 0x00000801, 1)
    labels = np.fromfile(path, dtype=np.uint8, count=n, offset=offset)
    if labels.size and labels.max() >= NUM_CLASSES:
        raise InputError("%s: label %d out of range 0..9" % (path, labels.max()))
    return labels


def open_idx_images(path):
    """The images of an IDX3 ubyte file as a read-only (n, rows, cols) memmap."""
    offset, dims = _idx_header(path, 0x00000803, 3)
    if dims[0] == 0:
        return np.zeros(dims, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=dims)


def load_data(data_dir):
    if not os.path.isdir(data_dir):
        raise InputError("data directory not found: %s" % data_dir)
    paths = {k: os.path.join(data_dir, v) for k, v in IDX_FILES.items()}
    data = {
        "train_images": open_idx_images(paths["train_images"]),
        "train_labels": read_idx_labels(paths["train_labels"]),
        "test_images": open_idx_images(paths["test_images"]),
        "test_labels": read_idx_labels(paths["test_labels"]),
    }
    for split in ("train", "test"):
        n_img = data[split + "_images"].shape[0]
        n_lab = data[split + "_labels"].shape[0]
        if n_img != n_lab:
            raise InputError("%s set: %d images but %d labels"
                             % (split, n_img, n_lab))
    return data


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError("report: %s is not a number: %r" % (what, value))
    return float(value)


def load_report(path):
    """Read and validate the run report; returns the parsed dict."""
    if not os.path.isfile(path):
        raise InputError("missing report file: %s" % path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("cannot read report %s: %s" % (path, exc))
    except ValueError as exc:
        raise InputError("report %s is not valid JSON: %s" % (path, exc))
    if not isinstance(report, dict):
        raise InputError("report %s: top level is not a JSON object" % path)

    history = report.get("history")
    if not isinstance(history, list) or not history:
        raise InputError("report: 'history' missing or empty")
    for i, row in enumerate(history):
        if not isinstance(row, dict):
            raise InputError("report: history[%d] is not an object" % i)
        for key in ("epoch", "loss", "accuracy"):
            if key not in row:
                raise InputError("report: history[%d] has no '%s'" % (i, key))
            _number(row[key], "history[%d].%s" % (i, key))
        for key in ("val_loss", "val_accuracy", "lr"):
            if row.get(key) is not None:
                _number(row[key], "history[%d].%s" % (i, key))

    test = report.get("test")
    if not isinstance(test, dict):
        raise InputError("report: 'test' missing or not an object")
    for key in ("loss", "accuracy"):
        if key not in test:
            raise InputError("report: test has no '%s'" % key)
        _number(test[key], "test." + key)
    cm = test.get("confusion_matrix")
    try:
        cm_arr = np.asarray(cm, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("report: test.confusion_matrix is not a numeric matrix")
    if cm_arr.shape != (NUM_CLASSES, NUM_CLASSES):
        raise InputError("report: test.confusion_matrix has shape %s, expected "
                         "10x10" % (cm_arr.shape,))
    if (not np.all(np.isfinite(cm_arr)) or np.any(cm_arr < 0)
            or np.any(cm_arr != np.round(cm_arr))):
        raise InputError("report: test.confusion_matrix must hold "
                         "non-negative integer counts")
    count = test.get("count")
    if count is not None and int(cm_arr.sum()) != int(_number(count, "test.count")):
        sys.stderr.write("%s: warning: confusion matrix sums to %d, test.count "
                         "is %d\n" % (PROG, int(cm_arr.sum()), int(count)))

    preds = report.get("test_predictions")
    if preds is not None:
        if not isinstance(preds, list):
            raise InputError("report: test_predictions is not a list")
        for i, p in enumerate(preds):
            if not isinstance(p, dict):
                raise InputError("report: test_predictions[%d] is not an object" % i)
            for key in ("index", "label", "predicted"):
                v = p.get(key)
                if isinstance(v, bool) or not isinstance(v, int):
                    raise InputError("report: test_predictions[%d].%s is not an "
                                     "integer: %r" % (i, key, v))
            for key in ("label", "predicted"):
                if not 0 <= p[key] < NUM_CLASSES:
                    raise InputError("report: test_predictions[%d].%s = %d out "
                                     "of range 0..9" % (i, key, p[key]))
            if p.get("probability") is not None:
                _number(p["probability"], "test_predictions[%d].probability" % i)
    return report


# ----------------------------------------------------------------------------
# Pictures
# ----------------------------------------------------------------------------

def accuracy_text(report):
    test = report["test"]
    text = "test accuracy %.2f%%" % (100.0 * float(test["accuracy"]))
    if test.get("count") is not None:
        text += " on %d images" % int(test["count"])
    return text


def save(fig, out_dir, name):
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    print("%s: wrote %s" % (PROG, path))
    return path


def plot_sample_images(data, report, out_dir, rows=3, cols=6):
    images, labels = data["train_images"], data["train_labels"]
    n = min(rows * cols, images.shape[0])
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.6, rows * 1.8 + 0.5))
    for k, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if k < n:
            ax.imshow(np.asarray(images[k]), cmap="gray_r", vmin=0, vmax=255)
            ax.set_title("label %d" % labels[k], fontsize=11)
    fig.suptitle("MNIST training images (first %d) — run %s"
                 % (n, accuracy_text(report)), fontsize=12)
    return save(fig, out_dir, "sample_images.png")


def plot_class_distribution(data, report, out_dir):
    classes = np.arange(NUM_CLASSES)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, split, color in zip(axes, ("train", "test"), ("#4c72b0", "#dd8452")):
        counts = np.bincount(data[split + "_labels"], minlength=NUM_CLASSES)
        bars = ax.bar(classes, counts, color=color, edgecolor="black",
                      linewidth=0.5)
        for bar, c in zip(bars, counts):
            ax.annotate("%d" % c, (bar.get_x() + bar.get_width() / 2, c),
                        xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8)
        ax.set_xticks(classes)
        ax.set_xlabel("Digit")
        ax.set_ylabel("Number of images")
        ax.set_ylim(0, counts.max() * 1.12 if counts.size and counts.max() else 1)
        name = "Training" if split == "train" else "Test"
        ax.set_title("%s set: %d images" % (name, counts.sum()))
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    d = report.get("data") or {}
    note = ""
    if isinstance(d, dict) and d.get("train") is not None and d.get("validation") is not None:
        note = " (run used %s train / %s validation)" % (d["train"], d["validation"])
    fig.suptitle("Label distribution of the MNIST files%s — %s"
                 % (note, accuracy_text(report)), fontsize=12)
    return save(fig, out_dir, "class_distribution.png")


def _series(history, key):
    return np.array([np.nan if r.get(key) is None else float(r[key])
                     for r in history])


def plot_training_curves(report, out_dir):
    history = report["history"]
    epochs = np.array([int(r["epoch"]) for r in history])
    has_val = any(r.get("val_loss") is not None for r in history)
    has_lr = any(r.get("lr") is not None for r in history)
    best = report.get("best_epoch")

    ncols = 3 if has_lr else 2
    widths = [1, 1, 0.7] if has_lr else [1, 1]
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols - 1, 4.3),
                             gridspec_kw={"width_ratios": widths})
    panels = (("loss", "Loss", "Loss (cross-entropy)"),
              ("accuracy", "Accuracy", "Accuracy"))
    for ax, (key, title, ylabel) in zip(axes, panels):
        ax.plot(epochs, _series(history, key), "o-", color="#1f77b4",
                label="train")
        if has_val:
            ax.plot(epochs, _series(history, "val_" + key), "s--",
                    color="#d62728", label="validation")
        ax.set_title(title)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if isinstance(best, int) and not isinstance(best, bool) and best in epochs:
            ax.axvline(best, color="gray", linestyle=":", linewidth=1,
                       label="best epoch (%d)" % best)
        ax.legend()
    if has_lr:
        ax = axes[2]
        lr = _series(history, "lr")
        ax.step(epochs, lr, where="mid", color="#2ca02c", marker="o")
        finite = lr[np.isfinite(lr)]
        if finite.size and finite.min() > 0:
            ax.set_yscale("log")
        ax.set_title("Learning rate")
        ax.set_xlabel("Epoch")
        ax.set_ylabel("lr")
        ax.grid(alpha=0.3, which="both")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle("Training history (%d epochs) — %s, test loss %.4f"
                 % (len(history), accuracy_text(report),
                    float(report["test"]["loss"])), fontsize=12)
    return save(fig, out_dir, "training_curves.png")


def plot_confusion_matrix(report, out_dir):
    cm = np.asarray(report["test"]["confusion_matrix"], dtype=np.int64)
    fig, ax = plt.subplots(figsize=(7.8, 6.8))
    im = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="Count")
    threshold = cm.max() / 2.0 if cm.size else 0
    for i in range(NUM_CLASSES):
        for j in range(NUM_CLASSES):
            v = cm[i, j]
            if v == 0:
                color = "#b0b0b0"
            elif v > threshold:
                color = "white"
            else:
                color = WRONG_COLOR if i != j else "black"
            ax.text(j, i, "%d" % v, ha="center", va="center", fontsize=9,
                    color=color, fontweight="bold" if (i != j and v) else None)
    ticks = np.arange(NUM_CLASSES)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    errors = int(cm.sum() - np.trace(cm))
    ax.set_title("Confusion matrix — %s\n(%d misclassified of %d)"
                 % (accuracy_text(report), errors, int(cm.sum())), fontsize=12)
    return save(fig, out_dir, "confusion_matrix.png")


def plot_predictions(data, report, out_dir, rows=5, cols=6):
    preds = report.get("test_predictions")
    if not preds:
        print("%s: the report has no 'test_predictions'; skipping predictions.png"
              % PROG)
        return None
    images, labels = data["test_images"], data["test_labels"]
    for p in preds:
        if not 0 <= p["index"] < images.shape[0]:
            raise InputError("report: test_predictions index %d outside the "
                             "test set (%d images)" % (p["index"], images.shape[0]))
        if int(labels[p["index"]]) != p["label"]:
            sys.stderr.write("%s: warning: test image %d has label %d in the IDX "
                             "file but %d in the report\n"
                             % (PROG, p["index"], labels[p["index"]], p["label"]))
    wrong = [p for p in preds if p["predicted"] != p["label"]]
    right = [p for p in preds if p["predicted"] == p["label"]]
    # At most half the grid for mistakes, so the picture shows both kinds.
    n_wrong_shown = min(len(wrong), max(rows * cols // 2, rows * cols - len(right)))
    shown = (wrong[:n_wrong_shown] + right)[:rows * cols]

    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.75, rows * 2.0 + 0.6))
    for k, ax in enumerate(np.ravel(axes)):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= len(shown):
            ax.axis("off")
            continue
        p = shown[k]
        ok = p["predicted"] == p["label"]
        color = RIGHT_COLOR if ok else WRONG_COLOR
        ax.imshow(np.asarray(images[p["index"]]), cmap="gray_r", vmin=0, vmax=255)
        ax.set_title("pred %d (true %d)" % (p["predicted"], p["label"]),
                     color=color, fontsize=10,
                     fontweight="normal" if ok else "bold")
        sub = "#%d" % p["index"]
        if p.get("probability") is not None:
            sub += "  p=%.3f" % float(p["probability"])
        ax.set_xlabel(sub, fontsize=8, color=color)
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(1.0 if ok else 2.0)
    fig.suptitle("Test predictions: %d wrong of %d in the sample (%d wrong shown "
                 "first) — %s"
                 % (len(wrong), len(preds), n_wrong_shown, accuracy_text(report)),
                 fontsize=11)
    return save(fig, out_dir, "predictions.png")


# ----------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Draw the Keras-MNIST-notebook pictures from an mnist_ddp "
                    "run report and the MNIST IDX files.")
    parser.add_argument("--report", required=True,
                        help="JSON run report written by mnist_ddp --report")
    parser.add_argument("--data-dir", required=True,
                        help="directory with the four MNIST IDX files")
    parser.add_argument("--out-dir", required=True,
                        help="output directory for the PNGs (created if needed)")
    parser.add_argument("--predictions",
                        help="take test_predictions from this report instead "
                             "(e.g. one written by 'mnist_ddp evaluate --report')")
    args = parser.parse_args(argv)

    try:
        report = load_report(args.report)
        data = load_data(args.data_dir)
        try:
            os.makedirs(args.out_dir, exist_ok=True)
        except OSError as exc:
            raise InputError("cannot create output directory %s: %s"
                             % (args.out_dir, exc))
        plot_sample_images(data, report, args.out_dir)
        plot_class_distribution(data, report, args.out_dir)
        plot_training_curves(report, args.out_dir)
        plot_confusion_matrix(report, args.out_dir)
        if args.predictions:
            try:
                with open(args.predictions) as f:
                    other = json.load(f)
            except (OSError, ValueError) as exc:
                raise InputError("cannot read %s: %s" % (args.predictions, exc))
            if not isinstance(other, dict) or "test_predictions" not in other:
                raise InputError("%s has no test_predictions" % args.predictions)
            report = dict(report, test_predictions=other["test_predictions"])
        plot_predictions(data, report, args.out_dir)
    except InputError as exc:
        sys.stderr.write("%s: error: %s\n" % (PROG, exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
