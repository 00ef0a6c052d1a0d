// dense.cpp — Dense on the CPU: oneDNN inner-product primitives (dense_primitives.hpp) per batch size.
#include "mnist_ddp/cpu/dense.hpp"

#include <cstddef>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/dnnl_context.hpp"

namespace mnist_ddp {

DenseCpu::DenseCpu(const LayerLayout& layout, Activation act)
    : Layer(layout), in_(static_cast<int>(layout.input.size())), out_(layout.spec.units), act_(act) {
  MNIST_ASSERT(act == Activation::kLinear || act == Activation::kRelu, "unsupported Dense activation");
}

DensePrimitives& DenseCpu::primitives(int n) {
  return primitives_.get(n, [this](int samples) {
    return DensePrimitives(DenseGeometry{in_, out_, act_ == Activation::kRelu}, samples, name());
  });
}

void DenseCpu::reserve(int max_batch) { primitives(max_batch); }

void DenseCpu::forward(const float* x, float* y, int n, const ForwardContext&) {
  if (n > 0) primitives(n).forward(x, weight(slot::kKernel), weight(slot::kBias), y);
}

void DenseCpu::backward(const float* x, const float* y, float* dy, float* dx, int n) {
  if (n <= 0) return;
  if (act_ == Activation::kRelu) relu_backward_in_place(y, dy, static_cast<std::size_t>(n) * out_);
  primitives(n).backward(x, weight(slot::kKernel), dy, weight_grad(slot::kKernel), weight_grad(slot::kBias), dx);
}

}  // namespace mnist_ddp
