// dense_primitives.hpp — the oneDNN inner-product primitives of a Dense layer at one batch size.
//
// Activations are the flat buffers' (n, in) and (n, out) rows (format_tag::nc);
// the kernel stays in Keras's (in, out) layout, which is oneDNN's weights
// {out, in} in format_tag::io — the layout oneDNN's gemm inner product picks
// itself when left to choose (results/onednn/raw/ipany.txt), so no reorder.
// The weight gradient is written in the same layout. The ReLU is fused into the
// forward pass as a post-op; its backward (dy *= y > 0) is the layer's, before
// backward(). The backward-data primitive is created on the first backward that
// asks for dx.
#pragma once

#include <dnnl.hpp>

#include <optional>
#include <string>

namespace mnist_ddp {

struct DenseGeometry {
  int in, out;
  bool relu;
};

class DensePrimitives {
 public:
  // `name`: the layer's, for the record of what ran (dnnl_info.hpp).
  DensePrimitives(const DenseGeometry& g, int n, const std::string& name);
  // y = act(x · w + b), x: (n, in), w: (in, out), y: (n, out).
  void forward(const float* x, const float* w, const float* b, float* y);
  // dw (in, out) and db from x and dy; dx = dy · wᵀ when dx is not null.
  void backward(const float* x, const float* w, const float* dy, float* dw, float* db, float* dx);

 private:
  void create_backward_data();
  std::string name_;
  dnnl::memory::desc x_md_, y_md_, w_md_, b_md_;
  dnnl::inner_product_forward::primitive_desc fwd_pd_;
  dnnl::inner_product_forward fwd_;
  dnnl::inner_product_backward_weights::primitive_desc bwd_w_pd_;
  dnnl::inner_product_backward_weights bwd_w_;
  std::optional<dnnl::inner_product_backward_data::primitive_desc> bwd_d_pd_;
  std::optional<dnnl::inner_product_backward_data> bwd_d_;
};

}  // namespace mnist_ddp
