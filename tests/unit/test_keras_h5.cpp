// test_keras_h5.cpp — the Keras-compatible model file (src/io/keras_h5.cpp).
//
// KerasH5RoundTrip: a seed CNN saved and loaded into a model initialised from
// another seed comes back bit for bit (parameters and BatchNorm statistics, the
// latter changed from their initial values so that they are really stored), with
// its info JSON and extra arrays, and gives identical logits. KerasH5Config: the
// model_config JSON has the tf.keras 2.x Sequential shape. KerasH5Corrupt: files
// that are not model files (random bytes, a truncated copy, text, a missing file,
// an HDF5 file without model_weights) are InputError naming the file.
// KerasH5Architecture: a file from another architecture is InputError naming the
// layer and both shapes. KerasH5Atomic: no temporary files are left behind, and
// an unwritable path is RuntimeError with no partial file. Keras's own reading of
// the layout is checked independently by tests/python/check_keras_h5.py.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/io/keras_h5.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/spec.hpp"

namespace mnist_ddp {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards: tests run in parallel under ctest.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("keras_h5_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path_)) out.push_back(e.path().filename().string());
    return out;
  }

 private:
  fs::path path_;
};

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

// Runs load_keras_h5 expecting InputError; returns its message.
std::string load_error(const std::string& path, Model& model) {
  try {
    load_keras_h5(path, model);
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

}  // namespace
}  // namespace mnist_ddp
