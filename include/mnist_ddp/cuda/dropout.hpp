// dropout.hpp — inverted dropout and Flatten on the GPU.
//
// Dropout: an own kernel, since the masks must be the CPU backend's: each
// thread draws one Philox block of 4 elements of one sample with
// dropout_bits(seed, epoch, sample id, layer, group) and turns each 32-bit word
// into 0 or 1/(1 - rate) with dropout_multiplier (nn/dropout_mask.hpp, shared
// with the CPU layer). So the same (seed, epoch, sample) gets bit-identical
// masks on either backend, whatever the batch position or rank. The mask is
// kept (n, size) for backward. ctx.sample_ids must be a device pointer.
// Flatten: NHWC order is already Keras's channels_last flatten order: a copy.
#pragma once

#include <cstdint>

#include "mnist_ddp/cuda/layer.hpp"
#include "mnist_ddp/cuda/raii.hpp"

namespace mnist_ddp::cuda {

class DropoutCuda final : public CudaLayer {
 public:
  DropoutCuda(const LayerLayout& layout, CudaContext& ctx);
  void reserve(int max_batch) override;
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;

 private:
  bool last_training_ = false;
  DeviceBuffer<float> mask_;  // (max_batch, size): 0 or 1/(1 - rate)
};

class FlattenCuda final : public CudaLayer {
 public:
  FlattenCuda(const LayerLayout& layout, CudaContext& ctx) : CudaLayer(layout, ctx) {}
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;
};

// ---- kernels of these layers (dropout.cu) --------------------------------------------------

// mask(b, i) = dropout_multiplier(bits of (seed, epoch, ids[b], layer, i / 4)[i % 4], rate);
// y = x · mask. x, y, mask: (n, size); ids: (n) device.
void dropout_forward(const float* x, float* y, float* mask, int n, std::size_t size, const std::int64_t* ids,
                     std::uint64_t seed, std::uint32_t epoch, std::uint32_t layer, float rate, cudaStream_t stream);
// dx = dy · mask, count elements.
void multiply(const float* dy, const float* mask, float* dx, std::size_t count, cudaStream_t stream);

}  // namespace mnist_ddp::cuda
