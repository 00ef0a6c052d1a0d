// maxpool.cpp — MaxPooling2D on the CPU (NHWC, window = stride, 'valid').
#include "mnist_ddp/cpu/maxpool.hpp"

#include <cstring>

#include "mnist_ddp/core/check.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace mnist_ddp {

namespace {

// One output row (ow windows of c channels) from the pool input rows starting at `in`.
void pool_row_forward(const float* in, std::size_t in_row, int ow, int pool, int c, float* out, std::uint8_t* win) {
  for (int ox = 0; ox < ow; ++ox) {
    const float* first = in + static_cast<std::size_t>(ox) * pool * c;
    float* o = out + static_cast<std::size_t>(ox) * c;
    std::uint8_t* w = win + static_cast<std::size_t>(ox) * c;
    std::memcpy(o, first, sizeof(float) * c);
    std::memset(w, 0, c);
    for (int k = 1; k < pool * pool; ++k) {
      const float* v = first + (k / pool) * in_row + static_cast<std::size_t>(k % pool) * c;
      for (int j = 0; j < c; ++j) {
        const bool more = v[j] > o[j];
        o[j] = more ? v[j] : o[j];
        w[j] = more ? static_cast<std::uint8_t>(k) : w[j];
      }
    }
  }
}

#if defined(__AVX2__)
// The same for 2x2 windows and c a multiple of 8, 8 channels at a time: the four
// candidates in window order, a later one winning only when greater (the scalar
// rule, NaN included: an ordered compare is false with a NaN, as `>` is).
void pool2_row_forward(const float* in, std::size_t in_row, int ow, int c, float* out, std::uint8_t* win) {
  for (int ox = 0; ox < ow; ++ox) {
    const float* first = in + static_cast<std::size_t>(ox) * 2 * c;
    const float* candidate[4] = {first, first + c, first + in_row, first + in_row + c};
    float* o = out + static_cast<std::size_t>(ox) * c;
    std::uint8_t* w = win + static_cast<std::size_t>(ox) * c;
    for (int j = 0; j < c; j += 8) {
      __m256 best = _mm256_loadu_ps(candidate[0] + j);
      __m256i index = _mm256_setzero_si256();
      for (int k = 1; k < 4; ++k) {
        const __m256 v = _mm256_loadu_ps(candidate[k] + j);
        const __m256 more = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
        best = _mm256_blendv_ps(best, v, more);
        index = _mm256_blendv_epi8(index, _mm256_set1_epi32(k), _mm256_castps_si256(more));
      }
      _mm256_storeu_ps(o + j, best);
      const __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(index), _mm256_extracti128_si256(index, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(w + j), _mm_packus_epi16(words, words));
    }
  }
}
#endif

// One output row, by the vector path where it applies.
void pool_row(const float* in, std::size_t in_row, int ow, int pool, int c, float* out, std::uint8_t* win) {
#if defined(__AVX2__)
  if (pool == 2 && c % 8 == 0) return pool2_row_forward(in, in_row, ow, c, out, win);
#endif
  pool_row_forward(in, in_row, ow, pool, c, out, win);
}

// The dx rows of one output row: the gradient where the window's winner is, 0 elsewhere.
void pool_row_backward(const float* g, const std::uint8_t* win, int ow, int pool, int c, std::size_t in_row, float* dx) {
  for (int k = 0; k < pool * pool; ++k) {
    float* d = dx + (k / pool) * in_row + static_cast<std::size_t>(k % pool) * c;
    for (int ox = 0; ox < ow; ++ox) {
      const std::size_t o = static_cast<std::size_t>(ox) * c;
      float* dk = d + o * pool;
      for (int j = 0; j < c; ++j) dk[j] = win[o + j] == k ? g[o + j] : 0.0f;
    }
  }
}

}  // namespace

void MaxPoolCpu::reserve(int max_batch) {
  MNIST_ASSERT(pool() >= 1 && pool() * pool() <= 256, "MaxPooling2D window " << pool() << " does not fit a byte index");
  winner_.resize(static_cast<std::size_t>(max_batch) * output_shape().size());
}

void MaxPoolCpu::forward(const float* x, float* y, int n, const ForwardContext&) {
  const Shape3 in = input_shape(), out = output_shape();
  if (winner_.size() < static_cast<std::size_t>(n) * out.size()) reserve(n);
  const std::size_t in_row = static_cast<std::size_t>(in.w) * in.c, out_row = static_cast<std::size_t>(out.w) * out.c;
  const std::ptrdiff_t rows = static_cast<std::ptrdiff_t>(n) * out.h;
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    const std::ptrdiff_t b = r / out.h, oy = r % out.h;
    const float* src = x + static_cast<std::size_t>(b) * in.size() + static_cast<std::size_t>(oy) * pool() * in_row;
    pool_row(src, in_row, out.w, pool(), in.c, y + r * out_row, winner_.data() + r * out_row);
  }
}

void MaxPoolCpu::backward(const float*, const float*, float* dy, float* dx, int n) {
  if (dx == nullptr || n <= 0) return;
  const Shape3 in = input_shape(), out = output_shape();
  const std::size_t in_row = static_cast<std::size_t>(in.w) * in.c, out_row = static_cast<std::size_t>(out.w) * out.c;
  const std::size_t covered = static_cast<std::size_t>(out.w) * pool() * in.c;  // of each input row
  const std::ptrdiff_t rows = static_cast<std::ptrdiff_t>(n) * in.h;
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t r = 0; r < rows; ++r) {  // input rows; the first of a window's rows writes all of them
    const std::ptrdiff_t b = r / in.h, iy = r % in.h;
    float* d = dx + static_cast<std::size_t>(b) * in.size() + static_cast<std::size_t>(iy) * in_row;
    if (iy >= static_cast<std::ptrdiff_t>(out.h) * pool()) {  // below the last whole window
      std::memset(d, 0, sizeof(float) * in_row);
      continue;
    }
    std::memset(d + covered, 0, sizeof(float) * (in_row - covered));  // right of the last window
    if (iy % pool() != 0) continue;  // written with the window's first row
    const std::size_t o = (static_cast<std::size_t>(b) * out.h + iy / pool()) * out_row;
    pool_row_backward(dy + o, winner_.data() + o, out.w, pool(), in.c, in_row, d);
  }
}

}  // namespace mnist_ddp
