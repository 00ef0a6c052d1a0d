// maxpool.cpp — MaxPooling2D on the CPU: oneDNN primitives (maxpool_primitives.hpp) per batch size.
#include "mnist_ddp/cpu/maxpool.hpp"

namespace mnist_ddp {

MaxPoolPrimitives& MaxPoolCpu::primitives(int n) {
  return primitives_.get(n, [this](int images) {
    return MaxPoolPrimitives(PoolGeometry{input_shape().h, input_shape().w, input_shape().c, pool_}, images, name());
  });
}

void MaxPoolCpu::reserve(int max_batch) { primitives(max_batch); }

void MaxPoolCpu::forward(const float* x, float* y, int n, const ForwardContext&) {
  if (n > 0) primitives(n).forward(x, y);
}

void MaxPoolCpu::backward(const float*, const float*, float* dy, float* dx, int n) {
  if (dx == nullptr || n <= 0) return;
  primitives(n).backward(dy, dx);
}

}  // namespace mnist_ddp
