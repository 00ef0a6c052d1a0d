// layout.hpp — the shape and index arithmetic of the GPU backend, host-only and header-only.
//
// Everything here is plain integer arithmetic with no CUDA dependency, so the
// unit tests check it on any machine (tests/unit/test_cuda_shapes.cpp):
//  - the cuDNN view of an NHWC tensor (dims in cuDNN's n, c, h, w order and
//    element strides), the view each layer uses and cuDNN's BatchNorm limits;
//  - layer output shapes, from the model layout both backends read;
//  - Keras's kernel layout (kh, kw, cin, cout) against cuDNN's NHWC filter
//    layout (cout, kh, kw, cin): a transpose of a (kh·kw·cin) × cout matrix;
//  - row-major matrix products expressed as the column-major cuBLAS calls that
//    compute them (the operands swap places: Cᵀ = op(B)ᵀ·op(A)ᵀ);
//  - the activation memory of a model (FLOP counts: bench/layer_flops.hpp);
//  - grid sizes for grid-stride kernels.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mnist_ddp/nn/model_layout.hpp"
#include "mnist_ddp/nn/spec.hpp"

namespace mnist_ddp::cuda {

// ---- tensors ---------------------------------------------------------------------------

// cuDNN's 4-D description of n samples of an NHWC tensor: sizes in (n, c, h, w)
// order and the element stride of each.
struct Dims4 {
  int n, c, h, w;
  int stride_n, stride_c, stride_h, stride_w;
};

inline Dims4 nhwc_dims(int n, Shape3 s) { return {n, s.c, s.h, s.w, s.h * s.w * s.c, 1, s.w * s.c, s.c}; }

// The same memory seen as a plain matrix of n·h·w rows of c channels, (n·h·w, c, 1, 1)
// fully packed. Per-channel and element-wise operations read it alike, but it puts
// n·h·w into cuDNN's N, which cuDNN limits for some operations (below).
inline Dims4 rows_dims(int n, Shape3 s) { return {n * s.h * s.w, s.c, 1, 1, s.c, 1, 1, 1}; }

// The two views a cuDNN descriptor of the GPU backend can take of an NHWC batch.
enum class TensorView { kNhwc, kRows };
inline Dims4 view_dims(TensorView view, int n, Shape3 s) {
  return view == TensorView::kNhwc ? nhwc_dims(n, s) : rows_dims(n, s);
}

// The view each GPU layer gives cuDNN: 4-D NHWC with N = the batch, for every layer.
// BatchNorm's SPATIAL mode reduces over N, H and W and takes NHWC strides; ReLU is
// element-wise. The rows view is never used for a layer: at the evaluation batch
// of 500 on 28×28 it would ask cuDNN's BatchNorm inference for N = 392,000.
inline TensorView layer_tensor_view(LayerKind) { return TensorView::kNhwc; }

// cuDNN's batch-size limits of BatchNorm in SPATIAL mode: inference returns
// CUDNN_STATUS_NOT_SUPPORTED above N = 65,535 (PyTorch's Normalization.cpp uses
// cuDNN only up to these sizes: 65,535 in eval mode, 880,801 in training).
inline constexpr int kCudnnBatchNormInferenceMaxN = 65535;
inline constexpr int kCudnnBatchNormTrainingMaxN = 880801;
inline bool cudnn_batchnorm_supports(const Dims4& d, bool training) {
  return d.n > 0 && d.n <= (training ? kCudnnBatchNormTrainingMaxN : kCudnnBatchNormInferenceMaxN);
}

// Element offset of (b, y, x, ch) in an NHWC batch.
inline std::size_t nhwc_offset(const Dims4& d, int b, int y, int x, int ch) {
  return static_cast<std::size_t>(b) * d.stride_n + static_cast<std::size_t>(y) * d.stride_h +
         static_cast<std::size_t>(x) * d.stride_w + static_cast<std::size_t>(ch) * d.stride_c;
}

// ---- layer shapes: nn/model_layout.hpp's, the one definition both backends build from ----

inline std::vector<Shape3> layer_output_shapes(const std::vector<LayerSpec>& specs, Shape3 input) {
  const ModelLayout layout(specs, input);  // named: a range-for does not extend a temporary's members
  std::vector<Shape3> shapes;
  for (const LayerLayout& l : layout.layers()) shapes.push_back(l.output);
  return shapes;
}

// ---- kernels: Keras (kh, kw, cin, cout) vs cuDNN NHWC filters (cout, kh, kw, cin) ----------

inline std::size_t keras_kernel_index(int ky, int kx, int ci, int co, int kw, int cin, int cout) {
  return ((static_cast<std::size_t>(ky) * kw + kx) * cin + ci) * cout + co;
}
inline std::size_t cudnn_filter_index(int ky, int kx, int ci, int co, int kh, int kw, int cin) {
  return ((static_cast<std::size_t>(co) * kh + ky) * kw + kx) * cin + ci;
}

// ---- row-major products as column-major cuBLAS calls ------------------------------------

enum class Op { kN, kT };

// A cuBLAS sgemm call: C(m×n) = op_first(First) · op_second(Second), column-major.
struct ColumnMajorGemm {
  Op op_first, op_second;
  int m, n, k;
  int ld_first, ld_second, ldc;
};

// Row-major C(M×N) = op(A)(M×K) · op(B)(K×N) with leading dimensions lda, ldb, ldc
// (row-major: the row lengths of the stored arrays). A row-major array read
// column-major is its transpose, so cuBLAS computes Cᵀ = op(B)ᵀ · op(A)ᵀ:
// First = B, Second = A, m = N, n = M.
inline ColumnMajorGemm row_major_gemm(Op op_a, Op op_b, int M, int N, int K, int lda, int ldb, int ldc) {
  return ColumnMajorGemm{op_b, op_a, N, M, K, ldb, lda, ldc};
}

// A cuBLAS sgeam call that writes the transpose of a row-major rows×cols matrix
// into a row-major cols×rows one: C(m×n) = op(A)ᵀ, column-major.
struct ColumnMajorTranspose {
  int m, n;
  int lda, ldc;
};
inline ColumnMajorTranspose row_major_transpose(int rows, int cols) {
  return ColumnMajorTranspose{rows, cols, cols, rows};
}

// A row-major rows×cols matrix Y seen column-major (cols×rows, ld = cols):
// bias broadcast Y += 1·bᵀ is cublasSger(m = cols, n = rows, x = b, y = ones);
// column sums db = Yᵀ·1 is cublasSgemv(N, m = cols, n = rows, x = ones).
struct ColumnMajorRows {
  int m, n, lda;
};
inline ColumnMajorRows row_major_rows(int rows, int cols) { return ColumnMajorRows{cols, rows, cols}; }

// ---- memory -----------------------------------------------------------------------------------

// Floats of activation storage that CudaModel keeps for `batch` samples
// (one output buffer per layer, two gradient buffers of the widest tensor).
inline std::size_t model_activation_floats(const std::vector<LayerSpec>& specs, Shape3 input, int batch) {
  const ModelLayout layout(specs, input);
  return static_cast<std::size_t>(batch) * (layout.output_floats() + 2 * layout.widest());
}

// ---- launches ---------------------------------------------------------------------------------

// Blocks of `threads` covering `count` elements, capped for grid-stride loops.
inline int grid_size(std::size_t count, int threads, int max_blocks = 65535) {
  const std::size_t blocks = (count + static_cast<std::size_t>(threads) - 1) / static_cast<std::size_t>(threads);
  return static_cast<int>(std::clamp<std::size_t>(blocks, 1, static_cast<std::size_t>(max_blocks)));
}

}  // namespace mnist_ddp::cuda
