// make_layer.cpp — spec → CPU layer.
#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/batchnorm.hpp"
#include "mnist_ddp/cpu/conv2d.hpp"
#include "mnist_ddp/cpu/dense.hpp"
#include "mnist_ddp/cpu/dropout.hpp"
#include "mnist_ddp/cpu/maxpool.hpp"

namespace mnist_ddp {

std::unique_ptr<Layer> make_cpu_layer(const LayerSpec& spec, Shape3 in, const std::string& name,
                                      std::uint32_t layer_index) {
  // The softmax of the last layer is fused into the loss: the layer outputs logits.
  const Activation act = spec.activation == Activation::kSoftmax ? Activation::kLinear : spec.activation;
  switch (spec.kind) {
    case LayerKind::kConv2D: return std::make_unique<Conv2DCpu>(name, in, spec.units, spec.kernel, act);
    case LayerKind::kBatchNorm: return std::make_unique<BatchNormCpu>(name, in, spec.epsilon, spec.momentum);
    case LayerKind::kMaxPool: return std::make_unique<MaxPoolCpu>(name, in, spec.kernel);
    case LayerKind::kDropout: return std::make_unique<DropoutCpu>(name, in, spec.rate, layer_index);
    case LayerKind::kFlatten: return std::make_unique<FlattenCpu>(name, in);
    case LayerKind::kDense: return std::make_unique<DenseCpu>(name, in, spec.units, act);
  }
  MNIST_ASSERT(false, "unknown layer kind");
}

}  // namespace mnist_ddp
