// raii.cpp — descriptor helpers of raii.hpp.
#include "mnist_ddp/cuda/raii.hpp"

#include "mnist_ddp/cuda/layout.hpp"

namespace mnist_ddp::cuda {

TensorDescriptor make_nhwc_descriptor(int n, Shape3 shape) {
  TensorDescriptor d;
  const Dims4 dims = nhwc_dims(n, shape);
  // Explicit strides say the same as CUDNN_TENSOR_NHWC and keep the layout in one place (layout.hpp).
  MNIST_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(d, CUDNN_DATA_FLOAT, dims.n, dims.c, dims.h, dims.w, dims.stride_n,
                                                 dims.stride_c, dims.stride_h, dims.stride_w));
  return d;
}

TensorDescriptor make_rows_descriptor(int n, Shape3 shape) {
  TensorDescriptor d;
  MNIST_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n * shape.h * shape.w, shape.c,
                                               1, 1));
  return d;
}

cudnnTensorDescriptor_t BatchDescriptors::get(int n) {
  auto it = by_batch_.find(n);
  if (it == by_batch_.end())
    it = by_batch_.emplace(n, view_ == View::kNhwc ? make_nhwc_descriptor(n, shape_) : make_rows_descriptor(n, shape_))
             .first;
  return it->second.get();
}

}  // namespace mnist_ddp::cuda
