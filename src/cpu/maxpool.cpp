// maxpool.cpp — MaxPooling2D on the CPU.
#include "mnist_ddp/cpu/maxpool.hpp"

#include <cstring>

namespace mnist_ddp {

void MaxPoolCpu::reserve(int max_batch) { argmax_.resize(static_cast<std::size_t>(max_batch) * output_shape().size()); }

void MaxPoolCpu::forward(const float* x, float* y, int n, const ForwardContext&) {
  const Shape3 in = input_shape(), out = output_shape();
  const int c = in.c;
#pragma omp parallel for schedule(static)
  for (int b = 0; b < n; ++b) {
    const float* img = x + static_cast<std::size_t>(b) * in.size();
    float* o = y + static_cast<std::size_t>(b) * out.size();
    std::int32_t* arg = argmax_.data() + static_cast<std::size_t>(b) * out.size();
    for (int oy = 0; oy < out.h; ++oy) {
      for (int ox = 0; ox < out.w; ++ox) {
        const std::size_t obase = (static_cast<std::size_t>(oy) * out.w + ox) * c;
        const std::int32_t first = static_cast<std::int32_t>((oy * pool_ * in.w + ox * pool_) * c);
        for (int j = 0; j < c; ++j) {
          o[obase + j] = img[first + j];
          arg[obase + j] = first + j;
        }
        for (int py = 0; py < pool_; ++py) {
          for (int px = 0; px < pool_; ++px) {
            const std::int32_t base = static_cast<std::int32_t>(((oy * pool_ + py) * in.w + ox * pool_ + px) * c);
            for (int j = 0; j < c; ++j) {
              if (img[base + j] > o[obase + j]) {
                o[obase + j] = img[base + j];
                arg[obase + j] = base + j;
              }
            }
          }
        }
      }
    }
  }
}

void MaxPoolCpu::backward(const float*, const float*, float* dy, float* dx, int n) {
  if (dx == nullptr) return;
  const std::size_t in_size = input_shape().size(), out_size = output_shape().size();
#pragma omp parallel for schedule(static)
  for (int b = 0; b < n; ++b) {
    float* d = dx + static_cast<std::size_t>(b) * in_size;
    std::memset(d, 0, sizeof(float) * in_size);
    const float* g = dy + static_cast<std::size_t>(b) * out_size;
    const std::int32_t* arg = argmax_.data() + static_cast<std::size_t>(b) * out_size;
    for (std::size_t i = 0; i < out_size; ++i) d[arg[i]] += g[i];
  }
}

}  // namespace mnist_ddp
