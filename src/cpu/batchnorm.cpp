// batchnorm.cpp — BatchNormalization on the CPU.
//
// Per-channel sums run over P = n·h·w rows of c channels. Rows are split across
// threads with per-thread partial sums combined in a fixed order, so results do
// not depend on scheduling. Statistics are accumulated in double: P reaches
// 100 000 rows and a float sum would lose digits.
#include "mnist_ddp/cpu/batchnorm.hpp"

#include "mnist_ddp/nn/batchnorm_math.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

namespace mnist_ddp {

namespace {

// out[t][c] = sum over this thread's rows of f(row, c); returns the sums over threads.
template <typename F>
std::vector<double> channel_sums(std::size_t rows, int c, F f) {
  const int threads = omp_get_max_threads();
  std::vector<double> part(static_cast<std::size_t>(threads) * c, 0.0);
#pragma omp parallel
  {
    double* acc = part.data() + static_cast<std::size_t>(omp_get_thread_num()) * c;
#pragma omp for schedule(static)
    for (std::size_t r = 0; r < rows; ++r) f(r, acc);
  }
  std::vector<double> total(c, 0.0);
  for (int t = 0; t < threads; ++t)
    for (int j = 0; j < c; ++j) total[j] += part[static_cast<std::size_t>(t) * c + j];
  return total;
}

}  // namespace

BatchNormCpu::BatchNormCpu(const LayerLayout& layout)
    : Layer(layout), c_(layout.input.c), eps_(layout.spec.epsilon), momentum_(layout.spec.momentum),
      mean_(layout.input.c), invstd_(layout.input.c) {}

void BatchNormCpu::bind(float* params, float* grads, float* state) {
  gamma_ = params;
  beta_ = params + c_;
  dgamma_ = grads;
  dbeta_ = grads + c_;
  moving_mean_ = state;
  moving_var_ = state + c_;
}

void BatchNormCpu::initialize(std::uint64_t, std::uint32_t) {
  std::fill(gamma_, gamma_ + c_, 1.0f);
  std::fill(beta_, beta_ + c_, 0.0f);
  std::fill(moving_mean_, moving_mean_ + c_, 0.0f);
  std::fill(moving_var_, moving_var_ + c_, 1.0f);
}

std::vector<WeightView> BatchNormCpu::weights() {
  const std::vector<std::size_t> shape{std::size_t(c_)};
  return {{"gamma", shape, gamma_, true},
          {"beta", shape, beta_, true},
          {"moving_mean", shape, moving_mean_, false},
          {"moving_variance", shape, moving_var_, false}};
}

void BatchNormCpu::forward(const float* x, float* y, int n, const ForwardContext& ctx) {
  const std::size_t rows = static_cast<std::size_t>(n) * input_shape().h * input_shape().w;
  const int c = c_;
  std::vector<float> scale(c), shift(c);
  last_training_ = ctx.training;
  if (ctx.training) {
    // One pass: Σx and Σx² per channel in double (inputs are O(1) activations,
    // so E[x²] - E[x]² keeps ample precision in double).
    std::vector<double> sums = channel_sums(rows, 2 * c, [&](std::size_t r, double* acc) {
      const float* row = x + r * c;
      for (int j = 0; j < c; ++j) {
        const double v = row[j];
        acc[j] += v;
        acc[c + j] += v * v;
      }
    });
    rows_ = synchronise(sync_, sums, static_cast<double>(rows));
    std::vector<double> mean(c);
    for (int j = 0; j < c; ++j) mean[j] = sums[j] / rows_;
    const float momentum = ctx.moving_momentum(momentum_);
    for (int j = 0; j < c; ++j) {
      const double var = std::max(0.0, sums[c + j] / rows_ - mean[j] * mean[j]);
      mean_[j] = static_cast<float>(mean[j]);
      invstd_[j] = static_cast<float>(1.0 / std::sqrt(var + eps_));
      moving_mean_[j] = moving_average(moving_mean_[j], mean_[j], momentum);
      moving_var_[j] = moving_average(moving_var_[j], static_cast<float>(var), momentum);
      scale[j] = gamma_[j] * invstd_[j];
      shift[j] = beta_[j] - mean_[j] * scale[j];
    }
  } else {
    for (int j = 0; j < c; ++j) {
      scale[j] = gamma_[j] / std::sqrt(moving_var_[j] + eps_);
      shift[j] = beta_[j] - moving_mean_[j] * scale[j];
    }
  }
#pragma omp parallel for schedule(static)
  for (std::size_t r = 0; r < rows; ++r) {
    const float* in = x + r * c;
    float* out = y + r * c;
    for (int j = 0; j < c; ++j) out[j] = in[j] * scale[j] + shift[j];
  }
}

void BatchNormCpu::backward(const float* x, const float*, float* dy, float* dx, int n) {
  const std::size_t rows = static_cast<std::size_t>(n) * input_shape().h * input_shape().w;
  const int c = c_;
  if (!last_training_) {
    // Inference: y = x·scale + shift with the moving statistics as constants.
    std::vector<float> mm(moving_mean_, moving_mean_ + c), inv(c);
    for (int j = 0; j < c; ++j) inv[j] = 1.0f / std::sqrt(moving_var_[j] + eps_);
    const std::vector<double> sums = channel_sums(rows, 2 * c, [&](std::size_t r, double* acc) {
      const float* g = dy + r * c;
      const float* in = x + r * c;
      for (int j = 0; j < c; ++j) {
        acc[j] += g[j];
        acc[c + j] += g[j] * (in[j] - mm[j]) * inv[j];
      }
    });
    for (int j = 0; j < c; ++j) {
      dbeta_[j] = static_cast<float>(sums[j]);
      dgamma_[j] = static_cast<float>(sums[c + j]);
    }
    if (dx == nullptr) return;
#pragma omp parallel for schedule(static)
    for (std::size_t r = 0; r < rows; ++r)
      for (int j = 0; j < c; ++j) dx[r * c + j] = dy[r * c + j] * gamma_[j] * inv[j];
    return;
  }
  // Two sums per channel: Σdy and Σdy·x̂, x̂ = (x - mean)·invstd.
  std::vector<double> sums = channel_sums(rows, 2 * c, [&](std::size_t r, double* acc) {
    const float* g = dy + r * c;
    const float* in = x + r * c;
    for (int j = 0; j < c; ++j) {
      acc[j] += g[j];
      acc[c + j] += g[j] * (in[j] - mean_[j]) * invstd_[j];
    }
  });
  std::vector<float> k1(c), k2(c);
  for (int j = 0; j < c; ++j) {
    dbeta_[j] = static_cast<float>(sums[j]);
    dgamma_[j] = static_cast<float>(sums[c + j]);
  }
  synchronise(sync_, sums, static_cast<double>(rows));  // dx needs the global means (γ, β keep their own)
  const double inv_rows = 1.0 / rows_;
  for (int j = 0; j < c; ++j) {
    k1[j] = static_cast<float>(sums[j] * inv_rows);
    k2[j] = static_cast<float>(sums[c + j] * inv_rows);
  }
  if (dx == nullptr) return;
  // dx = γ·invstd·(dy - mean(dy) - x̂·mean(dy·x̂))
#pragma omp parallel for schedule(static)
  for (std::size_t r = 0; r < rows; ++r) {
    const float* g = dy + r * c;
    const float* in = x + r * c;
    float* out = dx + r * c;
    for (int j = 0; j < c; ++j) {
      const float xhat = (in[j] - mean_[j]) * invstd_[j];
      out[j] = gamma_[j] * invstd_[j] * (g[j] - k1[j] - xhat * k2[j]);
    }
  }
}

}  // namespace mnist_ddp
