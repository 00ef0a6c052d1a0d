// conv2d.cpp — Conv2D on the GPU: cuDNN convolutions, cuBLAS bias and kernel transposes.
#include "mnist_ddp/cuda/conv2d.hpp"

#include <sstream>
#include <vector>

#include "mnist_ddp/cuda/layout.hpp"

namespace mnist_ddp::cuda {

namespace {

const char* const kFwdNames[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT",
                                 "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
const char* const kBwdFilterNames[] = {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED",
                                       "FFT_TILING"};
const char* const kBwdDataNames[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};

template <std::size_t N>
const char* algo_name(const char* const (&names)[N], int algo) {
  return algo >= 0 && static_cast<std::size_t>(algo) < N ? names[algo] : "?";
}

bool tensor_op_math(cudnnMathType_t m) {
  return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

struct Picked {
  int algo;
  cudnnMathType_t math;
  std::size_t memory;
  bool deterministic;
};

// The first acceptable result (cuDNN lists them fastest / most promising first):
// succeeded, fits the workspace limit, no TF32 unless allowed; deterministic
// ones first when asked. Throws if none is acceptable.
template <typename Perf>
Picked pick(const std::vector<Perf>& results, int returned, const CudaOptions& options, const std::string& what) {
  for (int pass = options.deterministic ? 0 : 1; pass < 2; ++pass) {
    for (int i = 0; i < returned; ++i) {
      const Perf& r = results[i];
      if (r.status != CUDNN_STATUS_SUCCESS || r.memory > options.workspace_limit) continue;
      if (!options.tf32 && tensor_op_math(r.mathType)) continue;
      const bool deterministic = r.determinism == CUDNN_DETERMINISTIC;
      if (pass == 0 && !deterministic) continue;
      return Picked{static_cast<int>(r.algo), options.tf32 ? r.mathType : CUDNN_FMA_MATH, r.memory, deterministic};
    }
  }
  std::ostringstream s;
  for (int i = 0; i < returned; ++i)
    s << " [algo " << static_cast<int>(results[i].algo) << ": " << cudnnGetErrorString(results[i].status) << ", "
      << results[i].memory << " B, math " << static_cast<int>(results[i].mathType) << "]";
  MNIST_CHECK(false, RuntimeError,
              "cuDNN offers no usable " << what << " algorithm (workspace limit " << options.workspace_limit
                                        << " B, TF32 " << (options.tf32 ? "on" : "off") << "):" << s.str());
  return Picked{};  // not reached
}

}  // namespace

Conv2DCuda::Conv2DCuda(const LayerLayout& layout, Activation act, CudaContext& ctx)
    : CudaLayer(layout, ctx),
      k_(layout.spec.kernel), cin_(layout.input.c), cout_(layout.spec.units), act_(act, ctx),
      x_desc_(layout.input, BatchDescriptors::View::kNhwc),
      y_desc_(layout.output, BatchDescriptors::View::kNhwc),
      y_rows_(layout.output, BatchDescriptors::View::kRows) {
  MNIST_ASSERT(k_ % 2 == 1, "'same' convolution needs an odd kernel");
  const int pad = conv_same_padding(k_);
  MNIST_CUDNN_CHECK(cudnnSetFilter4dDescriptor(filter_desc_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, cout_, cin_, k_, k_));
  MNIST_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_desc_, pad, pad, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                                    CUDNN_DATA_FLOAT));
  use_math(ctx.cudnn_math());
}

void Conv2DCuda::bind(float* params, float* grads, float*) {
  w_ = params;
  b_ = params + kernel_count();
  dw_ = grads;
  db_ = grads + kernel_count();
}

void Conv2DCuda::reserve(int max_batch) {
  max_batch_ = max_batch;
  filter_.reset(kernel_count());
  dfilter_.reset(kernel_count());
  // The in-place transposes pass their output as the (unread, beta = 0) second
  // operand: keep it free of NaN patterns all the same.
  filter_.zero(stream());
  dfilter_.zero(stream());
  context().ones(static_cast<std::size_t>(max_batch) * input_shape().h * input_shape().w);
}

void Conv2DCuda::use_math(cudnnMathType_t math) { MNIST_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_desc_, math)); }

Conv2DCuda::Plan& Conv2DCuda::plan(int n) {
  MNIST_ASSERT(n > 0 && n <= max_batch_, name() << ": batch of " << n << " (reserved " << max_batch_ << ")");
  return plans_[n];
}

void Conv2DCuda::choose_forward(int n, Plan& p) {
  CudaContext& ctx = context();
  const CudaOptions& o = ctx.options();
  cudnnTensorDescriptor_t x = x_desc_.get(n), y = y_desc_.get(n);
  use_math(ctx.cudnn_math());
  int count = 0, returned = 0;
  MNIST_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(ctx.cudnn(), &count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> results(count);
  if (o.conv_search == ConvAlgoSearch::kMeasure) {
    MNIST_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(ctx.cudnn(), x, filter_desc_, conv_desc_, y, count,
                                                           &returned, results.data()));
  } else {
    MNIST_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(ctx.cudnn(), x, filter_desc_, conv_desc_, y, count,
                                                             &returned, results.data()));
  }
  const Picked r = pick(results, returned, o, name() + " forward");
  p.fwd = Choice{r.algo, r.math, r.memory, r.deterministic};
  use_math(p.fwd.math);
  MNIST_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(ctx.cudnn(), x, filter_desc_, conv_desc_, y,
                                                            static_cast<cudnnConvolutionFwdAlgo_t>(p.fwd.algo),
                                                            &p.fwd.workspace));
  ctx.reserve_workspace(p.fwd.workspace);
}

void Conv2DCuda::choose_backward_data(int n, Plan& p) {
  CudaContext& ctx = context();
  const CudaOptions& o = ctx.options();
  cudnnTensorDescriptor_t x = x_desc_.get(n), y = y_desc_.get(n);
  use_math(ctx.cudnn_math());
  int count = 0, returned = 0;
  MNIST_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(ctx.cudnn(), &count));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> results(count);
  if (o.conv_search == ConvAlgoSearch::kMeasure) {
    MNIST_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(ctx.cudnn(), filter_desc_, y, conv_desc_, x, count,
                                                                &returned, results.data()));
  } else {
    MNIST_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(ctx.cudnn(), filter_desc_, y, conv_desc_, x, count,
                                                                  &returned, results.data()));
  }
  const Picked r = pick(results, returned, o, name() + " backward-data");
  p.bwd_data = Choice{r.algo, r.math, r.memory, r.deterministic};
  use_math(p.bwd_data.math);
  MNIST_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
      ctx.cudnn(), filter_desc_, y, conv_desc_, x, static_cast<cudnnConvolutionBwdDataAlgo_t>(p.bwd_data.algo),
      &p.bwd_data.workspace));
  ctx.reserve_workspace(p.bwd_data.workspace);
}

void Conv2DCuda::choose_backward_filter(int n, Plan& p) {
  CudaContext& ctx = context();
  const CudaOptions& o = ctx.options();
  cudnnTensorDescriptor_t x = x_desc_.get(n), y = y_desc_.get(n);
  use_math(ctx.cudnn_math());
  int count = 0, returned = 0;
  MNIST_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(ctx.cudnn(), &count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> results(count);
  if (o.conv_search == ConvAlgoSearch::kMeasure) {
    MNIST_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(ctx.cudnn(), x, y, conv_desc_, filter_desc_, count,
                                                                  &returned, results.data()));
  } else {
    MNIST_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(ctx.cudnn(), x, y, conv_desc_, filter_desc_,
                                                                    count, &returned, results.data()));
  }
  const Picked r = pick(results, returned, o, name() + " backward-filter");
  p.bwd_filter = Choice{r.algo, r.math, r.memory, r.deterministic};
  use_math(p.bwd_filter.math);
  MNIST_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
      ctx.cudnn(), x, y, conv_desc_, filter_desc_, static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.bwd_filter.algo),
      &p.bwd_filter.workspace));
  ctx.reserve_workspace(p.bwd_filter.workspace);
}

void Conv2DCuda::forward(const float* x, float* y, int n, const ForwardContext&) {
  CudaContext& ctx = context();
  Plan& p = plan(n);
  if (!p.fwd.chosen()) choose_forward(n, p);
  const float one = 1.0f, zero = 0.0f;
  // Keras kernel (P = kh·kw·cin rows, cout columns) → cuDNN filter (cout rows, P columns).
  const int patch = k_ * k_ * cin_;
  const ColumnMajorTranspose t = row_major_transpose(patch, cout_);
  MNIST_CUBLAS_CHECK(cublasSgeam(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, t.m, t.n, &one, w_, t.lda, &zero,
                                 filter_.data(), t.ldc, filter_.data(), t.ldc));
  cudnnTensorDescriptor_t xd = x_desc_.get(n), yd = y_desc_.get(n);
  use_math(p.fwd.math);
  MNIST_CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &one, xd, x, filter_desc_, filter_.data(), conv_desc_,
                                            static_cast<cudnnConvolutionFwdAlgo_t>(p.fwd.algo), ctx.workspace(),
                                            ctx.workspace_size(), &zero, yd, y));
  // y(rows × cout) += 1 · bᵀ
  const int rows = n * input_shape().h * input_shape().w;
  const ColumnMajorRows r = row_major_rows(rows, cout_);
  MNIST_CUBLAS_CHECK(cublasSger(ctx.cublas(), r.m, r.n, &one, b_, 1, ctx.ones(rows), 1, y, r.lda));
  act_.forward(y_rows_.get(n), y);
}

void Conv2DCuda::backward(const float* x, const float* y, float* dy, float* dx, int n) {
  CudaContext& ctx = context();
  Plan& p = plan(n);
  MNIST_ASSERT(p.fwd.chosen(), name() << ": backward without a forward of " << n << " samples");
  if (!p.bwd_filter.chosen()) choose_backward_filter(n, p);
  const float one = 1.0f, zero = 0.0f;
  cudnnTensorDescriptor_t xd = x_desc_.get(n), yd = y_desc_.get(n);
  act_.backward(y_rows_.get(n), y, dy);
  // db = dyᵀ · 1 over the rows.
  const int rows = n * input_shape().h * input_shape().w;
  const ColumnMajorRows r = row_major_rows(rows, cout_);
  MNIST_CUBLAS_CHECK(cublasSgemv(ctx.cublas(), CUBLAS_OP_N, r.m, r.n, &one, dy, r.lda, ctx.ones(rows), 1, &zero, db_,
                                 1));
  // dW in cuDNN's layout, then transposed into the Keras layout of the gradient buffer.
  use_math(p.bwd_filter.math);
  MNIST_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      ctx.cudnn(), &one, xd, x, yd, dy, conv_desc_, static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.bwd_filter.algo),
      ctx.workspace(), ctx.workspace_size(), &zero, filter_desc_, dfilter_.data()));
  const int patch = k_ * k_ * cin_;
  const ColumnMajorTranspose t = row_major_transpose(cout_, patch);
  MNIST_CUBLAS_CHECK(cublasSgeam(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, t.m, t.n, &one, dfilter_.data(), t.lda,
                                 &zero, dw_, t.ldc, dw_, t.ldc));
  if (dx == nullptr) return;  // the first layer: no data gradient, no algorithm for it
  if (!p.bwd_data.chosen()) choose_backward_data(n, p);
  // The filter transposed by this batch's forward is still current (no update in between).
  use_math(p.bwd_data.math);
  MNIST_CUDNN_CHECK(cudnnConvolutionBackwardData(
      ctx.cudnn(), &one, filter_desc_, filter_.data(), yd, dy, conv_desc_,
      static_cast<cudnnConvolutionBwdDataAlgo_t>(p.bwd_data.algo), ctx.workspace(), ctx.workspace_size(), &zero, xd,
      dx));
}

std::string Conv2DCuda::describe() const {
  std::ostringstream s;
  bool first = true;
  auto choice = [&s](const char* what, const char* algo, const Choice& c) {
    const char* math = c.math == CUDNN_FMA_MATH ? "FMA" : tensor_op_math(c.math) ? "tensor-op" : "default math";
    s << what << ' ' << algo << " (" << math << ", " << c.workspace
      << " B" << (c.deterministic ? "" : ", non-deterministic") << ')';
  };
  for (const auto& [n, p] : plans_) {
    s << (first ? "" : "; ") << "batch " << n << ": ";
    first = false;
    choice("fwd", algo_name(kFwdNames, p.fwd.algo), p.fwd);
    if (p.bwd_filter.chosen()) {
      s << ", ";
      choice("bwd-filter", algo_name(kBwdFilterNames, p.bwd_filter.algo), p.bwd_filter);
    }
    if (p.bwd_data.chosen()) {
      s << ", ";
      choice("bwd-data", algo_name(kBwdDataNames, p.bwd_data.algo), p.bwd_data);
    }
  }
  return s.str();
}

}  // namespace mnist_ddp::cuda
