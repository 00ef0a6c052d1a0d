// layer.hpp — the CPU layer contract.
//
// A layer does not own its weights: the Model allocates one flat buffer for
// all trainable parameters, one for their gradients and one for non-trainable
// state (BatchNorm moving statistics), and bind() hands each layer its slices.
// That makes all-reduce, optimizer, checkpoint and model file simple loops over
// one buffer. Tensors are batches of NHWC samples: (n, h, w, c) row-major.
//
// Gradient mode is "overwrite": backward() writes this batch's parameter
// gradients (it does not accumulate), and writes dx unless dx is null.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mnist_ddp/nn/init.hpp"
#include "mnist_ddp/nn/model_layout.hpp"
#include "mnist_ddp/nn/spec.hpp"

namespace mnist_ddp {

// What a forward pass needs to know besides its input.
struct ForwardContext {
  bool training = false;
  std::uint64_t seed = 0;
  std::uint32_t epoch = 0;
  const std::int64_t* sample_ids = nullptr;  // (n) global sample index of each row, for dropout
  // Training steps taken before this one (the optimizer's iteration count), for
  // the bias correction of the BatchNorm moving averages; < 0: no correction.
  std::int64_t step = -1;
  // Training mode only: whether dropout is applied (off while recomputing the
  // BatchNorm statistics), and a BatchNorm moving-average momentum that replaces
  // the layer's own for this pass (< 0: the layer's, debiased by `step`).
  bool dropout = true;
  float bn_momentum = -1.0f;

  // The BatchNorm moving-average momentum of this pass for a layer whose own is `layer_momentum`.
  float moving_momentum(float layer_momentum) const {
    return bn_momentum >= 0.0f ? bn_momentum : static_cast<float>(debiased_momentum(layer_momentum, step));
  }
};

// Whether a dropout layer of `rate` drops units in this pass (training, not a
// BatchNorm recomputation, a rate above 0).
inline bool dropout_applies(const ForwardContext& ctx, float rate) {
  return ctx.training && ctx.dropout && rate > 0.0f;
}

// A named weight tensor of a layer, in Keras order and shape.
struct WeightView {
  std::string name;             // "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"
  std::vector<std::size_t> shape;
  float* data;
  bool trainable;
};

// The activation a layer applies itself: the softmax of the last layer is fused
// into the loss, so that layer outputs logits.
inline Activation layer_activation(const LayerSpec& spec) {
  return spec.activation == Activation::kSoftmax ? Activation::kLinear : spec.activation;
}

// What a layer's entry in the model's layout fixes, for the CPU and the GPU
// layers alike: its kind, name, shapes, buffer slices and weights
// (model_layout.hpp). bind() points it at its slices of the model's flat buffers
// (host or device memory: the backend's), and weight(k) / weight_grad(k) are the
// k-th weight of LayerLayout::weights in them (slot:: names the positions).
class LaidOutLayer {
 public:
  explicit LaidOutLayer(const LayerLayout& layout) : layout_(layout) {}
  LaidOutLayer(const LaidOutLayer&) = delete;
  LaidOutLayer& operator=(const LaidOutLayer&) = delete;

  LayerKind kind() const { return layout_.spec.kind; }
  const std::string& name() const { return layout_.name; }
  Shape3 input_shape() const { return layout_.input; }
  Shape3 output_shape() const { return layout_.output; }
  std::size_t param_count() const { return layout_.param_count; }
  std::size_t state_count() const { return layout_.state_count; }

  void bind(float* params, float* grads, float* state) {
    params_ = params;
    grads_ = grads;
    state_ = state;
  }

 protected:
  ~LaidOutLayer() = default;
  const LayerLayout& layout() const { return layout_; }
  float* weight(std::size_t k) const {
    const WeightSlot& w = layout_.weights[k];
    return (w.trainable ? params_ : state_) + w.offset;
  }
  float* weight_grad(std::size_t k) const { return grads_ + layout_.weights[k].offset; }
  float* param_slice() const { return params_; }
  float* state_slice() const { return state_; }

 private:
  LayerLayout layout_;
  float *params_ = nullptr, *grads_ = nullptr, *state_ = nullptr;
};

class Layer : public LaidOutLayer {
 public:
  explicit Layer(const LayerLayout& layout) : LaidOutLayer(layout) {}
  virtual ~Layer() = default;

  // Keras initial values into the bound slices (init.hpp); `layer_index` seeds the kernels.
  void initialize(std::uint64_t seed, std::uint32_t layer_index) {
    initialize_weights(layout(), param_slice(), state_slice(), seed, layer_index);
  }
  // The layer's weights in Keras order and shape, pointing into the bound slices.
  std::vector<WeightView> weights() const {
    std::vector<WeightView> views;
    for (std::size_t k = 0; k < layout().weights.size(); ++k) {
      const WeightSlot& w = layout().weights[k];
      views.push_back({w.name, w.shape, weight(k), w.trainable});
    }
    return views;
  }
  // Scratch for up to `max_batch` samples.
  virtual void reserve(int /*max_batch*/) {}

  // x: (n, in), y: (n, out).
  virtual void forward(const float* x, float* y, int n, const ForwardContext& ctx) = 0;
  // x, y: this layer's input and output from the last forward; dy: (n, out), may be
  // overwritten; dx: (n, in) or null (first layer).
  virtual void backward(const float* x, const float* y, float* dy, float* dx, int n) = 0;
};

// Builds the CPU layer of a model's layout entry, or of a spec applied to `in`
// (a layer on its own: `layer_index` seeds its random streams).
std::unique_ptr<Layer> make_cpu_layer(const LayerLayout& layout);
std::unique_ptr<Layer> make_cpu_layer(const LayerSpec& spec, Shape3 in, const std::string& name,
                                      std::uint32_t layer_index);

}  // namespace mnist_ddp
