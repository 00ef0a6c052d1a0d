// dnnl_context.cpp — the shared oneDNN engine, stream and scratchpad.
#include "mnist_ddp/cpu/dnnl_context.hpp"

#include <string>
#include <vector>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

namespace {

struct DnnlContext {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::vector<unsigned char> scratchpad;  // grows to the largest a primitive asked for
};

DnnlContext& context() {
  static DnnlContext ctx;
  return ctx;
}

}  // namespace

dnnl::engine& dnnl_engine() { return context().engine; }

dnnl::primitive_attr dnnl_user_scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::primitive_attr dnnl_forward_attr(bool relu) {
  dnnl::primitive_attr attr = dnnl_user_scratchpad_attr();
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  return attr;
}

void relu_backward_in_place(const float* y, float* dy, std::size_t count) {
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(count);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < n; ++i) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

dnnl::memory dnnl_wrap(const dnnl::memory::desc& md, const float* data) {
  // oneDNN takes a non-const handle; inputs are only read.
  return dnnl::memory(md, dnnl_engine(), const_cast<float*>(data));
}

dnnl::memory::desc dnnl_nhwc_desc(int n, int h, int w, int c) {
  return dnnl::memory::desc({n, c, h, w}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nhwc);
}

void dnnl_execute(const dnnl::primitive& p, const dnnl::primitive_desc_base& pd,
                  std::unordered_map<int, dnnl::memory> args) {
  DnnlContext& ctx = context();
  try {
    const dnnl::memory::desc scratch = pd.scratchpad_desc();
    if (scratch.get_size() > ctx.scratchpad.size()) ctx.scratchpad.resize(scratch.get_size());
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(scratch, ctx.engine, ctx.scratchpad.data()));
    p.execute(ctx.stream, args);
    ctx.stream.wait();
  } catch (const dnnl::error& e) {
    MNIST_CHECK(false, RuntimeError, "oneDNN " << pd.impl_info_str() << ": " << e.what());
  }
}

}  // namespace mnist_ddp
