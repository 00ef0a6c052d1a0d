// naive_reference.hpp — plain-loop forward passes that the CPU layers are checked against.
//
// Each function is the textbook definition written as nested loops over NHWC
// tensors, in double, sharing nothing with the layer code (no im2col, no GEMM, no
// OpenMP, no per-thread partial sums), so an indexing or layout mistake in the
// fast path cannot be reproduced here by accident. Layouts follow Keras:
// conv kernel (kh, kw, cin, cout), dense kernel (in, out).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace mnist_ddp::testing {

// Conv2D, stride 1, 'same' zero padding (odd kernel k), + bias, optional ReLU.
// x (n, h, w, cin); kernel (k, k, cin, cout); bias (cout) → (n, h, w, cout).
inline std::vector<float> ref_conv2d_same(const float* x, int n, int h, int w, int cin, const float* kernel,
                                          const float* bias, int k, int cout, bool relu) {
  std::vector<float> y(static_cast<std::size_t>(n) * h * w * cout);
  const int pad = k / 2;
  for (int b = 0; b < n; ++b)
    for (int oy = 0; oy < h; ++oy)
      for (int ox = 0; ox < w; ++ox)
        for (int co = 0; co < cout; ++co) {
          double acc = bias[co];
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              const int iy = oy + ky - pad, ix = ox + kx - pad;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              for (int ci = 0; ci < cin; ++ci) {
                const double xv = x[((static_cast<std::size_t>(b) * h + iy) * w + ix) * cin + ci];
                const double wv = kernel[((static_cast<std::size_t>(ky) * k + kx) * cin + ci) * cout + co];
                acc += xv * wv;
              }
            }
          if (relu) acc = std::max(acc, 0.0);
          y[((static_cast<std::size_t>(b) * h + oy) * w + ox) * cout + co] = static_cast<float>(acc);
        }
  return y;
}

// Dense: y (n, out) = x (n, in) · kernel (in, out) + bias, optional ReLU.
inline std::vector<float> ref_dense(const float* x, int n, int in, const float* kernel, const float* bias, int out,
                                    bool relu) {
  std::vector<float> y(static_cast<std::size_t>(n) * out);
  for (int b = 0; b < n; ++b)
    for (int o = 0; o < out; ++o) {
      double acc = bias[o];
      for (int i = 0; i < in; ++i)
        acc += static_cast<double>(x[static_cast<std::size_t>(b) * in + i]) * kernel[static_cast<std::size_t>(i) * out + o];
      if (relu) acc = std::max(acc, 0.0);
      y[static_cast<std::size_t>(b) * out + o] = static_cast<float>(acc);
    }
  return y;
}

// BatchNorm in training mode over `rows` = n·h·w rows of c channels: batch mean and
// biased variance per channel. mean/var (c), if non-null, receive the batch statistics.
inline std::vector<float> ref_batchnorm_train(const float* x, std::size_t rows, int c, const float* gamma,
                                              const float* beta, double eps, std::vector<double>* mean_out = nullptr,
                                              std::vector<double>* var_out = nullptr) {
  std::vector<double> mean(c, 0.0), var(c, 0.0);
  for (int j = 0; j < c; ++j) {
    for (std::size_t r = 0; r < rows; ++r) mean[j] += x[r * c + j];
    mean[j] /= static_cast<double>(rows);
    for (std::size_t r = 0; r < rows; ++r) {
      const double d = x[r * c + j] - mean[j];
      var[j] += d * d;
    }
    var[j] /= static_cast<double>(rows);
  }
  std::vector<float> y(rows * c);
  for (std::size_t r = 0; r < rows; ++r)
    for (int j = 0; j < c; ++j)
      y[r * c + j] = static_cast<float>(gamma[j] * (x[r * c + j] - mean[j]) / std::sqrt(var[j] + eps) + beta[j]);
  if (mean_out != nullptr) *mean_out = mean;
  if (var_out != nullptr) *var_out = var;
  return y;
}

// BatchNorm in inference mode: normalise with the moving statistics.
inline std::vector<float> ref_batchnorm_infer(const float* x, std::size_t rows, int c, const float* gamma,
                                              const float* beta, const float* moving_mean,
                                              const float* moving_var, double eps) {
  std::vector<float> y(rows * c);
  for (std::size_t r = 0; r < rows; ++r)
    for (int j = 0; j < c; ++j)
      y[r * c + j] = static_cast<float>(static_cast<double>(gamma[j]) * (x[r * c + j] - moving_mean[j]) /
                                            std::sqrt(static_cast<double>(moving_var[j]) + eps) +
                                        beta[j]);
  return y;
}

// MaxPooling2D, square window = stride `pool`, 'valid': trailing rows/columns that do
// not fill a window are dropped. x (n, h, w, c) → (n, h/pool, w/pool, c).
inline std::vector<float> ref_maxpool_valid(const float* x, int n, int h, int w, int c, int pool) {
  const int oh = h / pool, ow = w / pool;
  std::vector<float> y(static_cast<std::size_t>(n) * oh * ow * c);
  for (int b = 0; b < n; ++b)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox)
        for (int j = 0; j < c; ++j) {
          float best = -INFINITY;
          for (int py = 0; py < pool; ++py)
            for (int px = 0; px < pool; ++px)
              best = std::max(best, x[((static_cast<std::size_t>(b) * h + oy * pool + py) * w + ox * pool + px) * c + j]);
          y[((static_cast<std::size_t>(b) * oh + oy) * ow + ox) * c + j] = best;
        }
  return y;
}

}  // namespace mnist_ddp::testing
