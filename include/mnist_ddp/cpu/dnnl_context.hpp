// dnnl_context.hpp — the process's oneDNN CPU engine, stream and scratchpad.
//
// The CPU layers run their convolutions, the BatchNorm backward and the dense
// layers as oneDNN primitives (conv2d_primitives.hpp, batchnorm_primitives.hpp,
// dense_primitives.hpp). They share one engine and one
// in-order stream (oneDNN's CPU runtime is the project's OpenMP, so the OpenMP
// thread count — `--threads`, set_cpu_threads — is the primitives' thread count),
// and one user-managed scratchpad (scratchpad_mode::user): the layers run one at
// a time, so the largest scratchpad any primitive asks for serves them all.
#pragma once

#include <dnnl.hpp>

#include <cstddef>

#include <unordered_map>

namespace mnist_ddp {

// The primitive attributes every CPU primitive is created with: user scratchpad.
dnnl::primitive_attr dnnl_user_scratchpad_attr();

// The forward pass's attributes: the user scratchpad, and ReLU fused as a post-op when `relu`.
dnnl::primitive_attr dnnl_forward_attr(bool relu);

// The fused ReLU's backward, in place: dy = y > 0 ? dy : 0 over `count` elements (y: the forward's output).
void relu_backward_in_place(const float* y, float* dy, std::size_t count);

// Runs `p` (created from `pd` with dnnl_user_scratchpad_attr) on the shared
// stream with the shared scratchpad, and waits for it. oneDNN's errors become
// RuntimeError naming the primitive.
void dnnl_execute(const dnnl::primitive& p, const dnnl::primitive_desc_base& pd,
                  std::unordered_map<int, dnnl::memory> args);

dnnl::engine& dnnl_engine();

// A user buffer as oneDNN memory of descriptor `md` (no copy).
dnnl::memory dnnl_wrap(const dnnl::memory::desc& md, const float* data);

// An NHWC activation tensor of n images (h, w, c) — the layout of the flat buffers.
dnnl::memory::desc dnnl_nhwc_desc(int n, int h, int w, int c);

}  // namespace mnist_ddp
