// test_batchnorm_math.cpp — the BatchNorm arithmetic both backends share
// (nn/batchnorm_math.hpp), and the host logic of --sync-bn's GPU path: every
// rank sums its own rows into [Σa | Σb | count] (the layout of the kernels'
// all-reduce buffer and of the CPU's BatchNormSync), the ranks' buffers are
// added element-wise (what ncclAllReduce / MPI_Allreduce do), and the shared
// functions turn the totals into the statistics and input gradients of the
// whole batch. Checked against independent references: a two-pass mean and
// variance in double, and central finite differences of a double forward.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "mnist_ddp/nn/batchnorm_math.hpp"
#include "naive_reference.hpp"
#include "support/random_vector.hpp"

namespace mnist_ddp {
namespace {

using test_support::random_vector;

constexpr float kEps = 1e-3f;

// A batch of `rows` rows of `c` channels, channel j offset by 2 + j and spread by 1 + j/2,
// so that E[x²] − E[x]² cancels digits and the channels differ.
struct Batch {
  std::size_t rows;
  int c;
  std::vector<float> x, dy, gamma, beta;
  Batch(std::size_t r, int channels)
      : rows(r), c(channels), x(random_vector(r * channels, -1.0f, 1.0f, 41)),
        dy(random_vector(r * channels, -1.0f, 1.0f, 42)), gamma(random_vector(channels, 0.5f, 1.5f, 43)),
        beta(random_vector(channels, -0.5f, 0.5f, 44)) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      const int j = static_cast<int>(i % c);
      x[i] = x[i] * (1.0f + 0.5f * j) + 2.0f + j;
    }
  }
};

using Terms = std::function<void(std::size_t i, int j, double& a, double& b)>;

// One rank's buffer for rows [begin, end): [Σa (c) | Σb (c) | count], as the kernels write it.
std::vector<double> shard_sums(std::size_t begin, std::size_t end, int c, const Terms& terms) {
  std::vector<double> s(2 * static_cast<std::size_t>(c) + 1, 0.0);
  for (std::size_t r = begin; r < end; ++r)
    for (int j = 0; j < c; ++j) terms(r * c + j, j, s[j], s[c + j]);
  s[2 * c] = static_cast<double>(end - begin);
  return s;
}

// The all-reduce: the element-wise sum of every rank's buffer, for `cuts` = the shard boundaries.
std::vector<double> total_sums(const std::vector<std::size_t>& cuts, int c, const Terms& terms) {
  std::vector<double> total(2 * static_cast<std::size_t>(c) + 1, 0.0);
  for (std::size_t k = 0; k + 1 < cuts.size(); ++k) {
    const std::vector<double> s = shard_sums(cuts[k], cuts[k + 1], c, terms);
    for (std::size_t i = 0; i < s.size(); ++i) total[i] += s[i];
  }
  return total;
}

// The forward kernel's terms: x and x².
Terms moments(const Batch& b) {
  return [&b](std::size_t i, int, double& a, double& s2) {
    const double v = b.x[i];
    a += v;
    s2 += v * v;
  };
}

std::vector<BatchStatistics> statistics_of(const std::vector<double>& sums, int c) {
  std::vector<BatchStatistics> s;
  for (int j = 0; j < c; ++j) s.push_back(batch_statistics(sums[j], sums[c + j], sums[2 * c], kEps));
  return s;
}

// Shard boundaries of N ranks over `rows`, deliberately unequal (the last batch of an epoch is not).
std::vector<std::vector<std::size_t>> shardings(std::size_t rows) {
  return {{0, rows}, {0, rows / 3, rows}, {0, 1, rows / 2, rows}, {0, 5, 6, rows - 7, rows}};
}

TEST(BatchNormMath, ShardTotalsGiveTheStatisticsOfTheWholeBatch) {
  const Batch b(40, 3);
  std::vector<double> mean, var;
  const std::vector<float> y_ref =
      testing::ref_batchnorm_train(b.x.data(), b.rows, b.c, b.gamma.data(), b.beta.data(), kEps, &mean, &var);
  for (const std::vector<std::size_t>& cuts : shardings(b.rows)) {
    const std::vector<BatchStatistics> s = statistics_of(total_sums(cuts, b.c, moments(b)), b.c);
    for (int j = 0; j < b.c; ++j) {
      EXPECT_NEAR(s[j].mean, mean[j], 1e-6 * std::fabs(mean[j])) << cuts.size() - 1 << " ranks, channel " << j;
      EXPECT_NEAR(s[j].var, var[j], 1e-5 * var[j]) << cuts.size() - 1 << " ranks, channel " << j;
      EXPECT_NEAR(s[j].invstd, 1.0 / std::sqrt(var[j] + kEps), 1e-5 / std::sqrt(var[j])) << j;
      // The cuDNN path's moving averages read the variance back from invstd: the same variance.
      EXPECT_NEAR(variance_from_invstd(s[j].invstd, kEps), var[j], 1e-5 * var[j]) << j;
    }
    double worst = 0;
    for (std::size_t i = 0; i < b.x.size(); ++i) {
      const int j = static_cast<int>(i % b.c);
      const BatchNormAffine a = batchnorm_affine(b.gamma[j], b.beta[j], s[j].mean, s[j].invstd);
      worst = std::max(worst, std::fabs(static_cast<double>(b.x[i] * a.scale + a.shift) - y_ref[i]));
    }
    EXPECT_LE(worst, 1e-5) << "y on " << cuts.size() - 1 << " ranks";
  }
  // The control: one rank's own statistics (no all-reduce) are not the batch's.
  const BatchStatistics own = statistics_of(shard_sums(0, b.rows / 3, b.c, moments(b)), b.c)[0];
  EXPECT_GT(std::fabs(own.mean - mean[0]) + std::fabs(own.var - var[0]), 1e-2);
}

// L = Σ dy·y of the whole batch in double: the function whose gradients backward computes.
double loss(const Batch& b, const std::vector<double>& x, const std::vector<double>& gamma) {
  double total = 0;
  for (int j = 0; j < b.c; ++j) {
    double m = 0, v = 0;
    for (std::size_t r = 0; r < b.rows; ++r) m += x[r * b.c + j];
    m /= static_cast<double>(b.rows);
    for (std::size_t r = 0; r < b.rows; ++r) v += (x[r * b.c + j] - m) * (x[r * b.c + j] - m);
    v /= static_cast<double>(b.rows);
    for (std::size_t r = 0; r < b.rows; ++r)
      total += b.dy[r * b.c + j] * (gamma[j] * (x[r * b.c + j] - m) / std::sqrt(v + kEps) + b.beta[j]);
  }
  return total;
}

// Central differences of loss() in each element of `wrt` (x or γ).
std::vector<double> numeric_gradient(const Batch& b, bool wrt_x) {
  std::vector<double> x(b.x.begin(), b.x.end()), gamma(b.gamma.begin(), b.gamma.end());
  std::vector<double>& v = wrt_x ? x : gamma;
  std::vector<double> g(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double keep = v[i], h = 1e-4;
    v[i] = keep + h;
    const double up = loss(b, x, gamma);
    v[i] = keep - h;
    g[i] = (up - loss(b, x, gamma)) / (2 * h);
    v[i] = keep;
  }
  return g;
}

double worst_relative(const std::vector<float>& got, const std::vector<double>& want) {
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::fabs(got[i] - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  return worst / scale;
}

TEST(BatchNormMath, ShardTotalsGiveTheInputGradientOfTheWholeBatch) {
  const Batch b(24, 3);
  const std::vector<double> dx_ref = numeric_gradient(b, true), dgamma_ref = numeric_gradient(b, false);
  for (const std::vector<std::size_t>& cuts : shardings(b.rows)) {
    const std::vector<BatchStatistics> s = statistics_of(total_sums(cuts, b.c, moments(b)), b.c);
    // The backward kernel's terms: dy and dy·x̂ with the (global) forward statistics.
    const Terms gradient_terms = [&](std::size_t i, int j, double& a, double& t) {
      a += b.dy[i];
      t += dy_xhat(b.dy[i], b.x[i], s[j].mean, s[j].invstd);
    };
    const std::vector<double> sums = total_sums(cuts, b.c, gradient_terms);
    std::vector<float> dx(b.x.size()), dgamma(b.c), dbeta(b.c);
    for (std::size_t i = 0; i < b.x.size(); ++i) {
      const int j = static_cast<int>(i % b.c);
      const BatchNormBackwardMeans m = backward_means(sums[j], sums[b.c + j], sums[2 * b.c]);
      dx[i] = batchnorm_dx(b.dy[i], b.x[i], b.gamma[j], s[j].mean, s[j].invstd, m);
    }
    for (int j = 0; j < b.c; ++j) {  // each rank keeps its own; their sum is the batch's
      dbeta[j] = static_cast<float>(sums[j]);
      dgamma[j] = static_cast<float>(sums[b.c + j]);
    }
    EXPECT_LE(worst_relative(dx, dx_ref), 1e-4) << "dx on " << cuts.size() - 1 << " ranks";
    EXPECT_LE(worst_relative(dgamma, dgamma_ref), 1e-4) << "dgamma on " << cuts.size() - 1 << " ranks";
    double dbeta_ref = 0;
    for (std::size_t r = 0; r < b.rows; ++r) dbeta_ref += b.dy[r * b.c];
    EXPECT_NEAR(dbeta[0], dbeta_ref, 1e-5);
  }
}

TEST(BatchNormMath, OneRowHasZeroVarianceAndNoInputGradient) {
  // A rank's last batch of one sample after Dense: its own statistics are degenerate, x̂ = 0.
  const BatchStatistics s = batch_statistics(0.75, 0.75 * 0.75, 1.0, kEps);
  EXPECT_EQ(s.mean, 0.75f);
  EXPECT_EQ(s.var, 0.0f);
  EXPECT_FLOAT_EQ(s.invstd, 1.0f / std::sqrt(kEps));
  const BatchNormBackwardMeans m = backward_means(0.3, dy_xhat(0.3f, 0.75f, s.mean, s.invstd), 1.0);
  EXPECT_EQ(batchnorm_dx(0.3f, 0.75f, 1.2f, s.mean, s.invstd, m), 0.0f);
  // Rounding can make E[x²] − E[x]² slightly negative: clamped to 0, never a NaN.
  EXPECT_EQ(batch_statistics(3.0, 8.999999999, 1.0, kEps).var, 0.0f);
}

}  // namespace
}  // namespace mnist_ddp
