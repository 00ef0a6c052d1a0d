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

ConvMath from_cudnn(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_FMA_MATH: return ConvMath::kFma;
    case CUDNN_DEFAULT_MATH: return ConvMath::kDefault;
    default: return ConvMath::kTensorOp;  // TENSOR_OP_MATH, TENSOR_OP_MATH_ALLOW_CONVERSION
  }
}

cudnnMathType_t to_cudnn(ConvMath m) {
  switch (m) {
    case ConvMath::kFma: return CUDNN_FMA_MATH;
    case ConvMath::kDefault: return CUDNN_DEFAULT_MATH;
    case ConvMath::kTensorOp: return CUDNN_TENSOR_OP_MATH;
  }
  return CUDNN_FMA_MATH;
}

template <typename Perf>
std::vector<AlgoResult> algo_results(const std::vector<Perf>& perf, int returned) {
  std::vector<AlgoResult> out;
  for (int i = 0; i < returned; ++i) {
    const Perf& r = perf[i];
    out.push_back(AlgoResult{static_cast<int>(r.algo), r.status == CUDNN_STATUS_SUCCESS, r.memory,
                             from_cudnn(r.mathType), r.determinism == CUDNN_DETERMINISTIC});
  }
  return out;
}

template <typename Perf>
std::string listing(const std::vector<Perf>& perf, int returned) {
  std::ostringstream s;
  for (int i = 0; i < returned; ++i)
    s << " [algo " << static_cast<int>(perf[i].algo) << ": " << cudnnGetErrorString(perf[i].status) << ", "
      << perf[i].memory << " B, math " << static_cast<int>(perf[i].mathType) << "]";
  return s.str();
}

// Makes the first candidate from c.current on whose workspace query succeeds (with
// its own math type set) the choice; NOT_SUPPORTED passes on to the next one.
template <typename Query>
void settle(AlgoChoice& c, cudnnConvolutionDescriptor_t conv, const std::string& what, Query workspace) {
  for (;;) {
    MNIST_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, to_cudnn(c.current.math)));
    const cudnnStatus_t s = workspace(c.current.algo, &c.workspace);
    if (s == CUDNN_STATUS_SUCCESS) return;
    if (s != CUDNN_STATUS_NOT_SUPPORTED)
      detail::throw_error(s, (what + " workspace query").c_str(), __FILE__, __LINE__);
    MNIST_CHECK(c.advance(), RuntimeError,
                what << ": every cuDNN algorithm candidate answered NOT_SUPPORTED to its workspace query");
  }
}

// The first acceptable result (algo_candidates) with a workspace; throws if none.
template <typename Perf, typename Query>
AlgoChoice choose(const std::vector<Perf>& perf, int returned, const CudaOptions& o, cudnnConvolutionDescriptor_t conv,
                  const std::string& what, Query workspace) {
  AlgoChoice c;
  c.rest = algo_candidates(algo_results(perf, returned), AlgoPolicy{o.tf32, o.deterministic, o.workspace_limit});
  MNIST_CHECK(c.advance(), RuntimeError,
              "cuDNN offers no usable " << what << " algorithm (workspace limit " << o.workspace_limit << " B, TF32 "
                                        << (o.tf32 ? "on" : "off") << "):" << listing(perf, returned));
  settle(c, conv, what, workspace);
  return c;
}

// Runs call(algo) with the choice's math type; on NOT_SUPPORTED the next candidate
// (its workspace reserved) is tried, and kept for later calls.
template <typename Query, typename Call>
void run(AlgoChoice& c, CudaContext& ctx, cudnnConvolutionDescriptor_t conv, const std::string& what,
         Query workspace, Call call) {
  for (;;) {
    MNIST_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, to_cudnn(c.current.math)));
    const cudnnStatus_t s = call(c.current.algo);
    if (s == CUDNN_STATUS_SUCCESS) return;
    if (s != CUDNN_STATUS_NOT_SUPPORTED) detail::throw_error(s, what.c_str(), __FILE__, __LINE__);
    MNIST_CHECK(c.advance(), RuntimeError, what << ": every cuDNN algorithm candidate answered NOT_SUPPORTED");
    settle(c, conv, what, workspace);
    ctx.reserve_workspace(c.workspace);
  }
}

}  // namespace

Conv2DCuda::Conv2DCuda(const LayerLayout& layout, Activation act, CudaContext& ctx)
    : CudaLayer(layout, ctx),
      k_(layout.spec.kernel), cin_(layout.input.c), cout_(layout.spec.units), act_(act, ctx),
      x_desc_(layout.input, BatchDescriptors::View::kNhwc),
      y_desc_(layout.output, BatchDescriptors::View::kNhwc) {
  MNIST_ASSERT(k_ % 2 == 1, "'same' convolution needs an odd kernel");
  const int pad = conv_same_padding(k_);
  MNIST_CUDNN_CHECK(cudnnSetFilter4dDescriptor(filter_desc_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, cout_, cin_, k_, k_));
  MNIST_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_desc_, pad, pad, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                                    CUDNN_DATA_FLOAT));
  use_math(ctx.cudnn_math());
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

cudnnStatus_t Conv2DCuda::forward_workspace(int n, int algo, std::size_t* bytes) {
  return cudnnGetConvolutionForwardWorkspaceSize(context().cudnn(), x_desc_.get(n), filter_desc_, conv_desc_,
                                                 y_desc_.get(n), static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
}

cudnnStatus_t Conv2DCuda::backward_data_workspace(int n, int algo, std::size_t* bytes) {
  return cudnnGetConvolutionBackwardDataWorkspaceSize(context().cudnn(), filter_desc_, y_desc_.get(n), conv_desc_,
                                                      x_desc_.get(n), static_cast<cudnnConvolutionBwdDataAlgo_t>(algo),
                                                      bytes);
}

cudnnStatus_t Conv2DCuda::backward_filter_workspace(int n, int algo, std::size_t* bytes) {
  return cudnnGetConvolutionBackwardFilterWorkspaceSize(context().cudnn(), x_desc_.get(n), y_desc_.get(n), conv_desc_,
                                                        filter_desc_,
                                                        static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), bytes);
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
  p.fwd = choose(results, returned, o, conv_desc_, name() + " forward",
                 [this, n](int algo, std::size_t* bytes) { return forward_workspace(n, algo, bytes); });
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
  p.bwd_data = choose(results, returned, o, conv_desc_, name() + " backward-data",
                      [this, n](int algo, std::size_t* bytes) { return backward_data_workspace(n, algo, bytes); });
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
  p.bwd_filter = choose(results, returned, o, conv_desc_, name() + " backward-filter",
                        [this, n](int algo, std::size_t* bytes) { return backward_filter_workspace(n, algo, bytes); });
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
  MNIST_CUBLAS_CHECK(cublasSgeam(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, t.m, t.n, &one, weight(slot::kKernel), t.lda,
                                 &zero, filter_.data(), t.ldc, filter_.data(), t.ldc));
  cudnnTensorDescriptor_t xd = x_desc_.get(n), yd = y_desc_.get(n);
  run(p.fwd, ctx, conv_desc_, name() + " cudnnConvolutionForward",
      [this, n](int algo, std::size_t* bytes) { return forward_workspace(n, algo, bytes); },
      [&](int algo) {
        return cudnnConvolutionForward(ctx.cudnn(), &one, xd, x, filter_desc_, filter_.data(), conv_desc_,
                                       static_cast<cudnnConvolutionFwdAlgo_t>(algo), ctx.workspace(),
                                       ctx.workspace_size(), &zero, yd, y);
      });
  // y(rows × cout) += 1 · bᵀ
  const int rows = n * input_shape().h * input_shape().w;
  const ColumnMajorRows r = row_major_rows(rows, cout_);
  MNIST_CUBLAS_CHECK(cublasSger(ctx.cublas(), r.m, r.n, &one, weight(slot::kBias), 1, ctx.ones(rows), 1, y, r.lda));
  act_.forward(yd, y);  // element-wise: the NHWC view with N = n
}

void Conv2DCuda::backward(const float* x, const float* y, float* dy, float* dx, int n) {
  CudaContext& ctx = context();
  Plan& p = plan(n);
  MNIST_ASSERT(p.fwd.chosen(), name() << ": backward without a forward of " << n << " samples");
  if (!p.bwd_filter.chosen()) choose_backward_filter(n, p);
  const float one = 1.0f, zero = 0.0f;
  cudnnTensorDescriptor_t xd = x_desc_.get(n), yd = y_desc_.get(n);
  act_.backward(yd, y, dy);
  // db = dyᵀ · 1 over the rows.
  const int rows = n * input_shape().h * input_shape().w;
  const ColumnMajorRows r = row_major_rows(rows, cout_);
  MNIST_CUBLAS_CHECK(cublasSgemv(ctx.cublas(), CUBLAS_OP_N, r.m, r.n, &one, dy, r.lda, ctx.ones(rows), 1, &zero,
                                 weight_grad(slot::kBias), 1));
  // dW in cuDNN's layout, then transposed into the Keras layout of the gradient buffer.
  run(p.bwd_filter, ctx, conv_desc_, name() + " cudnnConvolutionBackwardFilter",
      [this, n](int algo, std::size_t* bytes) { return backward_filter_workspace(n, algo, bytes); },
      [&](int algo) {
        return cudnnConvolutionBackwardFilter(ctx.cudnn(), &one, xd, x, yd, dy, conv_desc_,
                                              static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), ctx.workspace(),
                                              ctx.workspace_size(), &zero, filter_desc_, dfilter_.data());
      });
  const int patch = k_ * k_ * cin_;
  const ColumnMajorTranspose t = row_major_transpose(cout_, patch);
  MNIST_CUBLAS_CHECK(cublasSgeam(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, t.m, t.n, &one, dfilter_.data(), t.lda,
                                 &zero, weight_grad(slot::kKernel), t.ldc, weight_grad(slot::kKernel), t.ldc));
  if (dx == nullptr) return;  // the first layer: no data gradient, no algorithm for it
  if (!p.bwd_data.chosen()) choose_backward_data(n, p);
  // The filter transposed by this batch's forward is still current (no update in between).
  run(p.bwd_data, ctx, conv_desc_, name() + " cudnnConvolutionBackwardData",
      [this, n](int algo, std::size_t* bytes) { return backward_data_workspace(n, algo, bytes); },
      [&](int algo) {
        return cudnnConvolutionBackwardData(ctx.cudnn(), &one, filter_desc_, filter_.data(), yd, dy, conv_desc_,
                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ctx.workspace(),
                                            ctx.workspace_size(), &zero, xd, dx);
      });
}

std::string Conv2DCuda::describe() const {
  std::ostringstream s;
  bool first = true;
  auto choice = [&s](const char* what, const char* algo, const Choice& c) {
    const ConvMath m = c.current.math;
    const char* math = m == ConvMath::kFma ? "FMA" : m == ConvMath::kTensorOp ? "tensor-op" : "default math";
    s << what << ' ' << algo << " (" << math << ", " << c.workspace
      << " B" << (c.current.deterministic ? "" : ", non-deterministic") << ')';
  };
  for (const auto& [n, p] : plans_) {
    s << (first ? "" : "; ") << "batch " << n << ": ";
    first = false;
    choice("fwd", algo_name(kFwdNames, p.fwd.current.algo), p.fwd);
    if (p.bwd_filter.chosen()) {
      s << ", ";
      choice("bwd-filter", algo_name(kBwdFilterNames, p.bwd_filter.current.algo), p.bwd_filter);
    }
    if (p.bwd_data.chosen()) {
      s << ", ";
      choice("bwd-data", algo_name(kBwdDataNames, p.bwd_data.current.algo), p.bwd_data);
    }
  }
  return s.str();
}

}  // namespace mnist_ddp::cuda
