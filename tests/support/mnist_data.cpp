// mnist_data.cpp — see mnist_data.hpp.
#include "support/mnist_data.hpp"

#include <filesystem>
#include <memory>
#include <random>

#include "mnist_ddp/data/idx.hpp"

#ifndef MNIST_DDP_DATA_DIR
#error "MNIST_DDP_DATA_DIR must be defined (tests/CMakeLists.txt)"
#endif

namespace mnist_ddp::test_support {

const Mnist* real_mnist() {
  static std::unique_ptr<Mnist> data;
  if (!data && std::filesystem::exists(MNIST_DDP_DATA_DIR))
    data = std::make_unique<Mnist>(load_mnist(MNIST_DDP_DATA_DIR));
  return data.get();
}

const char* mnist_dir() { return MNIST_DDP_DATA_DIR; }

MnistSet synthetic_set(std::int64_t count, std::uint32_t seed) {
  MnistSet s;
  s.count = count;
  s.rows = s.cols = 28;
  s.images.assign(static_cast<std::size_t>(count) * 784, 0);
  s.labels.resize(static_cast<std::size_t>(count));
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> pos(4, 23), value(64, 255), label(0, 9);
  for (std::int64_t i = 0; i < count; ++i) {
    std::uint8_t* img = s.images.data() + i * 784;
    for (int k = 0; k < 60; ++k) img[pos(gen) * 28 + pos(gen)] = static_cast<std::uint8_t>(value(gen));
    s.labels[i] = static_cast<std::uint8_t>(label(gen));
  }
  return s;
}

}  // namespace mnist_ddp::test_support
