// test_report.cpp — atomic writes (contents, no leftovers, clean errors) and
// the config's JSON form.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/io/report.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;

namespace mnist_ddp {
namespace {

class ReportFiles : public ::testing::Test {
 protected:
  test_support::TempDir tmp_{"mnist_ddp_report"};
  const fs::path dir_ = tmp_.path();

  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // Everything in the directory except `keep`: temp files left behind.
  int other_files(const fs::path& keep) const {
    int n = 0;
    for (const auto& entry : fs::directory_iterator(dir_))
      if (entry.path() != keep) ++n;
    return n;
  }

};

TEST_F(ReportFiles, WritesExactContentsAndNoTempFile) {
  const fs::path path = dir_ / "report.json";
  const std::string contents = std::string("{\"a\": 1}\n") + std::string(1, '\0') + "binary tail";
  write_file_atomic(path.string(), contents);
  EXPECT_EQ(slurp(path), contents);
  EXPECT_EQ(other_files(path), 0);
}

TEST_F(ReportFiles, OverwriteKeepsNewContents) {
  const fs::path path = dir_ / "out.txt";
  write_file_atomic(path.string(), "a much longer first version of the file\n");
  write_file_atomic(path.string(), "short\n");
  EXPECT_EQ(slurp(path), "short\n");
  EXPECT_EQ(other_files(path), 0);
}

TEST_F(ReportFiles, MissingDirectoryNamesThePath) {
  const std::string path = (dir_ / "no_such_dir" / "report.json").string();
  try {
    write_file_atomic(path, "x");
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cannot write '" + path + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  }
  EXPECT_EQ(other_files(dir_ / "none"), 0);
}

TEST_F(ReportFiles, FailedRenameRemovesTempFile) {
  // The target is a directory: the temp file is written, the rename fails.
  const fs::path target = dir_ / "a_directory";
  fs::create_directory(target);
  EXPECT_THROW(write_file_atomic(target.string(), "x"), RuntimeError);
  EXPECT_EQ(other_files(target), 0);
}

TEST(ReportJson, ConfigFields) {
  Config c;
  c.epochs = 7;
  c.lr = 2.5e-4;
  c.optimizer = OptimizerKind::kRmsprop;
  c.device = Device::kCuda;
  c.progress = ProgressMode::kEpoch;
  c.early_stopping.patience = 9;
  c.reduce_lr.enabled = false;
  c.reduce_lr.min_lr = 1e-6;
  c.seed = 18446744073709551615ull;
  c.train_limit = 1000;
  c.report = "r.json";

  const nlohmann::json j = config_to_json(c);
  EXPECT_EQ(j.at("epochs").get<int>(), 7);
  EXPECT_DOUBLE_EQ(j.at("lr").get<double>(), 2.5e-4);
  EXPECT_EQ(j.at("optimizer"), "rmsprop");
  EXPECT_EQ(j.at("device"), "cuda");
  EXPECT_EQ(j.at("progress"), "epoch");
  EXPECT_EQ(j.at("early_stopping").at("patience").get<int>(), 9);
  EXPECT_TRUE(j.at("early_stopping").at("enabled").get<bool>());
  EXPECT_FALSE(j.at("reduce_lr").at("enabled").get<bool>());
  EXPECT_DOUBLE_EQ(j.at("reduce_lr").at("min_lr").get<double>(), 1e-6);
  EXPECT_EQ(j.at("seed").get<std::uint64_t>(), c.seed);
  EXPECT_EQ(j.at("train_limit").get<std::int64_t>(), 1000);
  EXPECT_EQ(j.at("report"), "r.json");
  EXPECT_EQ(j.at("output"), c.output);
  EXPECT_EQ(j.at("augment").get<bool>(), c.augment);

  // Text round trip, as the report file is read back.
  const nlohmann::json back = nlohmann::json::parse(j.dump(2));
  EXPECT_EQ(back, j);
}

TEST(ReportJson, HasEveryOption) {
  const nlohmann::json j = config_to_json(Config{});
  for (const char* key : {"command", "data_dir", "epochs", "batch_size", "eval_batch_size", "lr", "optimizer",
                          "momentum", "val_split", "augment", "early_stopping", "reduce_lr", "seed", "device",
                          "threads", "train_limit", "test_limit", "output", "report", "progress"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j.at("reduce_lr").size(), 6u);
  EXPECT_EQ(j.at("early_stopping").size(), 4u);
}

}  // namespace
}  // namespace mnist_ddp
