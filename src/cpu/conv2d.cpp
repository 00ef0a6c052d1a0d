// conv2d.cpp — Conv2D on the CPU: its passes (conv_passes.hpp) per batch size.
#include "mnist_ddp/cpu/conv2d.hpp"


#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/dnnl_context.hpp"

namespace mnist_ddp {

Conv2DCpu::Conv2DCpu(const LayerLayout& layout, Activation act)
    : Layer(layout),
      k_(layout.spec.kernel), cin_(layout.input.c), cout_(layout.spec.units), pad_(conv_same_padding(k_)), act_(act) {
  MNIST_ASSERT(k_ % 2 == 1, "'same' convolution needs an odd kernel");
  MNIST_ASSERT(act == Activation::kLinear || act == Activation::kRelu, "unsupported Conv2D activation");
}

ConvPasses& Conv2DCpu::passes(int n) {
  return passes_.get(n, [this](int images) {
    const ConvGeometry g{input_shape().h, input_shape().w, cin_, cout_, k_, pad_, act_ == Activation::kRelu};
    return make_conv_passes(g, images, name());
  });
}

void Conv2DCpu::reserve(int max_batch) { passes(max_batch); }

void Conv2DCpu::forward(const float* x, float* y, int n, const ForwardContext&) {
  if (n > 0) passes(n).forward(x, weight(slot::kKernel), weight(slot::kBias), y);
}

void Conv2DCpu::backward(const float* x, const float* y, float* dy, float* dx, int n) {
  if (n <= 0) return;
  ConvPasses& p = passes(n);
  float* dw = weight_grad(slot::kKernel);
  float* db = weight_grad(slot::kBias);
  if (act_ == Activation::kRelu) {
    if (p.backward_through_relu(x, y, dy, dw, db, dx)) return;
    relu_backward_in_place(y, dy, static_cast<std::size_t>(n) * output_shape().size());
  }
  p.backward(x, dy, dw, db, dx);
}

}  // namespace mnist_ddp
