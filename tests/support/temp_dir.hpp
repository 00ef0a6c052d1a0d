// temp_dir.hpp — a fresh directory per test, removed afterwards.
//
// ctest runs the tests of one binary as separate processes in parallel, so the
// name carries the test's name and the process id. Used by every test that
// writes files (model files, checkpoints, reports, pictures, fuzzed inputs).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace mnist_ddp::test_support {

class TempDir {
 public:
  // <system temp>/<prefix>_<current test's name>_<pid>_<n>, n counting the
  // directories this process made, so one test may hold several; emptied if
  // it exists (left over from a crashed run with the same pid).
  explicit TempDir(const std::string& prefix = "mnist_ddp_test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // The names of the entries in the directory (no order promised).
  std::vector<std::string> entries() const;

 private:
  std::filesystem::path path_;
};

}  // namespace mnist_ddp::test_support
