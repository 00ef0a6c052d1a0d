// keras_training_config.cpp — the training_config of the Keras model file, as
// tf.keras 2.15's model_metadata writes it (include/mnist_ddp/io/keras_training_config.hpp).
#include "mnist_ddp/io/keras_training_config.hpp"

namespace mnist_ddp {

nlohmann::json keras_optimizer_config(const OptimizerHyper& hyper, double learning_rate) {
  using nlohmann::json;
  // The keys every tf.keras 2.11+ optimizer's get_config() has (optimizer.py's base class).
  json config = {{"weight_decay", nullptr},    {"clipnorm", nullptr},        {"global_clipnorm", nullptr},
                 {"clipvalue", nullptr},       {"use_ema", false},           {"ema_momentum", 0.99},
                 {"ema_overwrite_frequency", nullptr}, {"jit_compile", false}, {"is_legacy_optimizer", false},
                 {"learning_rate", learning_rate}};
  std::string class_name;
  switch (hyper.kind) {
    case OptimizerKind::kAdam:
      class_name = "Adam";
      config.update({{"beta_1", hyper.beta1}, {"beta_2", hyper.beta2}, {"epsilon", hyper.epsilon},
                     {"amsgrad", false}});
      break;
    case OptimizerKind::kRmsprop:
      class_name = "RMSprop";
      config.update({{"rho", hyper.rho}, {"momentum", 0.0}, {"epsilon", hyper.epsilon}, {"centered", false}});
      break;
    case OptimizerKind::kSgd:
      class_name = "SGD";
      config.update({{"momentum", hyper.momentum}, {"nesterov", false}});
      break;
  }
  config["name"] = class_name;
  return {{"class_name", class_name}, {"config", std::move(config)}};
}

nlohmann::json keras_training_config(const OptimizerHyper& hyper, double learning_rate) {
  return {{"loss", "sparse_categorical_crossentropy"},
          {"metrics", nlohmann::json::array({"accuracy"})},
          {"weighted_metrics", nullptr},
          {"loss_weights", nullptr},
          {"optimizer_config", keras_optimizer_config(hyper, learning_rate)}};
}

}  // namespace mnist_ddp
