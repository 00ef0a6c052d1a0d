// gradient_check.hpp — the one central-difference gradient checker of the unit tests.
//
// Every layer test (and the whole-model test) compares the analytic gradients of
// backward() with central differences of the forward pass, in the spirit of Caffe's
// test_gradient_check_util.hpp. The scalar being differentiated is a loss of the
// forward outputs: for a single layer, a fixed random projection L = Σ r·y (so the
// upstream gradient dy is simply r); for the whole model, the cross-entropy.
//
// Each checked value (an input element or a parameter) is a Probe: a pointer to the
// float that is perturbed in place by ±h and the analytic derivative to compare
// with. After each perturbation the *whole* forward pass is re-run, which is what
// training-mode BatchNorm needs: its batch statistics make every output depend on
// every input of the batch.
//
// Kinks. ReLU and max-pool are piecewise linear, and a central difference that
// straddles a kink (a pre-activation crossing 0, two pool candidates swapping) is
// wrong by up to half the slope jump. Rather than hand-picking inputs, the checker
// measures how far the outputs are from linear over the probe window: for outputs
// y(t), the second difference y(+h) - 2y(0) + y(-h) equals exactly (slope jump)·
// (h - distance to the kink), and Σ_i |∂L/∂y_i|·|second difference_i| / (2h) bounds
// the error that non-linearity introduces into the numeric derivative. Probes whose
// bound is a sizeable part of the tolerance are skipped (and counted); a check that
// skips more than a set fraction of its probes fails, so it cannot pass vacuously.
//
// Error measure: |a - n| / max(floor, |a|, |n|) < threshold, with floor 1 by default
// (so gradients ≪ 1 are compared absolutely). On failure the message lists the
// first 10 failing probes with analytic and numeric values.
//
// Header-only on purpose: a test helper with templates, included by several tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp::testing {

struct GradCheckOptions {
  double step = 1e-3;           // h: small enough to rarely straddle a kink, large enough for float noise
  double threshold = 2e-2;      // on |a - n| / max(floor, |a|, |n|)
  double floor = 1.0;           // smallest denominator of the relative error
  double kink_fraction = 0.25;  // skip a probe whose non-linearity bound exceeds this · threshold · scale
  double max_skipped = 0.25;    // fail if more than this fraction of the probes was skipped
  double noise = 1e-5;          // second differences below noise·(1 + |y|) count as rounding, not kinks
  std::uint64_t seed = 20240611;
  std::size_t max_input_probes = 0;  // 0: every input element; else a fixed random subset
  std::size_t max_param_probes = 0;  // 0: every parameter; else a fixed random subset
  bool verbose = false;              // print every probe (analytic, numeric, kink bound) to stdout
  bool input_gradient = true;        // false: backward with dx = null, as a model's first layer; parameters only
};

// One value to differentiate by: perturbed in place, restored afterwards.
struct Probe {
  std::string what;      // "x", "param", ... for the failure message
  std::size_t index;     // index within `what`
  float* value;
  double analytic;
};

// Loss L = Σ r_i·y_i with r fixed: its gradient with respect to y is r itself.
struct ProjectionLoss {
  std::vector<double> r;
  double operator()(const std::vector<float>& y, std::vector<double>* dldy) const {
    double l = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) l += r[i] * static_cast<double>(y[i]);
    if (dldy != nullptr) *dldy = r;
    return l;
  }
};

// A fixed random projection r ∈ U(-1, 1)^count.
inline std::vector<double> random_projection(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> r(count);
  for (double& v : r) v = u(gen);
  return r;
}

// Indices 0..total-1, or a sorted random subset of `limit` of them (limit 0: all).
inline std::vector<std::size_t> choose_indices(std::size_t total, std::size_t limit, std::uint64_t seed) {
  std::vector<std::size_t> idx(total);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  if (limit == 0 || limit >= total) return idx;
  std::mt19937_64 gen(seed);
  std::shuffle(idx.begin(), idx.end(), gen);
  idx.resize(limit);
  std::sort(idx.begin(), idx.end());
  return idx;
}

// The generic check. run(): re-runs the forward pass from the current (perturbed)
// values and returns the outputs. loss(y, dldy): the scalar and, if dldy is non-null,
// its gradient with respect to y. Every probe's value is restored bit-exactly.
template <typename Run, typename Loss>
::testing::AssertionResult check_probes(Run&& run, Loss&& loss, const std::vector<Probe>& probes,
                                        const GradCheckOptions& opt = {}) {
  const std::vector<float> y0 = run();
  std::vector<double> g0;
  loss(y0, &g0);
  std::size_t skipped = 0, failed = 0;
  double worst = 0.0;
  std::ostringstream fails;
  for (const Probe& p : probes) {
    const float saved = *p.value;
    // Perturb by an h that is exactly representable relative to the value, so that
    // (x + h) - (x - h) really is the 2h the quotient divides by.
    const float plus = saved + static_cast<float>(opt.step);
    const float minus = saved - static_cast<float>(opt.step);
    const double width = static_cast<double>(plus) - static_cast<double>(minus);
    *p.value = plus;
    const std::vector<float> yp = run();
    *p.value = minus;
    const std::vector<float> ym = run();
    *p.value = saved;
    const double numeric = (loss(yp, nullptr) - loss(ym, nullptr)) / width;

    // Σ |∂L/∂y|·|second difference| / 2h: the kink error bound. Second differences at
    // float rounding level are left out: summed in absolute value over thousands of
    // outputs they would flag every probe, while their effect on the quotient is a
    // signed sum that mostly cancels.
    double nonlinear = 0.0;
    for (std::size_t i = 0; i < y0.size(); ++i) {
      const double sd = static_cast<double>(yp[i]) - 2.0 * y0[i] + static_cast<double>(ym[i]);
      const double mag = std::max({std::fabs(static_cast<double>(yp[i])), std::fabs(static_cast<double>(y0[i])),
                                   std::fabs(static_cast<double>(ym[i]))});
      if (std::fabs(sd) > opt.noise * (1.0 + mag)) nonlinear += std::fabs(g0[i]) * std::fabs(sd);
    }
    nonlinear /= width;

    const double scale = std::max({opt.floor, std::fabs(p.analytic), std::fabs(numeric)});
    if (opt.verbose) {
      std::printf("  %s[%zu]: analytic %.6g numeric %.6g kink bound %.3g scale %.3g\n", p.what.c_str(), p.index,
                  p.analytic, numeric, nonlinear, scale);
    }
    if (nonlinear > opt.kink_fraction * opt.threshold * scale) {
      ++skipped;
      continue;
    }
    const double err = std::fabs(p.analytic - numeric) / scale;
    worst = std::max(worst, err);
    if (!(err < opt.threshold)) {  // also catches NaN
      if (failed < 10) {
        fails << "\n  " << p.what << "[" << p.index << "]: analytic " << p.analytic << ", numeric " << numeric
              << ", rel. error " << err;
      }
      ++failed;
    }
  }
  // The last forward ran at a restored point; run once more so that layer caches
  // (batch statistics, argmax, masks) describe the unperturbed inputs again.
  if (!probes.empty()) run();

  if (failed > 0) {
    return ::testing::AssertionFailure() << failed << " of " << probes.size() << " gradient probes failed (threshold "
                                         << opt.threshold << ", step " << opt.step << ", " << skipped
                                         << " skipped near kinks); first ones:" << fails.str();
  }
  if (static_cast<double>(skipped) > opt.max_skipped * static_cast<double>(probes.size())) {
    return ::testing::AssertionFailure() << skipped << " of " << probes.size()
                                         << " gradient probes were skipped as too close to a kink — the check "
                                            "would be vacuous; choose inputs farther from kinks or a smaller step";
  }
  if (opt.verbose) {
    std::printf("  %zu probes agree (worst rel. error %.3g, %zu skipped)\n", probes.size() - skipped, worst, skipped);
  }
  return ::testing::AssertionSuccess() << probes.size() - skipped << " probes agree (worst rel. error " << worst
                                       << ", " << skipped << " skipped)";
}

// Checks one layer: d loss/d input and d loss/d params, with loss = Σ r·y for a fixed
// random r. The layer must already be bound to `params`/`grads` (count values each;
// null and 0 for a layer without parameters) and reserved for n samples. x (n, in) is
// perturbed in place and restored. ctx is used for every forward pass (training-mode
// BatchNorm and dropout work: the mask is a function of ctx and the sample ids).
//
// It also checks the contract around backward(): gradients are overwritten, not
// accumulated (grads are poisoned before the call), and dy may be clobbered (the
// layer gets a copy).
inline ::testing::AssertionResult check_layer_gradients(Layer& layer, float* x, int n, float* params,
                                                        float* grads, std::size_t count,
                                                        const ForwardContext& ctx,
                                                        const GradCheckOptions& opt = {}) {
  const std::size_t in_size = layer.input_shape().size() * static_cast<std::size_t>(n);
  const std::size_t out_size = layer.output_shape().size() * static_cast<std::size_t>(n);
  std::vector<float> y(out_size);
  auto run = [&]() {
    layer.forward(x, y.data(), n, ctx);
    return y;
  };
  ProjectionLoss loss{random_projection(out_size, opt.seed)};

  // Analytic gradients: one forward, one backward with dy = r.
  run();
  std::vector<float> dy(loss.r.begin(), loss.r.end());
  std::vector<float> dx(in_size, std::nanf(""));
  if (count > 0) std::fill(grads, grads + count, 777.0f);
  layer.backward(x, y.data(), dy.data(), opt.input_gradient ? dx.data() : nullptr, n);
  const std::vector<float> analytic_params(grads, grads + count);

  std::vector<Probe> probes;
  if (opt.input_gradient)
    for (std::size_t i : choose_indices(in_size, opt.max_input_probes, opt.seed + 1))
      probes.push_back({"x", i, x + i, dx[i]});
  for (std::size_t i : choose_indices(count, opt.max_param_probes, opt.seed + 2))
    probes.push_back({"param", i, params + i, analytic_params[i]});
  return check_probes(run, loss, probes, opt);
}

}  // namespace mnist_ddp::testing
