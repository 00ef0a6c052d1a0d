// keras_h5.cpp — the model file in Keras's legacy HDF5 layout, with the HDF5 C API.
//
// The layout follows tf.keras 2.x (tensorflow/python/keras/saving/hdf5_format.py,
// continued as keras/src/legacy/saving/legacy_h5_format.py): save_model_to_hdf5 puts
// keras_version, backend and model_config (json.dumps(...).encode()) on the root;
// save_weights_to_hdf5_group writes layer_names (np.asarray of byte strings, i.e.
// one fixed-length NULLPAD string array), backend and keras_version on
// /model_weights, one group per layer with a weight_names attribute, and one
// dataset per weight named after the variable ("conv2d/kernel:0"), which h5py
// turns into the nested group /model_weights/conv2d/conv2d/kernel:0. A layer
// without weights gets weight_names = np.asarray([]): a float64 array of shape
// (0,), which is what we write too, so that h5py and Keras read exactly what
// they would read from their own file.
//
// The HDF5 calls are checked and their identifiers owned as io/h5.hpp
// describes; failures become RuntimeError when writing and InputError ("FILE:
// what is wrong") when reading, since a bad model file is bad input, not a bug.
// Reading trusts nothing the file declares: sizes of attributes and arrays are
// checked against the file's length before memory is set aside, and weights
// must be finite. Damage to the HDF5 structure itself is caught by the format's
// metadata checksums (the 1.8 format written here keeps them); tests/fuzz
// mutates files at random to check all of this. Writing is atomic
// (io/atomic_file.hpp), so a job killed mid-save leaves the old file or the new one.
#include "mnist_ddp/io/keras_h5.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/io/atomic_file.hpp"
#include "mnist_ddp/io/h5.hpp"
#include "mnist_ddp/io/staged_weights.hpp"

namespace mnist_ddp {

namespace {

// The Keras version we claim: a tf.keras 2.x release, because the layout and the
// layer configs written here are tf.keras 2.x's (Keras 3 reads them as legacy).
constexpr const char* kKerasVersion = "2.15.0";
constexpr const char* kBackend = "tensorflow";

// ---- writing ---------------------------------------------------------------------

// The name an extra array may have: one HDF5 link name, not a path.
void check_extra_name(const std::string& path, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    throw RuntimeError("cannot write '" + path + "': invalid extra array name '" + name + "'");
}

// /model_weights: what save_weights_to_hdf5_group writes.
void write_weights(hid_t file, Model& model) {
  H5Handle weights_group = h5_create_group(file, "model_weights");
  std::vector<std::string> layer_names;
  for (auto& layer : model.layers()) layer_names.push_back(layer->name());
  h5_write_string_list_attr(weights_group, "layer_names", layer_names);
  h5_write_string_attr(weights_group, "backend", kBackend);
  h5_write_string_attr(weights_group, "keras_version", kKerasVersion);
  // Keras creates the layer groups in name order ("to avoid prefix issues");
  // readers look them up by name, but the same order makes the files alike.
  std::vector<Layer*> by_name;
  for (auto& layer : model.layers()) by_name.push_back(layer.get());
  std::sort(by_name.begin(), by_name.end(), [](Layer* a, Layer* b) { return a->name() < b->name(); });
  for (Layer* layer : by_name) {
    H5Handle g = h5_create_group(weights_group, layer->name());
    const std::vector<WeightView> weights = layer->weights();
    std::vector<std::string> names;
    for (const auto& w : weights) names.push_back(layer->name() + "/" + w.name + ":0");
    h5_write_string_list_attr(g, "weight_names", names);
    if (weights.empty()) continue;
    // The variable name "conv2d/kernel:0" contains a '/': h5py creates the
    // intermediate group, so the dataset lives at <layer>/<layer>/kernel:0.
    H5Handle inner = h5_create_group(g, layer->name());
    for (const auto& w : weights)
      h5_write_dataset(inner, w.name + ":0", w.shape, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, w.data);
  }
}

// /mnist_ddp: this program's own group, ignored by Keras.
void write_own_group(hid_t file, const std::string& path, const nlohmann::json& info, const H5Extras& extras) {
  H5Handle own = h5_create_group(file, "mnist_ddp");
  // Invalid UTF-8 in a string of `info` (a path, say) must not lose the model:
  // replace it rather than let dump() throw.
  h5_write_string_attr(own, "info", info.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  for (const auto& [name, values] : extras.floats) {
    check_extra_name(path, name);
    if (extras.ints.count(name))
      throw RuntimeError("cannot write '" + path + "': extra array '" + name + "' is both float and int");
    h5_write_dataset(own, name, {values.size()}, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, values.data());
  }
  for (const auto& [name, values] : extras.ints) {
    check_extra_name(path, name);
    h5_write_dataset(own, name, {values.size()}, H5T_STD_I64LE, H5T_NATIVE_INT64, values.data());
  }
}

void write_contents(hid_t file, const std::string& path, Model& model, const nlohmann::json& info,
                    const H5Extras& extras, const nlohmann::json& training_config) {
  // Root: what save_model_to_hdf5 writes (training_config for a compiled model).
  h5_write_string_attr(file, "keras_version", kKerasVersion);
  h5_write_string_attr(file, "backend", kBackend);
  h5_write_string_attr(file, "model_config", keras_model_config(model).dump());
  if (!training_config.is_null()) h5_write_string_attr(file, "training_config", training_config.dump());
  write_weights(file, model);
  write_own_group(file, path, info, extras);
}

// Why creating `tmp` failed, in words: HDF5's own message says only "unable to
// open file", so ask the file system the way write_file_atomic reports it.
std::string create_failure_reason(const std::string& tmp, const std::string& path) {
  const std::string dir = parent_directory(path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return "directory '" + dir + "' does not exist";
  if (!S_ISDIR(st.st_mode)) return "'" + dir + "' is not a directory";
  if (::access(dir.c_str(), W_OK) != 0) return std::string("directory '") + dir + "': " + std::strerror(errno);
  return "cannot create '" + tmp + "'";
}

// The whole file under the name `tmp`, flushed and closed.
void write_h5_file(const std::string& tmp, const std::string& path, Model& model, const nlohmann::json& info,
                   const H5Extras& extras, const nlohmann::json& training_config) {
  try {
    // The 1.8 file format: attributes over 64 KiB (a long training history in
    // "info") go to dense storage instead of failing; h5py reads it everywhere.
    H5Handle fapl = H5_HANDLE(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "file access list");
    H5_CHECK(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST), "format bounds");
    const hid_t raw = H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (raw < 0) throw RuntimeError("cannot write '" + path + "': " + create_failure_reason(tmp, path));
    H5Handle file(raw, H5Fclose);
    write_contents(file, path, model, info, extras, training_config);
    H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush");
    file.close("file");
  } catch (const H5Failure& e) {
    throw RuntimeError("cannot write '" + path + "': " + e.what());
  }
}

// ---- reading ---------------------------------------------------------------------

// What read_contents passes around: the file, its name for messages, and its
// size, which bounds every size the file declares.
struct Reader {
  hid_t file;
  const std::string& path;
  std::uint64_t file_bytes;

  InputError bad(const std::string& what) const { return InputError(path + ": " + what); }
};

// The weights of one layer, group /model_weights/<layer>, appended to `staged`.
void read_layer(const Reader& r, hid_t weights_group, Layer& layer, std::vector<StagedWeight>& staged) {
  const std::string& lname = layer.name();
  if (!h5_has_link(weights_group, lname)) throw r.bad("no group for layer '" + lname + "'");
  H5Handle g = H5_HANDLE(H5Gopen2(weights_group, lname.c_str(), H5P_DEFAULT), H5Gclose, lname);
  const std::vector<std::string> names = h5_has_attr(g, "weight_names")
                                             ? h5_read_strings_attr(g, "weight_names", r.file_bytes)
                                             : std::vector<std::string>{};
  std::vector<WeightView> weights = layer.weights();
  if (names.size() != weights.size())
    throw r.bad("layer '" + lname + "' has " + std::to_string(names.size()) + " weights in the file, the model's has " +
                std::to_string(weights.size()));
  for (std::size_t w = 0; w < weights.size(); ++w) {
    const std::string expected = lname + "/" + weights[w].name + ":0";
    if (names[w] != expected)
      throw r.bad("layer '" + lname + "' weight " + std::to_string(w) + " is '" + names[w] + "', expected '" +
                  expected + "'");
    staged.push_back(read_staged_weight(r.path, g, lname, weights[w], names[w]));
  }
}

// /model_weights, checked against `model` layer by layer.
std::vector<StagedWeight> read_weights(const Reader& r, Model& model) {
  if (!h5_has_link(r.file, "model_weights")) throw r.bad("no model_weights group (not a Keras model file)");
  H5Handle weights_group = H5_HANDLE(H5Gopen2(r.file, "model_weights", H5P_DEFAULT), H5Gclose, "model_weights");
  if (!h5_has_attr(weights_group, "layer_names")) throw r.bad("model_weights has no layer_names attribute");
  const std::vector<std::string> file_layers = h5_read_strings_attr(weights_group, "layer_names", r.file_bytes);
  auto& layers = model.layers();
  if (file_layers.size() != layers.size())
    throw r.bad("the file has " + std::to_string(file_layers.size()) + " layers, the model has " +
                std::to_string(layers.size()));
  std::vector<StagedWeight> staged;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (file_layers[i] != layers[i]->name())
      throw r.bad("layer " + std::to_string(i) + " is '" + file_layers[i] + "' in the file, '" + layers[i]->name() +
                  "' in the model");
    read_layer(r, weights_group, *layers[i], staged);
  }
  return staged;
}

// One 1-D float or integer array of /mnist_ddp into `extras`.
void read_extra(const Reader& r, hid_t own, const std::string& name, H5Extras& extras) {
  H5Handle dset = H5_HANDLE(H5Dopen2(own, name.c_str(), H5P_DEFAULT), H5Dclose, name);
  const std::vector<std::size_t> shape = h5_dataset_shape(dset, name);
  if (shape.size() != 1) throw r.bad("/mnist_ddp/" + name + " is not a 1-D array");
  const H5T_class_t cls = h5_dataset_class(dset, name);
  // We write these arrays uncompressed: a size beyond the file's is damage.
  if (shape[0] > r.file_bytes / h5_dataset_element_size(dset, name))
    throw r.bad("/mnist_ddp/" + name + " declares " + std::to_string(shape[0]) + " values, more than the file's " +
                std::to_string(r.file_bytes) + " bytes can hold");
  if (cls == H5T_FLOAT) {
    std::vector<float>& v = extras.floats[name];
    v.resize(shape[0]);
    if (!v.empty()) H5_CHECK(H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), name);
  } else if (cls == H5T_INTEGER) {
    std::vector<std::int64_t>& v = extras.ints[name];
    v.resize(shape[0]);
    if (!v.empty()) H5_CHECK(H5Dread(dset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), name);
  } else {
    throw r.bad("/mnist_ddp/" + name + " is neither a float nor an integer array");
  }
}

// /mnist_ddp: optional (a model written by Keras itself has none).
void read_own_group(const Reader& r, LoadedModelFile& result) {
  if (!h5_has_link(r.file, "mnist_ddp")) return;
  H5Handle own = H5_HANDLE(H5Gopen2(r.file, "mnist_ddp", H5P_DEFAULT), H5Gclose, "mnist_ddp");
  if (h5_has_attr(own, "info")) {
    const std::string text = h5_read_string_attr(own, "info", r.file_bytes);
    try {
      result.info = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw r.bad(std::string("/mnist_ddp info is not valid JSON: ") + e.what());
    }
  }
  for (const std::string& name : h5_link_names(own, "mnist_ddp"))
    if (h5_is_dataset(own, name)) read_extra(r, own, name, result.extras);  // a subgroup: not ours to read
}

void read_contents(const Reader& r, Model& model, LoadedModelFile& result) {
  std::vector<StagedWeight> staged = read_weights(r, model);
  read_own_group(r, result);
  commit_staged_weights(staged);  // everything read and checked: only now touch the model
}

// The keys of one layer's Keras config beyond name, trainable and dtype, as
// tf.keras 2.x's get_config gives them. `rank`: of the tensor entering the
// layer, batch axis included (BatchNormalization's axis); updated for the next.
void add_layer_keys(nlohmann::json& config, const LayerSpec& spec, int& rank) {
  using nlohmann::json;
  const json glorot = {{"class_name", "GlorotUniform"}, {"config", {{"seed", nullptr}}}};
  const json zeros = {{"class_name", "Zeros"}, {"config", json::object()}};
  const json ones = {{"class_name", "Ones"}, {"config", json::object()}};
  // The keys Conv2D and Dense share: activation, bias, initialisers, no regularisers.
  const json kernel_layer_keys = {{"activation", to_string(spec.activation)},
                                  {"use_bias", true},
                                  {"kernel_initializer", glorot},
                                  {"bias_initializer", zeros},
                                  {"kernel_regularizer", nullptr},
                                  {"bias_regularizer", nullptr},
                                  {"activity_regularizer", nullptr},
                                  {"kernel_constraint", nullptr},
                                  {"bias_constraint", nullptr}};
  switch (spec.kind) {
    case LayerKind::kConv2D:
      config.update({{"filters", spec.units},
                     {"kernel_size", {spec.kernel, spec.kernel}},
                     {"strides", {1, 1}},
                     {"padding", "same"},
                     {"data_format", "channels_last"},
                     {"dilation_rate", {1, 1}},
                     {"groups", 1}});
      config.update(kernel_layer_keys);
      break;
    case LayerKind::kBatchNorm:
      config.update({{"axis", json::array({rank - 1})},
                     {"momentum", spec.momentum},
                     {"epsilon", spec.epsilon},
                     {"center", true},
                     {"scale", true},
                     {"beta_initializer", zeros},
                     {"gamma_initializer", ones},
                     {"moving_mean_initializer", zeros},
                     {"moving_variance_initializer", ones},
                     {"beta_regularizer", nullptr},
                     {"gamma_regularizer", nullptr},
                     {"beta_constraint", nullptr},
                     {"gamma_constraint", nullptr}});
      break;
    case LayerKind::kMaxPool:
      config.update({{"pool_size", {spec.kernel, spec.kernel}},
                     {"padding", "valid"},
                     {"strides", {spec.kernel, spec.kernel}},
                     {"data_format", "channels_last"}});
      break;
    case LayerKind::kDropout:
      config.update({{"rate", spec.rate}, {"noise_shape", nullptr}, {"seed", nullptr}});
      break;
    case LayerKind::kFlatten:
      config["data_format"] = "channels_last";
      rank = 2;
      break;
    case LayerKind::kDense:
      config["units"] = spec.units;
      config.update(kernel_layer_keys);
      rank = 2;
      break;
  }
}

}  // namespace

nlohmann::json keras_model_config(Model& model) {
  using nlohmann::json;
  const Shape3 in = model.input_shape();
  json layers = json::array();
  // tf.keras 2.x Sequential.get_config lists the InputLayer it made for the
  // first layer's input_shape, named "<first layer>_input".
  const std::string first = model.layers().empty() ? std::string("input") : model.layers().front()->name();
  const json batch_input_shape = json::array({nullptr, in.h, in.w, in.c});
  layers.push_back({{"class_name", "InputLayer"},
                    {"config",
                     {{"batch_input_shape", batch_input_shape},
                      {"dtype", "float32"},
                      {"sparse", false},
                      {"ragged", false},
                      {"name", first + "_input"}}}});
  const auto& specs = model.specs();
  int rank = 4;  // of the tensor entering the first layer, batch axis included
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const LayerSpec& spec = specs[i];
    json config = {{"name", model.layers()[i]->name()}, {"trainable", true}, {"dtype", "float32"}};
    if (i == 0) config["batch_input_shape"] = batch_input_shape;
    add_layer_keys(config, spec, rank);
    layers.push_back({{"class_name", keras_class_name(spec.kind)}, {"config", std::move(config)}});
  }
  return {{"class_name", "Sequential"}, {"config", {{"name", "sequential"}, {"layers", std::move(layers)}}}};
}


void save_keras_h5(const std::string& path, Model& model, const nlohmann::json& info, const H5Extras& extras,
                   const nlohmann::json& training_config) {
  h5_silence_errors();
  write_atomically(path,
                   [&](const std::string& tmp) { write_h5_file(tmp, path, model, info, extras, training_config); });
}

LoadedModelFile load_keras_h5(const std::string& path, Model& model) {
  h5_silence_errors();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw InputError(path + ": cannot open: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw InputError(path + ": is a directory, not a model file");
  if (::access(path.c_str(), R_OK) != 0) throw InputError(path + ": cannot open: " + std::strerror(errno));
  // H5Fis_hdf5 looks for the signature only: 0 means some other kind of file.
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 <= 0) throw InputError(path + ": not an HDF5 file");
  const hid_t raw = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  // The signature is there but the file does not open: typically a copy cut
  // short (HDF5 compares the stored end-of-file address with the real size).
  if (raw < 0) throw InputError(path + ": damaged or truncated HDF5 file (cannot open it)");
  H5Handle file(raw, H5Fclose);
  LoadedModelFile result;
  result.info = nlohmann::json::object();
  try {
    read_contents(Reader{file, path, static_cast<std::uint64_t>(st.st_size)}, model, result);
  } catch (const H5Failure& e) {
    throw InputError(path + ": damaged or unreadable HDF5 file: " + e.what());
  }
  return result;
}

}  // namespace mnist_ddp
