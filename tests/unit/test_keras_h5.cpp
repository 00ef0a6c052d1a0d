// test_keras_h5.cpp — the Keras-compatible model file (src/io/keras_h5.cpp).
//
// KerasH5RoundTrip: a seed CNN saved and loaded into a model initialised from
// another seed comes back bit for bit (parameters and BatchNorm statistics, the
// latter changed from their initial values so that they are really stored), with
// its info JSON and extra arrays, and gives identical logits. KerasH5Config: the
// model_config JSON has the tf.keras 2.x Sequential shape. KerasH5Corrupt: files
// that are not model files (random bytes, a truncated copy, text, a missing file,
// an HDF5 file without model_weights) are InputError naming the file.
// KerasH5Malformed: valid HDF5 with the wrong contents (names that are not text
// or in another order, integer or NaN weights, info that is not JSON, extra
// arrays of the wrong shape or type or larger than the file, a missing layer
// group, a flipped metadata bit) is InputError with its own message, leaves the
// model unchanged and no HDF5 object open. (tests/fuzz mutates files at random.)
// KerasH5Architecture: a file from another architecture is InputError naming the
// layer and both shapes. KerasH5Atomic: no temporary files are left behind, and
// an unwritable path is RuntimeError with no partial file. Keras's own reading of
// the layout is checked independently by tests/python/check_keras_h5.py.
// KerasTrainingConfig: the .h5's training_config as tf.keras 2.15 writes it.
// KerasV3*: the Keras 3 .keras file round-trips bit for bit, its config.json
// has Keras 3's form and weight keys, and foreign, partial, damaged or other-
// architecture files are InputError naming the file and the fault, the model
// left unchanged.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/io/h5.hpp"
#include "mnist_ddp/io/keras_h5.hpp"
#include "mnist_ddp/io/keras_training_config.hpp"
#include "mnist_ddp/io/keras_v3.hpp"
#include "mnist_ddp/io/model_file.hpp"
#include "mnist_ddp/io/zip_archive.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/spec.hpp"
#include "support/temp_dir.hpp"

namespace mnist_ddp {
namespace {

namespace fs = std::filesystem;

using test_support::TempDir;

constexpr int kBatch = 4;

// The seed CNN with BatchNorm statistics moved away from (0, 1): a loader that
// forgot the non-trainable weights would then fail the comparison.
Model trained_looking_model(std::uint64_t seed) {
  Model model(seed_cnn(), kMnistInput, kBatch);
  model.initialize(seed);
  std::mt19937_64 gen(seed * 7 + 1);
  std::uniform_real_distribution<float> u(0.1f, 2.0f);
  for (float& s : model.state()) s = u(gen);
  for (float& p : model.params()) p += 0.01f * u(gen);
  return model;
}

std::vector<float> random_batch(std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(kBatch) * kMnistInput.size());
  for (float& v : x) v = u(gen);
  return x;
}

std::vector<float> logits(Model& model, const std::vector<float>& x) {
  ForwardContext ctx;  // inference: BatchNorm uses the moving statistics, no dropout
  const float* y = model.forward(x.data(), kBatch, ctx);
  return std::vector<float>(y, y + static_cast<std::size_t>(kBatch) * model.num_outputs());
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs load_model_file (load_keras_h5, or load_keras_v3 for a *.keras name)
// expecting InputError; returns its message.
std::string load_error(const std::string& path, Model& model) {
  try {
    load_model_file(path, model);
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError for " << path;
  return "";
}

TEST(KerasH5RoundTrip, WeightsStatsInfoAndExtrasComeBackBitForBit) {
  TempDir dir;
  const std::string path = dir.file("m.h5");
  Model saved = trained_looking_model(11);
  const nlohmann::json info = {{"config", {{"epochs", 3}, {"optimizer", "adam"}}},
                               {"history", {{"loss", {0.5, 0.25, 0.125}}}},
                               {"test", {{"accuracy", 0.9912}}},
                               {"text", "ünïcödé \"quoted\""}};
  H5Extras extras;
  extras.floats["adam_m"] = {1.5f, -2.25f, 3.0e-8f};
  extras.floats["empty"] = {};
  extras.ints["step"] = {123456789012345LL, -1};
  save_keras_h5(path, saved, info, extras);

  Model loaded(seed_cnn(), kMnistInput, kBatch);
  loaded.initialize(99);
  ASSERT_FALSE(same_bits(saved.params(), loaded.params()));
  const LoadedModelFile file = load_keras_h5(path, loaded);
  EXPECT_TRUE(same_bits(saved.params(), loaded.params()));
  EXPECT_TRUE(same_bits(saved.state(), loaded.state()));
  EXPECT_EQ(file.info, info);
  EXPECT_EQ(file.extras.floats, extras.floats);
  EXPECT_EQ(file.extras.ints, extras.ints);

  const std::vector<float> x = random_batch(5);
  EXPECT_TRUE(same_bits(logits(saved, x), logits(loaded, x)));
}

TEST(KerasH5RoundTrip, OverwritesAnExistingFileAndKeepsLargeInfo) {
  // A long history makes "info" larger than HDF5's 64 KiB compact attribute limit.
  TempDir dir;
  const std::string path = dir.file("m.h5");
  write_bytes(path, "old contents");
  Model saved = trained_looking_model(3);
  nlohmann::json info;
  info["history"]["loss"] = std::vector<double>(20000, 0.123456789);
  save_keras_h5(path, saved, info);
  Model loaded(seed_cnn(), kMnistInput, kBatch);
  const LoadedModelFile file = load_keras_h5(path, loaded);
  EXPECT_EQ(file.info, info);
  EXPECT_TRUE(same_bits(saved.state(), loaded.state()));
}

TEST(KerasH5Config, IsATfKerasSequential) {
  Model model(seed_cnn(), kMnistInput, kBatch);
  const nlohmann::json config = keras_model_config(model);
  EXPECT_EQ(config["class_name"], "Sequential");
  const auto& layers = config["config"]["layers"];
  ASSERT_EQ(layers.size(), model.layers().size() + 1);
  EXPECT_EQ(layers[0]["class_name"], "InputLayer");
  EXPECT_EQ(layers[0]["config"]["batch_input_shape"], nlohmann::json::parse("[null,28,28,1]"));
  for (std::size_t i = 0; i < model.layers().size(); ++i) {
    EXPECT_EQ(layers[i + 1]["config"]["name"], model.layers()[i]->name());
    EXPECT_EQ(layers[i + 1]["class_name"], keras_class_name(model.specs()[i].kind));
  }
  EXPECT_EQ(layers[1]["config"]["filters"], 32);
  EXPECT_EQ(layers[1]["config"]["padding"], "same");
  EXPECT_EQ(layers[2]["config"]["axis"], nlohmann::json::parse("[3]"));
  // The BatchNormalization after Dense(256) normalises a rank-2 tensor.
  EXPECT_EQ(layers[19]["class_name"], "BatchNormalization");
  EXPECT_EQ(layers[19]["config"]["axis"], nlohmann::json::parse("[1]"));
  EXPECT_EQ(layers.back()["config"]["activation"], "softmax");
}

TEST(KerasH5Corrupt, NonModelFilesAreInputErrorsNamingTheFile) {
  TempDir dir;
  Model model(seed_cnn(), kMnistInput, kBatch);
  model.initialize(1);

  const std::string random_path = dir.file("random.h5");
  std::mt19937 gen(42);
  std::string noise(100000, '\0');
  for (char& c : noise) c = static_cast<char>(gen());
  write_bytes(random_path, noise);
  std::string msg = load_error(random_path, model);
  EXPECT_NE(msg.find(random_path), std::string::npos) << msg;
  EXPECT_NE(msg.find("not an HDF5 file"), std::string::npos) << msg;

  const std::string text_path = dir.file("notes.txt");
  write_bytes(text_path, "this is a text file\nnot a model\n");
  msg = load_error(text_path, model);
  EXPECT_NE(msg.find(text_path + ": not an HDF5 file"), std::string::npos) << msg;

  const std::string missing = dir.file("missing.h5");
  msg = load_error(missing, model);
  EXPECT_NE(msg.find(missing), std::string::npos) << msg;

  const std::string valid = dir.file("valid.h5");
  save_keras_h5(valid, model, nlohmann::json::object());
  const std::string bytes = read_bytes(valid);
  const std::string truncated = dir.file("truncated.h5");
  write_bytes(truncated, bytes.substr(0, bytes.size() / 2));
  const std::vector<float> before = model.params();
  msg = load_error(truncated, model);
  EXPECT_NE(msg.find(truncated), std::string::npos) << msg;
  EXPECT_TRUE(same_bits(before, model.params())) << "a failed load must not change the model";
}

TEST(KerasH5Corrupt, HdfFileWithoutModelWeights) {
  TempDir dir;
  const std::string path = dir.file("plain.h5");
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  H5Fclose(f);
  Model model(seed_cnn(), kMnistInput, kBatch);
  const std::string msg = load_error(path, model);
  EXPECT_NE(msg.find(path + ": no model_weights group (not a Keras model file)"), std::string::npos) << msg;
}

TEST(KerasH5Corrupt, MissingWeightDatasetIsNamed) {
  TempDir dir;
  const std::string path = dir.file("holey.h5");
  Model saved = trained_looking_model(5);
  save_keras_h5(path, saved, nlohmann::json::object());
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  ASSERT_GE(H5Ldelete(f, "model_weights/batch_normalization_1/batch_normalization_1/moving_variance:0", H5P_DEFAULT), 0);
  H5Fclose(f);
  Model model(seed_cnn(), kMnistInput, kBatch);
  const std::string msg = load_error(path, model);
  EXPECT_NE(msg.find(path + ": layer 'batch_normalization_1' lacks dataset "
                            "'batch_normalization_1/moving_variance:0'"),
            std::string::npos)
      << msg;
}

// ---- structurally valid HDF5, wrong contents: each defect with its message ----------

// Saves the seed CNN to `path`, then lets `edit` change the file through HDF5.
void save_then_edit(const std::string& path, const std::function<void(hid_t)>& edit) {
  Model saved = trained_looking_model(8);
  save_keras_h5(path, saved, {{"kind", "model"}});
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  edit(f);
  ASSERT_GE(H5Fclose(f), 0);
}

// Replaces attribute `name` of object `obj_path` by one of `type` with `n` elements from `data`.
void replace_attr(hid_t f, const char* obj_path, const char* name, hid_t type, hsize_t n, const void* data) {
  const hid_t obj = H5Oopen(f, obj_path, H5P_DEFAULT);
  ASSERT_GE(obj, 0);
  ASSERT_GE(H5Adelete(obj, name), 0);
  const hid_t space = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr);
  const hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(a, 0);
  ASSERT_GE(H5Awrite(a, type, data), 0);
  H5Aclose(a);
  H5Sclose(space);
  H5Oclose(obj);
}

// Replaces dataset `dset_path` by one of `type` and `dims`, written from `data` (memory type `mem`).
void replace_dataset(hid_t f, const std::string& dset_path, hid_t type, const std::vector<hsize_t>& dims, hid_t mem,
                     const void* data) {
  ASSERT_GE(H5Ldelete(f, dset_path.c_str(), H5P_DEFAULT), 0);
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t d = H5Dcreate2(f, dset_path.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(d, 0);
  ASSERT_GE(H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
  H5Dclose(d);
  H5Sclose(space);
}

std::string loaded_error(const std::string& path) {
  Model model(seed_cnn(), kMnistInput, kBatch);
  model.initialize(1);
  const std::vector<float> before = model.params();
  std::string msg = load_error(path, model);
  EXPECT_TRUE(same_bits(before, model.params())) << "a failed load must not change the model";
  EXPECT_EQ(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0) << "HDF5 objects left open";
  return msg;
}

TEST(KerasH5Malformed, LayerNamesThatAreNotText) {
  TempDir dir;
  const std::string path = dir.file("m.h5");
  const std::vector<int> numbers(21, 7);
  save_then_edit(path, [&](hid_t f) { replace_attr(f, "model_weights", "layer_names", H5T_NATIVE_INT, 21, numbers.data()); });
  const std::string msg = loaded_error(path);
  EXPECT_NE(msg.find(path + ": damaged or unreadable HDF5 file: attribute 'layer_names' is not text"), std::string::npos)
      << msg;
}

TEST(KerasH5Malformed, LayersInAnotherOrder) {
  TempDir dir;
  const std::string path = dir.file("m.h5");
  Model model(seed_cnn(), kMnistInput, kBatch);
  std::vector<std::string> names;
  for (auto& layer : model.layers()) names.push_back(layer->name());
  std::swap(names[0], names[1]);
  std::size_t width = 0;
  for (const auto& n : names) width = std::max(width, n.size());
  std::vector<char> buffer(width * names.size(), '\0');
  for (std::size_t i = 0; i < names.size(); ++i) std::memcpy(&buffer[i * width], names[i].data(), names[i].size());
  save_then_edit(path, [&](hid_t f) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, width);
    replace_attr(f, "model_weights", "layer_names", type, names.size(), buffer.data());
    H5Tclose(type);
  });
  const std::string msg = loaded_error(path);
  EXPECT_NE(msg.find(path + ": layer 0 is 'batch_normalization' in the file, 'conv2d' in the model"), std::string::npos)
      << msg;
}

TEST(KerasH5Malformed, WeightNamesOfTheWrongCountOrName) {
  TempDir dir;
  const std::string one = dir.file("one.h5"), renamed = dir.file("renamed.h5");
  const char kernel_only[] = "conv2d/kernel:0";
  save_then_edit(one, [&](hid_t f) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, sizeof kernel_only - 1);
    replace_attr(f, "model_weights/conv2d", "weight_names", type, 1, kernel_only);
    H5Tclose(type);
  });
  std::string msg = loaded_error(one);
  EXPECT_NE(msg.find(one + ": layer 'conv2d' has 1 weights in the file, the model's has 2"), std::string::npos) << msg;

  const char swapped[] = "conv2d/bias:0\0\0conv2d/kernel:0";  // two names of width 15, NUL-padded
  save_then_edit(renamed, [&](hid_t f) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 15);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    replace_attr(f, "model_weights/conv2d", "weight_names", type, 2, swapped);
    H5Tclose(type);
  });
  msg = loaded_error(renamed);
  EXPECT_NE(msg.find(renamed + ": layer 'conv2d' weight 0 is 'conv2d/bias:0', expected 'conv2d/kernel:0'"),
            std::string::npos)
      << msg;
}

TEST(KerasH5Malformed, IntegerWeights) {
  TempDir dir;
  const std::string path = dir.file("m.h5");
  const std::vector<int> ints(10, 1);
  save_then_edit(path, [&](hid_t f) {
    replace_dataset(f, "model_weights/dense_1/dense_1/bias:0", H5T_STD_I32LE, {10}, H5T_NATIVE_INT, ints.data());
  });
  const std::string msg = loaded_error(path);
  EXPECT_NE(msg.find(path + ": layer 'dense_1' bias is not a floating-point array"), std::string::npos) << msg;
}

TEST(KerasH5Malformed, NonFiniteWeights) {
  TempDir dir;
  const std::string path = dir.file("m.h5");
  std::vector<float> values(32, 0.5f);
  values[17] = std::numeric_limits<float>::quiet_NaN();
  save_then_edit(path, [&](hid_t f) {
    replace_dataset(f, "model_weights/conv2d/conv2d/bias:0", H5T_IEEE_F32LE, {32}, H5T_NATIVE_FLOAT, values.data());
  });
  const std::string msg = loaded_error(path);
  EXPECT_NE(msg.find(path + ": layer 'conv2d' bias holds NaN or infinite values (damaged file?)"), std::string::npos)
      << msg;
}

TEST(KerasH5Malformed, InfoThatIsNotJson) {
  TempDir dir;
  const std::string path = dir.file("m.h5");
  const char text[] = "{\"kind\": \"model\", \"history\": [1, 2";
  save_then_edit(path, [&](hid_t f) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, sizeof text - 1);
    replace_attr(f, "mnist_ddp", "info", type, 0, text);
    H5Tclose(type);
  });
  const std::string msg = loaded_error(path);
  EXPECT_NE(msg.find(path + ": /mnist_ddp info is not valid JSON"), std::string::npos) << msg;
}

TEST(KerasH5Malformed, ExtraArraysOfTheWrongShapeOrType) {
  TempDir dir;
  const std::string two_d = dir.file("2d.h5"), text = dir.file("text.h5");
  const std::vector<float> values(6, 1.0f);
  save_then_edit(two_d, [&](hid_t f) {
    const hid_t space = H5Screate(H5S_SCALAR);  // a placeholder to replace
    H5Dclose(H5Dcreate2(f, "mnist_ddp/slots", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Sclose(space);
    replace_dataset(f, "mnist_ddp/slots", H5T_IEEE_F32LE, {2, 3}, H5T_NATIVE_FLOAT, values.data());
  });
  std::string msg = loaded_error(two_d);
  EXPECT_NE(msg.find(two_d + ": /mnist_ddp/slots is not a 1-D array"), std::string::npos) << msg;

  save_then_edit(text, [&](hid_t f) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 4);
    const hsize_t n = 2;
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t d = H5Dcreate2(f, "mnist_ddp/names", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, "abcdefgh");
    H5Dclose(d);
    H5Sclose(space);
    H5Tclose(type);
  });
  msg = loaded_error(text);
  EXPECT_NE(msg.find(text + ": /mnist_ddp/names is neither a float nor an integer array"), std::string::npos) << msg;
}

TEST(KerasH5Malformed, ExtraArrayLargerThanTheFile) {
  // A chunked dataset may declare 2^40 elements and store none: the reader must
  // not set aside memory for what the file cannot hold.
  TempDir dir;
  const std::string path = dir.file("m.h5");
  save_then_edit(path, [&](hid_t f) {
    const hsize_t n = hsize_t{1} << 40, chunk = 1024;
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    const hid_t d = H5Dcreate2(f, "mnist_ddp/huge", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(d, 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
  });
  const std::string msg = loaded_error(path);
  EXPECT_NE(msg.find(path + ": /mnist_ddp/huge declares 1099511627776 values, more than the file's "), std::string::npos)
      << msg;
}

TEST(KerasH5Malformed, MissingLayerGroup) {
  TempDir dir;
  const std::string path = dir.file("m.h5");
  save_then_edit(path, [&](hid_t f) { ASSERT_GE(H5Ldelete(f, "model_weights/max_pooling2d", H5P_DEFAULT), 0); });
  const std::string msg = loaded_error(path);
  EXPECT_NE(msg.find(path + ": no group for layer 'max_pooling2d'"), std::string::npos) << msg;
}

TEST(KerasH5Malformed, DamagedMetadataIsCaughtByItsChecksum) {
  // The file format written (HDF5 1.8+: superblock v2, v2 object headers) keeps
  // a checksum on its metadata, so a flipped bit there is found, not believed.
  TempDir dir;
  const std::string path = dir.file("m.h5"), flipped = dir.file("flipped.h5");
  Model saved = trained_looking_model(8);
  save_keras_h5(path, saved, {{"kind", "model"}});
  std::string bytes = read_bytes(path);
  ASSERT_EQ(bytes[8], 2) << "superblock version";
  bytes[36] ^= 0x04;  // root group object header address
  write_bytes(flipped, bytes);
  const std::string msg = loaded_error(flipped);
  EXPECT_NE(msg.find(flipped + ": damaged or truncated HDF5 file (cannot open it)"), std::string::npos) << msg;
}

TEST(KerasH5Architecture, OtherShapesAreNamedWithTheLayer) {
  TempDir dir;
  const std::string path = dir.file("narrow.h5");
  std::vector<LayerSpec> specs = seed_cnn();
  specs[0].units = 16;  // first Conv2D with 16 filters
  Model narrow(specs, kMnistInput, kBatch);
  narrow.initialize(2);
  save_keras_h5(path, narrow, nlohmann::json::object());

  Model model(seed_cnn(), kMnistInput, kBatch);
  model.initialize(1);
  const std::string msg = load_error(path, model);
  EXPECT_NE(msg.find(path + ": layer 'conv2d' has kernel of shape (3,3,1,16), this program's model needs (3,3,1,32)"),
            std::string::npos)
      << msg;
}

TEST(KerasH5Architecture, OtherLayerCountsAreNamed) {
  TempDir dir;
  const std::string path = dir.file("short.h5");
  std::vector<LayerSpec> specs = {LayerSpec{LayerKind::kFlatten}, LayerSpec{LayerKind::kDense, 10, 0, Activation::kSoftmax}};
  Model small(specs, kMnistInput, kBatch);
  small.initialize(2);
  save_keras_h5(path, small, nlohmann::json::object());
  Model model(seed_cnn(), kMnistInput, kBatch);
  const std::string msg = load_error(path, model);
  EXPECT_NE(msg.find(path + ": the file has 2 layers, the model has 21"), std::string::npos) << msg;
}

TEST(KerasH5Atomic, NoTemporaryFilesAreLeftBehind) {
  TempDir dir;
  Model model = trained_looking_model(4);
  save_keras_h5(dir.file("m.h5"), model, nlohmann::json::object());
  save_keras_h5(dir.file("m.h5"), model, nlohmann::json::object());  // over an existing file
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"m.h5"});
}

TEST(KerasH5Atomic, UnwritablePathIsRuntimeErrorWithoutPartialFile) {
  TempDir dir;
  Model model = trained_looking_model(4);
  // A directory that does not exist, and a "directory" that is a regular file:
  // both fail for root too (a read-only directory would not).
  const std::string no_dir = dir.file("no/such/dir/m.h5");
  try {
    save_keras_h5(no_dir, model, nlohmann::json::object());
    ADD_FAILURE() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find(no_dir), std::string::npos) << e.what();
  }
  write_bytes(dir.file("plain"), "x");
  const std::string under_file = dir.file("plain/m.h5");
  EXPECT_THROW(save_keras_h5(under_file, model, nlohmann::json::object()), RuntimeError);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"plain"});

  // A bad extra name fails after the temporary file was created: it must go.
  H5Extras extras;
  extras.floats["a/b"] = {1.0f};
  EXPECT_THROW(save_keras_h5(dir.file("m.h5"), model, nlohmann::json::object(), extras), RuntimeError);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"plain"});
}

// ---- training_config (io/keras_training_config) -------------------------------------

TEST(KerasTrainingConfig, IsWrittenAsTfKeras215Does) {
  TempDir dir;
  const std::string path = dir.file("m.h5");
  Model model(seed_cnn(), kMnistInput, kBatch);
  model.initialize(1);
  OptimizerHyper adam;
  save_keras_h5(path, model, nlohmann::json::object(), {}, keras_training_config(adam, 2.5e-4));
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const nlohmann::json tc = nlohmann::json::parse(h5_read_string_attr(file, "training_config", 1 << 20));
  H5Fclose(file);
  EXPECT_EQ(tc["loss"], "sparse_categorical_crossentropy");
  EXPECT_EQ(tc["metrics"], nlohmann::json::array({"accuracy"}));
  EXPECT_TRUE(tc["weighted_metrics"].is_null() && tc["loss_weights"].is_null());
  EXPECT_EQ(tc["optimizer_config"]["class_name"], "Adam");
  EXPECT_EQ(tc["optimizer_config"]["config"]["learning_rate"], 2.5e-4);
  EXPECT_EQ(tc["optimizer_config"]["config"]["beta_1"], 0.9);
  EXPECT_EQ(tc["optimizer_config"]["config"]["epsilon"], 1e-7);

  OptimizerHyper sgd;
  sgd.kind = OptimizerKind::kSgd;
  sgd.momentum = 0.8;
  const nlohmann::json s = keras_optimizer_config(sgd, 0.01);
  EXPECT_EQ(s["class_name"], "SGD");
  EXPECT_EQ(s["config"]["momentum"], 0.8);
  EXPECT_EQ(s["config"]["name"], "SGD");
}

// ---- Keras 3 .keras (io/keras_v3) ----------------------------------------------------

TEST(KerasV3RoundTrip, WeightsAndStatsComeBackBitForBit) {
  TempDir dir;
  const std::string path = dir.file("m.keras");
  Model saved = trained_looking_model(5);
  save_model_file(path, saved, SavedModelInfo{});
  Model loaded(seed_cnn(), kMnistInput, kBatch);
  loaded.initialize(77);
  load_model_file(path, loaded);
  EXPECT_TRUE(same_bits(saved.params(), loaded.params()));
  EXPECT_TRUE(same_bits(saved.state(), loaded.state()));
  const std::vector<float> x = random_batch(8);
  EXPECT_TRUE(same_bits(logits(saved, x), logits(loaded, x)));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"m.keras"});
}

TEST(KerasV3Config, IsAKeras3SequentialWithItsWeightKeys) {
  Model model(seed_cnn(), kMnistInput, kBatch);
  const nlohmann::json c = keras_v3_model_config(model);
  EXPECT_EQ(c["module"], "keras");
  EXPECT_EQ(c["class_name"], "Sequential");
  EXPECT_TRUE(c.contains("registered_name") && c.contains("build_config"));
  const auto& layers = c["config"]["layers"];
  ASSERT_EQ(layers.size(), model.layers().size() + 1);
  EXPECT_EQ(layers[0]["class_name"], "InputLayer");
  EXPECT_EQ(layers[0]["config"]["batch_shape"], nlohmann::json::parse("[null, 28, 28, 1]"));
  for (std::size_t i = 1; i < layers.size(); ++i) {
    EXPECT_EQ(layers[i]["module"], "keras.layers");
    EXPECT_EQ(layers[i]["config"]["name"], model.layers()[i - 1]->name());
    EXPECT_TRUE(layers[i].contains("registered_name") && layers[i].contains("build_config"));
  }
  EXPECT_EQ(layers[1]["config"]["kernel_initializer"]["module"], "keras.initializers");
  EXPECT_EQ(layers[2]["config"]["axis"], 3);  // BatchNormalization: a number in Keras 3
  EXPECT_EQ(layers.back()["build_config"]["input_shape"], nlohmann::json::parse("[null, 256]"));
  const std::vector<std::string> keys = keras_v3_weight_paths(model);
  ASSERT_EQ(keys.size(), model.layers().size());
  EXPECT_EQ(keys[0], "layers/conv2d");
  EXPECT_EQ(keys[1], "layers/batch_normalization");
  EXPECT_EQ(keys[2], "layers/conv2d_1");
  EXPECT_EQ(keys.back(), "layers/dense_1");
}

TEST(KerasV3Malformed, ForeignOrDamagedFilesAreNamed) {
  TempDir dir;
  Model model(seed_cnn(), kMnistInput, kBatch);
  model.initialize(1);
  const std::string text = dir.file("text.keras");
  write_bytes(text, "not a zip file at all, just some text");
  EXPECT_NE(load_error(text, model).find(text + ": not a zip archive"), std::string::npos);
  const std::string h5 = dir.file("h5.keras");
  save_keras_h5(h5, model, nlohmann::json::object());
  EXPECT_NE(load_error(h5, model).find(h5 + ": not a zip archive"), std::string::npos);
  const std::string partial = dir.file("partial.keras");
  write_bytes(partial, zip_store({{"config.json", keras_v3_model_config(model).dump()}}));
  EXPECT_NE(load_error(partial, model).find(partial + ": no metadata.json in the archive"), std::string::npos);
  const std::string bad_weights = dir.file("bad_weights.keras");
  write_bytes(bad_weights, zip_store({{"config.json", keras_v3_model_config(model).dump()},
                                      {"metadata.json", "{\"keras_version\": \"3.5.0\"}"},
                                      {"model.weights.h5", "\x89HDF\r\n\x1a\n garbage"}}));
  EXPECT_NE(load_error(bad_weights, model).find(bad_weights + ": model.weights.h5 is damaged"), std::string::npos);
  EXPECT_NE(load_error(dir.file("missing.keras"), model).find("cannot open"), std::string::npos);
}

TEST(KerasV3Architecture, OtherModelsAreNamedAndLeaveTheModelUnchanged) {
  TempDir dir;
  const std::string path = dir.file("narrow.keras");
  std::vector<LayerSpec> specs = seed_cnn();
  specs[0].units = 16;
  Model narrow(specs, kMnistInput, kBatch);
  narrow.initialize(2);
  save_keras_v3(path, narrow);
  Model model(seed_cnn(), kMnistInput, kBatch);
  model.initialize(1);
  const std::vector<float> before = model.params();
  const std::string msg = load_error(path, model);
  EXPECT_NE(msg.find(path + ": layer 'conv2d' has kernel of shape (3,3,1,16), this program's model needs (3,3,1,32)"),
            std::string::npos)
      << msg;
  EXPECT_TRUE(same_bits(before, model.params()));

  const std::string small_path = dir.file("small.keras");
  Model small({LayerSpec{LayerKind::kFlatten}, LayerSpec{LayerKind::kDense, 10, 0, Activation::kSoftmax}}, kMnistInput,
              kBatch);
  small.initialize(2);
  save_keras_v3(small_path, small);
  EXPECT_NE(load_error(small_path, model).find(small_path + ": config.json has 3 layers, this program's model has 22"),
            std::string::npos)
      << load_error(small_path, model);
}

}  // namespace
}  // namespace mnist_ddp
