// maxpool_primitives.cpp — MaxPooling2D forward (with workspace) and backward on oneDNN.
#include "mnist_ddp/cpu/maxpool_primitives.hpp"

#include "mnist_ddp/cpu/dnnl_context.hpp"
#include "mnist_ddp/cpu/dnnl_info.hpp"

namespace mnist_ddp {

namespace {

using dnnl::memory;

// Window = stride = pool, no padding: the output is floor(h / pool) rows, the
// rows and columns past the last whole window are dropped (Keras 'valid').
dnnl::pooling_forward::primitive_desc make_forward(const PoolGeometry& g, const memory::desc& x,
                                                   const memory::desc& y) {
  const memory::dims window{g.pool, g.pool}, none{0, 0};
  const dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max, x, y, window,
                                      window, none, none);
  return dnnl::pooling_forward::primitive_desc(d, dnnl_user_scratchpad_attr(), dnnl_engine());
}

dnnl::pooling_backward::primitive_desc make_backward(const PoolGeometry& g, const memory::desc& x,
                                                     const memory::desc& y,
                                                     const dnnl::pooling_forward::primitive_desc& fwd) {
  const memory::dims window{g.pool, g.pool}, none{0, 0};
  const dnnl::pooling_backward::desc d(dnnl::algorithm::pooling_max, x, y, window, window, none, none);
  return dnnl::pooling_backward::primitive_desc(d, dnnl_user_scratchpad_attr(), dnnl_engine(), fwd);
}

}  // namespace

MaxPoolPrimitives::MaxPoolPrimitives(const PoolGeometry& g, int n, const std::string& name)
    : x_md_(dnnl_nhwc_desc(n, g.h, g.w, g.c)), y_md_(dnnl_nhwc_desc(n, g.h / g.pool, g.w / g.pool, g.c)),
      fwd_pd_(make_forward(g, x_md_, y_md_)), fwd_(fwd_pd_), bwd_pd_(make_backward(g, x_md_, y_md_, fwd_pd_)),
      bwd_(bwd_pd_), workspace_(fwd_pd_.workspace_desc(), dnnl_engine()) {
  note_dnnl_primitive(name + " forward", fwd_pd_.impl_info_str());
  note_dnnl_primitive(name + " backward", bwd_pd_.impl_info_str());
}

void MaxPoolPrimitives::forward(const float* x, float* y) {
  dnnl_execute(fwd_, fwd_pd_,
               {{DNNL_ARG_SRC, dnnl_wrap(x_md_, x)}, {DNNL_ARG_DST, dnnl_wrap(y_md_, y)}, {DNNL_ARG_WORKSPACE, workspace_}});
}

void MaxPoolPrimitives::backward(const float* dy, float* dx) {
  dnnl_execute(bwd_, bwd_pd_,
               {{DNNL_ARG_DIFF_DST, dnnl_wrap(y_md_, dy)},
                {DNNL_ARG_WORKSPACE, workspace_},
                {DNNL_ARG_DIFF_SRC, dnnl_wrap(x_md_, dx)}});
}

}  // namespace mnist_ddp
