// dropout.cu — Dropout (own kernel, the CPU layer's masks) and Flatten on the GPU.
#include "mnist_ddp/cuda/dropout.hpp"

#include "mnist_ddp/cuda/layout.hpp"
#include "mnist_ddp/nn/dropout_mask.hpp"

namespace mnist_ddp::cuda {

namespace {

constexpr int kThreads = 256;

// One thread per group of 4 elements of one sample (one Philox draw), grid-stride.
__global__ void dropout_forward_kernel(const float* x, float* y, float* mask, int n, std::size_t size,
                                       const std::int64_t* ids, std::uint64_t seed, std::uint32_t epoch,
                                       std::uint32_t layer, float rate) {
  const std::size_t groups = (size + 3) / 4;
  const std::size_t total = groups * static_cast<std::size_t>(n);
  for (std::size_t t = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t b = t / groups, g = t % groups;
    const Philox4 r = dropout_bits(seed, epoch, ids[b], layer, static_cast<std::uint32_t>(g));
    const std::size_t base = b * size + 4 * g;
    for (std::size_t k = 0; k < 4 && 4 * g + k < size; ++k) {
      const float m = dropout_multiplier(r.v[k], rate);
      mask[base + k] = m;
      y[base + k] = x[base + k] * m;
    }
  }
}

__global__ void multiply_kernel(const float* a, const float* b, float* out, std::size_t count) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    out[i] = a[i] * b[i];
}

}  // namespace

void dropout_forward(const float* x, float* y, float* mask, int n, std::size_t size, const std::int64_t* ids,
                     std::uint64_t seed, std::uint32_t epoch, std::uint32_t layer, float rate, cudaStream_t stream) {
  const std::size_t total = (size + 3) / 4 * static_cast<std::size_t>(n);
  dropout_forward_kernel<<<grid_size(total, kThreads, 4096), kThreads, 0, stream>>>(x, y, mask, n, size, ids, seed,
                                                                                    epoch, layer, rate);
  MNIST_CUDA_CHECK_LAUNCH();
}

void multiply(const float* dy, const float* mask, float* dx, std::size_t count, cudaStream_t stream) {
  multiply_kernel<<<grid_size(count, kThreads, 4096), kThreads, 0, stream>>>(dy, mask, dx, count);
  MNIST_CUDA_CHECK_LAUNCH();
}

// ---- Dropout -------------------------------------------------------------------------------

// The rate is checked by the layout.
DropoutCuda::DropoutCuda(const LayerLayout& layout, CudaContext& ctx) : CudaLayer(layout, ctx) {}

void DropoutCuda::reserve(int max_batch) { mask_.reset(static_cast<std::size_t>(max_batch) * input_shape().size()); }

void DropoutCuda::forward(const float* x, float* y, int n, const ForwardContext& ctx) {
  const std::size_t size = input_shape().size();
  MNIST_ASSERT(static_cast<std::size_t>(n) * size <= mask_.size(), name() << ": batch of " << n << " not reserved");
  last_training_ = dropout_applies(ctx, layout().spec.rate);
  if (!last_training_) {
    MNIST_CUDA_CHECK(cudaMemcpyAsync(y, x, sizeof(float) * size * n, cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  MNIST_ASSERT(ctx.sample_ids != nullptr, "dropout in training needs the (device) sample ids");
  const float rate = layout().spec.rate;
  const std::uint32_t layer = layout().index;  // the layer's place in the model seeds its masks
  dropout_forward(x, y, mask_.data(), n, size, ctx.sample_ids, ctx.seed, ctx.epoch, layer, rate, stream());
}

void DropoutCuda::backward(const float*, const float*, float* dy, float* dx, int n) {
  if (dx == nullptr) return;
  const std::size_t count = input_shape().size() * n;
  if (!last_training_) {
    MNIST_CUDA_CHECK(cudaMemcpyAsync(dx, dy, sizeof(float) * count, cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  multiply(dy, mask_.data(), dx, count, stream());
}

// ---- Flatten -------------------------------------------------------------------------------

void FlattenCuda::forward(const float* x, float* y, int n, const ForwardContext&) {
  MNIST_CUDA_CHECK(
      cudaMemcpyAsync(y, x, sizeof(float) * input_shape().size() * n, cudaMemcpyDeviceToDevice, stream()));
}

void FlattenCuda::backward(const float*, const float*, float* dy, float* dx, int n) {
  if (dx == nullptr) return;
  MNIST_CUDA_CHECK(
      cudaMemcpyAsync(dx, dy, sizeof(float) * input_shape().size() * n, cudaMemcpyDeviceToDevice, stream()));
}

}  // namespace mnist_ddp::cuda
