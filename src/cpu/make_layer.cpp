// make_layer.cpp — spec → CPU layer.
#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/batchnorm.hpp"
#include "mnist_ddp/cpu/conv2d.hpp"
#include "mnist_ddp/cpu/dense.hpp"
#include "mnist_ddp/cpu/dropout.hpp"
#include "mnist_ddp/cpu/maxpool.hpp"

namespace mnist_ddp {

std::unique_ptr<Layer> make_cpu_layer(const LayerLayout& layout) {
  const Activation act = layer_activation(layout.spec);
  switch (layout.spec.kind) {
    case LayerKind::kConv2D: return std::make_unique<Conv2DCpu>(layout, act);
    case LayerKind::kBatchNorm: return std::make_unique<BatchNormCpu>(layout);
    case LayerKind::kMaxPool: return std::make_unique<MaxPoolCpu>(layout);
    case LayerKind::kDropout: return std::make_unique<DropoutCpu>(layout);
    case LayerKind::kFlatten: return std::make_unique<FlattenCpu>(layout);
    case LayerKind::kDense: return std::make_unique<DenseCpu>(layout, act);
  }
  MNIST_ASSERT(false, "unknown layer kind");
}

std::unique_ptr<Layer> make_cpu_layer(const LayerSpec& spec, Shape3 in, const std::string& name,
                                      std::uint32_t layer_index) {
  return make_cpu_layer(layer_layout(spec, in, name, layer_index));
}

}  // namespace mnist_ddp
