// layer.hpp — the GPU layer contract, the CPU one (nn/layer.hpp) on device memory.
//
// A CudaLayer mirrors mnist_ddp::Layer: same parameter and state counts, the
// same flat layout inside the Model's buffers (Keras order and shape), the same
// forward/backward signature and "overwrite" gradient mode. Every pointer is a
// device pointer; every operation is queued on the context's stream and
// returns without waiting for it. Tensors are NHWC batches, as on the CPU.
//
// ForwardContext is the CPU one, with one difference: for a training forward
// with dropout, ctx.sample_ids must point to DEVICE memory (n int64 ids).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mnist_ddp/cuda/context.hpp"
#include "mnist_ddp/nn/layer.hpp"
#include "mnist_ddp/nn/model_layout.hpp"
#include "mnist_ddp/nn/spec.hpp"

namespace mnist_ddp::cuda {

class CudaLayer : public LaidOutLayer {
 public:
  // Name, shapes and buffer slice sizes come from the model's layout (nn/layer.hpp's LaidOutLayer).
  CudaLayer(const LayerLayout& layout, CudaContext& ctx) : LaidOutLayer(layout), ctx_(ctx) {}
  virtual ~CudaLayer() = default;

  // Device scratch and workspace for up to `max_batch` samples; chooses algorithms.
  virtual void reserve(int /*max_batch*/) {}

  // x: (n, in), y: (n, out), device.
  virtual void forward(const float* x, float* y, int n, const ForwardContext& ctx) = 0;
  // x, y: this layer's input and output from the last forward; dy: (n, out), may be
  // overwritten; dx: (n, in) or null (first layer: no data gradient is computed).
  virtual void backward(const float* x, const float* y, float* dy, float* dx, int n) = 0;

  // One line on how the layer runs (e.g. the chosen cuDNN algorithms); may be empty.
  virtual std::string describe() const { return {}; }

 protected:
  CudaContext& context() const { return ctx_; }
  cudaStream_t stream() const { return ctx_.stream(); }

 private:
  CudaContext& ctx_;
};

// The GPU layer of a model's layout entry, or of a spec applied to `in` (the
// softmax of the last Dense is fused into the loss, as on the CPU).
// `layer_index` is the layer's position in the model (dropout stream).
std::unique_ptr<CudaLayer> make_cuda_layer(const LayerLayout& layout, CudaContext& ctx);
std::unique_ptr<CudaLayer> make_cuda_layer(const LayerSpec& spec, Shape3 in, const std::string& name,
                                           std::uint32_t layer_index, CudaContext& ctx);

}  // namespace mnist_ddp::cuda
