// CpuThreads: `--threads` (set_cpu_threads) governs every CPU thread of a
// training step — the oneDNN primitives (OpenMP runtime: they share the
// project's pool) and the project's own loops alike. Counted as the process's
// kernel threads (/proc/self/status), before and after a forward and backward
// pass of the seed CNN: with 1 thread none may appear, with 2 exactly one
// (OpenMP's second thread). ctest runs each test in its own process, so the
// pool starts empty here.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "mnist_ddp/cpu/blas.hpp"
#include "mnist_ddp/nn/loss.hpp"
#include "mnist_ddp/nn/model.hpp"

namespace mnist_ddp {
namespace {

int process_threads() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "Threads:") {
      int n = 0;
      status >> n;
      return n;
    }
  }
  return -1;
}

// One training step's passes at batch 16 (forward in training mode, loss, backward).
void train_pass(Model& model) {
  const int n = 16;
  std::vector<float> x(static_cast<std::size_t>(n) * 28 * 28);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 255) / 255.0f;
  std::vector<std::int64_t> ids(n);
  std::vector<std::uint8_t> labels(n);
  for (int i = 0; i < n; ++i) ids[i] = i, labels[i] = static_cast<std::uint8_t>(i % 10);
  const ForwardContext ctx{true, 3, 0, ids.data(), 0};
  const float* logits = model.forward(x.data(), n, ctx);
  std::vector<float> dlogits(static_cast<std::size_t>(n) * 10);
  softmax_cross_entropy(logits, labels.data(), n, 10, dlogits.data(), 1.0f / n);
  model.backward(dlogits.data(), n);
}

TEST(CpuThreads, ThreadsOptionGovernsOneDnnAndOwnLoops) {
  const int before = process_threads();
  ASSERT_GT(before, 0) << "no Threads: line in /proc/self/status";
  set_cpu_threads(1);
  Model model(seed_cnn(), kMnistInput, 16);
  model.initialize(5);
  train_pass(model);
  EXPECT_EQ(process_threads(), before) << "a step with --threads 1 started threads of its own";
  set_cpu_threads(2);
  train_pass(model);
  EXPECT_EQ(process_threads(), before + 1) << "a step with --threads 2 did not run on exactly 2 threads";
}

}  // namespace
}  // namespace mnist_ddp
