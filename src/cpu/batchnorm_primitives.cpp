// batchnorm_primitives.cpp — BatchNorm backward (training mode) on oneDNN.
#include "mnist_ddp/cpu/batchnorm_primitives.hpp"

#include "mnist_ddp/cpu/dnnl_context.hpp"
#include "mnist_ddp/cpu/dnnl_info.hpp"

namespace mnist_ddp {

namespace {

using dnnl::memory;
const dnnl::normalization_flags kFlags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;

dnnl::batch_normalization_backward::primitive_desc make_backward(const memory::desc& x, float epsilon) {
  // The forward description is only the backward's hint: it is never run.
  const dnnl::batch_normalization_forward::desc fd(dnnl::prop_kind::forward_training, x, epsilon, kFlags);
  const dnnl::batch_normalization_forward::primitive_desc fwd(fd, dnnl_user_scratchpad_attr(), dnnl_engine());
  const dnnl::batch_normalization_backward::desc bd(dnnl::prop_kind::backward, x, x, epsilon, kFlags);
  return dnnl::batch_normalization_backward::primitive_desc(bd, dnnl_user_scratchpad_attr(), dnnl_engine(), fwd);
}

}  // namespace

BatchNormBackwardPrimitives::BatchNormBackwardPrimitives(int n, int h, int w, int c, float epsilon,
                                                         const std::string& name)
    : x_md_(dnnl_nhwc_desc(n, h, w, c)), c_md_({c}, memory::data_type::f32, memory::format_tag::x),
      pd_(make_backward(x_md_, epsilon)), bwd_(pd_) {
  note_dnnl_primitive(name + " backward", pd_.impl_info_str());
}

void BatchNormBackwardPrimitives::backward(const float* x, const float* dy, const float* mean, const float* variance,
                                           const float* gamma, const float* beta, float* dx, float* dgamma, float* dbeta) {
  dnnl_execute(bwd_, pd_,
               {{DNNL_ARG_SRC, dnnl_wrap(x_md_, x)},
                {DNNL_ARG_DIFF_DST, dnnl_wrap(x_md_, dy)},
                {DNNL_ARG_MEAN, dnnl_wrap(c_md_, mean)},
                {DNNL_ARG_VARIANCE, dnnl_wrap(c_md_, variance)},
                {DNNL_ARG_SCALE, dnnl_wrap(c_md_, gamma)},
                {DNNL_ARG_SHIFT, dnnl_wrap(c_md_, beta)},  // read by none, asked for by the argument check
                {DNNL_ARG_DIFF_SRC, dnnl_wrap(x_md_, dx)},
                {DNNL_ARG_DIFF_SCALE, dnnl_wrap(c_md_, dgamma)},
                {DNNL_ARG_DIFF_SHIFT, dnnl_wrap(c_md_, dbeta)}});
}

}  // namespace mnist_ddp
