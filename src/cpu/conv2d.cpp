// conv2d.cpp — Conv2D on the CPU by im2col + sgemm, chunks of images in parallel.
#include "mnist_ddp/cpu/conv2d.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/blas.hpp"
#include "mnist_ddp/nn/init.hpp"

namespace mnist_ddp {

namespace {
// im2col buffers of about this many bytes stay in a core's L2 with the weights.
constexpr std::size_t kChunkBytes = 1u << 20;
}  // namespace

Conv2DCpu::Conv2DCpu(const LayerLayout& layout, Activation act)
    : Layer(layout),
      k_(layout.spec.kernel), cin_(layout.input.c), cout_(layout.spec.units), pad_(conv_same_padding(k_)), act_(act),
      patch_(static_cast<std::size_t>(k_) * k_ * cin_) {
  MNIST_ASSERT(k_ % 2 == 1, "'same' convolution needs an odd kernel");
  MNIST_ASSERT(act == Activation::kLinear || act == Activation::kRelu, "unsupported Conv2D activation");
}

int Conv2DCpu::images_per_chunk() const {
  const std::size_t per_image = static_cast<std::size_t>(input_shape().h) * input_shape().w * patch_ * sizeof(float);
  return static_cast<int>(std::max<std::size_t>(1, kChunkBytes / per_image));
}

void Conv2DCpu::reserve(int max_batch) {
  const int threads = omp_get_max_threads();
  const std::size_t rows = static_cast<std::size_t>(std::min(images_per_chunk(), max_batch)) * input_shape().h *
                           input_shape().w;
  col_.assign(threads, std::vector<float>(rows * patch_));
  dw_part_.assign(threads, std::vector<float>(patch_ * cout_ + cout_));
}

void Conv2DCpu::im2col(const float* x, int images, float* col) const {
  const int h = input_shape().h, w = input_shape().w;
  for (int b = 0; b < images; ++b) {
    const float* img = x + static_cast<std::size_t>(b) * h * w * cin_;
    for (int y = 0; y < h; ++y) {
      for (int xx = 0; xx < w; ++xx) {
        float* row = col + ((static_cast<std::size_t>(b) * h + y) * w + xx) * patch_;
        for (int ky = 0; ky < k_; ++ky) {
          const int iy = y + ky - pad_;
          for (int kx = 0; kx < k_; ++kx, row += cin_) {
            const int ix = xx + kx - pad_;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
              std::memset(row, 0, sizeof(float) * cin_);
            } else {
              std::memcpy(row, img + (static_cast<std::size_t>(iy) * w + ix) * cin_, sizeof(float) * cin_);
            }
          }
        }
      }
    }
  }
}

void Conv2DCpu::col2im(const float* col, int images, float* dx) const {
  const int h = input_shape().h, w = input_shape().w;
  for (int b = 0; b < images; ++b) {
    float* img = dx + static_cast<std::size_t>(b) * h * w * cin_;
    for (int y = 0; y < h; ++y) {
      for (int xx = 0; xx < w; ++xx) {
        const float* row = col + ((static_cast<std::size_t>(b) * h + y) * w + xx) * patch_;
        for (int ky = 0; ky < k_; ++ky) {
          const int iy = y + ky - pad_;
          for (int kx = 0; kx < k_; ++kx, row += cin_) {
            const int ix = xx + kx - pad_;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            float* dst = img + (static_cast<std::size_t>(iy) * w + ix) * cin_;
            for (int c = 0; c < cin_; ++c) dst[c] += row[c];
          }
        }
      }
    }
  }
}

void Conv2DCpu::forward(const float* x, float* y, int n, const ForwardContext&) {
  const int hw = input_shape().h * input_shape().w;
  const int chunk = images_per_chunk();
  const int chunks = (n + chunk - 1) / chunk;
  const std::size_t in_size = input_shape().size(), out_size = output_shape().size();
  // No more threads than reserve() made scratch for (the count may have changed since).
  const int threads = std::min(static_cast<int>(col_.size()), omp_get_max_threads());
  MNIST_ASSERT(threads > 0, "Conv2D used before reserve()");
  const float *kernel = weight(slot::kKernel), *bias = weight(slot::kBias);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int ci = 0; ci < chunks; ++ci) {
    const int b0 = ci * chunk, images = std::min(chunk, n - b0);
    float* col = col_[omp_get_thread_num()].data();
    im2col(x + b0 * in_size, images, col);
    float* out = y + b0 * out_size;
    const int rows = images * hw;
    // Y = bias, then Y += Col · W.
    for (int r = 0; r < rows; ++r) std::memcpy(out + static_cast<std::size_t>(r) * cout_, bias, sizeof(float) * cout_);
    sgemm(Trans::kNo, Trans::kNo, rows, cout_, static_cast<int>(patch_), 1.0f, col, static_cast<int>(patch_), kernel,
          cout_, 1.0f, out, cout_);
    if (act_ == Activation::kRelu) {
      const std::size_t count = static_cast<std::size_t>(rows) * cout_;
      for (std::size_t i = 0; i < count; ++i) out[i] = std::max(out[i], 0.0f);
    }
  }
}

void Conv2DCpu::backward(const float* x, const float* y, float* dy, float* dx, int n) {
  const int hw = input_shape().h * input_shape().w;
  const int chunk = images_per_chunk();
  const int chunks = (n + chunk - 1) / chunk;
  const std::size_t in_size = input_shape().size(), out_size = output_shape().size();
  const std::size_t wcount = patch_ * cout_;
  // As in forward(); and only the partial sums of the threads that actually ran are
  // summed — the others may hold a previous batch's (OMP_DYNAMIC, fewer threads now).
  const int threads = std::min(static_cast<int>(dw_part_.size()), omp_get_max_threads());
  MNIST_ASSERT(threads > 0, "Conv2D used before reserve()");
  int team = 1;
  const float* kernel = weight(slot::kKernel);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    if (t == 0) team = omp_get_num_threads();
    float* dw = dw_part_[t].data();
    float* db = dw + wcount;
    std::fill(dw, dw + wcount + cout_, 0.0f);
    float* col = col_[t].data();
#pragma omp for schedule(static)
    for (int ci = 0; ci < chunks; ++ci) {
      const int b0 = ci * chunk, images = std::min(chunk, n - b0);
      const int rows = images * hw;
      float* g = dy + b0 * out_size;
      const float* out = y + b0 * out_size;
      if (act_ == Activation::kRelu) {
        const std::size_t count = static_cast<std::size_t>(rows) * cout_;
        for (std::size_t i = 0; i < count; ++i) g[i] = out[i] > 0.0f ? g[i] : 0.0f;
      }
      for (int r = 0; r < rows; ++r) {
        const float* gr = g + static_cast<std::size_t>(r) * cout_;
        for (int c = 0; c < cout_; ++c) db[c] += gr[c];
      }
      im2col(x + b0 * in_size, images, col);
      // dW += Colᵀ · dY
      sgemm(Trans::kYes, Trans::kNo, static_cast<int>(patch_), cout_, rows, 1.0f, col, static_cast<int>(patch_), g,
            cout_, 1.0f, dw, cout_);
      if (dx != nullptr) {
        // dCol = dY · Wᵀ, scattered back onto the input positions.
        sgemm(Trans::kNo, Trans::kYes, rows, static_cast<int>(patch_), cout_, 1.0f, g, cout_, kernel, cout_, 0.0f, col,
              static_cast<int>(patch_));
        float* dxi = dx + b0 * in_size;
        std::memset(dxi, 0, sizeof(float) * images * in_size);
        col2im(col, images, dxi);
      }
    }
  }
  // Sum the per-thread partial gradients (fixed order: deterministic) into the
  // kernel's and the bias's gradients, which lie one after the other like a part.
  float* grads = weight_grad(slot::kKernel);
  MNIST_ASSERT(weight_grad(slot::kBias) == grads + wcount, "Conv2D: bias gradient not after the kernel's");
  std::copy(dw_part_[0].begin(), dw_part_[0].end(), grads);
  for (int t = 1; t < team; ++t) {
    const float* part = dw_part_[t].data();
    for (std::size_t i = 0; i < wcount + cout_; ++i) grads[i] += part[i];
  }
}

}  // namespace mnist_ddp
