// batchnorm_sync.cu — the --sync-bn path of the GPU BatchNorm (cuda/batchnorm.hpp):
// own kernels in place of cuDNN's fused training calls, with the per-channel
// sums summed over the ranks in between. The arithmetic is nn/batchnorm_math.hpp,
// the CPU layer's (cpu/batchnorm.cpp), term for term.
#include "mnist_ddp/cuda/batchnorm.hpp"

#include "mnist_ddp/cuda/block_sum.hpp"
#include "mnist_ddp/cuda/check.hpp"
#include "mnist_ddp/cuda/layout.hpp"
#include "mnist_ddp/nn/batchnorm_math.hpp"

namespace mnist_ddp::cuda {

namespace {

constexpr int kThreads = 256;  // a power of two (block_sum_pair)

// Forward's two terms of element i (channel j): x and x², in double.
struct MomentTerms {
  const float* x;
  __device__ void operator()(std::size_t i, int, double& a, double& b) const {
    const double v = x[i];
    a += v;
    b += v * v;
  }
};

// Backward's: dy and dy·x̂ with the forward's statistics.
struct GradientTerms {
  const float *x, *dy, *mean, *invstd;
  __device__ void operator()(std::size_t i, int j, double& a, double& b) const {
    a += dy[i];
    b += dy_xhat(dy[i], x[i], mean[j], invstd[j]);
  }
};

// One block per channel j: sums[j] = Σ a, sums[c + j] = Σ b over the rows, in
// double, in a fixed order; sums[2c] = rows (the all-reduce's layout, as the
// CPU's BatchNormSync). local_a, local_b (may be null): this rank's sums as float.
template <typename Terms>
__global__ void channel_sums_kernel(Terms terms, std::size_t rows, int c, double* sums, float* local_a,
                                    float* local_b) {
  __shared__ double s_a[kThreads], s_b[kThreads];
  const int j = blockIdx.x;
  double a = 0.0, b = 0.0;
  for (std::size_t r = threadIdx.x; r < rows; r += blockDim.x) terms(r * c + j, j, a, b);
  block_sum_pair(s_a, s_b, a, b);
  if (threadIdx.x != 0) return;
  sums[j] = s_a[0];
  sums[c + j] = s_b[0];
  if (local_a != nullptr) local_a[j] = static_cast<float>(s_a[0]);
  if (local_b != nullptr) local_b[j] = static_cast<float>(s_b[0]);
  if (j == 0) sums[2 * c] = static_cast<double>(rows);
}

// What the forward writes per channel from the global sums.
struct ForwardOutputs {
  float *save_mean, *save_invstd, *moving_mean, *moving_var, *scale, *shift;
};

__global__ void statistics_kernel(const double* sums, int c, float epsilon, float momentum, const float* gamma,
                                  const float* beta, ForwardOutputs out) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= c) return;
  const BatchStatistics s = batch_statistics(sums[j], sums[c + j], sums[2 * c], epsilon);
  out.save_mean[j] = s.mean;
  out.save_invstd[j] = s.invstd;
  out.moving_mean[j] = moving_average(out.moving_mean[j], s.mean, momentum);
  out.moving_var[j] = moving_average(out.moving_var[j], s.var, momentum);
  const BatchNormAffine a = batchnorm_affine(gamma[j], beta[j], s.mean, s.invstd);
  out.scale[j] = a.scale;
  out.shift[j] = a.shift;
}

__global__ void affine_kernel(const float* x, float* y, std::size_t count, int c, const float* scale,
                              const float* shift) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const int j = static_cast<int>(i % c);
    y[i] = x[i] * scale[j] + shift[j];
  }
}

__global__ void dx_kernel(const float* x, const float* dy, float* dx, std::size_t count, int c, const float* gamma,
                          const float* mean, const float* invstd, const double* sums) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const int j = static_cast<int>(i % c);
    const BatchNormBackwardMeans m = backward_means(sums[j], sums[c + j], sums[2 * c]);
    dx[i] = batchnorm_dx(dy[i], x[i], gamma[j], mean[j], invstd[j], m);
  }
}

}  // namespace

void BatchNormCuda::forward_synchronised(const float* x, float* y, std::size_t rows, const ForwardContext& ctx) {
  channel_sums_kernel<<<c_, kThreads, 0, stream()>>>(MomentTerms{x}, rows, c_, sums_.data(), nullptr, nullptr);
  MNIST_CUDA_CHECK_LAUNCH();
  sync_->sum(sums_.data(), sums_.size());
  const ForwardOutputs out{save_mean_.data(),
                           save_invstd_.data(),
                           weight(slot::kMovingMean),
                           weight(slot::kMovingVariance),
                           scale_.data(),
                           shift_.data()};
  statistics_kernel<<<grid_size(c_, kThreads), kThreads, 0, stream()>>>(
      sums_.data(), c_, eps_, ctx.moving_momentum(momentum_), weight(slot::kGamma), weight(slot::kBeta), out);
  MNIST_CUDA_CHECK_LAUNCH();
  const std::size_t count = rows * static_cast<std::size_t>(c_);
  affine_kernel<<<grid_size(count, kThreads, 4096), kThreads, 0, stream()>>>(x, y, count, c_, scale_.data(),
                                                                             shift_.data());
  MNIST_CUDA_CHECK_LAUNCH();
}

void BatchNormCuda::backward_synchronised(const float* x, const float* dy, float* dx, std::size_t rows) {
  const GradientTerms terms{x, dy, save_mean_.data(), save_invstd_.data()};
  channel_sums_kernel<<<c_, kThreads, 0, stream()>>>(terms, rows, c_, sums_.data(), weight_grad(slot::kBeta),
                                                     weight_grad(slot::kGamma));
  MNIST_CUDA_CHECK_LAUNCH();
  if (dx == nullptr) return;  // the first layer: the same on every rank, so all skip the collective
  sync_->sum(sums_.data(), sums_.size());
  const std::size_t count = rows * static_cast<std::size_t>(c_);
  dx_kernel<<<grid_size(count, kThreads, 4096), kThreads, 0, stream()>>>(
      x, dy, dx, count, c_, weight(slot::kGamma), save_mean_.data(), save_invstd_.data(), sums_.data());
  MNIST_CUDA_CHECK_LAUNCH();
}

}  // namespace mnist_ddp::cuda
