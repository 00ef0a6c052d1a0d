// keras_training_config.hpp — what `compile` leaves in a Keras model file: the
// root attribute `training_config` of the legacy HDF5 file, which makes
// tf.keras's load_model return a compiled model (without it: an uncompiled one
// and a warning).
//
// The layout is tf.keras 2.15's (keras/src/saving/legacy/saving_utils.py,
// model_metadata): JSON with loss, metrics, weighted_metrics, loss_weights and
// optimizer_config {class_name, config}, where config is the optimizer's
// get_config() with this run's learning rate. The class names are the plain
// ones ("Adam", "RMSprop", "SGD"), which every Keras's optimizers.deserialize
// resolves (tf.keras 2.x, Keras 3's legacy loader, tfjs-layers). The optimizer's
// state (optimizer_weights) is not written: see the README.
#pragma once

#include <nlohmann/json.hpp>

#include "mnist_ddp/nn/optimizer.hpp"

namespace mnist_ddp {

// The optimizer's Keras config: {"class_name": "Adam", "config": {...}}.
nlohmann::json keras_optimizer_config(const OptimizerHyper& hyper, double learning_rate);

// The whole training_config: sparse categorical cross-entropy (integer labels,
// the model ends in softmax), the accuracy metric, and the optimizer.
nlohmann::json keras_training_config(const OptimizerHyper& hyper, double learning_rate);

}  // namespace mnist_ddp
