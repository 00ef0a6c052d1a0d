// make_layer.cpp — spec → GPU layer (the sibling of src/cpu/make_layer.cpp).
#include "mnist_ddp/cuda/batchnorm.hpp"
#include "mnist_ddp/cuda/conv2d.hpp"
#include "mnist_ddp/cuda/dense.hpp"
#include "mnist_ddp/cuda/dropout.hpp"
#include "mnist_ddp/cuda/layer.hpp"
#include "mnist_ddp/cuda/maxpool.hpp"

namespace mnist_ddp::cuda {

std::unique_ptr<CudaLayer> make_cuda_layer(const LayerLayout& layout, CudaContext& ctx) {
  const Activation act = layer_activation(layout.spec);
  switch (layout.spec.kind) {
    case LayerKind::kConv2D: return std::make_unique<Conv2DCuda>(layout, act, ctx);
    case LayerKind::kBatchNorm: return std::make_unique<BatchNormCuda>(layout, ctx);
    case LayerKind::kMaxPool: return std::make_unique<MaxPoolCuda>(layout, ctx);
    case LayerKind::kDropout: return std::make_unique<DropoutCuda>(layout, ctx);
    case LayerKind::kFlatten: return std::make_unique<FlattenCuda>(layout, ctx);
    case LayerKind::kDense: return std::make_unique<DenseCuda>(layout, act, ctx);
  }
  MNIST_ASSERT(false, "unknown layer kind");
  return nullptr;
}

std::unique_ptr<CudaLayer> make_cuda_layer(const LayerSpec& spec, Shape3 in, const std::string& name,
                                           std::uint32_t layer_index, CudaContext& ctx) {
  return make_cuda_layer(layer_layout(spec, in, name, layer_index), ctx);
}

}  // namespace mnist_ddp::cuda
