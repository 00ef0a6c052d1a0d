#!/usr/bin/python3
"""check_keras_h5.py — an independent check of the Keras model file (.h5 or .keras).

Reads MODEL.h5 with h5py and numpy only (no TensorFlow, no code of this project)
the way tf.keras 2.x's legacy HDF5 loader does (hdf5_format.py:
load_model_from_hdf5 / load_weights_from_hdf5_group): root attributes
keras_version, backend and model_config (a JSON Sequential), /model_weights with
layer_names, each layer group's weight_names and the datasets they name. It checks
that the layout is consistent, then runs the network in numpy with Keras's
inference semantics (NHWC; Conv2D 'same' with the (kh, kw, in, out) kernel;
BatchNormalization with the moving statistics and the config's epsilon;
MaxPooling2D 'valid'; Dropout as identity; Flatten in NHWC order; Dense; softmax)
over the MNIST test set and prints the accuracy. A second implementation of the
forward pass is the point: it catches a file that only this program can read.

A MODEL.keras is read as Keras 3's saving_lib reads it (zipfile + h5py): the
three entries, config.json's serialize_keras_object form (module, class_name,
config, registered_name, build_config), metadata.json's keras_version 3.x, and
model.weights.h5's layers/<snake_case class name[_n]>/vars/<i> datasets; then
the same forward pass. If MODEL.h5 has a training_config, its keys are checked.

usage: check_keras_h5.py MODEL.h5 MNIST_DIR [--expect-accuracy A] [--tolerance T] [--limit N]
Exit status: 0 when the layout is valid (and the accuracy matches when asked), 1 otherwise.
"""
import argparse
import io
import json
import os
import re
import sys
import zipfile

import h5py
import numpy as np


class CheckError(Exception):
    pass


def require(cond, msg):
    if not cond:
        raise CheckError(msg)


def decode(value):
    """An attribute value as text: h5py gives bytes for fixed-length strings, str for variable-length."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf8")
    if isinstance(value, str):
        return value
    raise CheckError("attribute is not a string: %r" % (value,))


def string_list(group, name):
    """Keras's load_attributes_from_hdf5_group, chunked form included."""
    if name in group.attrs:
        values = group.attrs[name]
    else:
        values, k = [], 0
        while "%s%d" % (name, k) in group.attrs:
            values.extend(group.attrs["%s%d" % (name, k)])
            k += 1
    return [decode(v) for v in values]


EXPECTED_WEIGHTS = {
    "Conv2D": ["kernel", "bias"],
    "Dense": ["kernel", "bias"],
    "BatchNormalization": ["gamma", "beta", "moving_mean", "moving_variance"],
}


def float32_array(ds, what):
    require(isinstance(ds, h5py.Dataset), "%s is not a dataset" % what)
    require(ds.dtype == np.float32, "%s is %s, not float32" % (what, ds.dtype))
    return np.asarray(ds, dtype=np.float32)


def check_layer(cls, cfg, weights, shape):
    """Checks the weight shapes the layer's config implies; returns the per-sample shape leaving it."""
    name = cfg["name"]
    if cls == "Conv2D":
        require(cfg["padding"] == "same" and cfg["strides"] == [1, 1], "%s: unsupported conv" % name)
        kh, kw = cfg["kernel_size"]
        want_shapes = [(kh, kw, shape[2], cfg["filters"]), (cfg["filters"],)]
        shape = (shape[0], shape[1], cfg["filters"])
    elif cls == "Dense":
        require(len(shape) == 1, "%s: Dense on a non-flat input" % name)
        want_shapes = [(shape[0], cfg["units"]), (cfg["units"],)]
        shape = (cfg["units"],)
    elif cls == "BatchNormalization":
        axis = cfg["axis"]
        axis = axis[0] if isinstance(axis, list) else axis
        require(axis in (-1, len(shape)), "%s: axis %r is not the channel axis" % (name, axis))
        want_shapes = [(shape[-1],)] * 4
    elif cls == "MaxPooling2D":
        ph, pw = cfg["pool_size"]
        require(cfg["padding"] == "valid" and cfg["strides"] == [ph, pw], "%s: unsupported pool" % name)
        want_shapes = []
        shape = (shape[0] // ph, shape[1] // pw, shape[2])
    elif cls == "Flatten":
        require(cfg.get("data_format", "channels_last") == "channels_last", "%s: not channels_last" % name)
        want_shapes = []
        shape = (int(np.prod(shape)),)
    elif cls == "Dropout":
        want_shapes = []
    else:
        raise CheckError("layer %r: unsupported class %s" % (name, cls))
    got = [tuple(w.shape) for w in weights]
    require(got == [tuple(s) for s in want_shapes],
            "layer %r weight shapes %r, config implies %r" % (name, got, want_shapes))
    return shape


def read_layout(path):
    """Validates the file's Keras layout; returns [(class, config, [weights])] minus the InputLayer."""
    with h5py.File(path, "r") as f:
        for attr in ("keras_version", "backend", "model_config"):
            require(attr in f.attrs, "root attribute %r missing" % attr)
            decode(f.attrs[attr])
        config = json.loads(decode(f.attrs["model_config"]))
        require(config.get("class_name") == "Sequential", "model_config is not a Sequential")
        layers = config["config"]["layers"]
        require(layers and layers[0]["class_name"] == "InputLayer", "model_config has no InputLayer first")
        input_shape = layers[0]["config"]["batch_input_shape"]
        require(input_shape[1:] == [28, 28, 1], "input shape %r is not MNIST's" % (input_shape,))
        layers = layers[1:]
        if "training_config" in f.attrs:  # tf.keras 2.15's model_metadata: what compile() was given
            tc = json.loads(decode(f.attrs["training_config"]))
            for key in ("loss", "metrics", "weighted_metrics", "loss_weights", "optimizer_config"):
                require(key in tc, "training_config lacks %r" % key)
            opt = tc["optimizer_config"]
            require(isinstance(opt.get("class_name"), str) and isinstance(opt.get("config"), dict)
                    and float(opt["config"]["learning_rate"]) > 0, "training_config: bad optimizer_config")

        require("model_weights" in f, "no model_weights group")
        mw = f["model_weights"]
        for attr in ("backend", "keras_version"):
            require(attr in mw.attrs, "model_weights attribute %r missing" % attr)
            decode(mw.attrs[attr])
        names = string_list(mw, "layer_names")
        config_names = [l["config"]["name"] for l in layers]
        require(names == config_names, "layer_names %r != model_config layers %r" % (names, config_names))

        out = []
        shape = tuple(input_shape[1:])  # per-sample shape entering the layer
        for layer in layers:
            cls, cfg = layer["class_name"], layer["config"]
            name = cfg["name"]
            require(name in mw, "no group for layer %r" % name)
            g = mw[name]
            require("weight_names" in g.attrs, "layer %r has no weight_names" % name)
            wnames = string_list(g, "weight_names")
            want = ["%s/%s:0" % (name, w) for w in EXPECTED_WEIGHTS.get(cls, [])]
            require(wnames == want, "layer %r weight_names %r, expected %r" % (name, wnames, want))
            weights = []
            for w in wnames:
                require(w in g, "layer %r lacks dataset %r" % (name, w))
                weights.append(float32_array(g[w], "%s/%s" % (name, w)))
            shape = check_layer(cls, cfg, weights, shape)
            out.append((cls, cfg, weights))
        require(shape == (10,), "the model's output shape is %r, not (10,)" % (shape,))
        return out


def to_snake_case(name):
    """keras/src/utils/naming.py's to_snake_case: the key of a layer in model.weights.h5."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def keras_object(obj, what, module):
    """Keras 3's serialize_keras_object form: module, class_name, config, registered_name."""
    require(isinstance(obj, dict), "%s is not an object" % what)
    for key in ("module", "class_name", "config", "registered_name"):
        require(key in obj, "%s lacks %r" % (what, key))
    require(obj["module"] == module, "%s: module %r, expected %r" % (what, obj["module"], module))
    return obj["class_name"], obj["config"]


def read_layout_keras3(path):
    """Validates a Keras 3 .keras file (zip of config.json, metadata.json, model.weights.h5, as
    keras/src/saving/saving_lib.py writes it); returns [(class, config, [weights])] minus the InputLayer."""
    with zipfile.ZipFile(path) as z:
        names = sorted(z.namelist())
        require(names == ["config.json", "metadata.json", "model.weights.h5"], "archive entries %r" % names)
        require(all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist()), "entries not stored")
        require(z.testzip() is None, "an entry's CRC does not match")
        metadata = json.loads(z.read("metadata.json"))
        require(str(metadata.get("keras_version", "")).startswith("3."), "metadata.json keras_version %r" % metadata)
        require("date_saved" in metadata, "metadata.json has no date_saved")
        config = json.loads(z.read("config.json"))
        weights_bytes = z.read("model.weights.h5")
    cls, model_cfg = keras_object(config, "config.json", "keras")
    require(cls == "Sequential" and "build_config" in config, "config.json is not a built Sequential")
    layers = model_cfg["layers"]
    first_cls, first = keras_object(layers[0], "layer 0", "keras.layers")
    require(first_cls == "InputLayer", "config.json has no InputLayer first")
    require(first["batch_shape"][1:] == [28, 28, 1], "input shape %r is not MNIST's" % (first["batch_shape"],))
    out = []
    shape = tuple(first["batch_shape"][1:])
    used = {}
    with h5py.File(io.BytesIO(weights_bytes), "r") as f:
        require("vars" in f and len(f["vars"]) == 0, "model.weights.h5 lacks the model's own empty /vars")
        require(len(f["layers"]) == len(layers) - 1, "model.weights.h5 has %d layers, config.json %d"
                % (len(f["layers"]), len(layers) - 1))
        for k, layer in enumerate(layers[1:], 1):
            cls, cfg = keras_object(layer, "layer %d" % k, "keras.layers")
            require(layer.get("build_config", {}).get("input_shape", [None])[1:] == list(shape),
                    "layer %d build_config %r, the shape entering it is %r" % (k, layer.get("build_config"), shape))
            for key, value in cfg.items():
                if isinstance(value, dict):
                    keras_object(value, "layer %d %s" % (k, key), "keras.initializers")
            key = to_snake_case(cls)
            used[key] = used.get(key, -1) + 1
            key = key if used[key] == 0 else "%s_%d" % (key, used[key])
            group = "layers/%s/vars" % key
            require(group in f, "model.weights.h5 lacks %s" % group)
            count = len(EXPECTED_WEIGHTS.get(cls, []))
            require(sorted(f[group].keys()) == sorted(str(i) for i in range(count)),
                    "%s holds %r, expected %d variables" % (group, list(f[group].keys()), count))
            weights = [float32_array(f[group][str(i)], "%s/%d" % (group, i)) for i in range(count)]
            shape = check_layer(cls, cfg, weights, shape)
            out.append((cls, cfg, weights))
    require(shape == (10,), "the model's output shape is %r, not (10,)" % (shape,))
    return out


def activation(x, name):
    if name == "relu":
        return np.maximum(x, 0)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if name == "linear":
        return x
    raise CheckError("unsupported activation %r" % name)


def conv2d_same(x, kernel, bias):
    """NHWC 'same' convolution (Keras/TF cross-correlation) as one im2col matmul."""
    n, h, w, c = x.shape
    kh, kw, _, out = kernel.shape
    # TF's 'same' padding: the extra row/column (even kernels) goes after.
    pt, pl = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (pt, kh - 1 - pt), (pl, kw - 1 - pl), (0, 0)))
    cols = np.empty((n, h, w, kh, kw, c), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = xp[:, i:i + h, j:j + w, :]
    y = cols.reshape(n * h * w, kh * kw * c) @ kernel.reshape(kh * kw * c, out)
    return y.reshape(n, h, w, out) + bias


def forward(layers, x):
    for cls, cfg, weights in layers:
        if cls == "Conv2D":
            x = activation(conv2d_same(x, weights[0], weights[1]), cfg["activation"])
        elif cls == "BatchNormalization":
            gamma, beta, mean, var = weights
            x = (x - mean) / np.sqrt(var + np.float32(cfg["epsilon"])) * gamma + beta
        elif cls == "MaxPooling2D":
            ph, pw = cfg["pool_size"]
            n, h, w, c = x.shape
            oh, ow = h // ph, w // pw
            x = x[:, :oh * ph, :ow * pw, :].reshape(n, oh, ph, ow, pw, c).max(axis=(2, 4))
        elif cls == "Flatten":
            x = x.reshape(x.shape[0], -1)  # NHWC order, as Keras's channels_last Flatten
        elif cls == "Dense":
            x = activation(x @ weights[0] + weights[1], cfg["activation"])
        # Dropout: identity at inference.
    return x


def read_idx(path, magic, dims):
    with open(path, "rb") as f:
        data = f.read()
    require(int.from_bytes(data[0:4], "big") == magic, "%s: bad IDX magic" % path)
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    require(arr.size == int(np.prod(shape)), "%s: size does not match its header" % path)
    return arr.reshape(shape)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("mnist_dir")
    p.add_argument("--expect-accuracy", type=float)
    p.add_argument("--tolerance", type=float, default=0.0005)
    p.add_argument("--limit", type=int, default=0, help="use the first N test images (0: all)")
    p.add_argument("--batch", type=int, default=100)  # small batches keep im2col in cache
    args = p.parse_args()

    try:
        layers = read_layout_keras3(args.model) if args.model.endswith(".keras") else read_layout(args.model)
    except (CheckError, OSError, KeyError, ValueError, TypeError, IndexError, zipfile.BadZipFile) as e:
        print("FAIL layout: %s: %s" % (args.model, e))
        return 1
    print("ok layout: %d layers, Keras %s Sequential" % (len(layers), "3 .keras" if args.model.endswith(".keras") else "2 HDF5"))

    images = read_idx(os.path.join(args.mnist_dir, "t10k-images-idx3-ubyte"), 0x00000803, 3)
    labels = read_idx(os.path.join(args.mnist_dir, "t10k-labels-idx1-ubyte"), 0x00000801, 1)
    if args.limit > 0:
        images, labels = images[:args.limit], labels[:args.limit]
    correct = 0
    for start in range(0, len(images), args.batch):
        x = images[start:start + args.batch].astype(np.float32)[..., None] / np.float32(255.0)
        probs = forward(layers, x)
        correct += int((probs.argmax(axis=1) == labels[start:start + args.batch]).sum())
    accuracy = correct / len(images)
    print("accuracy: %.6f (%d/%d)" % (accuracy, correct, len(images)))
    if args.expect_accuracy is not None:
        if abs(accuracy - args.expect_accuracy) > args.tolerance:
            print("FAIL accuracy %.6f differs from the expected %.6f by more than %g"
                  % (accuracy, args.expect_accuracy, args.tolerance))
            return 1
        print("ok accuracy matches %.6f within %g" % (args.expect_accuracy, args.tolerance))
    return 0


if __name__ == "__main__":
    sys.exit(main())
