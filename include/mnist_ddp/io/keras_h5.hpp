// keras_h5.hpp — the model file: Keras's legacy HDF5 layout, written with the
// HDF5 C API, so that tf.keras.models.load_model("mnist_cnn_model.h5") and
// model.load_weights(...) accept it.
//
// Layout (as keras/src/legacy/saving/legacy_h5_format.py writes it):
//   /                 attrs keras_version, backend, model_config (Sequential JSON),
//                     training_config (trained models, not checkpoints)
//   /model_weights    attrs layer_names (every layer, weightless ones too),
//                     backend, keras_version
//   /model_weights/<layer>              attr weight_names ["<layer>/kernel:0", ...]
//   /model_weights/<layer>/<layer>/kernel:0, bias:0, gamma:0, beta:0,
//                                  moving_mean:0, moving_variance:0
//   /mnist_ddp        this program's own group: attribute "info" (JSON text:
//                     config, history, test metrics, confusion matrix), plus
//                     any extra float/int64 datasets a checkpoint adds.
// Strings are fixed-length byte strings (scalars for the root attributes, 1-D
// arrays for name lists). Tensors are NHWC like Keras's channels_last, so the
// kernels are stored as the model holds them: Conv2D (kh, kw, in, out), Dense
// (in, out), and the first Dense kernel needs no row permutation.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnist_ddp/nn/model.hpp"

namespace mnist_ddp {

// Extra arrays stored under /mnist_ddp (checkpoints: optimizer slots, counters).
struct H5Extras {
  std::map<std::string, std::vector<float>> floats;
  std::map<std::string, std::vector<std::int64_t>> ints;
};

// The Sequential model's Keras config (what model.to_json() gives), for `model`.
nlohmann::json keras_model_config(Model& model);

// Writes the file atomically ("<path>.tmp.<pid>", then rename). `info` goes to
// /mnist_ddp as JSON text; a `training_config` that is not null becomes the
// root attribute of that name (io/keras_training_config.hpp). Throws
// RuntimeError naming the path on failure.
void save_keras_h5(const std::string& path, Model& model, const nlohmann::json& info, const H5Extras& extras = {},
                   const nlohmann::json& training_config = nullptr);

struct LoadedModelFile {
  nlohmann::json info;   // /mnist_ddp "info" (empty object if the group is absent)
  H5Extras extras;
};

// Reads the weights (and BatchNorm statistics) of `path` into `model`. The file
// must describe the same architecture: the same layers in the same order with
// the same weight shapes; otherwise — or if the file is not HDF5, is truncated
// or damaged (HDF5's metadata checksums), lacks a dataset, holds NaN or
// infinite weights, or declares an array larger than the file — InputError
// naming the file and what is wrong, with the model left unchanged. Damage is
// caught; a file crafted to attack libhdf5 itself is not (see tests/fuzz).
LoadedModelFile load_keras_h5(const std::string& path, Model& model);

}  // namespace mnist_ddp
