// make_layer.cpp — spec → GPU layer (the sibling of src/cpu/make_layer.cpp).
#include "mnist_ddp/cuda/batchnorm.hpp"
#include "mnist_ddp/cuda/conv2d.hpp"
#include "mnist_ddp/cuda/dense.hpp"
#include "mnist_ddp/cuda/dropout.hpp"
#include "mnist_ddp/cuda/layer.hpp"
#include "mnist_ddp/cuda/maxpool.hpp"

namespace mnist_ddp::cuda {

std::unique_ptr<CudaLayer> make_cuda_layer(const LayerSpec& spec, Shape3 in, const std::string& name,
                                           std::uint32_t layer_index, CudaContext& ctx) {
  // The softmax of the last layer is fused into the loss: the layer outputs logits.
  const Activation act = spec.activation == Activation::kSoftmax ? Activation::kLinear : spec.activation;
  switch (spec.kind) {
    case LayerKind::kConv2D: return std::make_unique<Conv2DCuda>(name, in, spec.units, spec.kernel, act, ctx);
    case LayerKind::kBatchNorm: return std::make_unique<BatchNormCuda>(name, in, spec.epsilon, spec.momentum, ctx);
    case LayerKind::kMaxPool: return std::make_unique<MaxPoolCuda>(name, in, spec.kernel, ctx);
    case LayerKind::kDropout: return std::make_unique<DropoutCuda>(name, in, spec.rate, layer_index, ctx);
    case LayerKind::kFlatten: return std::make_unique<FlattenCuda>(name, in, ctx);
    case LayerKind::kDense: return std::make_unique<DenseCuda>(name, in, spec.units, act, ctx);
  }
  MNIST_ASSERT(false, "unknown layer kind");
  return nullptr;
}

}  // namespace mnist_ddp::cuda
