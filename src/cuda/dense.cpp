// dense.cpp — Dense on the GPU: three cublasSgemm per step, bias by cublasSger/cublasSgemv.
#include "mnist_ddp/cuda/dense.hpp"

#include "mnist_ddp/cuda/layout.hpp"

namespace mnist_ddp::cuda {

namespace {

cublasOperation_t op(Op o) { return o == Op::kT ? CUBLAS_OP_T : CUBLAS_OP_N; }

// Row-major C = op(A)·op(B) (+ beta·C) through cuBLAS (operands swapped, layout.hpp).
void gemm_row_major(cublasHandle_t h, Op op_a, Op op_b, int M, int N, int K, const float* a, int lda, const float* b,
                    int ldb, float beta, float* c, int ldc) {
  const ColumnMajorGemm g = row_major_gemm(op_a, op_b, M, N, K, lda, ldb, ldc);
  const float one = 1.0f;
  MNIST_CUBLAS_CHECK(cublasSgemm(h, op(g.op_first), op(g.op_second), g.m, g.n, g.k, &one, b, g.ld_first, a,
                                 g.ld_second, &beta, c, g.ldc));
}

}  // namespace

DenseCuda::DenseCuda(const LayerLayout& layout, Activation act, CudaContext& ctx)
    : CudaLayer(layout, ctx),
      in_(static_cast<int>(layout.input.size())), out_(layout.spec.units), act_(act, ctx),
      y_desc_(layout.output, layer_tensor_view(LayerKind::kDense)) {}

void DenseCuda::reserve(int max_batch) { context().ones(static_cast<std::size_t>(max_batch)); }

void DenseCuda::forward(const float* x, float* y, int n, const ForwardContext&) {
  cublasHandle_t h = context().cublas();
  // Y(n×out) = X(n×in) · W(in×out)
  gemm_row_major(h, Op::kN, Op::kN, n, out_, in_, x, in_, weight(slot::kKernel), out_, 0.0f, y, out_);
  // Y += 1 · bᵀ
  const ColumnMajorRows r = row_major_rows(n, out_);
  const float one = 1.0f;
  MNIST_CUBLAS_CHECK(cublasSger(h, r.m, r.n, &one, weight(slot::kBias), 1, context().ones(n), 1, y, r.lda));
  act_.forward(y_desc_.get(n), y);
}

void DenseCuda::backward(const float* x, const float* y, float* dy, float* dx, int n) {
  cublasHandle_t h = context().cublas();
  act_.backward(y_desc_.get(n), y, dy);
  // db = dYᵀ · 1
  const ColumnMajorRows r = row_major_rows(n, out_);
  const float one = 1.0f, zero = 0.0f;
  MNIST_CUBLAS_CHECK(
      cublasSgemv(h, CUBLAS_OP_N, r.m, r.n, &one, dy, r.lda, context().ones(n), 1, &zero, weight_grad(slot::kBias), 1));
  // dW(in×out) = Xᵀ · dY
  gemm_row_major(h, Op::kT, Op::kN, in_, out_, n, x, in_, dy, out_, 0.0f, weight_grad(slot::kKernel), out_);
  // dX(n×in) = dY · Wᵀ
  if (dx != nullptr)
    gemm_row_major(h, Op::kN, Op::kT, n, in_, out_, dy, out_, weight(slot::kKernel), out_, 0.0f, dx, in_);
}

}  // namespace mnist_ddp::cuda
