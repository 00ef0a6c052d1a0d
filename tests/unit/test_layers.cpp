// test_layers.cpp — each CPU layer against a naive reference and the gradient checker.
//
// For every layer kind: the forward pass equals the plain-loop reference of
// naive_reference.hpp (relative 1e-5), and backward() passes the central-difference
// check of gradient_check.hpp for the input and for every parameter. Shapes are
// small and odd on purpose (5x6 images, 7x7 pools, 9-element dropout rows) so that
// edge handling — padding, dropped pool rows, the tail of a 4-wide random draw — is
// exercised; one larger case per oneDNN layer runs the blocked and multi-threaded
// paths (oneDNN's kernels on 1 and 2 threads). The layers are built through make_cpu_layer, the
// same path the Model uses. OpenMP thread counts are set explicitly where the
// result could depend on them.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "mnist_ddp/cpu/conv_passes.hpp"
#include "mnist_ddp/cpu/threads.hpp"
#include "mnist_ddp/nn/layer.hpp"
#include "mnist_ddp/nn/spec.hpp"
#include "unit/gradient_check.hpp"
#include "support/random_vector.hpp"
#include "unit/naive_reference.hpp"

namespace mnist_ddp {
namespace {

using testing::GradCheckOptions;
using testing::check_layer_gradients;

// A layer with its own flat parameter, gradient and state buffers, as the Model would bind them.
struct Bound {
  std::unique_ptr<Layer> layer;
  std::vector<float> params, grads, state;
  Bound(const LayerSpec& spec, Shape3 in, int max_batch, std::uint32_t index = 0)
      : layer(make_cpu_layer(spec, in, "layer", index)) {
    set_cpu_threads(0);  // as the app does (0: OpenMP's default)
    params.assign(layer->param_count(), 0.0f);
    grads.assign(layer->param_count(), 0.0f);
    state.assign(layer->state_count(), 0.0f);
    layer->bind(params.data(), grads.data(), state.data());
    layer->reserve(max_batch);
  }
  // The named weight tensor ("kernel", "gamma", ...), found through weights().
  float* weight(const std::string& name) {
    for (const WeightView& v : layer->weights())
      if (v.name == name) return v.data;
    ADD_FAILURE() << "no weight " << name;
    return nullptr;
  }
  ::testing::AssertionResult gradients(std::vector<float>& x, int n, const ForwardContext& ctx,
                                       const GradCheckOptions& opt = {}) {
    return check_layer_gradients(*layer, x.data(), n, params.data(), grads.data(), params.size(), ctx, opt);
  }
};

using test_support::random_vector;

void fill_random(float* p, std::size_t count, float lo, float hi, std::uint64_t seed) {
  const std::vector<float> v = random_vector(count, lo, hi, seed);
  std::copy(v.begin(), v.end(), p);
}

::testing::AssertionResult near_all(const std::vector<float>& got, const std::vector<float>& want, double rel) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  std::size_t bad = 0;
  std::ostringstream s;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double tol = rel * std::max(1.0, std::fabs(static_cast<double>(want[i])));
    if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= tol)) {
      if (bad < 10) s << "\n  [" << i << "] got " << got[i] << ", want " << want[i];
      ++bad;
    }
  }
  if (bad > 0) return ::testing::AssertionFailure() << bad << " of " << got.size() << " differ:" << s.str();
  return ::testing::AssertionSuccess();
}

// Runs `body` with OpenMP limited to `threads`, restoring the previous setting.
template <typename F>
void with_threads(int threads, F body) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  body();
  omp_set_num_threads(saved);
}

LayerSpec conv_spec(int filters, Activation act) { return LayerSpec{LayerKind::kConv2D, filters, 3, act}; }
LayerSpec dense_spec(int units, Activation act) { return LayerSpec{LayerKind::kDense, units, 0, act}; }

const ForwardContext kInfer{};
const ForwardContext kTrain{true, 7, 0, nullptr};

// ---- Conv2D --------------------------------------------------------------------

// Forward against the reference and gradients, for one configuration.
// `tolerance`: relative, of the forward output against the reference.
void check_conv(Shape3 in, int cout, int n, Activation act, const GradCheckOptions& opt = {},
                double tolerance = 1e-5) {
  SCOPED_TRACE(::testing::Message() << "conv " << in.h << "x" << in.w << "x" << in.c << " -> " << cout << ", n "
                                    << n << (act == Activation::kRelu ? ", relu" : ", linear") << ", threads "
                                    << omp_get_max_threads());
  Bound b(conv_spec(cout, act), in, n);
  ASSERT_EQ(b.layer->output_shape(), (Shape3{in.h, in.w, cout}));
  ASSERT_EQ(b.params.size(), 9u * in.c * cout + cout);
  float* kernel = b.weight("kernel");
  float* bias = b.weight("bias");
  fill_random(kernel, 9u * in.c * cout, -0.5f, 0.5f, 11);
  fill_random(bias, cout, -0.3f, 0.3f, 12);
  std::vector<float> x = random_vector(in.size() * n, -1.0f, 1.0f, 13 + n);
  std::vector<float> y(b.layer->output_shape().size() * n);
  b.layer->forward(x.data(), y.data(), n, kInfer);
  EXPECT_TRUE(near_all(y, testing::ref_conv2d_same(x.data(), n, in.h, in.w, in.c, kernel, bias, 3, cout,
                                                   act == Activation::kRelu),
                       tolerance));
  EXPECT_TRUE(b.gradients(x, n, kTrain, opt));
}

TEST(LayerConv2D, ForwardAndGradientsSmall) {
  for (int cin : {1, 3})
    for (int n : {2, 3}) {
      check_conv(Shape3{5, 6, cin}, 4, n, Activation::kRelu);
      check_conv(Shape3{5, 6, cin}, 4, n, Activation::kLinear);
    }
}

TEST(LayerConv2D, OneAndTwoThreads) {
  for (int t : {1, 2}) with_threads(t, [] { check_conv(Shape3{5, 6, 3}, 4, 3, Activation::kRelu); });
}

// 32 input channels and 13 images: oneDNN's blocked kernels with a tail block
// of the batch, and per-thread weight-gradient partial sums on 2 threads.
TEST(LayerConv2D, SeveralChunks) {
  GradCheckOptions opt;
  opt.max_input_probes = 40;
  opt.max_param_probes = 40;
  for (int t : {1, 2}) with_threads(t, [&] { check_conv(Shape3{12, 12, 32}, 4, 13, Activation::kRelu, opt); });
}

// Parameter gradients do not depend on whether dx is asked for (the first layer
// of a model gets dx = null), and backward twice gives the same (overwrite mode).
TEST(LayerConv2D, NullDxSameParamGradients) {
  const Shape3 in{5, 6, 3};
  const int n = 3;
  Bound b(conv_spec(4, Activation::kRelu), in, n);
  b.layer->initialize(5, 0);
  std::vector<float> x = random_vector(in.size() * n, -1.0f, 1.0f, 21);
  std::vector<float> y(b.layer->output_shape().size() * n);
  const std::vector<float> r = random_vector(y.size(), -1.0f, 1.0f, 22);
  b.layer->forward(x.data(), y.data(), n, kTrain);
  std::vector<float> dy = r, dx(x.size());
  b.layer->backward(x.data(), y.data(), dy.data(), dx.data(), n);
  const std::vector<float> with_dx = b.grads;
  dy = r;
  b.layer->backward(x.data(), y.data(), dy.data(), nullptr, n);
  EXPECT_EQ(b.grads, with_dx);
}

// The primitives are made when the layer is reserved, for the thread count then;
// the count may change afterwards (set_cpu_threads): the layer makes new ones.
TEST(LayerConv2D, ThreadCountChangedAfterReserve) {
  const Shape3 in{12, 12, 32};
  const int n = 13;
  std::vector<float> x = random_vector(in.size() * n, -1.0f, 1.0f, 31);
  auto run = [&](Bound& b, std::uint64_t dy_seed) {
    std::vector<float> y(b.layer->output_shape().size() * n);
    b.layer->forward(x.data(), y.data(), n, kTrain);
    std::vector<float> dy = random_vector(y.size(), -1.0f, 1.0f, dy_seed), dx(x.size());
    b.layer->backward(x.data(), y.data(), dy.data(), dx.data(), n);
    return b.grads;
  };
  std::vector<float> reference;
  with_threads(1, [&] {
    Bound b(conv_spec(4, Activation::kRelu), in, n);
    b.layer->initialize(3, 0);
    reference = run(b, 33);
  });
  with_threads(2, [&] {
    Bound b(conv_spec(4, Activation::kRelu), in, n);  // reserved for 2 threads
    b.layer->initialize(3, 0);
    run(b, 32);                                       // leaves partial sums in both threads' scratch
    with_threads(1, [&] { EXPECT_TRUE(near_all(run(b, 33), reference, 1e-5)); });
  });
  with_threads(1, [&] {
    Bound b(conv_spec(4, Activation::kRelu), in, n);  // reserved for 1 thread
    b.layer->initialize(3, 0);
    with_threads(2, [&] { EXPECT_TRUE(near_all(run(b, 33), reference, 1e-5)); });
  });
}

// ---- Conv2D by Winograd (cpu/winograd_conv.hpp) ------------------------------------
// Channel counts of 16k take the own Winograd under the default --conv-algorithm;
// odd heights and widths leave partial tiles at the right and bottom edges.
// F(4x4, 3x3) scales values by up to 100 inside its transforms: its results
// differ from the direct sum by a few 1e-5 (relative) where the direct one's
// differ by 1e-7, so the Winograd forward is held to 1e-4.
constexpr double kWinogradTolerance = 1e-4;

// Runs `body` with the Conv2D algorithm `a` for the layers made in it, then the default again.
template <typename F>
void with_conv_algorithm(ConvAlgorithm a, F body) {
  set_conv_algorithm(a);
  body();
  set_conv_algorithm(ConvAlgorithm::kWinograd);
}

TEST(LayerConv2DWinograd, TakenWhereItApplies) {
  const ConvGeometry seed_layer{14, 14, 32, 64, 3, 1, true};
  EXPECT_EQ(conv_algorithm_for(seed_layer), ConvAlgorithm::kWinograd);
  EXPECT_EQ(conv_algorithm_for(ConvGeometry{28, 28, 1, 32, 3, 1, true}), ConvAlgorithm::kDirect);   // one channel in
  EXPECT_EQ(conv_algorithm_for(ConvGeometry{12, 12, 32, 4, 3, 1, true}), ConvAlgorithm::kDirect);   // 4 out
  EXPECT_EQ(conv_algorithm_for(ConvGeometry{12, 12, 32, 32, 5, 2, true}), ConvAlgorithm::kDirect);  // 5x5
  with_conv_algorithm(ConvAlgorithm::kDirect,
                      [&] { EXPECT_EQ(conv_algorithm_for(seed_layer), ConvAlgorithm::kDirect); });
}

TEST(LayerConv2DWinograd, ForwardAndGradients) {
  GradCheckOptions opt;
  opt.max_input_probes = 60;
  opt.max_param_probes = 60;
  for (int t : {1, 2})
    with_threads(t, [&] {
      check_conv(Shape3{7, 9, 16}, 16, 3, Activation::kRelu, opt, kWinogradTolerance);
      check_conv(Shape3{6, 5, 32}, 16, 2, Activation::kLinear, opt, kWinogradTolerance);
      // One tile per image, partly outside it; several tile blocks.
      check_conv(Shape3{3, 3, 64}, 32, 17, Activation::kRelu, opt, kWinogradTolerance);
    });
}

// The forward output, the input gradient and the weight gradients of one layer and batch.
struct ConvPassResults {
  std::vector<float> y, dx, grads;
};

ConvPassResults conv_passes_of(ConvAlgorithm a, Shape3 in, int cout, int n) {
  ConvPassResults r;
  with_conv_algorithm(a, [&] {
    Bound b(conv_spec(cout, Activation::kRelu), in, n);
    b.layer->initialize(9, 0);
    const std::vector<float> x = random_vector(in.size() * n, 0.0f, 1.0f, 41);
    r.y.resize(b.layer->output_shape().size() * n);
    b.layer->forward(x.data(), r.y.data(), n, kTrain);
    std::vector<float> dy = random_vector(r.y.size(), -1.0f, 1.0f, 42);
    r.dx.resize(x.size());
    b.layer->backward(x.data(), r.y.data(), dy.data(), r.dx.data(), n);
    r.grads = b.grads;
  });
  return r;
}

// The same layer by oneDNN's direct convolution and by Winograd: the same
// results up to Winograd's rounding.
TEST(LayerConv2DWinograd, AgreesWithDirect) {
  const Shape3 in{14, 13, 32};
  const ConvPassResults direct = conv_passes_of(ConvAlgorithm::kDirect, in, 64, 5);
  const ConvPassResults winograd = conv_passes_of(ConvAlgorithm::kWinograd, in, 64, 5);
  EXPECT_TRUE(near_all(winograd.y, direct.y, kWinogradTolerance));
  EXPECT_TRUE(near_all(winograd.dx, direct.dx, kWinogradTolerance));
  EXPECT_TRUE(near_all(winograd.grads, direct.grads, 4 * kWinogradTolerance));  // sums over 5 x 14 x 13 positions
}

// With the same thread count a layer repeats bit for bit (the weight-gradient
// partial sums are added in thread order), in a fresh layer and in the same one.
TEST(LayerConv2DWinograd, SameThreadsRepeatBitwise) {
  with_threads(2, [] {
    const Shape3 in{9, 11, 32};
    const ConvPassResults first = conv_passes_of(ConvAlgorithm::kWinograd, in, 32, 7);
    const ConvPassResults again = conv_passes_of(ConvAlgorithm::kWinograd, in, 32, 7);
    EXPECT_EQ(first.y, again.y);
    EXPECT_EQ(first.dx, again.dx);
    EXPECT_EQ(first.grads, again.grads);
  });
}

// ---- Conv2D with one input channel (a model's first layer) ------------------------
//
// 3x3 over one input channel into a multiple of 8 filters takes the own weight
// gradient (single_channel_conv.hpp) whenever backward gets no dx, with the ReLU's
// backward fused into it; with dx it is oneDNN's. Odd image sizes for the padding.

// Forward against the reference, parameter gradients by the checker with dx = null.
TEST(LayerConv2DOneChannel, ForwardAndGradientsWithoutDx) {
  GradCheckOptions opt;
  opt.input_gradient = false;
  opt.step = 2e-4;  // each weight reaches every pixel of its filter: a smaller window meets fewer ReLU kinks
  for (int t : {1, 2})
    with_threads(t, [&] {
      check_conv(Shape3{9, 11, 1}, 16, 3, Activation::kRelu, opt);
      check_conv(Shape3{9, 11, 1}, 16, 3, Activation::kLinear, opt);
    });
}

// The parameter gradients of one backward, dx asked for (oneDNN's) or not (the own).
std::vector<float> one_channel_grads(Shape3 in, int cout, int n, Activation act, bool with_dx) {
  Bound b(conv_spec(cout, act), in, n);
  b.layer->initialize(5, 0);
  const std::vector<float> x = random_vector(in.size() * n, -1.0f, 1.0f, 71);
  std::vector<float> y(b.layer->output_shape().size() * n), dx(x.size());
  std::vector<float> dy = random_vector(y.size(), -1.0f, 1.0f, 72);
  b.layer->forward(x.data(), y.data(), n, kTrain);
  b.layer->backward(x.data(), y.data(), dy.data(), with_dx ? dx.data() : nullptr, n);
  return b.grads;
}

// The own weight gradient equals oneDNN's to rounding, at the seed CNN's first-layer
// shape (28x28x1 -> 32) and at an odd one, on 1 and 2 threads.
TEST(LayerConv2DOneChannel, MatchesOneDnnWeightGradient) {
  for (int t : {1, 2})
    with_threads(t, [&] {
      for (const Activation act : {Activation::kRelu, Activation::kLinear}) {
        SCOPED_TRACE(::testing::Message() << t << " threads, " << (act == Activation::kRelu ? "relu" : "linear"));
        EXPECT_TRUE(near_all(one_channel_grads({28, 28, 1}, 32, 7, act, false),
                             one_channel_grads({28, 28, 1}, 32, 7, act, true), 1e-4));
        EXPECT_TRUE(near_all(one_channel_grads({9, 11, 1}, 24, 3, act, false),
                             one_channel_grads({9, 11, 1}, 24, 3, act, true), 1e-5));
      }
    });
}

// The same thread count repeats the weight gradient bit for bit, on the same layer
// and on a second one built alike.
TEST(LayerConv2DOneChannel, SameThreadsRepeatBitwise) {
  for (int t : {1, 2})
    with_threads(t, [&] {
      const std::vector<float> first = one_channel_grads({28, 28, 1}, 32, 13, Activation::kRelu, false);
      EXPECT_EQ(one_channel_grads({28, 28, 1}, 32, 13, Activation::kRelu, false), first) << t << " threads";
    });
}

// ---- Dense -----------------------------------------------------------------------

void check_dense(Shape3 in, int out, int n, Activation act, const GradCheckOptions& opt = {}) {
  SCOPED_TRACE(::testing::Message() << "dense " << in.size() << " -> " << out << ", n " << n
                                    << (act == Activation::kRelu ? ", relu" : ", linear"));
  Bound b(dense_spec(out, act), in, n);
  const int nin = static_cast<int>(in.size());
  ASSERT_EQ(b.layer->output_shape(), (Shape3{1, 1, out}));
  ASSERT_EQ(b.params.size(), static_cast<std::size_t>(nin) * out + out);
  float* kernel = b.weight("kernel");
  float* bias = b.weight("bias");
  fill_random(kernel, static_cast<std::size_t>(nin) * out, -0.5f, 0.5f, 41);
  fill_random(bias, out, -0.3f, 0.3f, 42);
  std::vector<float> x = random_vector(in.size() * n, -1.0f, 1.0f, 43);
  std::vector<float> y(static_cast<std::size_t>(out) * n);
  b.layer->forward(x.data(), y.data(), n, kInfer);
  EXPECT_TRUE(near_all(y, testing::ref_dense(x.data(), n, nin, kernel, bias, out, act == Activation::kRelu), 1e-5));
  EXPECT_TRUE(b.gradients(x, n, kTrain, opt));
}

TEST(LayerDense, ForwardAndGradients) {
  check_dense(Shape3{2, 2, 3}, 5, 3, Activation::kRelu);
  check_dense(Shape3{2, 2, 3}, 5, 3, Activation::kLinear);
  check_dense(Shape3{1, 1, 7}, 1, 2, Activation::kLinear);
}

// 64 inputs and 40 samples on 1 and 2 threads: oneDNN's inner product (x64:gemm:jit)
// splits its GEMMs over the threads.
TEST(LayerDense, AcrossThreads) {
  GradCheckOptions opt;
  opt.max_input_probes = 60;
  opt.max_param_probes = 60;
  for (int t : {1, 2})
    with_threads(t, [&] {
      check_dense(Shape3{4, 4, 4}, 7, 40, Activation::kRelu, opt);
      check_dense(Shape3{4, 4, 4}, 7, 40, Activation::kLinear, opt);
    });
}

// The same thread count repeats a step bit for bit (forward, dW, db, dx), also on a
// second layer built alike, which makes its own primitives; 256 -> 10 at batch 96
// are the seed CNN's last layer and evaluation batch.
TEST(LayerDense, SameThreadsRepeatBitwise) {
  const Shape3 in{1, 1, 256};
  const int n = 96;
  const std::vector<float> x = random_vector(in.size() * n, -1.0f, 1.0f, 61);
  const std::vector<float> r = random_vector(static_cast<std::size_t>(10) * n, -1.0f, 1.0f, 62);
  auto step = [&](Bound& b) {
    std::vector<float> y(r.size()), dy = r, dx(x.size());
    b.layer->forward(x.data(), y.data(), n, kTrain);
    b.layer->backward(x.data(), y.data(), dy.data(), dx.data(), n);
    y.insert(y.end(), dx.begin(), dx.end());
    y.insert(y.end(), b.grads.begin(), b.grads.end());
    return y;
  };
  for (int t : {1, 2})
    with_threads(t, [&] {
      Bound a(dense_spec(10, Activation::kRelu), in, n), b(dense_spec(10, Activation::kRelu), in, n);
      a.layer->initialize(9, 0);
      b.layer->initialize(9, 0);
      const std::vector<float> first = step(a);
      EXPECT_EQ(step(a), first) << t << " threads, the same layer";
      EXPECT_EQ(step(b), first) << t << " threads, another layer";
    });
}

TEST(LayerDense, NullDxSameParamGradients) {
  Bound b(dense_spec(5, Activation::kRelu), Shape3{1, 1, 12}, 3);
  b.layer->initialize(5, 0);
  std::vector<float> x = random_vector(36, -1.0f, 1.0f, 51);
  std::vector<float> y(15);
  const std::vector<float> r = random_vector(15, -1.0f, 1.0f, 52);
  b.layer->forward(x.data(), y.data(), 3, kTrain);
  std::vector<float> dy = r, dx(x.size());
  b.layer->backward(x.data(), y.data(), dy.data(), dx.data(), 3);
  const std::vector<float> with_dx = b.grads;
  dy = r;
  b.layer->backward(x.data(), y.data(), dy.data(), nullptr, 3);
  EXPECT_EQ(b.grads, with_dx);
}

// ---- BatchNormalization ----------------------------------------------------------

struct BnSetup {
  Shape3 in{3, 2, 4};
  int n = 3;
  float eps = 1e-3f, momentum = 0.99f;
  LayerSpec spec() const {
    LayerSpec s{LayerKind::kBatchNorm};
    s.epsilon = eps;
    s.momentum = momentum;
    return s;
  }
  // Random gamma, beta and moving statistics (positive variance).
  void randomize(Bound& b) const {
    fill_random(b.weight("gamma"), in.c, 0.5f, 1.5f, 61);
    fill_random(b.weight("beta"), in.c, -0.5f, 0.5f, 62);
    fill_random(b.weight("moving_mean"), in.c, -0.5f, 0.5f, 63);
    fill_random(b.weight("moving_variance"), in.c, 0.5f, 2.0f, 64);
  }
};

TEST(LayerBatchNorm, TrainingForwardAndMovingAverages) {
  const BnSetup s;
  Bound b(s.spec(), s.in, s.n);
  ASSERT_EQ(b.params.size(), 2u * s.in.c);
  ASSERT_EQ(b.state.size(), 2u * s.in.c);
  s.randomize(b);
  const std::vector<float> mm0(b.weight("moving_mean"), b.weight("moving_mean") + s.in.c);
  const std::vector<float> mv0(b.weight("moving_variance"), b.weight("moving_variance") + s.in.c);
  // An offset and a spread per channel, so mean and variance differ between channels.
  std::vector<float> x = random_vector(s.in.size() * s.n, -1.0f, 1.0f, 65);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = x[i] * (1.0f + (i % s.in.c)) + 0.3f * (i % s.in.c);
  std::vector<float> y(x.size());
  b.layer->forward(x.data(), y.data(), s.n, kTrain);
  std::vector<double> mean, var;
  const std::size_t rows = static_cast<std::size_t>(s.n) * s.in.h * s.in.w;
  EXPECT_TRUE(near_all(y,
                       testing::ref_batchnorm_train(x.data(), rows, s.in.c, b.weight("gamma"), b.weight("beta"),
                                                    s.eps, &mean, &var),
                       1e-5));
  // Keras: moving = moving·momentum + batch·(1 - momentum), with the biased batch variance.
  for (int j = 0; j < s.in.c; ++j) {
    EXPECT_NEAR(b.weight("moving_mean")[j], mm0[j] * 0.99 + mean[j] * 0.01, 1e-6) << j;
    EXPECT_NEAR(b.weight("moving_variance")[j], mv0[j] * 0.99 + var[j] * 0.01, 1e-6) << j;
  }
}

TEST(LayerBatchNorm, TrainingGradients) {
  const BnSetup s;
  Bound b(s.spec(), s.in, s.n);
  s.randomize(b);
  std::vector<float> x = random_vector(s.in.size() * s.n, -1.0f, 1.0f, 66);
  EXPECT_TRUE(b.gradients(x, s.n, kTrain));
  // A single sample per batch of 1x1 images: every row is its own mean, x̂ = 0.
  BnSetup one;
  one.in = Shape3{1, 1, 4};
  one.n = 2;
  Bound b2(one.spec(), one.in, one.n);
  one.randomize(b2);
  std::vector<float> x2 = random_vector(8, -1.0f, 1.0f, 67);
  EXPECT_TRUE(b2.gradients(x2, one.n, kTrain));
}

TEST(LayerBatchNorm, InferenceForwardUsesMovingStatistics) {
  const BnSetup s;
  Bound b(s.spec(), s.in, s.n);
  s.randomize(b);
  const std::vector<float> state0 = b.state;
  std::vector<float> x = random_vector(s.in.size() * s.n, -1.0f, 1.0f, 68);
  std::vector<float> y(x.size());
  b.layer->forward(x.data(), y.data(), s.n, kInfer);
  const std::size_t rows = static_cast<std::size_t>(s.n) * s.in.h * s.in.w;
  EXPECT_TRUE(near_all(y,
                       testing::ref_batchnorm_infer(x.data(), rows, s.in.c, b.weight("gamma"), b.weight("beta"),
                                                    b.weight("moving_mean"), b.weight("moving_variance"), s.eps),
                       1e-5));
  EXPECT_EQ(b.state, state0) << "inference must not update the moving statistics";
}

TEST(LayerBatchNorm, InferenceGradients) {
  const BnSetup s;
  Bound b(s.spec(), s.in, s.n);
  s.randomize(b);
  std::vector<float> x = random_vector(s.in.size() * s.n, -1.0f, 1.0f, 69);
  // A training forward first: backward must follow the *last* forward's mode, not
  // statistics left over from an earlier training batch.
  std::vector<float> y(x.size());
  b.layer->forward(x.data(), y.data(), s.n, kTrain);
  EXPECT_TRUE(b.gradients(x, s.n, kInfer));
}

TEST(LayerBatchNorm, OneAndTwoThreads) {
  const BnSetup s;
  for (int t : {1, 2})
    with_threads(t, [&] {
      Bound b(s.spec(), Shape3{5, 6, 4}, 3);
      s.randomize(b);
      std::vector<float> x = random_vector(5 * 6 * 4 * 3, -1.0f, 1.0f, 70);
      EXPECT_TRUE(b.gradients(x, 3, kTrain));
    });
}

// ---- MaxPooling2D ------------------------------------------------------------------

// Distinct values 0.05 apart in random positions: no two pool candidates are within
// the checker's step of each other, so no probe straddles an argmax change.
std::vector<float> distinct_values(std::size_t count, std::uint64_t seed) {
  std::vector<float> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = 0.05f * static_cast<float>(i) - 1.0f;
  std::mt19937_64 gen(seed);
  std::shuffle(v.begin(), v.end(), gen);
  return v;
}

TEST(LayerMaxPool, OddSizeForwardAndGradients) {
  const Shape3 in{7, 7, 2};
  const int n = 2;
  Bound b(LayerSpec{LayerKind::kMaxPool, 0, 2}, in, n);
  ASSERT_EQ(b.layer->output_shape(), (Shape3{3, 3, 2}));
  ASSERT_EQ(b.params.size(), 0u);
  std::vector<float> x = distinct_values(in.size() * n, 71);
  std::vector<float> y(b.layer->output_shape().size() * n);
  b.layer->forward(x.data(), y.data(), n, kInfer);
  EXPECT_EQ(y, testing::ref_maxpool_valid(x.data(), n, in.h, in.w, in.c, 2));
  EXPECT_TRUE(b.gradients(x, n, kTrain));
}

TEST(LayerMaxPool, GradientGoesToTheWinnerOnly) {
  const Shape3 in{4, 4, 1};
  Bound b(LayerSpec{LayerKind::kMaxPool, 0, 2}, in, 1);
  std::vector<float> x(16);
  std::iota(x.begin(), x.end(), 0.0f);  // winner of each 2x2 window: its bottom-right element
  std::vector<float> y(4), dy{1.0f, 2.0f, 3.0f, 4.0f}, dx(16, -1.0f);
  b.layer->forward(x.data(), y.data(), 1, kInfer);
  EXPECT_EQ(y, (std::vector<float>{5, 7, 13, 15}));
  b.layer->backward(x.data(), y.data(), dy.data(), dx.data(), 1);
  std::vector<float> want(16, 0.0f);
  want[5] = 1;
  want[7] = 2;
  want[13] = 3;
  want[15] = 4;
  EXPECT_EQ(dx, want);
}

TEST(LayerMaxPool, OneAndTwoThreads) {
  for (int t : {1, 2})
    with_threads(t, [] {
      Bound b(LayerSpec{LayerKind::kMaxPool, 0, 2}, Shape3{7, 7, 3}, 3);
      std::vector<float> x = distinct_values(7 * 7 * 3 * 3, 72);
      EXPECT_TRUE(b.gradients(x, 3, kTrain));
    });
}

// Channel counts of 8k take the AVX2 path of 2x2 pooling. Values on a coarse grid
// make ties common: the first maximum in window order must win, in the forward's
// output and in where backward sends the gradient.
TEST(LayerMaxPool, VectorPathKeepsTheFirstMaximum) {
  const Shape3 in{7, 9, 16};
  const int n = 3;
  Bound b(LayerSpec{LayerKind::kMaxPool, 0, 2}, in, n);
  const Shape3 out = b.layer->output_shape();
  std::vector<float> x = random_vector(in.size() * n, 0.0f, 4.0f, 73);
  for (float& v : x) v = std::floor(v);
  std::vector<float> y(out.size() * n), dy = random_vector(y.size(), 1.0f, 2.0f, 74), dx(x.size(), -1.0f);
  b.layer->forward(x.data(), y.data(), n, kTrain);
  EXPECT_EQ(y, testing::ref_maxpool_valid(x.data(), n, in.h, in.w, in.c, 2));
  b.layer->backward(x.data(), y.data(), dy.data(), dx.data(), n);
  std::vector<float> want(x.size(), 0.0f);
  for (int i = 0; i < n; ++i)
    for (int oy = 0; oy < out.h; ++oy)
      for (int ox = 0; ox < out.w; ++ox)
        for (int c = 0; c < in.c; ++c) {
          std::size_t best = 0;
          for (int k = 0; k < 4; ++k) {
            const std::size_t at = ((static_cast<std::size_t>(i) * in.h + 2 * oy + k / 2) * in.w + 2 * ox + k % 2) * in.c + c;
            if (k == 0 || x[at] > x[best]) best = at;
          }
          want[best] = dy[((static_cast<std::size_t>(i) * out.h + oy) * out.w + ox) * out.c + c];
        }
  EXPECT_EQ(dx, want);
}

// ---- Dropout -------------------------------------------------------------------------

LayerSpec dropout_spec(float rate) {
  LayerSpec s{LayerKind::kDropout};
  s.rate = rate;
  return s;
}

TEST(LayerDropout, TrainingMaskValuesAndRate) {
  for (float rate : {0.25f, 0.5f}) {
    SCOPED_TRACE(rate);
    const Shape3 in{16, 16, 8};
    const int n = 8;
    Bound b(dropout_spec(rate), in, n, 5);
    std::vector<std::int64_t> ids(n);
    std::iota(ids.begin(), ids.end(), std::int64_t{100});
    const ForwardContext ctx{true, 42, 3, ids.data()};
    const std::vector<float> x(in.size() * n, 1.0f);
    std::vector<float> y(x.size());
    b.layer->forward(x.data(), y.data(), n, ctx);
    const float kept = 1.0f / (1.0f - rate);
    std::size_t dropped = 0;
    for (float v : y) {
      ASSERT_TRUE(v == 0.0f || v == kept) << v;
      dropped += v == 0.0f;
    }
    // 16384 Bernoulli draws: the standard deviation of the fraction is < 0.004.
    EXPECT_NEAR(static_cast<double>(dropped) / y.size(), rate, 0.02);
    // Backward multiplies by the same mask.
    std::vector<float> dy(x.size(), 2.0f), dx(x.size());
    b.layer->backward(x.data(), y.data(), dy.data(), dx.data(), n);
    for (std::size_t i = 0; i < y.size(); ++i) ASSERT_EQ(dx[i], 2.0f * y[i]) << i;
  }
}

// The mask is a function of (seed, epoch, sample id, layer), not of the batch position.
TEST(LayerDropout, MaskFollowsTheSampleNotThePosition) {
  const Shape3 in{3, 3, 1};  // 9 elements: not a multiple of the 4-wide draw
  Bound b(dropout_spec(0.5f), in, 3, 7);
  std::vector<float> x(27);
  std::iota(x.begin(), x.end(), 1.0f);
  auto masks = [&](std::vector<std::int64_t> ids, std::uint64_t seed, std::uint32_t epoch) {
    const int n = static_cast<int>(ids.size());
    std::vector<float> ones(in.size() * n, 1.0f), y(ones.size());
    b.layer->forward(ones.data(), y.data(), n, ForwardContext{true, seed, epoch, ids.data()});
    return y;
  };
  auto row = [&](const std::vector<float>& v, int i) {
    return std::vector<float>(v.begin() + i * 9, v.begin() + (i + 1) * 9);
  };
  const std::vector<float> a = masks({10, 11, 12}, 1, 0);
  const std::vector<float> c = masks({12, 10}, 1, 0);
  EXPECT_EQ(row(c, 0), row(a, 2));
  EXPECT_EQ(row(c, 1), row(a, 0));
  EXPECT_NE(row(a, 0), row(a, 1)) << "different samples should get different masks";
  const std::vector<float> other_epoch = masks({10, 11, 12}, 1, 1);
  const std::vector<float> other_seed = masks({10, 11, 12}, 2, 0);
  EXPECT_NE(other_epoch, a);
  EXPECT_NE(other_seed, a);
  // Another layer index draws another mask for the same sample.
  Bound b2(dropout_spec(0.5f), in, 3, 8);
  std::vector<std::int64_t> ids{10, 11, 12};
  std::vector<float> ones(27, 1.0f), y2(27);
  b2.layer->forward(ones.data(), y2.data(), 3, ForwardContext{true, 1, 0, ids.data()});
  EXPECT_NE(y2, a);
  // The values themselves are scaled: x·mask.
  std::vector<float> y(27);
  b.layer->forward(x.data(), y.data(), 3, ForwardContext{true, 1, 0, ids.data()});
  for (std::size_t i = 0; i < 27; ++i) EXPECT_EQ(y[i], x[i] * a[i]) << i;
}

TEST(LayerDropout, IdentityInInferenceAndAtRateZero) {
  const Shape3 in{2, 3, 2};
  std::vector<float> x = random_vector(24, -1.0f, 1.0f, 81), y(24), dy = random_vector(24, -1.0f, 1.0f, 82), dx(24);
  Bound b(dropout_spec(0.5f), in, 2);
  b.layer->forward(x.data(), y.data(), 2, kInfer);
  EXPECT_EQ(y, x);
  b.layer->backward(x.data(), y.data(), dy.data(), dx.data(), 2);
  EXPECT_EQ(dx, dy);
  // Rate 0 in training: a copy, and no sample ids needed.
  Bound z(dropout_spec(0.0f), in, 2);
  std::fill(y.begin(), y.end(), 0.0f);
  z.layer->forward(x.data(), y.data(), 2, kTrain);
  EXPECT_EQ(y, x);
}

TEST(LayerDropout, TrainingGradients) {
  const Shape3 in{3, 3, 2};
  const int n = 3;
  Bound b(dropout_spec(0.3f), in, n, 2);
  std::vector<std::int64_t> ids{4, 9, 1};
  std::vector<float> x = random_vector(in.size() * n, -1.0f, 1.0f, 83);
  EXPECT_TRUE(b.gradients(x, n, ForwardContext{true, 5, 1, ids.data()}));
  EXPECT_TRUE(b.gradients(x, n, kInfer));
}

// ---- Flatten ---------------------------------------------------------------------------

TEST(LayerFlatten, CopiesInNhwcOrder) {
  const Shape3 in{3, 2, 4};
  Bound b(LayerSpec{LayerKind::kFlatten}, in, 2);
  ASSERT_EQ(b.layer->output_shape(), (Shape3{1, 1, 24}));
  std::vector<float> x = random_vector(48, -1.0f, 1.0f, 91), y(48);
  b.layer->forward(x.data(), y.data(), 2, kInfer);
  EXPECT_EQ(y, x);
  EXPECT_TRUE(b.gradients(x, 2, kTrain));
}

}  // namespace
}  // namespace mnist_ddp
