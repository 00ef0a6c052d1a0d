// model_file.hpp — the trained model's file in either format, chosen by the
// name: "*.keras" is Keras 3's native zip format (io/keras_v3.hpp), anything
// else Keras 2's legacy HDF5 (io/keras_h5.hpp, e.g. mnist_cnn_model.h5).
// `train --output` writes through save_model_file, `evaluate` and `predict`
// read through load_model_file. Checkpoints are always HDF5 (io/checkpoint.hpp).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/optimizer.hpp"

namespace mnist_ddp {

// Whether `path` names a Keras 3 .keras file (by its extension, as Keras 3 does).
bool is_keras_v3_path(const std::string& path);

// What a trained model's file records beyond the weights.
struct SavedModelInfo {
  nlohmann::json info;             // the run (.h5 only: its /mnist_ddp group)
  OptimizerHyper optimizer;        // the run's optimizer (.h5: training_config)
  double learning_rate = 1e-3;     // its learning rate at the end of the run
};

void save_model_file(const std::string& path, Model& model, const SavedModelInfo& saved);

// Loads the weights of `path` into `model` (InputError naming the file on bad input).
void load_model_file(const std::string& path, Model& model);

}  // namespace mnist_ddp
