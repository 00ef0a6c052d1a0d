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
  dnnl::primitive_attr attr = dnnl_user_scratchpad_attr();
  if (g.relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  return dnnl::convolution_forward::primitive_desc(d, attr, dnnl_engine());
}

// A copy of `from` (user memory) in layout `to`, or `from` itself when the layouts agree.
memory in_layout(const memory& from, const memory::desc& to, memory& cache) {
  if (from.get_desc() == to) return from;
  if (!cache || cache.get_desc() != to) cache = memory(to, dnnl_engine());
  const dnnl::reorder::primitive_desc pd(from, cache);
  dnnl_execute(dnnl::reorder(pd), pd, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, cache}});
  return cache;
}

}  // namespace

ConvPrimitives::ConvPrimitives(const ConvGeometry& g, int n, const std::string& name)
    : g_(g), n_(n), name_(name), x_md_(dnnl_nhwc_desc(n, g.h, g.w, g.cin)), y_md_(dnnl_nhwc_desc(n, g.h, g.w, g.cout)),
      w_user_md_({g.cout, g.cin, g.k, g.k}, kF32, tag::hwio), b_md_({g.cout}, kF32, tag::x),
      fwd_pd_(make_forward(g, x_md_, b_md_, y_md_)), fwd_(fwd_pd_) {
  const memory::dims stride{1, 1}, pad{g.pad, g.pad};
  const dnnl::convolution_backward_weights::desc d(kAlgo, x_md_, any_weights(g), b_md_, y_md_, stride, pad, pad);
  bwd_w_pd_ = dnnl::convolution_backward_weights::primitive_desc(d, dnnl_user_scratchpad_attr(), dnnl_engine(), fwd_pd_);
  bwd_w_ = dnnl::convolution_backward_weights(bwd_w_pd_);
  note_dnnl_primitive(name_ + " forward", fwd_pd_.impl_info_str());
  note_dnnl_primitive(name_ + " backward-weights", bwd_w_pd_.impl_info_str());
}

void ConvPrimitives::create_backward_data() {
  const memory::dims stride{1, 1}, pad{g_.pad, g_.pad};
  const dnnl::convolution_backward_data::desc d(kAlgo, x_md_, any_weights(g_), y_md_, stride, pad, pad);
  bwd_d_pd_.emplace(d, dnnl_user_scratchpad_attr(), dnnl_engine(), fwd_pd_);
  bwd_d_.emplace(*bwd_d_pd_);
  note_dnnl_primitive(name_ + " backward-data", bwd_d_pd_->impl_info_str());
}

void ConvPrimitives::forward(const float* x, const float* w, const float* b, float* y) {
  const memory wm = in_layout(dnnl_wrap(w_user_md_, w), fwd_pd_.weights_desc(), w_fwd_);
  w_last_ = w;
  dnnl_execute(fwd_, fwd_pd_,
               {{DNNL_ARG_SRC, dnnl_wrap(x_md_, x)},
                {DNNL_ARG_WEIGHTS, wm},
                {DNNL_ARG_BIAS, dnnl_wrap(b_md_, b)},
                {DNNL_ARG_DST, dnnl_wrap(y_md_, y)}});
}

void ConvPrimitives::backward(const float* x, const float* dy, float* dw, float* db, float* dx) {
  const memory dw_user = dnnl_wrap(w_user_md_, dw);
  const bool direct = bwd_w_pd_.diff_weights_desc() == w_user_md_;
  if (!direct && (!dw_prim_ || dw_prim_.get_desc() != bwd_w_pd_.diff_weights_desc()))
    dw_prim_ = memory(bwd_w_pd_.diff_weights_desc(), dnnl_engine());
  dnnl_execute(bwd_w_, bwd_w_pd_,
               {{DNNL_ARG_SRC, dnnl_wrap(x_md_, x)},
                {DNNL_ARG_DIFF_DST, dnnl_wrap(y_md_, dy)},
                {DNNL_ARG_DIFF_WEIGHTS, direct ? dw_user : dw_prim_},
                {DNNL_ARG_DIFF_BIAS, dnnl_wrap(b_md_, db)}});
  if (!direct) {
    dnnl::reorder::primitive_desc pd(dw_prim_, dw_user);
    dnnl_execute(dnnl::reorder(pd), pd, {{DNNL_ARG_FROM, dw_prim_}, {DNNL_ARG_TO, dw_user}});
  }
  if (dx == nullptr) return;
  MNIST_ASSERT(w_last_ != nullptr, "Conv2D backward before a forward of " << n_ << " images");
  if (!bwd_d_) create_backward_data();
  // The kernel as the last forward saw it: its copy in the forward's layout, when that is the one wanted.
  const memory w_user = dnnl_wrap(w_user_md_, w_last_);
  const memory::desc& want = bwd_d_pd_->weights_desc();
  const memory wm = want == fwd_pd_.weights_desc() && w_fwd_ ? w_fwd_ : in_layout(w_user, want, w_bwd_d_);
  dnnl_execute(*bwd_d_, *bwd_d_pd_,
               {{DNNL_ARG_DIFF_DST, dnnl_wrap(y_md_, dy)}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, dnnl_wrap(x_md_, dx)}});
}

}  // namespace mnist_ddp
