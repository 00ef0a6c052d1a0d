// dense_primitives.cpp — Dense forward, backward-data and backward-weights on oneDNN's inner product.
#include "mnist_ddp/cpu/dense_primitives.hpp"

#include "mnist_ddp/cpu/dnnl_context.hpp"
#include "mnist_ddp/cpu/dnnl_info.hpp"

namespace mnist_ddp {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr auto kF32 = memory::data_type::f32;

dnnl::inner_product_forward::primitive_desc make_forward(const DenseGeometry& g, const memory::desc& x,
                                                         const memory::desc& w, const memory::desc& b,
                                                         const memory::desc& y) {
  const dnnl::inner_product_forward::desc d(dnnl::prop_kind::forward_training, x, w, b, y);
  const dnnl::primitive_attr attr = dnnl_forward_attr(g.relu);
  return dnnl::inner_product_forward::primitive_desc(d, attr, dnnl_engine());
}

}  // namespace

DensePrimitives::DensePrimitives(const DenseGeometry& g, int n, const std::string& name)
    : name_(name), x_md_({n, g.in}, kF32, tag::nc), y_md_({n, g.out}, kF32, tag::nc),
      w_md_({g.out, g.in}, kF32, tag::io), b_md_({g.out}, kF32, tag::x),
      fwd_pd_(make_forward(g, x_md_, w_md_, b_md_, y_md_)), fwd_(fwd_pd_) {
  const dnnl::inner_product_backward_weights::desc d(x_md_, w_md_, b_md_, y_md_);
  bwd_w_pd_ = dnnl::inner_product_backward_weights::primitive_desc(d, dnnl_user_scratchpad_attr(), dnnl_engine(),
                                                                   fwd_pd_);
  bwd_w_ = dnnl::inner_product_backward_weights(bwd_w_pd_);
  note_dnnl_primitive(name_ + " forward", fwd_pd_.impl_info_str());
  note_dnnl_primitive(name_ + " backward-weights", bwd_w_pd_.impl_info_str());
}

void DensePrimitives::create_backward_data() {
  const dnnl::inner_product_backward_data::desc d(x_md_, w_md_, y_md_);
  bwd_d_pd_.emplace(d, dnnl_user_scratchpad_attr(), dnnl_engine(), fwd_pd_);
  bwd_d_.emplace(*bwd_d_pd_);
  note_dnnl_primitive(name_ + " backward-data", bwd_d_pd_->impl_info_str());
}

void DensePrimitives::forward(const float* x, const float* w, const float* b, float* y) {
  dnnl_execute(fwd_, fwd_pd_,
               {{DNNL_ARG_SRC, dnnl_wrap(x_md_, x)},
                {DNNL_ARG_WEIGHTS, dnnl_wrap(w_md_, w)},
                {DNNL_ARG_BIAS, dnnl_wrap(b_md_, b)},
                {DNNL_ARG_DST, dnnl_wrap(y_md_, y)}});
}

void DensePrimitives::backward(const float* x, const float* w, const float* dy, float* dw, float* db, float* dx) {
  dnnl_execute(bwd_w_, bwd_w_pd_,
               {{DNNL_ARG_SRC, dnnl_wrap(x_md_, x)},
                {DNNL_ARG_DIFF_DST, dnnl_wrap(y_md_, dy)},
                {DNNL_ARG_DIFF_WEIGHTS, dnnl_wrap(w_md_, dw)},
                {DNNL_ARG_DIFF_BIAS, dnnl_wrap(b_md_, db)}});
  if (dx == nullptr) return;
  if (!bwd_d_) create_backward_data();
  dnnl_execute(*bwd_d_, *bwd_d_pd_,
               {{DNNL_ARG_DIFF_DST, dnnl_wrap(y_md_, dy)},
                {DNNL_ARG_WEIGHTS, dnnl_wrap(w_md_, w)},
                {DNNL_ARG_DIFF_SRC, dnnl_wrap(x_md_, dx)}});
}

}  // namespace mnist_ddp
