#!/usr/bin/env python3
"""h5_tools.py — what the shell tests read out of the program's HDF5 files.

One copy of the h5py reading that tests/cli/test_checkpoint.sh and
tests/cli/test_faults.sh share (they used to carry it as heredocs):

  h5_tools.py same-weights A B        exit 0 when both model files hold bitwise
                                      the same weights and BatchNorm statistics
                                      (every dataset under model_weights);
                                      otherwise exit with the first that differs
  h5_tools.py checkpoint-position F   print "epochs_done epoch_steps_done" of a
                                      checkpoint's training state
  h5_tools.py damaged-copies DIR      from DIR/good.h5 and DIR/ck.h5, write files
                                      that stay valid HDF5 but that the program
                                      must refuse (tests/cli/test_cli_errors.sh):
                                      nan.h5 (a NaN bias), narrow.h5 (a conv2d
                                      kernel of 16 filters, not 32) and
                                      ck-state.h5 (epochs_done = -3)
  h5_tools.py keras-copies DIR        from DIR/good.keras (Keras 3 format), write
                                      deflated.keras (the same entries repacked
                                      deflated: must load), and files the
                                      program must refuse: foreign.keras (a zip
                                      without Keras entries), bzip2.keras
                                      (entries compressed with bzip2) and
                                      otherlayer.keras (config.json's first
                                      Conv2D made a Dense)
  h5_tools.py wrong-weights SRC DIR   from the model file SRC, write two that a
                                      Keras reader must get wrong or refuse
                                      (tests/keras_js/test_keras_tfjs.sh):
                                      transposed.h5 (the first conv2d kernel
                                      with its two spatial axes swapped: same
                                      shape, other numbers) and renamed.h5 (a
                                      dense kernel renamed, dataset and
                                      weight_names alike: loading by order
                                      still works, by name must not)

Run with Debian's /usr/bin/python3 (python3-h5py, python3-numpy).
"""
import json
import shutil
import sys

import h5py
import numpy as np


def same_weights(path_a, path_b):
    a, b = h5py.File(path_a, "r"), h5py.File(path_b, "r")
    names = []
    a["model_weights"].visit(lambda n: names.append(n) if isinstance(a["model_weights"][n], h5py.Dataset) else None)
    assert names, "no weights found"
    for n in names:
        x, y = a["model_weights"][n][()], b["model_weights"][n][()]
        # Compared as bits: a resumed run must reproduce the weights exactly.
        if x.shape != y.shape or not np.array_equal(x.view(np.uint32), y.view(np.uint32)):
            sys.exit(f"{n} differs (max |diff| {np.max(np.abs(x - y))})")
    print(f"{len(names)} weight tensors bitwise equal")


def checkpoint_position(path):
    info = json.loads(h5py.File(path, "r")["mnist_ddp"].attrs["info"])
    print(info["epochs_done"], info.get("epoch_steps_done", 0))


def damaged_copies(tmp):
    for name in ("nan", "narrow"):
        shutil.copy(f"{tmp}/good.h5", f"{tmp}/{name}.h5")
    with h5py.File(f"{tmp}/nan.h5", "r+") as f:
        d = f["model_weights/dense/dense/bias:0"]
        v = d[()]
        v[3] = np.nan
        d[...] = v
    with h5py.File(f"{tmp}/narrow.h5", "r+") as f:
        g = f["model_weights/conv2d/conv2d"]
        del g["kernel:0"]
        g.create_dataset("kernel:0", data=np.zeros((3, 3, 1, 16), np.float32))
    shutil.copy(f"{tmp}/ck.h5", f"{tmp}/ck-state.h5")
    with h5py.File(f"{tmp}/ck-state.h5", "r+") as f:
        info = json.loads(f["mnist_ddp"].attrs["info"])
        info["epochs_done"] = -3
        del f["mnist_ddp"].attrs["info"]
        f["mnist_ddp"].attrs["info"] = np.bytes_(json.dumps(info))


def wrong_weights(src, tmp):
    for name in ("transposed", "renamed"):
        shutil.copy(src, f"{tmp}/{name}.h5")
    with h5py.File(f"{tmp}/transposed.h5", "r+") as f:
        d = f["model_weights/conv2d/conv2d/kernel:0"]
        d[...] = np.ascontiguousarray(np.transpose(d[()], (1, 0, 2, 3)))
    with h5py.File(f"{tmp}/renamed.h5", "r+") as f:
        g = f["model_weights/dense"]
        g.move("dense/kernel:0", "dense/kernel_renamed:0")
        names = [n.replace(b"dense/kernel:0", b"dense/kernel_renamed:0") for n in g.attrs["weight_names"]]
        g.attrs["weight_names"] = np.array(names)


def keras_copies(tmp):
    import zipfile
    with zipfile.ZipFile(f"{tmp}/good.keras") as z:
        entries = {name: z.read(name) for name in z.namelist()}
    for name, method in (("deflated", zipfile.ZIP_DEFLATED), ("bzip2", zipfile.ZIP_BZIP2)):
        with zipfile.ZipFile(f"{tmp}/{name}.keras", "w", compression=method) as z:
            for entry, data in entries.items():
                z.writestr(entry, data)
    with zipfile.ZipFile(f"{tmp}/foreign.keras", "w") as z:
        z.writestr("hello.txt", "not a model")
    config = json.loads(entries["config.json"])
    config["config"]["layers"][1]["class_name"] = "Dense"
    with zipfile.ZipFile(f"{tmp}/otherlayer.keras", "w") as z:
        for entry, data in entries.items():
            z.writestr(entry, json.dumps(config) if entry == "config.json" else data)


COMMANDS = {
    "keras-copies": (keras_copies, 1),
    "wrong-weights": (wrong_weights, 2),
    "same-weights": (same_weights, 2),
    "checkpoint-position": (checkpoint_position, 1),
    "damaged-copies": (damaged_copies, 1),
}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS or len(argv) - 2 != COMMANDS[argv[1]][1]:
        sys.exit(__doc__)
    command, _ = COMMANDS[argv[1]]
    command(*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
