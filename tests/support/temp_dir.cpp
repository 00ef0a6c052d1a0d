// temp_dir.cpp — see temp_dir.hpp.
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <system_error>

namespace mnist_ddp::test_support {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& prefix) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test = info != nullptr ? info->name() : "no_test";
  static std::atomic<int> counter{0};
  path_ = fs::temp_directory_path() /
          (prefix + "_" + test + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;  // a destructor must not throw; a leftover directory is harmless
  fs::remove_all(path_, ec);
}

std::vector<std::string> TempDir::entries() const {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(path_)) out.push_back(e.path().filename().string());
  return out;
}

}  // namespace mnist_ddp::test_support
