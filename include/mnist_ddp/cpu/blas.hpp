// blas.hpp — the CPU backend's matrix products (the dense layers) and thread settings.
//
// The dense layers split their rows over the OpenMP threads and call
// single-threaded OpenBLAS sgemm for each block: small GEMMs scale poorly when
// OpenBLAS threads them itself. The OpenMP thread count is also oneDNN's (the
// convolutions and pooling, dnnl_context.hpp).
#pragma once

#include <string>

namespace mnist_ddp {

enum class Trans { kNo, kYes };

// Row-major C(M×N) = alpha · op(A)(M×K) · op(B)(K×N) + beta · C, one thread.
void sgemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
           float beta, float* c, int ldc);

// The same, with the M rows split across the OpenMP threads.
void parallel_sgemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                    int ldb, float beta, float* c, int ldc);

// Sets the number of CPU threads used by the backend (OpenMP) and pins OpenBLAS
// to one thread per call. threads <= 0: leave OpenMP's default.
void set_cpu_threads(int threads);
int cpu_threads();

// "OpenBLAS 0.3.21 (kernel: Haswell, ...)" — which BLAS and kernel this process runs.
std::string blas_description();

}  // namespace mnist_ddp
