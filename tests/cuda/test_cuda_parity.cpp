// test_cuda_parity.cpp — every GPU layer and kernel against its CPU sibling.
//
// Each GPU layer is built from the same spec as the CPU layer (make_cuda_layer
// vs make_cpu_layer), given the same random weights and BatchNorm state, and
// run on the same random inputs; outputs, input gradients, weight gradients
// and state updates are compared. Then the project's kernels (batch assembly
// with augmentation, softmax cross-entropy, optimizer updates) and a whole
// seed-CNN training step (CudaModel + kernels + CudaOptimizer vs Model +
// Optimizer). The GPU runs FP32 with TF32 off (CudaOptions default), so the
// two backends differ only by summation order and FMA contraction.
//
// Error measure, per tensor: max |gpu − cpu| / max |cpu| ("relative max
// error"), or for whole models ‖gpu − cpu‖₂ / ‖cpu‖₂. Bounds (stated with each
// case below) are orders of magnitude above FP32 rounding of the sums involved
// (≤ 6272 terms: worst-case relative error ~ 6272 · 2⁻²⁴ ≈ 4e-4, typically
// ~ sqrt(terms) · 2⁻²⁴ ≈ 5e-6) and orders of magnitude below what any indexing,
// layout or formula mistake produces (O(1)):
//   Conv2D, Dense forward and backward ............................ 1e-4
//   BatchNorm forward and moving statistics (cuDNN float vs CPU double) 1e-4
//   BatchNorm backward (dx has a cancelling sum) ................... 1e-3
//   MaxPool, Dropout, Flatten: bit-identical (selection and exact products;
//     the dropout masks come from the shared dropout_mask.hpp)
//   augmentation: ≤ 1e-4 absolute per pixel value in [0, 1] (1/39 of a grey
//     level): the sampling positions differ in their last bits (FMA
//     contraction, device sinf/cosf within 2 ulp), ~1e-5 pixel, and a pixel
//     value moves at most 1 per pixel of position on each axis; a wrong
//     transform is off by 0.1–1. Without augmentation: bit-identical
//   loss: dlogits 1e-6, sums 1e-12 relative; optimizer updates 1e-6
//   seed CNN step: logits 1e-3, loss 1e-4, gradients ‖·‖₂ 1e-3 (1e-2 per
//     layer), weights after an Adam step ‖·‖₂ 1e-4, BatchNorm state 1e-3.
//
// Without a usable GPU every test here that needs one is SKIPPED with the
// runtime's reason; the CudaCheck tests (error messages) run everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "mnist_ddp/cuda/batchnorm.hpp"
#include "mnist_ddp/cuda/check.hpp"
#include "mnist_ddp/cuda/context.hpp"
#include "mnist_ddp/cuda/kernels.hpp"
#include "mnist_ddp/cuda/layer.hpp"
#include "mnist_ddp/cuda/model.hpp"
#include "mnist_ddp/cuda/nccl_batchnorm_sync.hpp"
#include "mnist_ddp/cuda/nccl_communicator.hpp"
#include "mnist_ddp/cuda/optimizer.hpp"
#include "mnist_ddp/cuda/raii.hpp"
#include "mnist_ddp/data/augment.hpp"
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/nn/layer.hpp"
#include "mnist_ddp/nn/loss.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/optimizer.hpp"
#include "require_gpu.hpp"
#include "support/random_vector.hpp"

namespace mnist_ddp::cuda {
namespace {

// ---- helpers ---------------------------------------------------------------------------------

using test_support::random_vector;

template <typename T>
DeviceBuffer<T> to_device(const std::vector<T>& host) {
  DeviceBuffer<T> d(host.size());
  if (!host.empty()) d.upload(host.data(), host.size());
  return d;
}

template <typename T>
std::vector<T> to_host(const T* device, std::size_t count) {
  std::vector<T> host(count);
  MNIST_CUDA_CHECK(cudaDeviceSynchronize());
  if (count > 0) MNIST_CUDA_CHECK(cudaMemcpy(host.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost));
  return host;
}

// max |got − want| / max |want| (bound 0: bit-identical), naming the worst element.
::testing::AssertionResult close_max(const std::vector<float>& got, const std::vector<float>& want, double bound) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  double worst = 0.0, scale = 0.0;
  std::size_t at = 0, unequal = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
    const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    unequal += !(got[i] == want[i]);
    if (!(d <= worst)) {  // also catches NaN
      worst = std::isnan(d) ? INFINITY : d;
      at = i;
    }
  }
  const double rel = bound == 0.0 ? worst : worst / std::max(scale, 1e-30);
  std::ostringstream s;
  s << "relative max error " << rel << " (bound " << bound << "), worst [" << at << "] gpu "
    << (got.empty() ? 0.0f : got[at]) << " cpu " << (want.empty() ? 0.0f : want[at]) << ", " << unequal << " of "
    << want.size() << " not bit-identical";
  if (bound == 0.0 ? unequal == 0 : rel <= bound) return ::testing::AssertionSuccess() << s.str();
  return ::testing::AssertionFailure() << s.str();
}

double relative_l2(const std::vector<float>& got, const std::vector<float>& want, std::size_t begin = 0,
                   std::size_t end = SIZE_MAX) {
  end = std::min(end, want.size());
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = begin; i < end; ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    diff += d * d;
    norm += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
}

// Every test that touches the GPU: skipped with the reason where none is usable.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MNIST_REQUIRE_GPU();
    ctx_ = std::make_unique<CudaContext>(0, options());
  }
  virtual CudaOptions options() const { return CudaOptions{}; }
  std::unique_ptr<CudaContext> ctx_;
};

// ---- layers -----------------------------------------------------------------------------------

struct LayerCase {
  std::string name;
  LayerSpec spec;
  Shape3 in;
  int n;
  bool training;
  double forward_bound;   // on y and on the state after forward; 0: bit-identical
  double backward_bound;  // on dx and the parameter gradients; 0: bit-identical
  // false: backward gets no dx, as the model's first layer (CudaModel passes none
  // there, so no backward-data algorithm is ever asked for one input channel).
  bool with_dx = true;
};

std::ostream& operator<<(std::ostream& os, const LayerCase& c) { return os << c.name; }

LayerSpec conv(int filters, int kernel, Activation act) { return LayerSpec{LayerKind::kConv2D, filters, kernel, act}; }
LayerSpec dense(int units, Activation act) { return LayerSpec{LayerKind::kDense, units, 0, act}; }
LayerSpec pool(int size) { return LayerSpec{LayerKind::kMaxPool, 0, size}; }
LayerSpec dropout(float rate) {
  LayerSpec s{LayerKind::kDropout};
  s.rate = rate;
  return s;
}
const LayerSpec kBatchNorm{LayerKind::kBatchNorm};
const LayerSpec kFlatten{LayerKind::kFlatten};

// One CPU and one GPU layer from the same spec with the same weights and state.
struct LayerPair {
  static constexpr std::uint32_t kIndex = 5;  // position in a model: the dropout stream
  std::unique_ptr<Layer> cpu;
  std::unique_ptr<CudaLayer> gpu;
  std::vector<float> params, grads, state;
  DeviceBuffer<float> d_params, d_grads, d_state;

  LayerPair(const LayerSpec& spec, Shape3 in, int max_batch, CudaContext& ctx)
      : cpu(make_cpu_layer(spec, in, "cpu", kIndex)), gpu(make_cuda_layer(spec, in, "gpu", kIndex, ctx)) {
    EXPECT_EQ(gpu->output_shape(), cpu->output_shape());
    EXPECT_EQ(gpu->param_count(), cpu->param_count());
    EXPECT_EQ(gpu->state_count(), cpu->state_count());
    params = random_vector(cpu->param_count(), -0.5f, 0.5f, 100);
    grads.assign(cpu->param_count(), 0.0f);
    state = random_vector(cpu->state_count(), 0.2f, 1.2f, 101);  // BatchNorm: positive moving variances
    cpu->bind(params.data(), grads.data(), state.data());
    cpu->reserve(max_batch);
    d_params = to_device(params);
    d_grads = to_device(grads);
    d_state = to_device(state);
    gpu->bind(d_params.data(), d_grads.data(), d_state.data());
    gpu->reserve(max_batch);
  }
};

class CudaLayerParity : public CudaTest, public ::testing::WithParamInterface<LayerCase> {};

TEST_P(CudaLayerParity, ForwardAndBackwardMatchTheCpuLayer) {
  const LayerCase& c = GetParam();
  // Reserved for more than this batch: the GPU layers plan per batch size.
  LayerPair p(c.spec, c.in, c.n + 2, *ctx_);
  const std::size_t in_size = c.in.size() * c.n, out_size = p.cpu->output_shape().size() * c.n;

  std::vector<std::int64_t> ids(c.n);
  for (int i = 0; i < c.n; ++i) ids[i] = 1000 + 37 * i;  // arbitrary global sample ids
  const DeviceBuffer<std::int64_t> d_ids = to_device(ids);
  ForwardContext host_ctx;
  host_ctx.training = c.training;
  host_ctx.seed = 1234;
  host_ctx.epoch = 3;
  host_ctx.sample_ids = ids.data();
  host_ctx.step = 5;
  ForwardContext dev_ctx = host_ctx;
  dev_ctx.sample_ids = d_ids.data();

  const std::vector<float> x = random_vector(in_size, -1.5f, 1.5f, 7);
  std::vector<float> y(out_size);
  p.cpu->forward(x.data(), y.data(), c.n, host_ctx);
  const DeviceBuffer<float> d_x = to_device(x);
  DeviceBuffer<float> d_y(out_size);
  p.gpu->forward(d_x.data(), d_y.data(), c.n, dev_ctx);
  EXPECT_TRUE(close_max(to_host(d_y.data(), out_size), y, c.forward_bound)) << "forward y";
  if (!p.state.empty()) {
    EXPECT_TRUE(close_max(to_host(p.d_state.data(), p.state.size()), p.state, c.forward_bound)) << "state";
  }

  const std::vector<float> dy = random_vector(out_size, -1.0f, 1.0f, 8);
  std::vector<float> dy_cpu = dy, dx(in_size, 0.0f);
  p.cpu->backward(x.data(), y.data(), dy_cpu.data(), c.with_dx ? dx.data() : nullptr, c.n);
  DeviceBuffer<float> d_dy = to_device(dy), d_dx(in_size);
  p.gpu->backward(d_x.data(), d_y.data(), d_dy.data(), c.with_dx ? d_dx.data() : nullptr, c.n);
  if (c.with_dx) {
    EXPECT_TRUE(close_max(to_host(d_dx.data(), in_size), dx, c.backward_bound)) << "backward dx";
  }
  if (!p.grads.empty()) {
    EXPECT_TRUE(close_max(to_host(p.d_grads.data(), p.grads.size()), p.grads, c.backward_bound)) << "gradients";
  }
}

// The first layer of a model gets no dx: the weight gradients must not depend on it.
TEST_F(CudaTest, LayerGradientsWithoutInputGradient) {
  for (const LayerSpec& spec : {conv(8, 3, Activation::kRelu), kBatchNorm, dense(6, Activation::kLinear)}) {
    const Shape3 in{6, 5, 3};
    const int n = 4;
    LayerPair p(spec, in, n, *ctx_);
    ForwardContext ctx;
    ctx.training = true;
    const std::vector<float> x = random_vector(in.size() * n, -1.0f, 1.0f, 9);
    const std::size_t out = p.cpu->output_shape().size() * n;
    std::vector<float> y(out), dy = random_vector(out, -1.0f, 1.0f, 10);
    const DeviceBuffer<float> d_x = to_device(x);
    DeviceBuffer<float> d_y(out), d_dy = to_device(dy);
    p.cpu->forward(x.data(), y.data(), n, ctx);
    p.gpu->forward(d_x.data(), d_y.data(), n, ctx);
    p.cpu->backward(x.data(), y.data(), dy.data(), nullptr, n);
    p.gpu->backward(d_x.data(), d_y.data(), d_dy.data(), nullptr, n);
    EXPECT_TRUE(close_max(to_host(p.d_grads.data(), p.grads.size()), p.grads, 1e-3)) << keras_class_name(spec.kind);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Layers, CudaLayerParity,
    ::testing::Values(
        // Conv2D: the seed CNN's first and a middle layer, odd sizes, a 5x5 kernel, no activation.
        // The first layer gets no dx (one input channel: no backward-data algorithm asked for).
        LayerCase{"Conv1x32Relu28", conv(32, 3, Activation::kRelu), {28, 28, 1}, 8, true, 1e-4, 1e-4, false},
        // The evaluation batch of 500 on 28×28: cuDNN's N is the batch (ReLU descriptor).
        LayerCase{"Conv1x32Relu28Batch500", conv(32, 3, Activation::kRelu), {28, 28, 1}, 500, false, 1e-4, 1e-4, false},
        LayerCase{"Conv32x64Relu14", conv(64, 3, Activation::kRelu), {14, 14, 32}, 5, true, 1e-4, 1e-4},
        LayerCase{"Conv3x4Linear5x6", conv(4, 3, Activation::kLinear), {5, 6, 3}, 3, true, 1e-4, 1e-4},
        LayerCase{"Conv5x5Relu7", conv(3, 5, Activation::kRelu), {7, 7, 2}, 2, true, 1e-4, 1e-4},
        // BatchNorm: conv-sized, after Dense (per activation), a 12-value batch where
        // biased and unbiased variance differ by 9 %, and inference mode.
        LayerCase{"BatchNormTrain14", kBatchNorm, {14, 14, 32}, 4, true, 1e-4, 1e-3},
        LayerCase{"BatchNormTrainDense", kBatchNorm, {1, 1, 256}, 16, true, 1e-4, 1e-3},
        LayerCase{"BatchNormTrainTinyBatch", kBatchNorm, {2, 2, 5}, 3, true, 1e-4, 1e-3},
        LayerCase{"BatchNormTrainOneRow", kBatchNorm, {1, 1, 8}, 1, true, 1e-4, 1e-3},  // a last batch of one
        LayerCase{"BatchNormInference", kBatchNorm, {7, 7, 64}, 3, false, 1e-4, 1e-3},
        // The first BatchNorm at the evaluation batch of 500 (n·h·w = 392,000 rows: beyond
        // cuDNN's inference limit of N = 65,535 unless N is the batch), and in training
        // (392,000 terms per channel sum: a looser bound).
        LayerCase{"BatchNormInference28Batch500", kBatchNorm, {28, 28, 32}, 500, false, 1e-4, 1e-3},
        LayerCase{"BatchNormTrain28Batch500", kBatchNorm, {28, 28, 32}, 500, true, 2e-3, 2e-3},
        // MaxPool: even, odd (7 → 3, a row and a column in no window), a 3x3 window.
        LayerCase{"MaxPool28", pool(2), {28, 28, 32}, 2, true, 0.0, 0.0},
        LayerCase{"MaxPool7", pool(2), {7, 7, 128}, 3, true, 0.0, 0.0},
        LayerCase{"MaxPool3Window", pool(3), {8, 7, 2}, 2, true, 0.0, 0.0},
        // Dense: the seed CNN's two, the first from a 3x3x128 input.
        LayerCase{"Dense1152x256Relu", dense(256, Activation::kRelu), {3, 3, 128}, 16, true, 1e-4, 1e-4},
        LayerCase{"Dense256x10Logits", dense(10, Activation::kSoftmax), {1, 1, 256}, 7, true, 1e-4, 1e-4},
        // Dropout: masks bit-identical, a 9-wide row (a partial 4-group), inference = identity.
        LayerCase{"Dropout25Train", dropout(0.25f), {14, 14, 32}, 6, true, 0.0, 0.0},
        LayerCase{"Dropout50TrainTail", dropout(0.5f), {1, 1, 9}, 5, true, 0.0, 0.0},
        LayerCase{"DropoutInference", dropout(0.5f), {1, 1, 9}, 5, false, 0.0, 0.0},
        LayerCase{"Flatten", kFlatten, {3, 3, 128}, 4, true, 0.0, 0.0}),
    [](const ::testing::TestParamInfo<LayerCase>& info) { return info.param.name; });

// ---- --sync-bn: the synchronised BatchNorm path ----------------------------------------------

// One training forward and backward of a GPU layer on its own copies of the pair's weights and state.
struct GpuStep {
  std::vector<float> y, state, dx, grads;
};

GpuStep train_step(CudaLayer& layer, const LayerPair& p, const LayerCase& c, const std::vector<float>& x,
                   const std::vector<float>& dy, const ForwardContext& ctx) {
  DeviceBuffer<float> params = to_device(p.params), grads = to_device(p.grads), state = to_device(p.state);
  layer.bind(params.data(), grads.data(), state.data());
  layer.reserve(c.n + 2);
  const std::size_t in_size = x.size(), out_size = dy.size();
  const DeviceBuffer<float> d_x = to_device(x);
  DeviceBuffer<float> d_y(out_size), d_dy = to_device(dy), d_dx(in_size);
  layer.forward(d_x.data(), d_y.data(), c.n, ctx);
  GpuStep s{to_host(d_y.data(), out_size), to_host(state.data(), state.size()), {}, {}};
  layer.backward(d_x.data(), d_y.data(), d_dy.data(), d_dx.data(), c.n);
  s.dx = to_host(d_dx.data(), in_size);
  s.grads = to_host(grads.data(), grads.size());
  return s;
}

class CudaSyncBatchNorm : public CudaTest, public ::testing::WithParamInterface<LayerCase> {};

// The --sync-bn path (own kernels, the sums through a one-rank NCCL communicator: on one
// rank the totals are this rank's sums) equals the cuDNN path of the same layer and the
// CPU layer, forward (y, moving statistics) and backward (dx, dγ, dβ). N ranks on N GPUs:
// tests/mpi MpiSyncBn.CudaStep..., run by scripts/gpu_check.sh where the machine has them.
TEST_P(CudaSyncBatchNorm, OneRankSyncPathEqualsTheCudnnPath) {
  const LayerCase& c = GetParam();
  LayerPair p(kBatchNorm, c.in, c.n + 2, *ctx_);
  const std::size_t in_size = c.in.size() * c.n;
  const std::vector<float> x = random_vector(in_size, -1.5f, 1.5f, 7), dy = random_vector(in_size, -1.0f, 1.0f, 8);
  ForwardContext ctx;
  ctx.training = true;
  ctx.step = 5;

  SingleProcessCommunicator host;
  NcclCommunicator nccl(host, 30.0);
  NcclBatchNormSync sync(nccl, ctx_->stream());
  const std::unique_ptr<CudaLayer> synced = make_cuda_layer(kBatchNorm, c.in, "synced", LayerPair::kIndex, *ctx_);
  dynamic_cast<BatchNormCuda&>(*synced).set_sync(&sync);
  const GpuStep got = train_step(*synced, p, c, x, dy, ctx);
  const GpuStep cudnn = train_step(*p.gpu, p, c, x, dy, ctx);
  nccl.synchronize(ctx_->stream(), "the synchronised BatchNorm");

  std::vector<float> y(in_size), dy_cpu = dy, dx(in_size);
  p.cpu->forward(x.data(), y.data(), c.n, ctx);
  p.cpu->backward(x.data(), y.data(), dy_cpu.data(), dx.data(), c.n);
  const GpuStep cpu{y, p.state, dx, p.grads};
  for (const auto& [want, name] : {std::pair{&cudnn, "cuDNN path"}, std::pair{&cpu, "CPU layer"}}) {
    EXPECT_TRUE(close_max(got.y, want->y, c.forward_bound)) << "y vs the " << name;
    EXPECT_TRUE(close_max(got.state, want->state, c.forward_bound)) << "moving statistics vs the " << name;
    EXPECT_TRUE(close_max(got.dx, want->dx, c.backward_bound)) << "dx vs the " << name;
    EXPECT_TRUE(close_max(got.grads, want->grads, c.backward_bound)) << "dgamma, dbeta vs the " << name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaSyncBatchNorm,
    ::testing::Values(LayerCase{"Conv14", kBatchNorm, {14, 14, 32}, 4, true, 1e-4, 1e-3},
                      LayerCase{"Dense", kBatchNorm, {1, 1, 256}, 16, true, 1e-4, 1e-3},
                      LayerCase{"TinyBatch", kBatchNorm, {2, 2, 5}, 3, true, 1e-4, 1e-3},
                      LayerCase{"OneRow", kBatchNorm, {1, 1, 8}, 1, true, 1e-4, 1e-3},
                      LayerCase{"Conv28Batch500", kBatchNorm, {28, 28, 32}, 500, true, 2e-3, 2e-3}),
    [](const ::testing::TestParamInfo<LayerCase>& info) { return info.param.name; });

// Dropout keeps about 1 - rate of the units, and drops the same ones on both backends.
TEST_F(CudaTest, DropoutMaskRateAndIdentity) {
  const Shape3 in{1, 1, 1000};
  const int n = 8;
  LayerPair p(dropout(0.25f), in, n, *ctx_);
  std::vector<std::int64_t> ids{3, 1, 4, 1, 5, 9, 2, 6};  // sample 1 twice: the same mask both times
  const DeviceBuffer<std::int64_t> d_ids = to_device(ids);
  ForwardContext ctx;
  ctx.training = true;
  ctx.seed = 99;
  ctx.epoch = 1;
  ctx.sample_ids = d_ids.data();
  const std::vector<float> ones(in.size() * n, 1.0f);
  const DeviceBuffer<float> d_x = to_device(ones);
  DeviceBuffer<float> d_y(ones.size());
  p.gpu->forward(d_x.data(), d_y.data(), n, ctx);
  const std::vector<float> y = to_host(d_y.data(), ones.size());
  std::size_t kept = 0;
  for (float v : y) {
    ASSERT_TRUE(v == 0.0f || v == 1.0f / 0.75f) << v;
    kept += v != 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(kept) / y.size(), 0.75, 0.03);
  EXPECT_TRUE(std::equal(y.begin() + 1000, y.begin() + 2000, y.begin() + 3000));
}

// ---- context options ---------------------------------------------------------------------------

class CudaHeuristicTest : public CudaTest {
 protected:
  CudaOptions options() const override {
    CudaOptions o;
    o.conv_search = ConvAlgoSearch::kHeuristic;
    return o;
  }
};

// cuDNN's heuristic choice (cudnnGet*_v7) computes the same convolution.
TEST_F(CudaHeuristicTest, ConvolutionWithHeuristicAlgorithms) {
  const Shape3 in{14, 14, 32};
  const int n = 3;
  LayerPair p(conv(16, 3, Activation::kRelu), in, n, *ctx_);
  const std::vector<float> x = random_vector(in.size() * n, -1.0f, 1.0f, 11);
  const std::size_t out = p.cpu->output_shape().size() * n;
  std::vector<float> y(out);
  const DeviceBuffer<float> d_x = to_device(x);
  DeviceBuffer<float> d_y(out);
  p.cpu->forward(x.data(), y.data(), n, ForwardContext{});
  p.gpu->forward(d_x.data(), d_y.data(), n, ForwardContext{});
  EXPECT_TRUE(close_max(to_host(d_y.data(), out), y, 1e-4));
  EXPECT_NE(p.gpu->describe().find("fwd"), std::string::npos) << p.gpu->describe();
}

class CudaTf32Test : public CudaTest {
 protected:
  CudaOptions options() const override {
    CudaOptions o;
    o.tf32 = true;
    return o;
  }
};

// TF32 allowed: 10-bit mantissa products, still close (bound 1e-2) — the option works end to end.
TEST_F(CudaTf32Test, ConvolutionAndDenseWithTf32) {
  EXPECT_NE(ctx_->description().find("TF32 on"), std::string::npos) << ctx_->description();
  for (const LayerSpec& spec : {conv(64, 3, Activation::kRelu), dense(64, Activation::kRelu)}) {
    const Shape3 in{14, 14, 32};
    const int n = 4;
    LayerPair p(spec, in, n, *ctx_);
    const std::vector<float> x = random_vector(in.size() * n, -1.0f, 1.0f, 12);
    const std::size_t out = p.cpu->output_shape().size() * n;
    std::vector<float> y(out);
    const DeviceBuffer<float> d_x = to_device(x);
    DeviceBuffer<float> d_y(out);
    p.cpu->forward(x.data(), y.data(), n, ForwardContext{});
    p.gpu->forward(d_x.data(), d_y.data(), n, ForwardContext{});
    EXPECT_TRUE(close_max(to_host(d_y.data(), out), y, 1e-2)) << keras_class_name(spec.kind);
  }
}

TEST_F(CudaTest, ContextDescribesTheDevice) {
  const std::string d = ctx_->description();
  EXPECT_NE(d.find("sm_"), std::string::npos) << d;
  EXPECT_NE(d.find("cuDNN 9."), std::string::npos) << d;
  EXPECT_NE(d.find("TF32 off"), std::string::npos) << d;
  ctx_->reserve_workspace(1 << 20);
  EXPECT_GE(ctx_->workspace_size(), std::size_t{1} << 20);
  const std::vector<float> ones = to_host(ctx_->ones(300), 300);
  EXPECT_EQ(ones, std::vector<float>(300, 1.0f));
}

// ---- kernels ---------------------------------------------------------------------------------

// Random bytes images with structure (a bright disc) so that interpolation matters.
std::vector<std::uint8_t> synthetic_images(int count, int rows, int cols, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> noise(0, 60), centre(8, 19);
  std::vector<std::uint8_t> images(static_cast<std::size_t>(count) * rows * cols);
  for (int i = 0; i < count; ++i) {
    const int cy = centre(gen), cx = centre(gen);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        const int d2 = (r - cy) * (r - cy) + (c - cx) * (c - cx);
        images[(static_cast<std::size_t>(i) * rows + r) * cols + c] =
            static_cast<std::uint8_t>(d2 < 30 ? 255 - 4 * d2 : noise(gen));
      }
  }
  return images;
}

TEST_F(CudaTest, GatherAugmentsLikeTheCpu) {
  const int count = 50, rows = 28, cols = 28, pixels = rows * cols;
  const std::vector<std::uint8_t> images = synthetic_images(count, rows, cols, 21);
  std::vector<std::uint8_t> labels(count);
  for (int i = 0; i < count; ++i) labels[i] = static_cast<std::uint8_t>(i % 10);
  const std::vector<std::int64_t> ids{17, 3, 49, 0, 3, 22, 8, 31, 45, 12, 1, 38, 27, 5, 44, 9, 30};
  const int n = static_cast<int>(ids.size());
  const std::uint64_t seed = 0x1234'5678'9abcULL;
  const std::uint32_t epoch = 6;
  const AugmentRanges ranges;
  const DeviceBuffer<std::uint8_t> d_images = to_device(images), d_labels = to_device(labels);
  const DeviceBuffer<std::int64_t> d_ids = to_device(ids);
  DeviceBuffer<float> d_x(static_cast<std::size_t>(n) * pixels);
  DeviceBuffer<std::uint8_t> d_y(n);
  for (bool augment : {true, false}) {
    SCOPED_TRACE(augment ? "augmented" : "plain");
    std::vector<float> want(static_cast<std::size_t>(n) * pixels);
    for (int i = 0; i < n; ++i) {
      const std::uint8_t* src = images.data() + static_cast<std::size_t>(ids[i]) * pixels;
      float* dst = want.data() + static_cast<std::size_t>(i) * pixels;
      if (augment) {
        const Affine t = sample_affine(seed, epoch, static_cast<std::uint64_t>(ids[i]), ranges, rows, cols);
        augment_image(src, rows, cols, t, dst);
      } else {
        normalize_pixels(src, dst, pixels);
      }
    }
    gather_batch(d_images.data(), d_labels.data(), rows, cols, d_ids.data(), n, augment, seed, epoch, ranges,
                 d_x.data(), d_y.data(), ctx_->stream());
    const std::vector<float> got = to_host(d_x.data(), want.size());
    double worst = 0.0;
    std::size_t equal = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]));
      equal += got[i] == want[i];
    }
    std::cout << "  " << (augment ? "augmented" : "plain") << ": max |gpu - cpu| " << worst << ", " << equal << " of "
              << want.size() << " pixels bit-identical\n";
    if (augment)
      EXPECT_LE(worst, 1e-4);
    else
      EXPECT_EQ(got, want);
    const std::vector<std::uint8_t> y = to_host(d_y.data(), n);
    for (int i = 0; i < n; ++i) EXPECT_EQ(y[i], labels[ids[i]]);
  }
}

TEST_F(CudaTest, SoftmaxCrossEntropyMatchesTheCpuLoss) {
  const int n = 300, classes = 10;  // more rows than the kernel's threads
  std::vector<float> logits = random_vector(static_cast<std::size_t>(n) * classes, -6.0f, 6.0f, 31);
  std::vector<std::uint8_t> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = static_cast<std::uint8_t>((i * 7 + i / 10) % classes);
  for (int i = 0; i < n; i += 3) logits[static_cast<std::size_t>(i) * classes + labels[i]] += 8.0f;  // some correct
  const float scale = 1.0f / n;
  std::vector<float> dlogits(logits.size());
  std::vector<std::uint8_t> predictions(n);
  const LossSums cpu = ::mnist_ddp::softmax_cross_entropy(logits.data(), labels.data(), n, classes, dlogits.data(),
                                                          scale, predictions.data());
  const DeviceBuffer<float> d_logits = to_device(logits);
  const DeviceBuffer<std::uint8_t> d_labels = to_device(labels);
  DeviceBuffer<float> d_dlogits(logits.size());
  DeviceBuffer<std::uint8_t> d_predictions(n);
  DeviceBuffer<double> d_loss(1);
  DeviceBuffer<unsigned long long> d_correct(1), d_confusion(classes * classes);
  d_loss.zero(ctx_->stream());
  d_correct.zero(ctx_->stream());
  d_confusion.zero(ctx_->stream());
  const LossAccumulators acc{d_loss.data(), d_correct.data(), d_confusion.data()};
  // Twice: the accumulators add up.
  for (int k = 0; k < 2; ++k)
    softmax_cross_entropy(d_logits.data(), d_labels.data(), n, classes, d_dlogits.data(), scale, acc,
                          d_predictions.data(), ctx_->stream());
  EXPECT_TRUE(close_max(to_host(d_dlogits.data(), logits.size()), dlogits, 1e-6));
  EXPECT_EQ(to_host(d_predictions.data(), n), predictions);
  const double loss = to_host(d_loss.data(), 1)[0];
  EXPECT_NEAR(loss, 2 * cpu.loss, 1e-12 * 2 * cpu.loss);
  EXPECT_EQ(to_host(d_correct.data(), 1)[0], static_cast<unsigned long long>(2 * cpu.correct));
  const std::vector<unsigned long long> confusion = to_host(d_confusion.data(), classes * classes);
  std::vector<unsigned long long> want(classes * classes, 0);
  for (int i = 0; i < n; ++i) want[labels[i] * classes + predictions[i]] += 2;
  EXPECT_EQ(confusion, want);
}

TEST_F(CudaTest, OptimizerStepsMatchTheCpuOptimizer) {
  const std::size_t count = 5000;
  for (OptimizerKind kind : {OptimizerKind::kAdam, OptimizerKind::kRmsprop, OptimizerKind::kSgd}) {
    SCOPED_TRACE(to_string(kind));
    OptimizerHyper hyper;
    hyper.kind = kind;
    Optimizer cpu(hyper, count);
    CudaOptimizer gpu(hyper, count);
    ASSERT_EQ(gpu.slot_count(), cpu.slots().size());
    std::vector<float> params = random_vector(count, -1.0f, 1.0f, 41);
    DeviceBuffer<float> d_params = to_device(params), d_grads(count);
    for (int step = 0; step < 3; ++step) {
      std::vector<float> grads = random_vector(count, -0.1f, 0.1f, 42 + step);
      grads[0] = 0.0f;  // a zero gradient (Adam: 0/eps)
      d_grads.upload(grads.data(), count);
      const double lr = 0.01 / (step + 1);
      cpu.step(params.data(), grads.data(), lr);
      gpu.step(d_params.data(), d_grads.data(), lr, ctx_->stream());
    }
    EXPECT_EQ(gpu.iterations(), cpu.iterations());
    EXPECT_TRUE(close_max(to_host(d_params.data(), count), params, 1e-6)) << "parameters";
    EXPECT_TRUE(close_max(gpu.download_slots(), cpu.slots(), 1e-6)) << "slots";
  }
}

TEST_F(CudaTest, OptimizerSlotsRoundTripAndRefuseTheWrongSize) {
  OptimizerHyper hyper;
  CudaOptimizer gpu(hyper, 10);
  EXPECT_EQ(gpu.download_slots(), std::vector<float>(20, 0.0f));  // starts at zero
  const std::vector<float> slots = random_vector(20, -1.0f, 1.0f, 43);
  gpu.upload_slots(slots);
  EXPECT_EQ(gpu.download_slots(), slots);
  EXPECT_THROW(gpu.upload_slots(std::vector<float>(10)), InputError);
}

// ---- the whole model ----------------------------------------------------------------------------

// The seed CNN: one training step from the same weights and batch on both
// backends — augmentation, forward (dropout, batch statistics), loss, backward,
// an Adam update — then inference. Adam's first step moves each weight by about
// lr·g/(|g| + 3e-6): smooth in g, so gradient differences stay small in the weights.
TEST_F(CudaTest, SeedCnnTrainingStepMatchesTheCpuModel) {
  const int n = 24, max_batch = 32, rows = 28, cols = 28, pixels = rows * cols;
  const std::uint64_t seed = 77;
  const std::uint32_t epoch = 2;
  Model cpu(seed_cnn(), kMnistInput, max_batch);
  cpu.initialize(seed);
  CudaModel gpu(seed_cnn(), kMnistInput, max_batch, *ctx_);
  ASSERT_EQ(gpu.param_count(), cpu.params().size());
  ASSERT_EQ(gpu.state_count(), cpu.state().size());
  for (std::size_t i = 0; i < cpu.layers().size(); ++i) EXPECT_EQ(gpu.param_offset(i), cpu.param_offset(i));
  gpu.upload(cpu);
  const std::vector<float> initial = cpu.params();

  const std::vector<std::uint8_t> images = synthetic_images(64, rows, cols, 51);
  std::vector<std::uint8_t> labels(64);
  for (int i = 0; i < 64; ++i) labels[i] = static_cast<std::uint8_t>((i * 3) % 10);
  std::vector<std::int64_t> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = (i * 29 + 7) % 64;
  const AugmentRanges ranges;

  // CPU: the trainer's batch, forward, loss, backward, update.
  std::vector<float> x(static_cast<std::size_t>(n) * pixels);
  std::vector<std::uint8_t> y(n);
  for (int i = 0; i < n; ++i) {
    augment_image(images.data() + ids[i] * pixels, rows, cols,
                  sample_affine(seed, epoch, static_cast<std::uint64_t>(ids[i]), ranges, rows, cols),
                  x.data() + static_cast<std::size_t>(i) * pixels);
    y[i] = labels[ids[i]];
  }
  const ForwardContext cpu_ctx{true, seed, epoch, ids.data(), 0};
  const float* logits_ptr = cpu.forward(x.data(), n, cpu_ctx);
  const std::vector<float> logits(logits_ptr, logits_ptr + n * 10);
  std::vector<float> dlogits(n * 10);
  const LossSums cpu_loss =
      ::mnist_ddp::softmax_cross_entropy(logits.data(), y.data(), n, 10, dlogits.data(), 1.0f / n);
  cpu.backward(dlogits.data(), n);
  const std::vector<float> cpu_grads = cpu.grads();
  OptimizerHyper hyper;
  Optimizer cpu_opt(hyper, cpu.params().size());
  cpu_opt.step(cpu.params().data(), cpu.grads().data(), 1e-3);

  // GPU: the same through the device kernels.
  const DeviceBuffer<std::uint8_t> d_images = to_device(images), d_labels = to_device(labels);
  const DeviceBuffer<std::int64_t> d_ids = to_device(ids);
  DeviceBuffer<float> d_x(x.size()), d_dlogits(dlogits.size());
  DeviceBuffer<std::uint8_t> d_y(n);
  DeviceBuffer<double> d_loss(1);
  DeviceBuffer<unsigned long long> d_correct(1);
  d_loss.zero(ctx_->stream());
  d_correct.zero(ctx_->stream());
  gather_batch(d_images.data(), d_labels.data(), rows, cols, d_ids.data(), n, true, seed, epoch, ranges, d_x.data(),
               d_y.data(), ctx_->stream());
  ForwardContext gpu_ctx = cpu_ctx;
  gpu_ctx.sample_ids = d_ids.data();
  const float* d_logits = gpu.forward(d_x.data(), n, gpu_ctx);
  softmax_cross_entropy(d_logits, d_y.data(), n, 10, d_dlogits.data(), 1.0f / n,
                        LossAccumulators{d_loss.data(), d_correct.data(), nullptr}, nullptr, ctx_->stream());
  std::vector<std::size_t> done;
  gpu.backward(d_dlogits.data(), n, [&](std::size_t i) { done.push_back(i); });
  const std::vector<float> gpu_grads = to_host(gpu.grads(), gpu.param_count());
  CudaOptimizer gpu_opt(hyper, gpu.param_count());
  gpu_opt.step(gpu.params(), gpu.grads(), 1e-3, ctx_->stream());

  EXPECT_LE(relative_l2(to_host(d_logits, logits.size()), logits), 1e-3) << "logits";
  const double gpu_loss = to_host(d_loss.data(), 1)[0];
  EXPECT_NEAR(gpu_loss, cpu_loss.loss, 1e-4 * cpu_loss.loss);
  EXPECT_LE(std::llabs(static_cast<long long>(to_host(d_correct.data(), 1)[0]) - cpu_loss.correct), 1);
  ASSERT_EQ(done.size(), cpu.layers().size());
  for (std::size_t k = 0; k < done.size(); ++k) EXPECT_EQ(done[k], done.size() - 1 - k);  // last layer first

  EXPECT_LE(relative_l2(gpu_grads, cpu_grads), 1e-3) << "all gradients";
  for (std::size_t l = 0; l < cpu.layers().size(); ++l) {
    const std::size_t begin = cpu.param_offset(l);
    const std::size_t end = l + 1 < cpu.layers().size() ? cpu.param_offset(l + 1) : cpu_grads.size();
    if (end > begin) {
      EXPECT_LE(relative_l2(gpu_grads, cpu_grads, begin, end), 1e-2) << "layer " << l << " " << cpu.layers()[l]->name();
    }
  }

  Model back(seed_cnn(), kMnistInput, max_batch);
  gpu.download(back);
  EXPECT_LE(relative_l2(back.params(), cpu.params()), 1e-4) << "weights after the update";
  EXPECT_GT(relative_l2(back.params(), initial), 1e-4) << "the update moved the weights";
  EXPECT_LE(relative_l2(back.state(), cpu.state()), 1e-3) << "BatchNorm moving statistics";

  // Inference with the updated weights and statistics.
  const ForwardContext infer;
  const float* cpu_eval = cpu.forward(x.data(), n, infer);
  const std::vector<float> cpu_eval_logits(cpu_eval, cpu_eval + n * 10);
  EXPECT_LE(relative_l2(to_host(gpu.forward(d_x.data(), n, infer), n * 10), cpu_eval_logits), 1e-3)
      << "inference logits";
  EXPECT_FALSE(gpu.describe().empty());
}

TEST_F(CudaTest, ModelUploadDownloadRoundTripAndShapeCheck) {
  Model cpu(seed_cnn(), kMnistInput, 4);
  cpu.initialize(3);
  cpu.state() = random_vector(cpu.state().size(), 0.1f, 2.0f, 61);
  CudaModel gpu(seed_cnn(), kMnistInput, 4, *ctx_);
  gpu.upload(cpu);
  Model back(seed_cnn(), kMnistInput, 4);
  gpu.download(back);
  EXPECT_EQ(back.params(), cpu.params());
  EXPECT_EQ(back.state(), cpu.state());
  std::vector<LayerSpec> other = seed_cnn();
  other.pop_back();
  Model smaller(other, kMnistInput, 4);
  EXPECT_THROW(gpu.upload(smaller), RuntimeError);
}

// ---- error messages (no GPU needed) ----------------------------------------------------------------

// What a failing check throws: the library, its status name and message, the
// expression and file:line.
template <typename F>
std::string message_of(F f) {
  try {
    f();
  } catch (const RuntimeError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no RuntimeError";
  return {};
}

TEST(CudaCheck, CudaFailureNamesTheCallAndWhere) {
  const std::string m = message_of([] { MNIST_CUDA_CHECK(cudaSetDevice(-1)); });
  EXPECT_NE(m.find("CUDA error cuda"), std::string::npos) << m;  // e.g. cudaErrorInvalidDevice / cudaErrorNoDevice
  EXPECT_NE(m.find("cudaSetDevice(-1)"), std::string::npos) << m;
  EXPECT_NE(m.find("test_cuda_parity.cpp:"), std::string::npos) << m;
  const std::string oom = message_of([] { MNIST_CUDA_CHECK(cudaErrorMemoryAllocation); });
  EXPECT_NE(oom.find("cudaErrorMemoryAllocation (out of memory)"), std::string::npos) << oom;
}

TEST(CudaCheck, CudnnAndCublasFailuresNameTheStatus) {
  const std::string dnn = message_of([] { MNIST_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM); });
  EXPECT_NE(dnn.find("cuDNN error"), std::string::npos) << dnn;
  EXPECT_NE(dnn.find("CUDNN_STATUS_BAD_PARAM"), std::string::npos) << dnn;
  const std::string blas = message_of([] { MNIST_CUBLAS_CHECK(CUBLAS_STATUS_NOT_INITIALIZED); });
  EXPECT_NE(blas.find("cuBLAS error CUBLAS_STATUS_NOT_INITIALIZED"), std::string::npos) << blas;
  EXPECT_NE(blas.find("test_cuda_parity.cpp:"), std::string::npos) << blas;
}

TEST(CudaCheck, WarningsPrintAndNeverThrow) {
  ::testing::internal::CaptureStderr();
  MNIST_CUDA_WARN(cudaErrorInvalidValue);
  MNIST_CUDA_WARN(cudaErrorCudartUnloading);  // process exit: silent
  MNIST_CUDNN_WARN(CUDNN_STATUS_SUCCESS);
  MNIST_CUBLAS_WARN(CUBLAS_STATUS_EXECUTION_FAILED);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("warning: CUDA error cudaErrorInvalidValue"), std::string::npos) << err;
  EXPECT_EQ(err.find("Unloading"), std::string::npos) << err;
  EXPECT_NE(err.find("CUBLAS_STATUS_EXECUTION_FAILED"), std::string::npos) << err;
}

}  // namespace
}  // namespace mnist_ddp::cuda
