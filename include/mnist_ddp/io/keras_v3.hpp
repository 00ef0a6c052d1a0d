// keras_v3.hpp — the model in Keras 3's native format, the `.keras` file: a zip
// archive (io/zip_archive.hpp) of
//   config.json        the Sequential model as Keras 3's serialize_keras_object
//                      gives it: {module, class_name, config, registered_name,
//                      build_config}, every layer (the InputLayer first) and
//                      initializer with its module and registered_name;
//   metadata.json      {"keras_version", "date_saved"};
//   model.weights.h5   the weights as keras/src/saving/saving_lib.py's
//                      H5IOStore lays them out: the model's own (empty) group
//                      /vars, then for each layer of Sequential.layers (the
//                      InputLayer not included) /layers/<key>/vars/<i>, where
//                      <key> is the snake-case class name numbered per class
//                      ("conv2d", "conv2d_1", "max_pooling2d", ...; Keras does
//                      not use the layer names there) and <i> counts the
//                      layer's trainable then non-trainable variables (Conv2D,
//                      Dense: kernel, bias; BatchNormalization: gamma, beta,
//                      moving_mean, moving_variance). Weightless layers get an
//                      empty vars group.
// The model is saved uncompiled (no compile_config, no optimizer variables):
// a Keras 3 user compiles it again to continue training (README).
// Not checked against a real Keras 3 here (none can be installed); the tests
// check the layout and recompute the accuracy from the file with numpy.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnist_ddp/nn/model.hpp"

namespace mnist_ddp {

// config.json's contents for `model`.
nlohmann::json keras_v3_model_config(Model& model);

// The key of each layer of `model` in model.weights.h5 ("layers/conv2d", ...).
std::vector<std::string> keras_v3_weight_paths(Model& model);

// Writes `path` atomically. RuntimeError naming the path on failure.
void save_keras_v3(const std::string& path, Model& model);

// Reads the weights of the .keras file `path` into `model`: the archive must
// hold the three entries, config.json must describe the same layers (classes
// and names, in order), and every weight must be there with the model's shape
// and finite values. Otherwise InputError naming the file and what is wrong,
// the model left unchanged.
void load_keras_v3(const std::string& path, Model& model);

}  // namespace mnist_ddp
