// conv2d_primitives.cpp — Conv2D forward, backward-data and backward-weights on oneDNN.
#include "mnist_ddp/cpu/conv2d_primitives.hpp"

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/dnnl_context.hpp"
#include "mnist_ddp/cpu/dnnl_info.hpp"

namespace mnist_ddp {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr auto kF32 = memory::data_type::f32;
constexpr auto kAlgo = dnnl::algorithm::convolution_direct;

memory::desc any_weights(const ConvGeometry& g) { return memory::desc({g.cout, g.cin, g.k, g.k}, kF32, tag::any); }

dnnl::convolution_forward::primitive_desc make_forward(const ConvGeometry& g, const memory::desc& x,
                                                       const memory::desc& b, const memory::desc& y) {
  const memory::dims stride{1, 1}, pad{g.pad, g.pad};
  const dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, kAlgo, x, any_weights(g), b, y, stride,
                                          pad, pad);
  const dnnl::primitive_attr attr = dnnl_forward_attr(g.relu);
  return dnnl::convolution_forward::primitive_desc(d, attr, dnnl_engine());
}

}  // namespace

WeightReorder::WeightReorder(const memory::desc& from, const memory::desc& to) {
  if (from == to) return;
  pd_ = dnnl::reorder::primitive_desc(dnnl_engine(), from, dnnl_engine(), to);
  reorder_ = dnnl::reorder(pd_);
}

void WeightReorder::operator()(const memory& from, const memory& to) const {
  dnnl_execute(reorder_, pd_, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
}

ConvPrimitives::ConvPrimitives(const ConvGeometry& g, int n, const std::string& name)
    : g_(g), n_(n), name_(name), x_md_(dnnl_nhwc_desc(n, g.h, g.w, g.cin)), y_md_(dnnl_nhwc_desc(n, g.h, g.w, g.cout)),
      w_user_md_({g.cout, g.cin, g.k, g.k}, kF32, tag::hwio), b_md_({g.cout}, kF32, tag::x),
      fwd_pd_(make_forward(g, x_md_, b_md_, y_md_)), fwd_(fwd_pd_), to_fwd_(w_user_md_, fwd_pd_.weights_desc()) {
  const memory::dims stride{1, 1}, pad{g.pad, g.pad};
  const dnnl::convolution_backward_weights::desc d(kAlgo, x_md_, any_weights(g), b_md_, y_md_, stride, pad, pad);
  bwd_w_pd_ = dnnl::convolution_backward_weights::primitive_desc(d, dnnl_user_scratchpad_attr(), dnnl_engine(), fwd_pd_);
  bwd_w_ = dnnl::convolution_backward_weights(bwd_w_pd_);
  from_bwd_w_ = WeightReorder(bwd_w_pd_.diff_weights_desc(), w_user_md_);
  if (from_bwd_w_.needed()) dw_prim_ = memory(bwd_w_pd_.diff_weights_desc(), dnnl_engine());
  if (to_fwd_.needed()) w_fwd_ = memory(fwd_pd_.weights_desc(), dnnl_engine());
  note_dnnl_primitive(name_ + " forward", fwd_pd_.impl_info_str());
  note_dnnl_primitive(name_ + " backward-weights", bwd_w_pd_.impl_info_str());
}

void ConvPrimitives::create_backward_data() {
  const memory::dims stride{1, 1}, pad{g_.pad, g_.pad};
  const dnnl::convolution_backward_data::desc d(kAlgo, x_md_, any_weights(g_), y_md_, stride, pad, pad);
  bwd_d_pd_.emplace(d, dnnl_user_scratchpad_attr(), dnnl_engine(), fwd_pd_);
  bwd_d_.emplace(*bwd_d_pd_);
  // From the forward's copy of the kernel (the weights of the last forward), or HWIO when that is the layout.
  const memory::desc& from = to_fwd_.needed() ? fwd_pd_.weights_desc() : w_user_md_;
  to_bwd_d_ = WeightReorder(from, bwd_d_pd_->weights_desc());
  if (to_bwd_d_.needed()) w_bwd_d_ = memory(bwd_d_pd_->weights_desc(), dnnl_engine());
  note_dnnl_primitive(name_ + " backward-data", bwd_d_pd_->impl_info_str());
}

void ConvPrimitives::forward(const float* x, const float* w, const float* b, float* y) {
  const memory w_user = dnnl_wrap(w_user_md_, w);
  if (to_fwd_.needed()) to_fwd_(w_user, w_fwd_);
  w_last_ = w;
  dnnl_execute(fwd_, fwd_pd_,
               {{DNNL_ARG_SRC, dnnl_wrap(x_md_, x)},
                {DNNL_ARG_WEIGHTS, to_fwd_.needed() ? w_fwd_ : w_user},
                {DNNL_ARG_BIAS, dnnl_wrap(b_md_, b)},
                {DNNL_ARG_DST, dnnl_wrap(y_md_, y)}});
}

void ConvPrimitives::backward(const float* x, const float* dy, float* dw, float* db, float* dx) {
  const memory dw_user = dnnl_wrap(w_user_md_, dw);
  dnnl_execute(bwd_w_, bwd_w_pd_,
               {{DNNL_ARG_SRC, dnnl_wrap(x_md_, x)},
                {DNNL_ARG_DIFF_DST, dnnl_wrap(y_md_, dy)},
                {DNNL_ARG_DIFF_WEIGHTS, from_bwd_w_.needed() ? dw_prim_ : dw_user},
                {DNNL_ARG_DIFF_BIAS, dnnl_wrap(b_md_, db)}});
  if (from_bwd_w_.needed()) from_bwd_w_(dw_prim_, dw_user);
  if (dx == nullptr) return;
  MNIST_ASSERT(w_last_ != nullptr, "Conv2D backward before a forward of " << n_ << " images");
  if (!bwd_d_) create_backward_data();
  // The kernel as the last forward saw it: the forward's copy, or the user kernel it read.
  const memory w_seen = to_fwd_.needed() ? w_fwd_ : dnnl_wrap(w_user_md_, w_last_);
  if (to_bwd_d_.needed()) to_bwd_d_(w_seen, w_bwd_d_);
  dnnl_execute(*bwd_d_, *bwd_d_pd_,
               {{DNNL_ARG_DIFF_DST, dnnl_wrap(y_md_, dy)},
                {DNNL_ARG_WEIGHTS, to_bwd_d_.needed() ? w_bwd_d_ : w_seen},
                {DNNL_ARG_DIFF_SRC, dnnl_wrap(x_md_, dx)}});
}

}  // namespace mnist_ddp
