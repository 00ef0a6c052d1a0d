// batchnorm.cu — BatchNormalization on the GPU: cuDNN for the batch statistics,
// normalisation and backward; own kernels for the CPU layer's moving averages
// and for backward through an inference-mode forward. The --sync-bn path is in
// batchnorm_sync.cu.
#include "mnist_ddp/cuda/batchnorm.hpp"

#include "mnist_ddp/nn/batchnorm_math.hpp"
#include "mnist_ddp/cuda/block_sum.hpp"
#include "mnist_ddp/cuda/layout.hpp"

namespace mnist_ddp::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void moving_update_kernel(float* moving_mean, float* moving_var, const float* save_mean,
                                     const float* save_invstd, int c, float epsilon, float momentum) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= c) return;
  const float var = static_cast<float>(variance_from_invstd(save_invstd[j], epsilon));
  moving_mean[j] = moving_average(moving_mean[j], save_mean[j], momentum);
  moving_var[j] = moving_average(moving_var[j], var, momentum);
}

// One block per channel: Σ dy and Σ dy·x̂ over the rows, in double, reduced in a fixed order.
__global__ void inference_backward_sums_kernel(const float* x, const float* dy, std::size_t rows, int c,
                                               const float* moving_mean, const float* moving_var, float epsilon,
                                               float* dgamma, float* dbeta) {
  __shared__ double s_beta[kThreads], s_gamma[kThreads];
  const int j = blockIdx.x;
  const float mean = moving_mean[j];
  const float inv = 1.0f / sqrtf(moving_var[j] + epsilon);
  double sb = 0.0, sg = 0.0;
  for (std::size_t r = threadIdx.x; r < rows; r += blockDim.x) {
    const float g = dy[r * c + j];
    sb += g;
    sg += g * (x[r * c + j] - mean) * inv;
  }
  block_sum_pair(s_beta, s_gamma, sb, sg);
  if (threadIdx.x == 0) {
    dbeta[j] = static_cast<float>(s_beta[0]);
    dgamma[j] = static_cast<float>(s_gamma[0]);
  }
}

__global__ void inference_backward_dx_kernel(const float* dy, float* dx, std::size_t count, int c, const float* gamma,
                                             const float* moving_var, float epsilon) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const int j = static_cast<int>(i % c);
    dx[i] = dy[i] * gamma[j] * (1.0f / sqrtf(moving_var[j] + epsilon));
  }
}

// A training batch of one row per channel (BatchNorm after Dense, a last batch
// of one sample): variance 0, x̂ = 0, so y = β and the saved statistics are
// (x, 1/sqrt(ε)) — the CPU layer's result, without asking cuDNN for a
// statistic over a single value.
__global__ void single_row_forward_kernel(const float* x, const float* beta, float* y, float* save_mean,
                                          float* save_invstd, int c, float epsilon) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= c) return;
  save_mean[j] = x[j];
  save_invstd[j] = 1.0f / sqrtf(epsilon);
  y[j] = beta[j];
}

// Its backward: dβ = dy, dγ = Σ dy·x̂ = 0, dx = γ·invstd·(dy − mean(dy) − x̂·…) = 0.
__global__ void single_row_backward_kernel(const float* dy, float* dx, float* dgamma, float* dbeta, int c) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= c) return;
  dbeta[j] = dy[j];
  dgamma[j] = 0.0f;
  if (dx != nullptr) dx[j] = 0.0f;
}

}  // namespace

void batchnorm_moving_update(float* moving_mean, float* moving_var, const float* save_mean,
                             const float* save_invstd, int c, float epsilon, float momentum, cudaStream_t stream) {
  moving_update_kernel<<<grid_size(c, kThreads), kThreads, 0, stream>>>(moving_mean, moving_var, save_mean,
                                                                        save_invstd, c, epsilon, momentum);
  MNIST_CUDA_CHECK_LAUNCH();
}

void batchnorm_inference_backward(const float* x, const float* dy, float* dx, std::size_t rows, int c,
                                  const float* gamma, const float* moving_mean, const float* moving_var, float epsilon,
                                  float* dgamma, float* dbeta, cudaStream_t stream) {
  inference_backward_sums_kernel<<<c, kThreads, 0, stream>>>(x, dy, rows, c, moving_mean, moving_var, epsilon, dgamma,
                                                             dbeta);
  MNIST_CUDA_CHECK_LAUNCH();
  if (dx == nullptr) return;
  const std::size_t count = rows * static_cast<std::size_t>(c);
  inference_backward_dx_kernel<<<grid_size(count, kThreads, 4096), kThreads, 0, stream>>>(dy, dx, count, c, gamma,
                                                                                          moving_var, epsilon);
  MNIST_CUDA_CHECK_LAUNCH();
}

// ---- the layer -----------------------------------------------------------------------------

BatchNormCuda::BatchNormCuda(const LayerLayout& layout, CudaContext& ctx)
    : CudaLayer(layout, ctx), c_(layout.input.c), eps_(layout.spec.epsilon), momentum_(layout.spec.momentum),
      x_desc_(layout.input, layer_tensor_view(LayerKind::kBatchNorm)) {
  const std::string& name = layout.name;
  const float epsilon = eps_;
  MNIST_CHECK(static_cast<double>(epsilon) >= CUDNN_BN_MIN_EPSILON, RuntimeError,
              name << ": BatchNorm epsilon " << epsilon << " is below cuDNN's minimum " << CUDNN_BN_MIN_EPSILON);
  MNIST_CUDNN_CHECK(cudnnSetTensor4dDescriptor(param_desc_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, c_, 1, 1));
}

void BatchNormCuda::reserve(int max_batch) {
  max_batch_ = max_batch;
  save_mean_.reset(c_);
  save_invstd_.reset(c_);
  sums_.reset(2 * static_cast<std::size_t>(c_) + 1);
  scale_.reset(c_);
  shift_.reset(c_);
}

void BatchNormCuda::forward(const float* x, float* y, int n, const ForwardContext& ctx) {
  MNIST_ASSERT(n > 0 && n <= max_batch_, name() << ": batch of " << n << " (reserved " << max_batch_ << ")");
  last_training_ = ctx.training;
  if (ctx.training && sync_ != nullptr) {  // --sync-bn: own kernels (batchnorm_sync.cu)
    forward_synchronised(x, y, static_cast<std::size_t>(n) * input_shape().h * input_shape().w, ctx);
    return;
  }
  CudaContext& cc = context();
  MNIST_CHECK(cudnn_batchnorm_supports(view_dims(layer_tensor_view(LayerKind::kBatchNorm), n, input_shape()),
                                       ctx.training),
              RuntimeError, name() << ": a batch of " << n << " is beyond cuDNN's BatchNorm limit");
  cudnnTensorDescriptor_t xd = x_desc_.get(n);
  const float one = 1.0f, zero = 0.0f;
  const float *gamma = weight(slot::kGamma), *beta = weight(slot::kBeta);
  float *moving_mean = weight(slot::kMovingMean), *moving_var = weight(slot::kMovingVariance);
  if (!ctx.training) {
    MNIST_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(cc.cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, xd, x,
                                                              xd, y, param_desc_, gamma, beta, moving_mean,
                                                              moving_var, static_cast<double>(eps_)));
    return;
  }
  const std::size_t rows = static_cast<std::size_t>(n) * input_shape().h * input_shape().w;
  if (rows == 1) {
    single_row_forward_kernel<<<grid_size(c_, kThreads), kThreads, 0, stream()>>>(x, beta, y, save_mean_.data(),
                                                                                  save_invstd_.data(), c_, eps_);
    MNIST_CUDA_CHECK_LAUNCH();
  } else {
    // No running averages from cuDNN (null pointers, factor unused): ours follow.
    MNIST_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
        cc.cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, xd, x, xd, y, param_desc_, gamma, beta, 0.0, nullptr,
        nullptr, static_cast<double>(eps_), save_mean_.data(), save_invstd_.data()));
  }
  const float momentum = ctx.moving_momentum(momentum_);
  batchnorm_moving_update(moving_mean, moving_var, save_mean_.data(), save_invstd_.data(), c_, eps_, momentum,
                          stream());
}

void BatchNormCuda::backward(const float* x, const float*, float* dy, float* dx, int n) {
  CudaContext& cc = context();
  const std::size_t rows = static_cast<std::size_t>(n) * input_shape().h * input_shape().w;
  const float* gamma = weight(slot::kGamma);
  float *dgamma = weight_grad(slot::kGamma), *dbeta = weight_grad(slot::kBeta);
  if (!last_training_) {
    batchnorm_inference_backward(x, dy, dx, rows, c_, gamma, weight(slot::kMovingMean),
                                 weight(slot::kMovingVariance), eps_, dgamma, dbeta, stream());
    return;
  }
  if (sync_ != nullptr) {
    backward_synchronised(x, dy, dx, rows);
    return;
  }
  if (rows == 1) {
    single_row_backward_kernel<<<grid_size(c_, kThreads), kThreads, 0, stream()>>>(dy, dx, dgamma, dbeta, c_);
    MNIST_CUDA_CHECK_LAUNCH();
    return;
  }
  if (dx == nullptr) {
    if (dx_scratch_.size() < rows * c_) dx_scratch_.reset(static_cast<std::size_t>(max_batch_) * input_shape().size());
    dx = dx_scratch_.data();
  }
  cudnnTensorDescriptor_t xd = x_desc_.get(n);
  const float one = 1.0f, zero = 0.0f;
  MNIST_CUDNN_CHECK(cudnnBatchNormalizationBackward(cc.cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, xd,
                                                    x, xd, dy, xd, dx, param_desc_, gamma, dgamma, dbeta,
                                                    static_cast<double>(eps_), save_mean_.data(),
                                                    save_invstd_.data()));
}

}  // namespace mnist_ddp::cuda
