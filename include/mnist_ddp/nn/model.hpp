// model.hpp — a sequential network on the CPU with flat weight buffers.
//
// The model owns three flat buffers — trainable parameters, their gradients,
// and non-trainable state (BatchNorm moving statistics) — and the activations
// of every layer for up to max_batch samples, kept from forward to backward.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "mnist_ddp/nn/layer.hpp"
#include "mnist_ddp/nn/model_layout.hpp"
#include "mnist_ddp/nn/spec.hpp"

namespace mnist_ddp {

class Model {
 public:
  Model(std::vector<LayerSpec> specs, Shape3 input, int max_batch);

  const ModelLayout& layout() const { return layout_; }
  const std::vector<LayerSpec>& specs() const { return layout_.specs(); }
  Shape3 input_shape() const { return layout_.input(); }
  int num_outputs() const { return static_cast<int>(layout_.output().size()); }
  int max_batch() const { return max_batch_; }
  std::vector<std::unique_ptr<Layer>>& layers() { return layers_; }

  std::vector<float>& params() { return params_; }   // all trainable weights
  std::vector<float>& grads() { return grads_; }     // their gradients, same layout
  std::vector<float>& state() { return state_; }     // BatchNorm moving mean/variance
  const std::vector<float>& params() const { return params_; }
  const std::vector<float>& state() const { return state_; }

  // Keras initial values, the same for the same seed.
  void initialize(std::uint64_t seed);

  // x: (n, h, w, c) with n <= max_batch. Returns the logits (n, classes).
  const float* forward(const float* x, int n, const ForwardContext& ctx);
  // Backward through the last forward (which must have been with n samples):
  // fills grads() from dlogits (n, classes).
  // on_layer_done(i), if given, is called as soon as layer i's gradients are final
  // (layers run last to first), so their reduction can start during the rest.
  void backward(const float* dlogits, int n, const std::function<void(std::size_t)>& on_layer_done = {});
  // Offset of layer i's parameters in params()/grads().
  std::size_t param_offset(std::size_t i) const { return layout_[i].param_offset; }

 private:
  ModelLayout layout_;
  int max_batch_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<float> params_, grads_, state_;
  std::vector<std::vector<float>> acts_;   // acts_[i]: output of layer i
  std::vector<float> grad_a_, grad_b_;     // ping-pong gradient buffers
  const float* last_input_ = nullptr;
};

}  // namespace mnist_ddp
