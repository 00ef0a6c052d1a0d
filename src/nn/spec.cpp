// spec.cpp — the seed CNN and names for layer kinds.
#include "mnist_ddp/nn/spec.hpp"

#include <cmath>

namespace mnist_ddp {

std::vector<LayerSpec> seed_cnn() {
  auto conv = [](int filters) { return LayerSpec{LayerKind::kConv2D, filters, 3, Activation::kRelu}; };
  const LayerSpec bn{LayerKind::kBatchNorm};
  const LayerSpec pool{LayerKind::kMaxPool, 0, 2};
  auto dropout = [](float rate) {
    LayerSpec s{LayerKind::kDropout};
    s.rate = rate;
    return s;
  };
  return {conv(32), bn, conv(32), bn, pool, dropout(0.25f),
          conv(64), bn, conv(64), bn, pool, dropout(0.25f),
          conv(128), bn, pool, dropout(0.25f),
          LayerSpec{LayerKind::kFlatten},
          LayerSpec{LayerKind::kDense, 256, 0, Activation::kRelu}, bn, dropout(0.5f),
          LayerSpec{LayerKind::kDense, 10, 0, Activation::kSoftmax}};
}

double debiased_momentum(double momentum, std::int64_t step) {
  if (step < 0) return momentum;
  const double power = std::pow(momentum, static_cast<double>(step));
  return momentum * (1.0 - power) / (1.0 - power * momentum);
}

const char* keras_class_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::kConv2D: return "Conv2D";
    case LayerKind::kBatchNorm: return "BatchNormalization";
    case LayerKind::kMaxPool: return "MaxPooling2D";
    case LayerKind::kDropout: return "Dropout";
    case LayerKind::kFlatten: return "Flatten";
    case LayerKind::kDense: return "Dense";
  }
  return "?";
}

const char* to_string(Activation a) {
  switch (a) {
    case Activation::kLinear: return "linear";
    case Activation::kRelu: return "relu";
    case Activation::kSoftmax: return "softmax";
  }
  return "?";
}

}  // namespace mnist_ddp
