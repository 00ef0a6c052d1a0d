// model.cpp — building the layers, binding the flat buffers, forward and backward.
#include "mnist_ddp/nn/model.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

namespace {
// Keras's automatic layer names: conv2d, conv2d_1, batch_normalization, ...
std::string keras_layer_name(LayerKind kind, int ordinal) {
  std::string base;
  switch (kind) {
    case LayerKind::kConv2D: base = "conv2d"; break;
    case LayerKind::kBatchNorm: base = "batch_normalization"; break;
    case LayerKind::kMaxPool: base = "max_pooling2d"; break;
    case LayerKind::kDropout: base = "dropout"; break;
    case LayerKind::kFlatten: base = "flatten"; break;
    case LayerKind::kDense: base = "dense"; break;
  }
  return ordinal == 0 ? base : base + "_" + std::to_string(ordinal);
}
}  // namespace

Model::Model(std::vector<LayerSpec> specs, Shape3 input, int max_batch)
    : specs_(std::move(specs)), input_(input), max_batch_(max_batch) {
  MNIST_ASSERT(!specs_.empty() && max_batch > 0, "empty model or batch");
  std::map<LayerKind, int> seen;
  Shape3 shape = input;
  std::size_t nparams = 0, nstate = 0, widest = input.size();
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const LayerKind kind = specs_[i].kind;
    layers_.push_back(make_cpu_layer(specs_[i], shape, keras_layer_name(kind, seen[kind]++),
                                     static_cast<std::uint32_t>(i)));
    shape = layers_.back()->output_shape();
    nparams += layers_.back()->param_count();
    nstate += layers_.back()->state_count();
    widest = std::max(widest, shape.size());
  }
  params_.assign(nparams, 0.0f);
  grads_.assign(nparams, 0.0f);
  state_.assign(nstate, 0.0f);
  std::size_t p = 0, s = 0;
  for (auto& layer : layers_) {
    offsets_.push_back(p);
    layer->bind(params_.data() + p, grads_.data() + p, state_.data() + s);
    layer->reserve(max_batch);
    p += layer->param_count();
    s += layer->state_count();
    acts_.emplace_back(static_cast<std::size_t>(max_batch) * layer->output_shape().size());
  }
  grad_a_.resize(static_cast<std::size_t>(max_batch) * widest);
  grad_b_.resize(static_cast<std::size_t>(max_batch) * widest);
}

void Model::initialize(std::uint64_t seed) {
  for (std::size_t i = 0; i < layers_.size(); ++i) layers_[i]->initialize(seed, static_cast<std::uint32_t>(i));
}

const float* Model::forward(const float* x, int n, const ForwardContext& ctx) {
  MNIST_ASSERT(n > 0 && n <= max_batch_, "batch of " << n << " exceeds the model's " << max_batch_);
  last_input_ = x;
  const float* in = x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->forward(in, acts_[i].data(), n, ctx);
    in = acts_[i].data();
  }
  return in;
}

void Model::backward(const float* dlogits, int n, const std::function<void(std::size_t)>& on_layer_done) {
  MNIST_ASSERT(last_input_ != nullptr, "backward without forward");
  std::memcpy(grad_a_.data(), dlogits, sizeof(float) * n * num_outputs());
  float* dy = grad_a_.data();
  float* dx = grad_b_.data();
  for (std::size_t i = layers_.size(); i-- > 0;) {
    const float* x = i == 0 ? last_input_ : acts_[i - 1].data();
    layers_[i]->backward(x, acts_[i].data(), dy, i == 0 ? nullptr : dx, n);
    if (on_layer_done) on_layer_done(i);
    std::swap(dy, dx);
  }
}

}  // namespace mnist_ddp
