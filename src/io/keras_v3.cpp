// keras_v3.cpp — the Keras 3 `.keras` model file (include/mnist_ddp/io/keras_v3.hpp).
//
// The layer configs are the Keras 2 ones of keras_model_config (the same keys in
// Keras 3 for these layers), rewritten the Keras 3 way: each object gets
// module and registered_name, the InputLayer takes batch_shape, the layers
// build_config {input_shape}, BatchNormalization's axis is a number.
#include "mnist_ddp/io/keras_v3.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <map>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/io/atomic_file.hpp"
#include "mnist_ddp/io/h5.hpp"
#include "mnist_ddp/io/keras_h5.hpp"
#include "mnist_ddp/io/staged_weights.hpp"
#include "mnist_ddp/io/zip_archive.hpp"

namespace mnist_ddp {

namespace {

// The Keras 3 release whose layout is written (metadata.json).
constexpr const char* kKeras3Version = "3.5.0";
constexpr const char* kConfigEntry = "config.json";
constexpr const char* kMetadataEntry = "metadata.json";
constexpr const char* kWeightsEntry = "model.weights.h5";

using nlohmann::json;

// {module, class_name, config, registered_name}: serialize_keras_object's form.
json keras_object(const std::string& module, const std::string& class_name, json config) {
  return {{"module", module}, {"class_name", class_name}, {"config", std::move(config)}, {"registered_name", nullptr}};
}

// A Keras 2 layer config made Keras 3's: initializers as objects with their module.
json keras3_layer_config(json config) {
  for (auto& [key, value] : config.items())
    if (value.is_object() && value.contains("class_name"))
      value = keras_object("keras.initializers", value["class_name"], value["config"]);
  config.erase("batch_input_shape");
  if (config.contains("axis") && config["axis"].is_array()) config["axis"] = config["axis"][0];
  return config;
}

// [null, h, w, c] or [null, n]: the shape entering `layer`, batch axis first.
json batch_shape(const Layer& layer, bool flat) {
  const Shape3 s = layer.input_shape();
  if (flat) return json::array({nullptr, s.size()});
  return json::array({nullptr, s.h, s.w, s.c});
}

// Snake-case Keras class names (naming.to_snake_case), the keys in model.weights.h5.
std::string snake_case_class(const std::string& class_name) {
  static const std::map<std::string, std::string> kNames = {
      {"Conv2D", "conv2d"}, {"BatchNormalization", "batch_normalization"}, {"MaxPooling2D", "max_pooling2d"},
      {"Dropout", "dropout"}, {"Flatten", "flatten"}, {"Dense", "dense"}};
  const auto it = kNames.find(class_name);
  return it != kNames.end() ? it->second : class_name;
}

std::string date_saved() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d@%H:%M:%S", &tm);
  return text;
}

// model.weights.h5, built in memory.
std::string weights_file(Model& model) {
  const std::string name = kWeightsEntry;
  H5Handle file = h5_create_memory_file(name);
  h5_create_group(file, "vars");  // the Sequential model's own variables: none
  H5Handle layers = h5_create_group(file, "layers");
  const std::vector<std::string> paths = keras_v3_weight_paths(model);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    H5Handle g = h5_create_group(layers, paths[i].substr(paths[i].find('/') + 1));
    H5Handle vars = h5_create_group(g, "vars");
    const std::vector<WeightView> weights = model.layers()[i]->weights();
    for (std::size_t w = 0; w < weights.size(); ++w)
      h5_write_dataset(vars, std::to_string(w), weights[w].shape, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, weights[w].data);
  }
  return h5_file_image(file, name);
}

// ---- reading ---------------------------------------------------------------------

std::string read_whole_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw InputError(path + ": cannot open: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw InputError(path + ": is a directory, not a model file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open: " + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError(path + ": cannot read: " + std::strerror(errno));
  return bytes;
}

json parse_entry(const std::string& path, const std::map<std::string, std::string>& entries, const char* name) {
  const auto it = entries.find(name);
  if (it == entries.end()) throw InputError(path + ": no " + name + " in the archive (not a Keras 3 .keras file)");
  try {
    json value = json::parse(it->second);
    if (!value.is_object()) throw InputError(path + ": " + name + " is not a JSON object");
    return value;
  } catch (const json::exception& e) {
    throw InputError(path + ": " + name + " is not valid JSON: " + e.what());
  }
}

// config.json against the model: a Sequential with the same layers, in order.
void check_config(const std::string& path, const json& file_config, Model& model) {
  const json want = keras_v3_model_config(model);
  if (file_config.value("class_name", json()) != "Sequential" || !file_config.contains("config") ||
      !file_config["config"].is_object() || !file_config["config"].contains("layers") ||
      !file_config["config"]["layers"].is_array())
    throw InputError(path + ": config.json does not describe a Keras Sequential model");
  const json& got = file_config["config"]["layers"];
  const json& expected = want["config"]["layers"];
  if (got.size() != expected.size())
    throw InputError(path + ": config.json has " + std::to_string(got.size()) + " layers, this program's model has " +
                     std::to_string(expected.size()));
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto text = [](const json& layer) {
      const json cls = layer.is_object() ? layer.value("class_name", json()) : json();
      const json name = layer.is_object() && layer.contains("config") && layer["config"].is_object()
                            ? layer["config"].value("name", json())
                            : json();
      return (cls.is_string() ? cls.get<std::string>() : "?") + " '" +
             (name.is_string() ? name.get<std::string>() : "?") + "'";
    };
    if (text(got[i]) != text(expected[i]))
      throw InputError(path + ": config.json layer " + std::to_string(i) + " is " + text(got[i]) +
                       ", this program's model has " + text(expected[i]));
  }
}

H5Handle open_weights(const std::string& path, const std::string& image) {
  try {
    return h5_open_memory_file(image, kWeightsEntry);
  } catch (const H5Failure&) {
    throw InputError(path + ": model.weights.h5 is damaged or truncated (cannot open it)");
  }
}

// model.weights.h5 into staging, every layer's vars group checked.
std::vector<StagedWeight> read_weights(const std::string& path, const std::string& image, Model& model) {
  if (image.compare(0, 8, "\x89HDF\r\n\x1a\n") != 0) throw InputError(path + ": model.weights.h5 is not an HDF5 file");
  H5Handle file = open_weights(path, image);
  std::vector<StagedWeight> staged;
  const std::vector<std::string> paths = keras_v3_weight_paths(model);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    Layer& layer = *model.layers()[i];
    const std::string vars = paths[i] + "/vars";
    if (!h5_has_path(file, vars)) throw InputError(path + ": model.weights.h5 has no group '" + vars + "'");
    H5Handle g = H5_HANDLE(H5Gopen2(file, vars.c_str(), H5P_DEFAULT), H5Gclose, vars);
    const std::vector<WeightView> weights = layer.weights();
    const std::size_t stored = h5_link_names(g, vars).size();
    if (stored != weights.size())
      throw InputError(path + ": model.weights.h5 '" + vars + "' holds " + std::to_string(stored) +
                       " variables, layer '" + layer.name() + "' has " + std::to_string(weights.size()));
    for (std::size_t w = 0; w < weights.size(); ++w)
      staged.push_back(read_staged_weight(path, g, layer.name(), weights[w], std::to_string(w)));
  }
  return staged;
}

}  // namespace

nlohmann::json keras_v3_model_config(Model& model) {
  const json legacy = keras_model_config(model)["config"]["layers"];  // the InputLayer first
  const json input_shape = batch_shape(*model.layers().front(), false);
  json layers = json::array();
  layers.push_back(keras_object("keras.layers", "InputLayer",
                                {{"batch_shape", input_shape}, {"dtype", "float32"}, {"sparse", false},
                                 {"name", "input_layer"}}));
  bool flat = false;  // whether the tensor entering the layer is (batch, features)
  for (std::size_t i = 0; i + 1 < legacy.size(); ++i) {
    const Layer& layer = *model.layers()[i];
    const std::string cls = legacy[i + 1]["class_name"];
    json entry = keras_object("keras.layers", cls, keras3_layer_config(legacy[i + 1]["config"]));
    entry["build_config"] = {{"input_shape", batch_shape(layer, flat)}};
    layers.push_back(std::move(entry));
    flat = flat || cls == "Flatten";
  }
  json config = {{"name", "sequential"}, {"trainable", true}, {"dtype", "float32"}, {"layers", std::move(layers)},
                 {"build_input_shape", input_shape}};
  json model_json = keras_object("keras", "Sequential", std::move(config));
  model_json["build_config"] = {{"input_shape", input_shape}};
  return model_json;
}

std::vector<std::string> keras_v3_weight_paths(Model& model) {
  std::map<std::string, int> used;
  std::vector<std::string> paths;
  for (const LayerSpec& spec : model.specs()) {
    const std::string base = snake_case_class(keras_class_name(spec.kind));
    const int n = used[base]++;
    paths.push_back("layers/" + (n == 0 ? base : base + "_" + std::to_string(n)));
  }
  return paths;
}

void save_keras_v3(const std::string& path, Model& model) {
  h5_silence_errors();
  std::string weights;
  try {
    weights = weights_file(model);
  } catch (const H5Failure& e) {
    throw RuntimeError("cannot write '" + path + "': " + e.what());
  }
  const json metadata = {{"keras_version", kKeras3Version}, {"date_saved", date_saved()}};
  const std::vector<ZipEntry> entries = {{kMetadataEntry, metadata.dump()},
                                         {kConfigEntry, keras_v3_model_config(model).dump()},
                                         {kWeightsEntry, std::move(weights)}};
  write_file_atomic(path, zip_store(entries));
}

void load_keras_v3(const std::string& path, Model& model) {
  h5_silence_errors();
  const std::string bytes = read_whole_file(path);
  std::map<std::string, std::string> entries;
  for (ZipEntry& e : zip_read(bytes, path)) entries[e.name] = std::move(e.data);
  const json metadata = parse_entry(path, entries, kMetadataEntry);
  if (!metadata.contains("keras_version") || !metadata["keras_version"].is_string())
    throw InputError(path + ": metadata.json has no keras_version");
  check_config(path, parse_entry(path, entries, kConfigEntry), model);
  const auto weights = entries.find(kWeightsEntry);
  if (weights == entries.end()) throw InputError(path + ": no model.weights.h5 in the archive");
  std::vector<StagedWeight> staged;
  try {
    staged = read_weights(path, weights->second, model);
  } catch (const H5Failure& e) {
    throw InputError(path + ": model.weights.h5 is damaged or unreadable: " + e.what());
  }
  commit_staged_weights(staged);
}

}  // namespace mnist_ddp
