// model.hpp — the sequential network on one GPU: CudaModel mirrors mnist_ddp::Model.
//
// Contract with the trainer (GPU training integration):
//  - Built from the same specs and input shape as the CPU Model, with the same
//    flat buffers — params(), grads(), state() — in EXACTLY the CPU layout
//    (layer by layer, Keras order and shapes), but in device memory. So the
//    all-reduce (NCCL on grads()), the optimizer (CudaOptimizer on params() and
//    grads()), checkpoints and the model file (via download()) are loops over
//    one buffer, as on the CPU.
//  - Weights start on the host: build a CPU Model, initialize() it (or load a
//    file), then upload() it; download() before saving or evaluating on the host.
//  - forward() and backward() only queue work on the context's stream and
//    return at once: no host synchronisation inside. x, dlogits and the
//    returned logits are device pointers, NHWC.
//  - For a training forward with dropout, ctx.sample_ids is a DEVICE pointer to
//    the batch's n global sample ids (e.g. a slice of the epoch's ids uploaded
//    once per epoch); the dropout masks then equal the CPU backend's.
//  - backward() calls on_layer_done(i) as soon as layer i's gradient work has
//    been QUEUED (layers last to first). The gradients are final once the
//    stream reaches that point: record an event on context().stream() inside
//    the callback and make the NCCL stream wait on it (bucketed all-reduce).
//
// Kernels that go with it (kernels.hpp): batch gather + augmentation from device
// bytes, softmax cross-entropy with device accumulators; the optimizer
// (optimizer.hpp): Adam/RMSprop/SGD updates with nn/optimizer_math.hpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mnist_ddp/cuda/context.hpp"
#include "mnist_ddp/cuda/layer.hpp"
#include "mnist_ddp/cuda/raii.hpp"
#include "mnist_ddp/nn/layer.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/model_layout.hpp"
#include "mnist_ddp/nn/spec.hpp"

namespace mnist_ddp::cuda {

class CudaModel {
 public:
  CudaModel(const std::vector<LayerSpec>& specs, Shape3 input, int max_batch, CudaContext& ctx);
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  const ModelLayout& layout() const { return layout_; }
  const std::vector<LayerSpec>& specs() const { return layout_.specs(); }
  Shape3 input_shape() const { return layout_.input(); }
  int num_outputs() const { return static_cast<int>(layout_.output().size()); }
  int max_batch() const { return max_batch_; }
  CudaContext& context() const { return ctx_; }
  std::vector<std::unique_ptr<CudaLayer>>& layers() { return layers_; }

  // Device buffers, the CPU Model's layout exactly.
  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  float* state() { return state_.data(); }
  const float* params() const { return params_.data(); }
  const float* state() const { return state_.data(); }
  std::size_t param_count() const { return params_.size(); }
  std::size_t state_count() const { return state_.size(); }
  // Offset of layer i's parameters in params()/grads().
  std::size_t param_offset(std::size_t i) const { return layout_[i].param_offset; }

  // Weights and BatchNorm state, host <-> device (synchronous: set-up and saving
  // only). The host model must have the same specs and input shape.
  void upload(const Model& host);
  void download(Model& host) const;

  // x: (n, h, w, c) device, n <= max_batch. Returns the device logits (n, classes),
  // valid until the next forward.
  const float* forward(const float* x, int n, const ForwardContext& ctx);
  // Backward through the last forward (same n): fills grads() from the device
  // dlogits (n, classes). See the contract above for on_layer_done.
  void backward(const float* dlogits, int n, const std::function<void(std::size_t)>& on_layer_done = {});

  // One line per layer: name, output shape, and how it runs (cuDNN algorithms).
  std::string describe() const;

 private:
  ModelLayout layout_;
  int max_batch_;
  CudaContext& ctx_;
  std::vector<std::unique_ptr<CudaLayer>> layers_;
  DeviceBuffer<float> params_, grads_, state_;
  std::vector<DeviceBuffer<float>> acts_;   // acts_[i]: output of layer i, (max_batch, out_i)
  DeviceBuffer<float> grad_a_, grad_b_;     // ping-pong gradient buffers, (max_batch, widest)
  const float* last_input_ = nullptr;
  int last_n_ = 0;
};

}  // namespace mnist_ddp::cuda
