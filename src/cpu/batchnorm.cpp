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
      mean_(layout.input.c), invstd_(layout.input.c), var_(layout.input.c) {}

void BatchNormCpu::forward(const float* x, float* y, int n, const ForwardContext& ctx) {
  const std::size_t rows = static_cast<std::size_t>(n) * input_shape().h * input_shape().w;
  const int c = c_;
  const float *gamma = weight(slot::kGamma), *beta = weight(slot::kBeta);
  float *moving_mean = weight(slot::kMovingMean), *moving_var = weight(slot::kMovingVariance);
  std::vector<float> scale(c), shift(c);
  last_training_ = ctx.training;
  if (ctx.training) {
    // One pass: Σx and Σx² per channel in double; the statistics from them in nn/batchnorm_math.hpp.
    std::vector<double> sums = channel_sums(rows, 2 * c, [&](std::size_t r, double* acc) {
      const float* row = x + r * c;
      for (int j = 0; j < c; ++j) {
        const double v = row[j];
        acc[j] += v;
        acc[c + j] += v * v;
      }
    });
    const double count = synchronise(sync_, sums, static_cast<double>(rows));  // --sync-bn: over all ranks
    const float momentum = ctx.moving_momentum(momentum_);
    for (int j = 0; j < c; ++j) {
      const BatchStatistics s = batch_statistics(sums[j], sums[c + j], count, eps_);
      mean_[j] = s.mean;
      var_[j] = s.var;
      invstd_[j] = s.invstd;
      moving_mean[j] = moving_average(moving_mean[j], s.mean, momentum);
      moving_var[j] = moving_average(moving_var[j], s.var, momentum);
      const BatchNormAffine a = batchnorm_affine(gamma[j], beta[j], s.mean, s.invstd);
      scale[j] = a.scale;
      shift[j] = a.shift;
    }
  } else {
    for (int j = 0; j < c; ++j) {
      mean_[j] = moving_mean[j];
      invstd_[j] = 1.0f / std::sqrt(moving_var[j] + eps_);
      scale[j] = gamma[j] / std::sqrt(moving_var[j] + eps_);
      shift[j] = beta[j] - mean_[j] * scale[j];
    }
  }
#pragma omp parallel for schedule(static)
  for (std::size_t r = 0; r < rows; ++r) {
    const float* in = x + r * c;
    float* out = y + r * c;
    for (int j = 0; j < c; ++j) out[j] = in[j] * scale[j] + shift[j];
  }
}

// Backward of both modes. mean_ and invstd_ are the statistics the last forward
// normalised with: the batch's in training (x̂ depends on every row: the full
// formula), the moving averages in inference (constants: y = x·scale + shift).
void BatchNormCpu::backward(const float* x, const float*, float* dy, float* dx, int n) {
  // oneDNN's backward on the conv outputs; not with --sync-bn, whose sums must cross ranks in between.
  if (last_training_ && dx != nullptr && sync_ == nullptr && input_shape().h * input_shape().w > 1) {
    BatchNormBackwardPrimitives& p = primitives_.get(n, [this](int images) {
      return BatchNormBackwardPrimitives(images, input_shape().h, input_shape().w, c_, eps_, name());
    });
    p.backward(x, dy, mean_.data(), var_.data(), weight(slot::kGamma), weight(slot::kBeta), dx,
               weight_grad(slot::kGamma), weight_grad(slot::kBeta));
    return;
  }
  const std::size_t rows = static_cast<std::size_t>(n) * input_shape().h * input_shape().w;
  const int c = c_;
  // Two sums per channel: Σdy (beta's gradient) and Σdy·x̂ (gamma's), x̂ = (x - mean)·invstd.
  std::vector<double> sums = channel_sums(rows, 2 * c, [&](std::size_t r, double* acc) {
    const float* g = dy + r * c;
    const float* in = x + r * c;
    for (int j = 0; j < c; ++j) {
      acc[j] += g[j];
      acc[c + j] += dy_xhat(g[j], in[j], mean_[j], invstd_[j]);
    }
  });
  const float* gamma = weight(slot::kGamma);
  float *dgamma = weight_grad(slot::kGamma), *dbeta = weight_grad(slot::kBeta);
  std::vector<BatchNormBackwardMeans> means(c);
  for (int j = 0; j < c; ++j) {
    dbeta[j] = static_cast<float>(sums[j]);
    dgamma[j] = static_cast<float>(sums[c + j]);
  }
  // --sync-bn, training: dx needs the means over all ranks (γ and β keep their own gradients).
  const double count = last_training_ ? synchronise(sync_, sums, static_cast<double>(rows)) : static_cast<double>(rows);
  for (int j = 0; j < c; ++j) means[j] = backward_means(sums[j], sums[c + j], count);
  if (dx == nullptr) return;
  if (!last_training_) {  // dx = dy·γ·invstd
#pragma omp parallel for schedule(static)
    for (std::size_t r = 0; r < rows; ++r)
      for (int j = 0; j < c; ++j) dx[r * c + j] = dy[r * c + j] * gamma[j] * invstd_[j];
    return;
  }
  // dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)), nn/batchnorm_math.hpp
#pragma omp parallel for schedule(static)
  for (std::size_t r = 0; r < rows; ++r) {
    const float* g = dy + r * c;
    const float* in = x + r * c;
    float* out = dx + r * c;
    for (int j = 0; j < c; ++j) out[j] = batchnorm_dx(g[j], in[j], gamma[j], mean_[j], invstd_[j], means[j]);
  }
}

}  // namespace mnist_ddp
