// maxpool_primitives.hpp — the oneDNN max-pooling primitives of a layer at one batch size.
//
// Forward training keeps oneDNN's workspace (the winners of each window), which
// the backward primitive reads: backward differentiates the last forward.
#pragma once

#include <dnnl.hpp>

#include <string>

namespace mnist_ddp {

struct PoolGeometry {
  int h, w, c, pool;  // input (h, w, c); window = stride = pool, 'valid'
};

class MaxPoolPrimitives {
 public:
  // `name`: the layer's, for the record of what ran (dnnl_info.hpp).
  MaxPoolPrimitives(const PoolGeometry& g, int n, const std::string& name);
  void forward(const float* x, float* y);
  void backward(const float* dy, float* dx);

 private:
  dnnl::memory::desc x_md_, y_md_;
  dnnl::pooling_forward::primitive_desc fwd_pd_;
  dnnl::pooling_forward fwd_;
  dnnl::pooling_backward::primitive_desc bwd_pd_;
  dnnl::pooling_backward bwd_;
  dnnl::memory workspace_;
};

}  // namespace mnist_ddp
