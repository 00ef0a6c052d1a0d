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

LayerLayout layer_layout(const LayerSpec& spec, Shape3 in, std::string name, std::uint32_t index) {
  LayerLayout l;
  l.spec = spec;
  l.name = std::move(name);
  l.index = index;
  l.input = in;
  l.output = in;
  const auto c = static_cast<std::size_t>(in.c);
  switch (spec.kind) {
    case LayerKind::kConv2D:  // kernel (k, k, cin, cout), bias (cout)
      l.output = conv_same_output(in, spec.units);
      l.param_count = static_cast<std::size_t>(spec.kernel) * spec.kernel * c * spec.units + spec.units;
      break;
    case LayerKind::kBatchNorm:  // gamma, beta; moving mean, moving variance (c each)
      l.param_count = 2 * c;
      l.state_count = 2 * c;
      break;
    case LayerKind::kMaxPool: l.output = pool_output(in, spec.kernel); break;
    case LayerKind::kFlatten: l.output = Shape3{1, 1, static_cast<int>(in.size())}; break;
    case LayerKind::kDense:  // kernel (in, units), bias (units)
      l.output = Shape3{1, 1, spec.units};
      l.param_count = in.size() * spec.units + spec.units;
      break;
    case LayerKind::kDropout: break;
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
