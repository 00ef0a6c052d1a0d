// model_file.cpp — the model file in the format its name asks for
// (include/mnist_ddp/io/model_file.hpp).
#include "mnist_ddp/io/model_file.hpp"

#include "mnist_ddp/io/keras_h5.hpp"
#include "mnist_ddp/io/keras_training_config.hpp"
#include "mnist_ddp/io/keras_v3.hpp"

namespace mnist_ddp {

bool is_keras_v3_path(const std::string& path) {
  const std::string ext = ".keras";
  return path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
}

void save_model_file(const std::string& path, Model& model, const SavedModelInfo& saved) {
  if (is_keras_v3_path(path)) {
    save_keras_v3(path, model);
    return;
  }
  save_keras_h5(path, model, saved.info, {}, keras_training_config(saved.optimizer, saved.learning_rate));
}

void load_model_file(const std::string& path, Model& model) {
  if (is_keras_v3_path(path))
    load_keras_v3(path, model);
  else
    load_keras_h5(path, model);
}

}  // namespace mnist_ddp
