// model_layout.cpp — shape rules, parameter counts and offsets of the layers.
#include "mnist_ddp/nn/model_layout.hpp"

#include <algorithm>
#include <map>
#include <utility>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

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

std::size_t WeightSlot::count() const {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

namespace {

// Appends a weight to the layer's parameter or state slice.
void add_weight(LayerLayout& l, std::string name, std::vector<std::size_t> shape, bool trainable, WeightInit init) {
  WeightSlot w{std::move(name), std::move(shape), trainable, init, trainable ? l.param_count : l.state_count};
  (trainable ? l.param_count : l.state_count) += w.count();
  l.weights.push_back(std::move(w));
}

}  // namespace

LayerLayout layer_layout(const LayerSpec& spec, Shape3 in, std::string name, std::uint32_t index) {
  LayerLayout l;
  l.spec = spec;
  l.name = std::move(name);
  l.index = index;
  l.input = in;
  l.output = in;
  const auto c = static_cast<std::size_t>(in.c);
  const auto units = static_cast<std::size_t>(spec.units);
  switch (spec.kind) {
    case LayerKind::kConv2D:
      l.output = conv_same_output(in, spec.units);
      add_weight(l, "kernel", {std::size_t(spec.kernel), std::size_t(spec.kernel), c, units}, true,
                 WeightInit::kGlorotUniform);
      add_weight(l, "bias", {units}, true, WeightInit::kZeros);
      break;
    case LayerKind::kBatchNorm:
      add_weight(l, "gamma", {c}, true, WeightInit::kOnes);
      add_weight(l, "beta", {c}, true, WeightInit::kZeros);
      add_weight(l, "moving_mean", {c}, false, WeightInit::kZeros);
      add_weight(l, "moving_variance", {c}, false, WeightInit::kOnes);
      break;
    case LayerKind::kMaxPool: l.output = pool_output(in, spec.kernel); break;
    case LayerKind::kFlatten: l.output = Shape3{1, 1, static_cast<int>(in.size())}; break;
    case LayerKind::kDense:
      l.output = Shape3{1, 1, spec.units};
      add_weight(l, "kernel", {in.size(), units}, true, WeightInit::kGlorotUniform);
      add_weight(l, "bias", {units}, true, WeightInit::kZeros);
      break;
    case LayerKind::kDropout:
      MNIST_ASSERT(spec.rate >= 0.0f && spec.rate < 1.0f, "dropout rate " << spec.rate);
      break;
  }
  return l;
}

ModelLayout::ModelLayout(std::vector<LayerSpec> specs, Shape3 input)
    : specs_(std::move(specs)), input_(input), widest_(input.size()) {
  MNIST_ASSERT(!specs_.empty(), "empty model");
  std::map<LayerKind, int> seen;
  Shape3 shape = input;
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const LayerKind kind = specs_[i].kind;
    LayerLayout l = layer_layout(specs_[i], shape, keras_layer_name(kind, seen[kind]++), static_cast<std::uint32_t>(i));
    l.param_offset = params_;
    l.state_offset = state_;
    params_ += l.param_count;
    state_ += l.state_count;
    shape = l.output;
    widest_ = std::max(widest_, shape.size());
    outputs_ += shape.size();
    layers_.push_back(std::move(l));
  }
}

}  // namespace mnist_ddp
