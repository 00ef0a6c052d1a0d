// test_model.cpp — the seed CNN as a whole, the loss and the optimizers.
//
// Model*: the layer list the Model builds from seed_cnn() has Keras's shapes,
// names and parameter counts (the numbers model.summary() prints for the reference
// Keras script, computed by hand below), initialisation is a deterministic
// Glorot-uniform, the whole network's gradients (through Model::backward and
// through the input) agree with central differences in training mode, and a few
// dozen Adam steps can memorise a small random batch. Loss*: softmax cross-entropy
// against hand-computed values and its own finite differences. Optimizer*: one and
// two steps of Adam, RMSprop and SGD against the Keras 3 update formulas evaluated
// in double (see optimizer_math.hpp).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "mnist_ddp/cpu/threads.hpp"
#include "mnist_ddp/nn/loss.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/optimizer.hpp"
#include "mnist_ddp/nn/spec.hpp"
#include "support/random_vector.hpp"
#include "unit/gradient_check.hpp"

namespace mnist_ddp {
namespace {

using testing::GradCheckOptions;
using testing::Probe;

using test_support::random_vector;

// Runs `body` with OpenMP limited to `threads`, restoring the previous setting.
template <typename F>
void with_threads(int threads, F body) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  body();
  omp_set_num_threads(saved);
}

// The seed CNN with every dropout rate set to 0: the same layers and names, but a
// training-mode forward that is a deterministic, differentiable function.
std::vector<LayerSpec> seed_cnn_without_dropout() {
  std::vector<LayerSpec> specs = seed_cnn();
  for (LayerSpec& s : specs)
    if (s.kind == LayerKind::kDropout) s.rate = 0.0f;
  return specs;
}

// ---- structure -------------------------------------------------------------------

struct Expected {
  const char* name;
  Shape3 out;
  std::size_t trainable, non_trainable;
};

// What Keras's model.summary() shows for the seed CNN on 28x28x1 input.
// Conv2D: k·k·cin·cout + cout; BatchNorm: 2c trainable (gamma, beta) + 2c
// non-trainable (moving mean, variance); Dense: in·out + out.
const std::vector<Expected> kSeedCnn = {
    {"conv2d", {28, 28, 32}, 3 * 3 * 1 * 32 + 32, 0},
    {"batch_normalization", {28, 28, 32}, 64, 64},
    {"conv2d_1", {28, 28, 32}, 3 * 3 * 32 * 32 + 32, 0},
    {"batch_normalization_1", {28, 28, 32}, 64, 64},
    {"max_pooling2d", {14, 14, 32}, 0, 0},
    {"dropout", {14, 14, 32}, 0, 0},
    {"conv2d_2", {14, 14, 64}, 3 * 3 * 32 * 64 + 64, 0},
    {"batch_normalization_2", {14, 14, 64}, 128, 128},
    {"conv2d_3", {14, 14, 64}, 3 * 3 * 64 * 64 + 64, 0},
    {"batch_normalization_3", {14, 14, 64}, 128, 128},
    {"max_pooling2d_1", {7, 7, 64}, 0, 0},
    {"dropout_1", {7, 7, 64}, 0, 0},
    {"conv2d_4", {7, 7, 128}, 3 * 3 * 64 * 128 + 128, 0},
    {"batch_normalization_4", {7, 7, 128}, 256, 256},
    {"max_pooling2d_2", {3, 3, 128}, 0, 0},
    {"dropout_2", {3, 3, 128}, 0, 0},
    {"flatten", {1, 1, 1152}, 0, 0},
    {"dense", {1, 1, 256}, 1152 * 256 + 256, 0},
    {"batch_normalization_5", {1, 1, 256}, 512, 512},
    {"dropout_3", {1, 1, 256}, 0, 0},
    {"dense_1", {1, 1, 10}, 256 * 10 + 10, 0},
};

TEST(ModelStructure, SeedCnnShapesNamesAndParameterCounts) {
  Model model(seed_cnn(), kMnistInput, 4);
  auto& layers = model.layers();
  ASSERT_EQ(layers.size(), kSeedCnn.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    SCOPED_TRACE(kSeedCnn[i].name);
    EXPECT_EQ(layers[i]->name(), kSeedCnn[i].name);
    EXPECT_EQ(layers[i]->output_shape(), kSeedCnn[i].out);
    EXPECT_EQ(layers[i]->input_shape(), i == 0 ? kMnistInput : layers[i - 1]->output_shape());
    EXPECT_EQ(layers[i]->param_count(), kSeedCnn[i].trainable);
    EXPECT_EQ(layers[i]->state_count(), kSeedCnn[i].non_trainable);
    // weights() agrees with the counts and points into the model's flat buffers.
    std::size_t trainable = 0, non_trainable = 0;
    for (const WeightView& v : layers[i]->weights()) {
      std::size_t count = 1;
      for (std::size_t d : v.shape) count *= d;
      (v.trainable ? trainable : non_trainable) += count;
      const std::vector<float>& buffer = v.trainable ? model.params() : model.state();
      EXPECT_TRUE(v.data >= buffer.data() && v.data + count <= buffer.data() + buffer.size()) << v.name;
    }
    EXPECT_EQ(trainable, kSeedCnn[i].trainable);
    EXPECT_EQ(non_trainable, kSeedCnn[i].non_trainable);
  }
  // Keras: "Trainable params: 437,738", "Non-trainable params: 1,152", total 438,890.
  EXPECT_EQ(model.params().size(), 437738u);
  EXPECT_EQ(model.grads().size(), 437738u);
  EXPECT_EQ(model.state().size(), 1152u);
  EXPECT_EQ(model.num_outputs(), 10);
}

TEST(ModelInit, DeterministicPerSeed) {
  Model a(seed_cnn(), kMnistInput, 1), b(seed_cnn(), kMnistInput, 1), c(seed_cnn(), kMnistInput, 1);
  a.initialize(42);
  b.initialize(42);
  c.initialize(43);
  EXPECT_EQ(a.params(), b.params());
  EXPECT_EQ(a.state(), b.state());
  EXPECT_NE(a.params(), c.params());
  // Re-initialising overwrites whatever training did.
  const std::vector<float> first = a.params();
  for (float& p : a.params()) p += 1.0f;
  for (float& s : a.state()) s += 1.0f;
  a.initialize(42);
  EXPECT_EQ(a.params(), first);
  EXPECT_EQ(a.state(), b.state());
}

TEST(ModelInit, GlorotUniformKernelsAndKerasDefaults) {
  Model model(seed_cnn(), kMnistInput, 1);
  model.initialize(7);
  std::vector<float> previous_head;
  for (auto& layer : model.layers()) {
    SCOPED_TRACE(layer->name());
    for (const WeightView& v : layer->weights()) {
      std::size_t count = 1;
      for (std::size_t d : v.shape) count *= d;
      const float* w = v.data;
      if (v.name == "kernel") {
        // Conv (k, k, in, out): fans are k·k·in and k·k·out; Dense (in, out): in and out.
        const double receptive = v.shape.size() == 4 ? static_cast<double>(v.shape[0] * v.shape[1]) : 1.0;
        const double fan_in = receptive * v.shape[v.shape.size() - 2], fan_out = receptive * v.shape.back();
        const double limit = std::sqrt(6.0 / (fan_in + fan_out));
        double sum = 0.0, sq = 0.0, biggest = 0.0;
        for (std::size_t i = 0; i < count; ++i) {
          ASSERT_LE(std::fabs(w[i]), limit) << i;
          sum += w[i];
          sq += static_cast<double>(w[i]) * w[i];
          biggest = std::max(biggest, std::fabs(static_cast<double>(w[i])));
        }
        // U(-L, L): mean 0 (σ of the mean L/√(3·count) ≤ 0.034 L), rms L/√3, and the extreme values near ±L.
        EXPECT_NEAR(sum / count, 0.0, 0.15 * limit);
        EXPECT_NEAR(std::sqrt(sq / count), limit / std::sqrt(3.0), 0.1 * limit);
        EXPECT_GT(biggest, 0.95 * limit);
        // Each layer draws from its own stream: kernels do not start alike.
        const std::vector<float> head(w, w + 8);
        EXPECT_NE(head, previous_head);
        previous_head = head;
      } else {
        const float want = v.name == "gamma" || v.name == "moving_variance" ? 1.0f : 0.0f;
        for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(w[i], want) << v.name << "[" << i << "]";
      }
    }
  }
}

// ---- whole-model gradients ---------------------------------------------------------

// Checks the gradients of Σ cross-entropy over a whole model in training mode
// (BatchNorm on batch statistics; dropout rates must be 0). Parameter gradients come
// from Model::backward; the input gradient, which Model does not compute (its first
// layer gets dx = null), from the same layers chained by hand — which must also
// reproduce Model's logits and parameter gradients exactly. Probes: `per_tensor`
// elements (0: all) of every trainable tensor of the layers from `first_layer` on,
// and `inputs` input elements (0: all, negative: none).
::testing::AssertionResult check_model_gradients(Model& model, std::vector<float>& x, int n, std::size_t first_layer,
                                                 std::size_t per_tensor, int inputs,
                                                 const GradCheckOptions& opt) {
  const int classes = model.num_outputs();
  std::vector<std::uint8_t> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = static_cast<std::uint8_t>((3 + 5 * i) % classes);
  std::vector<std::int64_t> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = i;
  const ForwardContext ctx{true, 9, 0, ids.data()};
  auto loss = [&](const std::vector<float>& logits, std::vector<double>* dlogits) {
    std::vector<float> d(logits.size());
    const LossSums s = softmax_cross_entropy(logits.data(), labels.data(), n, classes, d.data(), 1.0f);
    if (dlogits != nullptr) dlogits->assign(d.begin(), d.end());
    return s.loss;
  };
  auto run = [&]() {
    const float* logits = model.forward(x.data(), n, ctx);
    return std::vector<float>(logits, logits + n * classes);
  };

  // Analytic parameter gradients through Model.
  std::vector<float> dlogits(static_cast<std::size_t>(n) * classes);
  const std::vector<float> logits = run();
  softmax_cross_entropy(logits.data(), labels.data(), n, classes, dlogits.data(), 1.0f);
  model.backward(dlogits.data(), n);
  const std::vector<float> model_grads = model.grads();

  // The same by hand through the layers, this time asking the first layer for dx.
  auto& layers = model.layers();
  std::vector<std::vector<float>> acts;
  const float* in = x.data();
  for (auto& layer : layers) {
    acts.emplace_back(layer->output_shape().size() * n);
    layer->forward(in, acts.back().data(), n, ctx);
    in = acts.back().data();
  }
  std::vector<float> dy(dlogits), dx_input(x.size());
  for (std::size_t i = layers.size(); i-- > 0;) {
    std::vector<float> dx(layers[i]->input_shape().size() * n);
    layers[i]->backward(i == 0 ? x.data() : acts[i - 1].data(), acts[i].data(), dy.data(),
                        i == 0 ? dx_input.data() : dx.data(), n);
    dy.swap(dx);
  }
  if (acts.back() != logits) return ::testing::AssertionFailure() << "the hand-chained forward differs from Model's";
  if (model.grads() != model_grads)
    return ::testing::AssertionFailure() << "Model::backward differs from the layers chained by hand";

  std::vector<Probe> probes;
  std::mt19937_64 pick(5);
  for (std::size_t l = first_layer; l < layers.size(); ++l)
    for (const WeightView& v : layers[l]->weights()) {
      if (!v.trainable) continue;
      std::size_t count = 1;
      for (std::size_t d : v.shape) count *= d;
      const std::size_t offset = static_cast<std::size_t>(v.data - model.params().data());
      for (std::size_t i : testing::choose_indices(count, per_tensor, pick()))
        probes.push_back({layers[l]->name() + "." + v.name, i, v.data + i, model_grads[offset + i]});
    }
  if (inputs >= 0)
    for (std::size_t i : testing::choose_indices(x.size(), static_cast<std::size_t>(inputs), 6))
      probes.push_back({"x", i, &x[i], dx_input[i]});
  return testing::check_probes(run, loss, probes, opt);
}

// The seed CNN's layer sequence scaled down (10x10 input, 4-12 units) so that every
// parameter and every input pixel can be probed: few enough ReLU and max-pool units
// that a probe rarely moves one across its kink. Odd 5x5 maps make the second pool
// drop a row and a column, as the seed CNN's 7x7 → 3x3 does.
std::vector<LayerSpec> small_cnn() {
  auto conv = [](int filters) { return LayerSpec{LayerKind::kConv2D, filters, 3, Activation::kRelu}; };
  const LayerSpec bn{LayerKind::kBatchNorm};
  const LayerSpec pool{LayerKind::kMaxPool, 0, 2};
  const LayerSpec dropout{LayerKind::kDropout};  // rate 0
  return {conv(4),  bn, conv(4), bn, pool, dropout, conv(6), bn, pool, dropout, LayerSpec{LayerKind::kFlatten},
          LayerSpec{LayerKind::kDense, 12, 0, Activation::kRelu}, bn, dropout,
          LayerSpec{LayerKind::kDense, 10, 0, Activation::kSoftmax}};
}

TEST(ModelGradients, SmallCnnEveryParameterAndInput) {
  set_cpu_threads(0);
  const Shape3 input{10, 10, 1};
  const int n = 3;
  Model model(small_cnn(), input, n);
  model.initialize(3);
  std::vector<float> x = random_vector(input.size() * n, 0.0f, 1.0f, 4);
  // A step of 3e-4 keeps kink crossings rare (≈1e-3 crosses many) and float noise
  // in this small network's loss (≈1e-7) far below the tolerance. One OpenMP
  // thread: ~2400 tiny forward passes, where thread barriers would cost more than
  // the work, badly so on a loaded machine.
  GradCheckOptions opt;
  opt.step = 3e-4;
  opt.noise = 1e-6;
  opt.verbose = std::getenv("GRADCHECK_VERBOSE") != nullptr;
  with_threads(1, [&] { EXPECT_TRUE(check_model_gradients(model, x, n, 0, 0, 0, opt)); });
}

// The full seed CNN on two images. A batch of two through five BatchNorms is very
// sensitive, and a parameter of the first blocks moves thousands of ReLU/max-pool
// decisions at once, so central differences there are dominated by kinks at any
// step float precision allows. The probes are therefore taken from the last conv
// block on (conv2d_4 ... dense_1: 5 layers, 10 tensors, 4 elements each), which
// still checks the big tensors' places in the flat buffers and the whole backward
// chain down to them; the small CNN above covers the rest at full resolution.
TEST(ModelGradients, SeedCnnTwoImagesTrainingMode) {
  set_cpu_threads(0);
  const int n = 2;
  Model model(seed_cnn_without_dropout(), kMnistInput, n);
  model.initialize(3);
  // Non-trivial BatchNorm parameters, so that gamma and beta do not sit at 1 and 0.
  for (auto& layer : model.layers())
    for (const WeightView& v : layer->weights()) {
      if (v.name != "gamma" && v.name != "beta") continue;
      const std::vector<float> r = random_vector(v.shape[0], -0.3f, 0.3f, v.shape[0] + (v.name == "beta"));
      for (std::size_t i = 0; i < v.shape[0]; ++i) v.data[i] += r[i];
    }
  std::vector<float> x = random_vector(kMnistInput.size() * n, 0.0f, 1.0f, 4);
  std::size_t first = 0;
  while (model.layers()[first]->name() != "conv2d_4") ++first;
  GradCheckOptions opt;
  opt.step = 1e-3;
  opt.noise = 1e-6;  // count even small kinks: ~300 000 ReLU units sit upstream of the logits
  opt.floor = 0.01;  // gradients here are 1e-2 .. 1; dense's are ~0 (a BatchNorm follows it)
  // 5 %, not the default 2 %: the numeric side differs by up to ~3 % between GEMM kernels
  // (measured with OpenBLAS's Haswell, SkylakeX and Prescott; oneDNN's ISAs likewise pick
  // different summation orders, and a float loss of ~2.3 differenced over 2h = 2e-3 carries
  // ~2e-4 of rounding; near-ties in max-pool windows add more). A gradient in the wrong place
  // or a missing term is off by O(1), far above 5 %.
  opt.threshold = 5e-2;
  opt.verbose = std::getenv("GRADCHECK_VERBOSE") != nullptr;
  with_threads(1, [&] { EXPECT_TRUE(check_model_gradients(model, x, n, first, 4, -1, opt)); });
}

// ---- training --------------------------------------------------------------------

// Adam (lr 1e-3) on 32 fixed random images with random labels, full seed CNN with
// dropout: 30 steps memorise much of the batch. The loss is measured before and
// after with the same training-mode forward (batch statistics, the same dropout masks).
TEST(ModelTraining, AdamOverfitsASmallBatch) {
  set_cpu_threads(0);
  const int n = 32;
  Model model(seed_cnn(), kMnistInput, n);
  model.initialize(11);
  const std::vector<float> x = random_vector(kMnistInput.size() * n, 0.0f, 1.0f, 12);
  std::vector<std::uint8_t> labels(n);
  std::mt19937_64 gen(13);
  for (auto& l : labels) l = static_cast<std::uint8_t>(gen() % 10);
  std::vector<std::int64_t> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = i;
  std::vector<float> dlogits(n * 10);
  auto mean_loss = [&](std::uint32_t epoch, bool grad) {
    const float* logits = model.forward(x.data(), n, ForwardContext{true, 14, epoch, ids.data()});
    return softmax_cross_entropy(logits, labels.data(), n, 10, grad ? dlogits.data() : nullptr, 1.0f / n).loss / n;
  };

  const double before = mean_loss(0, false);
  Optimizer adam(OptimizerHyper{}, model.params().size());
  for (std::uint32_t step = 0; step < 30; ++step) {
    mean_loss(step, true);  // a new dropout mask every step, as every epoch would
    model.backward(dlogits.data(), n);
    adam.step(model.params().data(), model.grads().data(), 1e-3);
  }
  const double after = mean_loss(0, false);
  RecordProperty("loss_before", std::to_string(before));
  RecordProperty("loss_after", std::to_string(after));
  EXPECT_GT(before, 1.5);  // ≈ ln 10 for an untrained net
  EXPECT_LT(after, 0.5 * before) << "before " << before << ", after " << after;
  EXPECT_EQ(adam.iterations(), 30);
}

// ---- loss --------------------------------------------------------------------------

TEST(LossSoftmaxCrossEntropy, HandComputedValues) {
  const std::vector<float> logits{1, 2, 3,  //
                                  0, 0, 0,  //
                                  1000, 0, -1000};
  const std::vector<std::uint8_t> labels{2, 0, 1};
  std::vector<float> d(9);
  std::vector<std::uint8_t> pred(3);
  const LossSums s = softmax_cross_entropy(logits.data(), labels.data(), 3, 3, d.data(), 0.5f, pred.data());
  // -log softmax: log(1 + e^-1 + e^-2); log 3; and 1000 (finite: the max is subtracted first).
  const double l0 = std::log(1.0 + std::exp(-1.0) + std::exp(-2.0));
  EXPECT_NEAR(s.loss, l0 + std::log(3.0) + 1000.0, 1e-9 * 1000);
  EXPECT_EQ(s.correct, 2);  // row 1: arg-max 2; row 2: a tie goes to class 0; row 3: 0 ≠ 1
  EXPECT_EQ(pred, (std::vector<std::uint8_t>{2, 0, 0}));
  // (softmax - onehot) · 0.5
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const double want[9] = {0.5 * std::exp(1.0) / z, 0.5 * std::exp(2.0) / z, 0.5 * (std::exp(3.0) / z - 1.0),
                          0.5 * (1.0 / 3 - 1.0),   0.5 / 3,                 0.5 / 3,
                          0.5,                     -0.5,                    0.0};
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(d[i], want[i], 1e-7) << i;
}

TEST(LossSoftmaxCrossEntropy, GradientMatchesFiniteDifferences) {
  const int n = 4, classes = 10;
  std::vector<float> logits = random_vector(n * classes, -3.0f, 3.0f, 21);
  const std::vector<std::uint8_t> labels{0, 9, 4, 4};
  const float scale = 0.25f;
  std::vector<float> d(n * classes);
  softmax_cross_entropy(logits.data(), labels.data(), n, classes, d.data(), scale);
  // The "forward pass" is the loss itself: one output, differentiated directly.
  auto run = [&]() {
    const double l = softmax_cross_entropy(logits.data(), labels.data(), n, classes, nullptr, 1.0f).loss;
    return std::vector<float>{static_cast<float>(scale * l)};
  };
  auto identity = [](const std::vector<float>& y, std::vector<double>* g) {
    if (g != nullptr) g->assign(1, 1.0);
    return static_cast<double>(y[0]);
  };
  std::vector<Probe> probes;
  for (std::size_t i = 0; i < logits.size(); ++i) probes.push_back({"logit", i, &logits[i], d[i]});
  GradCheckOptions opt;
  opt.step = 1e-2;  // smooth: a larger step keeps the float-rounded loss out of the way
  opt.floor = 0.05;
  EXPECT_TRUE(testing::check_probes(run, identity, probes, opt));
}

// ---- optimizers ---------------------------------------------------------------------

// Two steps on a few elements (one with a zero gradient), compared with the Keras 3
// formulas in double. The hyperparameters enter the element updates as floats (the
// update rules are shared with the CUDA kernel), so the reference uses the same
// float-rounded values — 1 - 0.999f is 1.3e-5 off 0.001 in relative terms, which
// would otherwise dominate the comparison. Tolerance: float arithmetic.
constexpr double kB1 = 0.9f, kB2 = 0.999f, kEps = 1e-7f, kRho = 0.9f;

struct OptCase {
  std::vector<float> p0{0.5f, -0.3f, 1.2f, 0.0f, -2.0f};
  std::vector<float> g1{0.1f, -0.2f, 0.05f, 0.0f, 3.0f};
  std::vector<float> g2{-0.05f, -0.1f, 0.5f, 0.0f, 2.0f};
};

TEST(OptimizerAdam, TwoStepsMatchKerasFormula) {
  const OptCase c;
  OptimizerHyper h;  // Keras defaults: beta1 0.9, beta2 0.999, epsilon 1e-7
  const double lr = 1e-3;
  Optimizer opt(h, c.p0.size());
  std::vector<float> p = c.p0;
  std::vector<double> pd(c.p0.begin(), c.p0.end()), m(p.size(), 0.0), v(p.size(), 0.0);
  for (int t = 1; t <= 2; ++t) {
    const std::vector<float>& g = t == 1 ? c.g1 : c.g2;
    opt.step(p.data(), g.data(), lr);
    // The step size is computed in double; the element updates run in float with
    // float-rounded betas and epsilon, as Keras's float32 variables do.
    const double alpha = lr * std::sqrt(1.0 - std::pow(0.999, t)) / (1.0 - std::pow(0.9, t));
    for (std::size_t i = 0; i < p.size(); ++i) {
      m[i] += (g[i] - m[i]) * (1.0 - kB1);
      v[i] += (static_cast<double>(g[i]) * g[i] - v[i]) * (1.0 - kB2);
      pd[i] -= alpha * m[i] / (std::sqrt(v[i]) + kEps);
      EXPECT_NEAR(p[i], pd[i], 1e-6) << "step " << t << ", element " << i;
      EXPECT_NEAR(opt.slots()[i], m[i], 1e-6 * std::fabs(m[i]) + 1e-12) << "m, step " << t;
      EXPECT_NEAR(opt.slots()[p.size() + i], v[i], 1e-5 * std::fabs(v[i]) + 1e-12) << "v, step " << t;
    }
    EXPECT_EQ(opt.iterations(), t);
  }
  // First step of Adam moves every element with a non-zero gradient by about lr.
  EXPECT_NEAR(std::fabs(pd[0] - c.p0[0]), 2e-3, 1e-3);
  EXPECT_EQ(p[3], c.p0[3]);
}

TEST(OptimizerRmsprop, TwoStepsMatchKerasFormula) {
  const OptCase c;
  OptimizerHyper h;
  h.kind = OptimizerKind::kRmsprop;  // rho 0.9, epsilon 1e-7
  const double lr = 1e-3;
  Optimizer opt(h, c.p0.size());
  ASSERT_EQ(opt.slots().size(), c.p0.size());
  std::vector<float> p = c.p0;
  std::vector<double> pd(c.p0.begin(), c.p0.end()), v(p.size(), 0.0);
  for (int t = 1; t <= 2; ++t) {
    const std::vector<float>& g = t == 1 ? c.g1 : c.g2;
    opt.step(p.data(), g.data(), lr);
    for (std::size_t i = 0; i < p.size(); ++i) {
      v[i] = kRho * v[i] + (1.0 - kRho) * static_cast<double>(g[i]) * g[i];
      pd[i] -= lr * g[i] / std::sqrt(v[i] + kEps);
      EXPECT_NEAR(p[i], pd[i], 1e-6) << "step " << t << ", element " << i;
      EXPECT_NEAR(opt.slots()[i], v[i], 1e-6 * std::fabs(v[i]) + 1e-12) << "v, step " << t;
    }
  }
}

TEST(OptimizerSgd, TwoStepsMatchKerasFormula) {
  const OptCase c;
  OptimizerHyper h;
  h.kind = OptimizerKind::kSgd;  // momentum 0.9
  const double lr = 1e-2;
  const double kLr = static_cast<float>(lr), kMomentum = 0.9f;
  Optimizer opt(h, c.p0.size());
  std::vector<float> p = c.p0;
  std::vector<double> pd(c.p0.begin(), c.p0.end()), m(p.size(), 0.0);
  for (int t = 1; t <= 2; ++t) {
    const std::vector<float>& g = t == 1 ? c.g1 : c.g2;
    opt.step(p.data(), g.data(), lr);
    for (std::size_t i = 0; i < p.size(); ++i) {
      m[i] = kMomentum * m[i] - kLr * g[i];
      pd[i] += m[i];
      EXPECT_NEAR(p[i], pd[i], 1e-6) << "step " << t << ", element " << i;
      EXPECT_NEAR(opt.slots()[i], m[i], 1e-6 * std::fabs(m[i]) + 1e-12) << "m, step " << t;
    }
  }
}

}  // namespace
}  // namespace mnist_ddp

namespace mnist_ddp {
namespace {

// The bias-corrected moving average: step 0 takes the batch value as it is,
// a constant input is reproduced exactly at every step (the initial value has
// no pull), and the momentum tends to Keras's 0.99.
TEST(ModelBatchNormMomentum, DebiasedMomentum) {
  EXPECT_EQ(debiased_momentum(0.99, -1), 0.99);
  EXPECT_DOUBLE_EQ(debiased_momentum(0.99, 0), 0.0);
  EXPECT_NEAR(debiased_momentum(0.99, 5000), 0.99, 1e-12);
  double moving = 1.0;  // Keras's initial moving_variance
  for (int step = 0; step < 50; ++step) {
    const double m = debiased_momentum(0.99, step);
    moving = moving * m + 0.002 * (1.0 - m);
    EXPECT_NEAR(moving, 0.002, 1e-12) << "step " << step;
  }
  // The debiased average of a sequence equals Keras's zero-initialised
  // average divided by (1 - 0.99^t).
  double debiased = 0.0, keras = 0.0;
  for (int step = 0; step < 20; ++step) {
    const double value = 0.1 * step + 1.0;
    const double m = debiased_momentum(0.99, step);
    debiased = debiased * m + value * (1.0 - m);
    keras = keras * 0.99 + value * 0.01;
    EXPECT_NEAR(debiased, keras / (1.0 - std::pow(0.99, step + 1)), 1e-9);
  }
}

}  // namespace
}  // namespace mnist_ddp
