// blas.cpp — OpenBLAS sgemm wrappers and the CPU thread settings.
#include "mnist_ddp/cpu/blas.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <sstream>

namespace mnist_ddp {

namespace {
CBLAS_TRANSPOSE to_cblas(Trans t) { return t == Trans::kYes ? CblasTrans : CblasNoTrans; }
}  // namespace

void sgemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
           float beta, float* c, int ldc) {
  if (m <= 0 || n <= 0) return;
  cblas_sgemm(CblasRowMajor, to_cblas(ta), to_cblas(tb), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void parallel_sgemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                    int ldb, float beta, float* c, int ldc) {
  const int threads = std::max(1, std::min(omp_get_max_threads(), m / 16));
  if (threads == 1) {
    sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int nt = omp_get_num_threads();
    const int begin = static_cast<int>(static_cast<long>(m) * t / nt);
    const int end = static_cast<int>(static_cast<long>(m) * (t + 1) / nt);
    // Row i of op(A) starts at a + i·lda when A is not transposed, at a + i otherwise.
    const float* a_rows = ta == Trans::kNo ? a + static_cast<long>(begin) * lda : a + begin;
    sgemm(ta, tb, end - begin, n, k, alpha, a_rows, lda, b, ldb, beta, c + static_cast<long>(begin) * ldc, ldc);
  }
}

void set_cpu_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
  openblas_set_num_threads(1);
}

int cpu_threads() { return omp_get_max_threads(); }

std::string blas_description() {
  std::ostringstream s;
  s << "OpenBLAS (kernel " << openblas_get_corename() << "; " << openblas_get_config() << ")";
  return s.str();
}

}  // namespace mnist_ddp
