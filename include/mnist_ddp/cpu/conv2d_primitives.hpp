// conv2d_primitives.hpp — the oneDNN primitives of a Conv2D layer at one batch size.
//
// Activations stay in the flat buffers' NHWC layout (format_tag::nhwc) and the
// kernel in Keras's HWIO (format_tag::hwio). The primitives may prefer another
// weight layout (format_tag::any lets oneDNN choose): forward() then reorders
// the kernel into it — once per forward, i.e. once per training step — and
// backward()'s data pass reuses that copy, so backward differentiates the last
// forward with the weights as they were then. The weight gradient comes back in
// oneDNN's layout and is reordered to HWIO. The reorder primitives are made
// with the layer's others, once per batch size, not per call. The ReLU is fused into the forward
// pass as a post-op; its backward (dy *= y > 0) is the layer's, before backward().
// The backward-data primitive is created on the first backward that asks for dx
// (never for a model's first layer: oneDNN's one-input-channel case is slow).
#pragma once

#include <dnnl.hpp>

#include <optional>
#include <string>

#include "mnist_ddp/cpu/conv_passes.hpp"

namespace mnist_ddp {

// A weight reorder between two layouts, created once; nothing to do when they agree.
class WeightReorder {
 public:
  WeightReorder() = default;
  WeightReorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to);
  bool needed() const { return static_cast<bool>(reorder_); }
  void operator()(const dnnl::memory& from, const dnnl::memory& to) const;

 private:
  dnnl::reorder::primitive_desc pd_;
  dnnl::reorder reorder_;
};

class ConvPrimitives final : public ConvPasses {
 public:
  // `name`: the layer's, for the record of what ran (dnnl_info.hpp).
  ConvPrimitives(const ConvGeometry& g, int n, const std::string& name);
  void forward(const float* x, const float* w, const float* b, float* y) override;
  void backward(const float* x, const float* dy, float* dw, float* db, float* dx) override;

 private:
  void create_backward_data();
  ConvGeometry g_;
  int n_;
  std::string name_;
  dnnl::memory::desc x_md_, y_md_, w_user_md_, b_md_;
  dnnl::convolution_forward::primitive_desc fwd_pd_;
  dnnl::convolution_forward fwd_;
  WeightReorder to_fwd_;      // HWIO -> the forward's kernel layout
  dnnl::convolution_backward_weights::primitive_desc bwd_w_pd_;
  dnnl::convolution_backward_weights bwd_w_;
  std::optional<dnnl::convolution_backward_data::primitive_desc> bwd_d_pd_;
  std::optional<dnnl::convolution_backward_data> bwd_d_;
  WeightReorder from_bwd_w_;  // the weight gradient's layout -> HWIO
  WeightReorder to_bwd_d_;    // the forward's kernel layout -> the backward-data's
  dnnl::memory w_fwd_;     // the kernel in the forward primitive's layout (when not HWIO)
  dnnl::memory w_bwd_d_;   // ... in the backward-data primitive's (when not the forward's)
  dnnl::memory dw_prim_;   // the weight gradient in the backward-weights primitive's layout
  const float* w_last_ = nullptr;  // the user kernel of the last forward
};

}  // namespace mnist_ddp
