// raii.cpp — descriptor helpers of raii.hpp.
#include "mnist_ddp/cuda/raii.hpp"

#include "mnist_ddp/cuda/layout.hpp"

namespace mnist_ddp::cuda {

namespace {

// The dims and strides of one view (layout.hpp); explicit strides say the same as
// CUDNN_TENSOR_NHWC and keep the layout in one place.
TensorDescriptor make_descriptor(const Dims4& dims) {
  TensorDescriptor d;
  MNIST_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(d, CUDNN_DATA_FLOAT, dims.n, dims.c, dims.h, dims.w, dims.stride_n,
                                                 dims.stride_c, dims.stride_h, dims.stride_w));
  return d;
}

}  // namespace

TensorDescriptor make_nhwc_descriptor(int n, Shape3 shape) { return make_descriptor(nhwc_dims(n, shape)); }

TensorDescriptor make_rows_descriptor(int n, Shape3 shape) { return make_descriptor(rows_dims(n, shape)); }

cudnnTensorDescriptor_t BatchDescriptors::get(int n) {
  auto it = by_batch_.find(n);
  if (it == by_batch_.end()) it = by_batch_.emplace(n, make_descriptor(view_dims(view_, n, shape_))).first;
  return it->second.get();
}

}  // namespace mnist_ddp::cuda
