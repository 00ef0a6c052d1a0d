// test_cuda_shapes.cpp — the GPU backend's host-side arithmetic, on any machine.
//
// No CUDA here: these are the pieces of the GPU layers that are plain
// arithmetic, factored into host-only headers so that a machine without a GPU
// (CI) checks them:
//  - cuda/layout.hpp: NHWC strides as cuDNN sees them, layer shapes equal to
//    the CPU layers', the Keras ↔ cuDNN kernel transpose, and the column-major
//    cuBLAS calls behind each row-major product. The cuBLAS calls are checked
//    by running the very argument lists through naive column-major reference
//    implementations of sgemm, sgeam, sger and sgemv (the BLAS definitions),
//    so a swapped operand or leading dimension fails here, not only on a GPU.
//  - cuda/layout.hpp again: every layer gives cuDNN N = the batch, within
//    cuDNN's BatchNorm limits at the evaluation batch of 500 on 28×28.
//  - cuda/algo_choice.hpp: which convolution algorithms qualify (FMA only with
//    TF32 off), in which order, and the fallback to the next candidate.
//  - nn/batchnorm_math.hpp: the moving-average update applied to cuDNN's
//    saved statistics reproduces the CPU BatchNorm layer's moving averages.
//  - nn/loss_math.hpp: the loss kernel's row function equals the CPU loss.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "mnist_ddp/cuda/algo_choice.hpp"
#include "mnist_ddp/cuda/layout.hpp"
#include "mnist_ddp/nn/batchnorm_math.hpp"
#include "mnist_ddp/nn/layer.hpp"
#include "mnist_ddp/nn/loss.hpp"
#include "mnist_ddp/nn/loss_math.hpp"
#include "mnist_ddp/nn/model.hpp"

namespace mnist_ddp::cuda {
namespace {

std::vector<float> random_floats(std::size_t count, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(count);
  for (float& f : v) f = u(gen);
  return v;
}

// ---- naive column-major BLAS (the reference definitions) ----------------------------------

// C(m×n) = alpha·op(A)·op(B) + beta·C, column-major: element (i, j) at i + j·ld.
void ref_sgemm(Op ta, Op tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
               float beta, float* c, int ldc) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double s = 0.0;
      for (int p = 0; p < k; ++p) {
        const float av = ta == Op::kN ? a[i + p * lda] : a[p + i * lda];
        const float bv = tb == Op::kN ? b[p + j * ldb] : b[j + p * ldb];
        s += static_cast<double>(av) * bv;
      }
      c[i + j * ldc] = static_cast<float>(alpha * s + beta * c[i + j * ldc]);
    }
}

// C(m×n) = op(A) with op = T, column-major (cublasSgeam with beta = 0).
void ref_sgeam_transpose(int m, int n, const float* a, int lda, float* c, int ldc) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) c[i + j * ldc] = a[j + i * lda];
}

// A(m×n) += x·yᵀ, column-major (cublasSger, alpha = 1).
void ref_sger(int m, int n, const float* x, const float* y, float* a, int lda) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) a[i + j * lda] += x[i] * y[j];
}

// y(m) = A(m×n)·x, column-major (cublasSgemv N, alpha = 1, beta = 0).
void ref_sgemv(int m, int n, const float* a, int lda, const float* x, float* y) {
  for (int i = 0; i < m; ++i) {
    double s = 0.0;
    for (int j = 0; j < n; ++j) s += static_cast<double>(a[i + j * lda]) * x[j];
    y[i] = static_cast<float>(s);
  }
}

// Row-major element (r, c) of op(M) for an array with row length ld.
float row_major_at(const std::vector<float>& m, Op op, int r, int c, int ld) {
  return op == Op::kN ? m[static_cast<std::size_t>(r) * ld + c] : m[static_cast<std::size_t>(c) * ld + r];
}

// ---- tensors and shapes -----------------------------------------------------------------------

TEST(CudaLayout, NhwcDimsAreCudnnOrderWithNhwcStrides) {
  const Shape3 s{5, 7, 3};
  const Dims4 d = nhwc_dims(4, s);
  EXPECT_EQ(d.n, 4);
  EXPECT_EQ(d.c, 3);
  EXPECT_EQ(d.h, 5);
  EXPECT_EQ(d.w, 7);
  EXPECT_EQ(d.stride_c, 1);
  EXPECT_EQ(d.stride_w, 3);
  EXPECT_EQ(d.stride_h, 21);
  EXPECT_EQ(d.stride_n, 105);
  // Every element of the batch exactly once, in the CPU's ((b·h + y)·w + x)·c + ch order.
  std::size_t expect = 0;
  for (int b = 0; b < 4; ++b)
    for (int y = 0; y < s.h; ++y)
      for (int x = 0; x < s.w; ++x)
        for (int ch = 0; ch < s.c; ++ch) ASSERT_EQ(nhwc_offset(d, b, y, x, ch), expect++);
}

TEST(CudaLayout, LayerShapesEqualTheCpuModels) {
  const std::vector<LayerSpec> specs = seed_cnn();
  Model cpu(specs, kMnistInput, 2);
  const std::vector<Shape3> shapes = layer_output_shapes(specs, kMnistInput);
  ASSERT_EQ(shapes.size(), cpu.layers().size());
  for (std::size_t i = 0; i < shapes.size(); ++i)
    EXPECT_EQ(shapes[i], cpu.layers()[i]->output_shape()) << "layer " << i << " " << cpu.layers()[i]->name();
  // The 7 → 3 pooling drops a row and a column, as 'valid' pooling does.
  EXPECT_EQ(pool_output(Shape3{7, 7, 128}, 2), (Shape3{3, 3, 128}));
  EXPECT_EQ(conv_same_padding(3), 1);
  EXPECT_EQ(conv_same_padding(5), 2);
  // Odd spatial sizes, other windows.
  const std::vector<LayerSpec> odd{LayerSpec{LayerKind::kConv2D, 4, 5, Activation::kRelu},
                                   LayerSpec{LayerKind::kMaxPool, 0, 3}, LayerSpec{LayerKind::kFlatten},
                                   LayerSpec{LayerKind::kDense, 7}};
  Model small(odd, Shape3{11, 8, 2}, 1);
  const std::vector<Shape3> odd_shapes = layer_output_shapes(odd, Shape3{11, 8, 2});
  for (std::size_t i = 0; i < odd.size(); ++i) EXPECT_EQ(odd_shapes[i], small.layers()[i]->output_shape());
}

TEST(CudaLayout, ActivationMemoryOfTheSeedCnn) {
  const std::vector<LayerSpec> specs = seed_cnn();
  std::size_t outputs = 0, widest = kMnistInput.size();
  for (const Shape3& s : layer_output_shapes(specs, kMnistInput)) {
    outputs += s.size();
    widest = std::max(widest, s.size());
  }
  EXPECT_EQ(widest, 28u * 28 * 32);
  EXPECT_EQ(model_activation_floats(specs, kMnistInput, 64), 64 * (outputs + 2 * widest));
  // 60.5 MB per 64 images (four 28x28x32 layer outputs dominate): far below a GPU's memory.
  EXPECT_EQ(model_activation_floats(specs, kMnistInput, 64) * sizeof(float), 60492288u);
}

TEST(CudaLayout, GridSizeCoversAndCaps) {
  EXPECT_EQ(grid_size(1, 256), 1);
  EXPECT_EQ(grid_size(256, 256), 1);
  EXPECT_EQ(grid_size(257, 256), 2);
  EXPECT_EQ(grid_size(0, 256), 1);
  EXPECT_EQ(grid_size(std::size_t{1} << 40, 256, 4096), 4096);
}

// ---- the Keras ↔ cuDNN kernel transpose -----------------------------------------------------

TEST(CudaLayout, KernelTransposeThroughSgeamArguments) {
  const int kh = 3, kw = 3, cin = 5, cout = 7, patch = kh * kw * cin;
  const std::vector<float> keras = random_floats(static_cast<std::size_t>(patch) * cout, 1);
  // Keras (patch × cout) row-major → cuDNN (cout × patch) row-major, as Conv2DCuda::forward calls sgeam.
  std::vector<float> filter(keras.size(), 0.0f);
  const ColumnMajorTranspose t = row_major_transpose(patch, cout);
  ref_sgeam_transpose(t.m, t.n, keras.data(), t.lda, filter.data(), t.ldc);
  for (int ky = 0; ky < kh; ++ky)
    for (int kx = 0; kx < kw; ++kx)
      for (int ci = 0; ci < cin; ++ci)
        for (int co = 0; co < cout; ++co)
          ASSERT_EQ(filter[cudnn_filter_index(ky, kx, ci, co, kh, kw, cin)],
                    keras[keras_kernel_index(ky, kx, ci, co, kw, cin, cout)]);
  // And back, as backward transposes the filter gradient.
  std::vector<float> back(keras.size(), 0.0f);
  const ColumnMajorTranspose b = row_major_transpose(cout, patch);
  ref_sgeam_transpose(b.m, b.n, filter.data(), b.lda, back.data(), b.ldc);
  EXPECT_EQ(back, keras);
}

// ---- row-major products as column-major calls -------------------------------------------------

TEST(CudaLayout, RowMajorGemmAsColumnMajorCallAllTransposes) {
  const int M = 5, N = 7, K = 3;
  for (Op op_a : {Op::kN, Op::kT})
    for (Op op_b : {Op::kN, Op::kT}) {
      SCOPED_TRACE(::testing::Message() << "op(A) " << (op_a == Op::kT ? "T" : "N") << ", op(B) "
                                        << (op_b == Op::kT ? "T" : "N"));
      // Stored row-major with padded rows (ld > the row length) to catch ld mix-ups.
      const int a_rows = op_a == Op::kN ? M : K, a_cols = op_a == Op::kN ? K : M, lda = a_cols + 2;
      const int b_rows = op_b == Op::kN ? K : N, b_cols = op_b == Op::kN ? N : K, ldb = b_cols + 1;
      const int ldc = N + 3;
      const std::vector<float> a = random_floats(static_cast<std::size_t>(a_rows) * lda, 2);
      const std::vector<float> b = random_floats(static_cast<std::size_t>(b_rows) * ldb, 3);
      std::vector<float> c(static_cast<std::size_t>(M) * ldc, 0.0f);
      const ColumnMajorGemm g = row_major_gemm(op_a, op_b, M, N, K, lda, ldb, ldc);
      ref_sgemm(g.op_first, g.op_second, g.m, g.n, g.k, 1.0f, b.data(), g.ld_first, a.data(), g.ld_second, 0.0f,
                c.data(), g.ldc);
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
          double want = 0.0;
          for (int p = 0; p < K; ++p)
            want += static_cast<double>(row_major_at(a, op_a, i, p, lda)) * row_major_at(b, op_b, p, j, ldb);
          ASSERT_NEAR(c[static_cast<std::size_t>(i) * ldc + j], want, 1e-5) << "C(" << i << ", " << j << ")";
        }
    }
}

// The three products of Dense, with its exact argument lists (dense.cpp).
TEST(CudaLayout, DenseProductsForwardAndBackward) {
  const int n = 4, in = 6, out = 3;
  const std::vector<float> x = random_floats(static_cast<std::size_t>(n) * in, 4);
  const std::vector<float> w = random_floats(static_cast<std::size_t>(in) * out, 5);
  const std::vector<float> dy = random_floats(static_cast<std::size_t>(n) * out, 6);
  auto run = [](Op oa, Op ob, int M, int N, int K, const std::vector<float>& a, int lda, const std::vector<float>& b,
                int ldb, int ldc) {
    std::vector<float> c(static_cast<std::size_t>(M) * ldc, 0.0f);
    const ColumnMajorGemm g = row_major_gemm(oa, ob, M, N, K, lda, ldb, ldc);
    ref_sgemm(g.op_first, g.op_second, g.m, g.n, g.k, 1.0f, b.data(), g.ld_first, a.data(), g.ld_second, 0.0f,
              c.data(), g.ldc);
    return c;
  };
  const std::vector<float> y = run(Op::kN, Op::kN, n, out, in, x, in, w, out, out);
  const std::vector<float> dw = run(Op::kT, Op::kN, in, out, n, x, in, dy, out, out);
  const std::vector<float> dx = run(Op::kN, Op::kT, n, in, out, dy, out, w, out, in);
  for (int r = 0; r < n; ++r)
    for (int o = 0; o < out; ++o) {
      double s = 0.0;
      for (int i = 0; i < in; ++i) s += static_cast<double>(x[r * in + i]) * w[i * out + o];
      EXPECT_NEAR(y[r * out + o], s, 1e-5);
    }
  for (int i = 0; i < in; ++i)
    for (int o = 0; o < out; ++o) {
      double s = 0.0;
      for (int r = 0; r < n; ++r) s += static_cast<double>(x[r * in + i]) * dy[r * out + o];
      EXPECT_NEAR(dw[i * out + o], s, 1e-5);
    }
  for (int r = 0; r < n; ++r)
    for (int i = 0; i < in; ++i) {
      double s = 0.0;
      for (int o = 0; o < out; ++o) s += static_cast<double>(dy[r * out + o]) * w[i * out + o];
      EXPECT_NEAR(dx[r * in + i], s, 1e-5);
    }
}

TEST(CudaLayout, BiasBroadcastAndColumnSums) {
  const int rows = 9, cols = 4;
  const std::vector<float> bias = random_floats(cols, 7);
  const std::vector<float> ones(rows, 1.0f);
  std::vector<float> y = random_floats(static_cast<std::size_t>(rows) * cols, 8);
  const std::vector<float> before = y;
  const ColumnMajorRows r = row_major_rows(rows, cols);
  ref_sger(r.m, r.n, bias.data(), ones.data(), y.data(), r.lda);
  for (int i = 0; i < rows; ++i)
    for (int c = 0; c < cols; ++c) EXPECT_FLOAT_EQ(y[i * cols + c], before[i * cols + c] + bias[c]);
  std::vector<float> sums(cols, 0.0f);
  ref_sgemv(r.m, r.n, before.data(), r.lda, ones.data(), sums.data());
  for (int c = 0; c < cols; ++c) {
    double s = 0.0;
    for (int i = 0; i < rows; ++i) s += before[i * cols + c];
    EXPECT_NEAR(sums[c], s, 1e-5);
  }
}

// ---- the cuDNN view of each layer, at the batch sizes training and evaluation use ---------

// Every layer of the seed CNN gives cuDNN N = the batch (never n·h·w), so BatchNorm
// stays within cuDNN's limits at the evaluation batch of 500 on 28×28 (where the
// rows view would ask for N = 392,000) and at the training batch of 128.
TEST(CudaLayout, SeedCnnDescriptorsKeepTheBatchInN) {
  const std::vector<LayerSpec> specs = seed_cnn();
  for (const int n : {1, 128, 500}) {
    const ModelLayout layout(specs, kMnistInput);
    for (const LayerLayout& layer : layout.layers()) {
      const LayerSpec& spec = layer.spec;
      for (const Shape3 s : {layer.input, layer.output}) {
        const Dims4 d = view_dims(layer_tensor_view(spec.kind), n, s);
        EXPECT_EQ(d.n, n) << keras_class_name(spec.kind);
        EXPECT_EQ(d.c, s.c);
        EXPECT_EQ(d.h, s.h);
        EXPECT_EQ(d.w, s.w);
        EXPECT_EQ(d.stride_c, 1);  // NHWC
        EXPECT_EQ(d.stride_n, static_cast<int>(s.size()));
        if (spec.kind == LayerKind::kBatchNorm) {
          EXPECT_TRUE(cudnn_batchnorm_supports(d, false)) << "inference at batch " << n;
          EXPECT_TRUE(cudnn_batchnorm_supports(d, true)) << "training at batch " << n;
        }
      }
    }
  }
}

TEST(CudaLayout, BatchNormAt500On28x28) {
  const Shape3 s{28, 28, 32};  // the first BatchNorm's input
  const Dims4 d = view_dims(layer_tensor_view(LayerKind::kBatchNorm), 500, s);
  EXPECT_EQ(d.n, 500);
  EXPECT_EQ(d.c, 32);
  EXPECT_EQ(d.h, 28);
  EXPECT_EQ(d.w, 28);
  EXPECT_EQ(d.stride_n, 28 * 28 * 32);
  EXPECT_EQ(d.stride_h, 28 * 32);
  EXPECT_EQ(d.stride_w, 32);
  EXPECT_EQ(d.stride_c, 1);
  EXPECT_TRUE(cudnn_batchnorm_supports(d, false));
  // The rows view of the same batch: what cuDNN's inference refuses.
  const Dims4 rows = view_dims(TensorView::kRows, 500, s);
  EXPECT_EQ(rows.n, 392000);
  EXPECT_EQ(rows.c, 32);
  EXPECT_FALSE(cudnn_batchnorm_supports(rows, false));
  EXPECT_TRUE(cudnn_batchnorm_supports(rows, true));  // training allows up to 880,801
  EXPECT_TRUE(cudnn_batchnorm_supports(view_dims(TensorView::kNhwc, kCudnnBatchNormInferenceMaxN, s), false));
  EXPECT_FALSE(cudnn_batchnorm_supports(view_dims(TensorView::kNhwc, kCudnnBatchNormInferenceMaxN + 1, s), false));
}

// ---- convolution algorithm choice (algo_choice.hpp) -------------------------------------------

AlgoResult perf(int algo, ConvMath math, std::size_t memory = 0, bool deterministic = true, bool ok = true) {
  return AlgoResult{algo, ok, memory, math, deterministic};
}

std::vector<int> algos(const std::vector<AlgoResult>& v) {
  std::vector<int> out;
  for (const AlgoResult& r : v) out.push_back(r.algo);
  return out;
}

TEST(CudaAlgoChoice, Tf32OffKeepsOnlyFmaResults) {
  // Find's list, fastest first: a TF32 kernel, a DEFAULT-math one (TF32 permitted on
  // Ampere and later), then FMA ones.
  const std::vector<AlgoResult> list = {perf(1, ConvMath::kTensorOp), perf(6, ConvMath::kDefault),
                                        perf(0, ConvMath::kFma), perf(2, ConvMath::kFma)};
  const std::vector<AlgoResult> c = algo_candidates(list, AlgoPolicy{false, false, 1 << 20});
  EXPECT_EQ(algos(c), (std::vector<int>{0, 2}));
  for (const AlgoResult& r : c) EXPECT_EQ(r.math, ConvMath::kFma);  // the timed kernel's own math
  // With TF32 allowed: cuDNN's order, each with its own math type.
  const std::vector<AlgoResult> t = algo_candidates(list, AlgoPolicy{true, false, 1 << 20});
  EXPECT_EQ(algos(t), (std::vector<int>{1, 6, 0, 2}));
  EXPECT_EQ(t[0].math, ConvMath::kTensorOp);
  EXPECT_EQ(t[1].math, ConvMath::kDefault);
}

TEST(CudaAlgoChoice, FailedAndOversizedResultsAreSkipped) {
  const std::vector<AlgoResult> list = {perf(1, ConvMath::kFma, 0, true, false), perf(5, ConvMath::kFma, 4096),
                                        perf(0, ConvMath::kFma, 1024), perf(-1, ConvMath::kFma)};
  EXPECT_EQ(algos(algo_candidates(list, AlgoPolicy{false, false, 1024})), (std::vector<int>{0}));
  EXPECT_EQ(algos(algo_candidates(list, AlgoPolicy{false, false, 4096})), (std::vector<int>{5, 0}));
  EXPECT_TRUE(algo_candidates(list, AlgoPolicy{false, false, 512}).empty());
  EXPECT_TRUE(algo_candidates({perf(0, ConvMath::kDefault)}, AlgoPolicy{false, false, 0}).empty());
}

TEST(CudaAlgoChoice, DeterministicFirstWhenAskedAndNoDuplicates) {
  const std::vector<AlgoResult> list = {perf(3, ConvMath::kFma, 0, false), perf(0, ConvMath::kFma),
                                        perf(3, ConvMath::kFma, 0, false), perf(1, ConvMath::kFma)};
  EXPECT_EQ(algos(algo_candidates(list, AlgoPolicy{false, true, 0})), (std::vector<int>{0, 1, 3}));
  EXPECT_EQ(algos(algo_candidates(list, AlgoPolicy{false, false, 0})), (std::vector<int>{3, 0, 1}));
}

// A NOT_SUPPORTED candidate gives way to the next, in order, until none is left.
TEST(CudaAlgoChoice, AdvanceWalksTheCandidates) {
  AlgoChoice c;
  EXPECT_FALSE(c.chosen());
  c.rest = algo_candidates({perf(2, ConvMath::kFma, 8), perf(0, ConvMath::kFma)}, AlgoPolicy{false, false, 64});
  ASSERT_TRUE(c.advance());
  EXPECT_TRUE(c.chosen());
  EXPECT_EQ(c.current.algo, 2);
  c.workspace = 8;
  ASSERT_TRUE(c.advance());
  EXPECT_EQ(c.current.algo, 0);
  EXPECT_EQ(c.workspace, 0u);
  EXPECT_FALSE(c.advance());
  EXPECT_EQ(c.current.algo, 0);  // unchanged when none is left
}

// ---- BatchNorm moving averages ------------------------------------------------------------

// The CPU layer's moving statistics after training steps, against the GPU rule:
// cuDNN's saved mean and 1/sqrt(var + eps) (computed here in float, as cuDNN
// stores them) through variance_from_invstd and moving_average. A small batch
// (12 values per channel) makes the biased/unbiased difference 9 %, so using
// the unbiased variance (cuDNN's own running update) would fail.
TEST(CudaBatchNormMath, MovingAveragesFromSavedStatisticsMatchTheCpuLayer) {
  const Shape3 in{2, 2, 5};
  const int n = 3;
  const float eps = 1e-3f, momentum = 0.99f;
  auto layer = make_cpu_layer(LayerSpec{LayerKind::kBatchNorm}, in, "bn", 0);
  std::vector<float> params(layer->param_count()), grads(layer->param_count()), state(layer->state_count());
  layer->bind(params.data(), grads.data(), state.data());
  layer->initialize(0, 0);
  const int c = in.c;
  std::vector<float> gpu_mean(state.begin(), state.begin() + c), gpu_var(state.begin() + c, state.end());
  const std::size_t rows = static_cast<std::size_t>(n) * in.h * in.w;
  std::vector<float> y(rows * c);
  for (std::int64_t step = 0; step < 4; ++step) {
    // Channel j has variance growing with j, from 1e-4 (below eps) to O(1).
    std::vector<float> x = random_floats(rows * c, 10 + step);
    for (std::size_t r = 0; r < rows; ++r)
      for (int j = 0; j < c; ++j) x[r * c + j] = x[r * c + j] * std::pow(10.0f, static_cast<float>(j) / 2 - 2) + j;
    ForwardContext ctx;
    ctx.training = true;
    ctx.step = step;
    layer->forward(x.data(), y.data(), n, ctx);
    const float m = static_cast<float>(debiased_momentum(momentum, step));
    for (int j = 0; j < c; ++j) {
      double sum = 0.0, sq = 0.0;
      for (std::size_t r = 0; r < rows; ++r) {
        sum += x[r * c + j];
        sq += static_cast<double>(x[r * c + j]) * x[r * c + j];
      }
      const double mean = sum / rows, var = sq / rows - mean * mean;
      const float invstd = static_cast<float>(1.0 / std::sqrt(var + eps));  // what cuDNN saves
      EXPECT_NEAR(variance_from_invstd(invstd, eps), var, 2e-6 * (var + eps)) << "channel " << j;
      gpu_mean[j] = moving_average(gpu_mean[j], static_cast<float>(mean), m);
      gpu_var[j] = moving_average(gpu_var[j], static_cast<float>(variance_from_invstd(invstd, eps)), m);
    }
    for (int j = 0; j < c; ++j) {
      EXPECT_NEAR(gpu_mean[j], state[j], 1e-6 * (1.0 + std::fabs(state[j]))) << "step " << step << " channel " << j;
      EXPECT_NEAR(gpu_var[j], state[c + j], 1e-5 * (state[c + j] + eps)) << "step " << step << " channel " << j;
    }
  }
  // The debiased momentum makes the first update take the batch statistics whole.
  EXPECT_EQ(debiased_momentum(momentum, 0), 0.0);
}

// A constant channel (variance 0) saves invstd = 1/sqrt(eps) up to rounding: the
// recovered variance is 0 up to rounding and never negative.
TEST(CudaBatchNormMath, VarianceFromInvstdNeverNegative) {
  float invstd = 1.0f / std::sqrt(1e-3f);
  for (int i = 0; i < 5; ++i) invstd = std::nextafter(invstd, 0.0f);
  for (int i = 0; i < 10; ++i, invstd = std::nextafter(invstd, 1e9f)) {
    const double var = variance_from_invstd(invstd, 1e-3f);
    EXPECT_GE(var, 0.0);
    EXPECT_LT(var, 1e-8);
  }
  EXPECT_EQ(variance_from_invstd(1.01f / std::sqrt(1e-3f), 1e-3f), 0.0);
}

// ---- loss ----------------------------------------------------------------------------------

TEST(CudaLossMath, RowFunctionEqualsTheCpuLoss) {
  const int n = 23, classes = 10;
  std::vector<float> logits = random_floats(static_cast<std::size_t>(n) * classes, 20, -8.0f, 8.0f);
  logits[3 * classes + 4] = logits[3 * classes + 7] = 20.0f;  // a tie: the first maximum wins
  std::vector<std::uint8_t> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = static_cast<std::uint8_t>((i * 7) % classes);
  std::vector<float> d_cpu(logits.size()), d_row(logits.size());
  std::vector<std::uint8_t> pred(n);
  const LossSums cpu =
      softmax_cross_entropy(logits.data(), labels.data(), n, classes, d_cpu.data(), 0.25f, pred.data());
  double loss = 0.0;
  std::int64_t correct = 0;
  for (int i = 0; i < n; ++i) {
    const RowLoss r =
        softmax_xent_row(logits.data() + i * classes, classes, labels[i], d_row.data() + i * classes, 0.25f);
    loss += r.loss;
    correct += r.predicted == labels[i];
    EXPECT_EQ(r.predicted, pred[i]) << "row " << i;
  }
  EXPECT_EQ(pred[3], 4);
  EXPECT_EQ(loss, cpu.loss);
  EXPECT_EQ(correct, cpu.correct);
  EXPECT_EQ(d_row, d_cpu);
}

}  // namespace
}  // namespace mnist_ddp::cuda
