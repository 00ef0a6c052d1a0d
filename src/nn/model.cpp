// model.cpp — building the layers, binding the flat buffers, forward and backward.
#include "mnist_ddp/nn/model.hpp"

#include <algorithm>
#include <cstring>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/nn/sequential.hpp"

namespace mnist_ddp {

Model::Model(std::vector<LayerSpec> specs, Shape3 input, int max_batch)
    : layout_(std::move(specs), input), max_batch_(max_batch),
      params_(layout_.param_count(), 0.0f), grads_(layout_.param_count(), 0.0f), state_(layout_.state_count(), 0.0f) {
  MNIST_ASSERT(max_batch > 0, "empty batch");
  for (const LayerLayout& l : layout_.layers()) {
    layers_.push_back(make_cpu_layer(l));
    layers_.back()->bind(params_.data() + l.param_offset, grads_.data() + l.param_offset, state_.data() + l.state_offset);
    layers_.back()->reserve(max_batch);
    acts_.emplace_back(static_cast<std::size_t>(max_batch) * l.output.size());
  }
  grad_a_.resize(static_cast<std::size_t>(max_batch) * layout_.widest());
  grad_b_.resize(static_cast<std::size_t>(max_batch) * layout_.widest());
}

void Model::initialize(std::uint64_t seed) {
  for (std::size_t i = 0; i < layers_.size(); ++i) layers_[i]->initialize(seed, static_cast<std::uint32_t>(i));
}

const float* Model::forward(const float* x, int n, const ForwardContext& ctx) {
  MNIST_ASSERT(n > 0 && n <= max_batch_, "batch of " << n << " exceeds the model's " << max_batch_);
  last_input_ = x;
  return sequential_forward(layers_, acts_, x, n, ctx);
}

void Model::backward(const float* dlogits, int n, const std::function<void(std::size_t)>& on_layer_done) {
  MNIST_ASSERT(last_input_ != nullptr, "backward without forward");
  std::memcpy(grad_a_.data(), dlogits, sizeof(float) * n * num_outputs());
  sequential_backward(layers_, acts_, last_input_, grad_a_.data(), grad_b_.data(), n, on_layer_done);
}

}  // namespace mnist_ddp
