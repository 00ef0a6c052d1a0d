// kernels.cu — batch assembly with augmentation, softmax cross-entropy and the
// optimizer updates: the project's own kernels, each calling the MNIST_HD
// function that the CPU backend calls for the same job.
#include "mnist_ddp/cuda/kernels.hpp"

#include "mnist_ddp/cuda/block_sum.hpp"
#include "mnist_ddp/cuda/check.hpp"
#include "mnist_ddp/cuda/layout.hpp"
#include "mnist_ddp/nn/loss_math.hpp"
#include "mnist_ddp/data/dataset.hpp"

namespace mnist_ddp::cuda {

namespace {

constexpr int kThreads = 256;

// ---- batch assembly ---------------------------------------------------------------------

// One block per sample (grid-stride over samples): thread 0 draws the sample's
// transform into shared memory, then the block fills its pixels.
__global__ void gather_kernel(const std::uint8_t* images, const std::uint8_t* labels, int rows, int cols,
                              const std::int64_t* ids, int n, bool augment, std::uint64_t seed, std::uint32_t epoch,
                              AugmentRanges ranges, float* x, std::uint8_t* y) {
  __shared__ Affine t;
  const int pixels = rows * cols;
  for (int b = blockIdx.x; b < n; b += gridDim.x) {
    const std::int64_t id = ids[b];
    const std::uint8_t* src = images + static_cast<std::size_t>(id) * pixels;
    float* dst = x + static_cast<std::size_t>(b) * pixels;
    if (augment) {
      if (threadIdx.x == 0) t = sample_affine(seed, epoch, static_cast<std::uint64_t>(id), ranges, rows, cols);
      __syncthreads();
      for (int p = threadIdx.x; p < pixels; p += blockDim.x)
        dst[p] = affine_pixel(src, rows, cols, t, p / cols, p % cols);
      __syncthreads();  // every thread is done with t before the next sample's
    } else {
      for (int p = threadIdx.x; p < pixels; p += blockDim.x) dst[p] = static_cast<float>(src[p]) * kPixelScale;
    }
    if (y != nullptr && threadIdx.x == 0) y[b] = labels[id];
  }
}

// ---- loss ---------------------------------------------------------------------------------

// One block: each thread takes rows i ≡ tid (mod blockDim); per-thread sums are
// then combined by a fixed tree, so the batch's sum does not depend on timing.
__global__ void softmax_xent_kernel(const float* logits, const std::uint8_t* labels, int n, int classes,
                                    float* dlogits, float grad_scale, LossAccumulators acc,
                                    std::uint8_t* predictions) {
  __shared__ double s_loss[kThreads];
  __shared__ unsigned long long s_correct[kThreads];
  double loss = 0.0;
  unsigned long long correct = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const int label = labels[i];
    const RowLoss r = softmax_xent_row(logits + static_cast<std::size_t>(i) * classes, classes, label,
                                       dlogits != nullptr ? dlogits + static_cast<std::size_t>(i) * classes : nullptr,
                                       grad_scale);
    loss += r.loss;
    correct += r.predicted == label ? 1u : 0u;
    if (predictions != nullptr) predictions[i] = static_cast<std::uint8_t>(r.predicted);
    if (acc.confusion != nullptr) atomicAdd(acc.confusion + label * classes + r.predicted, 1ull);
  }
  block_sum_pair(s_loss, s_correct, loss, correct);
  if (threadIdx.x == 0) {
    if (acc.loss != nullptr) *acc.loss += s_loss[0];
    if (acc.correct != nullptr) *acc.correct += s_correct[0];
  }
}

// ---- optimizer ----------------------------------------------------------------------------

__global__ void adam_kernel(float* p, const float* g, float* m, float* v, std::size_t count, AdamHyper h) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    adam_update(p[i], g[i], m[i], v[i], h);
}

__global__ void rmsprop_kernel(float* p, const float* g, float* v, std::size_t count, float lr, float rho,
                               float epsilon) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    rmsprop_update(p[i], g[i], v[i], lr, rho, epsilon);
}

__global__ void sgd_kernel(float* p, const float* g, float* m, std::size_t count, float lr, float momentum) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    sgd_momentum_update(p[i], g[i], m[i], lr, momentum);
}

__global__ void scale_kernel(float* x, std::size_t count, float factor) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    x[i] *= factor;
}

constexpr int kMaxBlocks = 4096;

}  // namespace

void gather_batch(const std::uint8_t* images, const std::uint8_t* labels, int rows, int cols,
                  const std::int64_t* ids, int n, bool augment, std::uint64_t seed, std::uint32_t epoch,
                  const AugmentRanges& ranges, float* x, std::uint8_t* y, cudaStream_t stream) {
  if (n <= 0) return;
  gather_kernel<<<std::min(n, 65535), kThreads, 0, stream>>>(images, labels, rows, cols, ids, n, augment, seed, epoch,
                                                             ranges, x, y);
  MNIST_CUDA_CHECK_LAUNCH();
}

void softmax_cross_entropy(const float* logits, const std::uint8_t* labels, int n, int classes, float* dlogits,
                           float grad_scale, LossAccumulators acc, std::uint8_t* predictions, cudaStream_t stream) {
  if (n <= 0) return;
  softmax_xent_kernel<<<1, kThreads, 0, stream>>>(logits, labels, n, classes, dlogits, grad_scale, acc, predictions);
  MNIST_CUDA_CHECK_LAUNCH();
}

void adam_step(float* params, const float* grads, float* m, float* v, std::size_t count, const AdamHyper& h,
               cudaStream_t stream) {
  if (count == 0) return;
  adam_kernel<<<grid_size(count, kThreads, kMaxBlocks), kThreads, 0, stream>>>(params, grads, m, v, count, h);
  MNIST_CUDA_CHECK_LAUNCH();
}

void rmsprop_step(float* params, const float* grads, float* v, std::size_t count, float lr, float rho, float epsilon,
                  cudaStream_t stream) {
  if (count == 0) return;
  rmsprop_kernel<<<grid_size(count, kThreads, kMaxBlocks), kThreads, 0, stream>>>(params, grads, v, count, lr, rho,
                                                                                  epsilon);
  MNIST_CUDA_CHECK_LAUNCH();
}

void sgd_momentum_step(float* params, const float* grads, float* m, std::size_t count, float lr, float momentum,
                       cudaStream_t stream) {
  if (count == 0) return;
  sgd_kernel<<<grid_size(count, kThreads, kMaxBlocks), kThreads, 0, stream>>>(params, grads, m, count, lr, momentum);
  MNIST_CUDA_CHECK_LAUNCH();
}

void scale(float* x, std::size_t count, float factor, cudaStream_t stream) {
  if (count == 0) return;
  scale_kernel<<<grid_size(count, kThreads, kMaxBlocks), kThreads, 0, stream>>>(x, count, factor);
  MNIST_CUDA_CHECK_LAUNCH();
}

}  // namespace mnist_ddp::cuda
