// single_channel_conv.cpp — Conv2D 3x3 'same', one input channel: the own AVX2
// weight gradient beside oneDNN's forward (single_channel_conv.hpp).
#include "mnist_ddp/cpu/single_channel_conv.hpp"

#include <omp.h>

#include <algorithm>
#include <cstddef>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/dnnl_context.hpp"
#include "mnist_ddp/cpu/dnnl_info.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define MNIST_DDP_SINGLE_CHANNEL_AVX2 1
#endif

namespace mnist_ddp {

bool single_channel_conv_supports(const ConvGeometry& g) {
#ifdef MNIST_DDP_SINGLE_CHANNEL_AVX2
  return g.k == 3 && g.pad == 1 && g.cin == 1 && g.cout % 8 == 0 && g.h > 0 && g.w > 0;
#else
  return g.k == 3 && false;
#endif
}

#ifdef MNIST_DDP_SINGLE_CHANNEL_AVX2

namespace {

constexpr int kTaps = 9;  // the 3x3 kernel positions, ky * 3 + kx

// The image (h, w) inside a border of zeros, (h + 2, w + 2): the 'same' padding made explicit.
void pad_image(const float* x, int h, int w, float* xp) {
  const int wp = w + 2;
  std::fill(xp, xp + static_cast<std::size_t>(h + 2) * wp, 0.0f);
  for (int r = 0; r < h; ++r) std::copy(x + r * w, x + (r + 1) * w, xp + (r + 1) * wp + 1);
}

// Adds one image row's contribution for 8 output channels to dw ([9][cout], at
// the block) and db: xp at the padded row above the output row, dy (and y) at the
// row's first pixel and the block's channel, `cout` floats apart. The nine
// accumulators are named variables, not an array: GCC stored an array back to the
// stack after every FMA (2.4 ms instead of ~1 ms per 128 images).
template <bool kRelu>
void row_block(const float* xp, int wp, const float* dy, const float* y, int w, int cout, float* dw, float* db) {
  __m256 a0 = _mm256_loadu_ps(dw), a1 = _mm256_loadu_ps(dw + cout), a2 = _mm256_loadu_ps(dw + 2 * cout);
  __m256 a3 = _mm256_loadu_ps(dw + 3 * cout), a4 = _mm256_loadu_ps(dw + 4 * cout), a5 = _mm256_loadu_ps(dw + 5 * cout);
  __m256 a6 = _mm256_loadu_ps(dw + 6 * cout), a7 = _mm256_loadu_ps(dw + 7 * cout), a8 = _mm256_loadu_ps(dw + 8 * cout);
  __m256 bias = _mm256_loadu_ps(db);
  const __m256 zero = _mm256_setzero_ps();
  for (int x = 0; x < w; ++x) {
    __m256 g = _mm256_loadu_ps(dy + static_cast<std::size_t>(x) * cout);
    // The ReLU's backward: dy where the forward's output was positive.
    if (kRelu) {
      const __m256 positive = _mm256_cmp_ps(_mm256_loadu_ps(y + static_cast<std::size_t>(x) * cout), zero, _CMP_GT_OQ);
      g = _mm256_and_ps(g, positive);
    }
    bias = _mm256_add_ps(bias, g);
    const float* r0 = xp + x;  // the 3x3 input window of pixel x, rows r0, r1, r2
    const float* r1 = r0 + wp;
    const float* r2 = r1 + wp;
    a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(r0), g, a0);
    a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(r0 + 1), g, a1);
    a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(r0 + 2), g, a2);
    a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(r1), g, a3);
    a4 = _mm256_fmadd_ps(_mm256_broadcast_ss(r1 + 1), g, a4);
    a5 = _mm256_fmadd_ps(_mm256_broadcast_ss(r1 + 2), g, a5);
    a6 = _mm256_fmadd_ps(_mm256_broadcast_ss(r2), g, a6);
    a7 = _mm256_fmadd_ps(_mm256_broadcast_ss(r2 + 1), g, a7);
    a8 = _mm256_fmadd_ps(_mm256_broadcast_ss(r2 + 2), g, a8);
  }
  _mm256_storeu_ps(dw, a0), _mm256_storeu_ps(dw + cout, a1), _mm256_storeu_ps(dw + 2 * cout, a2);
  _mm256_storeu_ps(dw + 3 * cout, a3), _mm256_storeu_ps(dw + 4 * cout, a4), _mm256_storeu_ps(dw + 5 * cout, a5);
  _mm256_storeu_ps(dw + 6 * cout, a6), _mm256_storeu_ps(dw + 7 * cout, a7), _mm256_storeu_ps(dw + 8 * cout, a8);
  _mm256_storeu_ps(db, bias);
}

// Adds one image's weight and bias gradient to dw and db; xp: room for the padded image.
template <bool kRelu>
void image_gradient(const ConvGeometry& g, const float* x, const float* y, const float* dy, float* xp, float* dw,
                    float* db) {
  pad_image(x, g.h, g.w, xp);
  const int wp = g.w + 2;
  for (int r = 0; r < g.h; ++r) {
    const std::size_t row = static_cast<std::size_t>(r) * g.w * g.cout;
    for (int c = 0; c < g.cout; c += 8)
      row_block<kRelu>(xp + r * wp, wp, dy + row + c, kRelu ? y + row + c : nullptr, g.w, g.cout, dw + c, db + c);
  }
}

}  // namespace

SingleChannelConv::SingleChannelConv(const ConvGeometry& g, int n, const std::string& name)
    : g_(g), n_(n), threads_(std::max(1, omp_get_max_threads())), direct_(g, n, name) {
  MNIST_ASSERT(single_channel_conv_supports(g), "the one-input-channel convolution does not apply to " << name);
  scratch_per_thread_ = static_cast<std::size_t>(g.h + 2) * (g.w + 2) + (kTaps + 1) * static_cast<std::size_t>(g.cout);
  scratch_.resize(scratch_per_thread_ * threads_);
  note_dnnl_primitive(name + " backward-weights", "single-channel 3x3:avx2 (mnist_ddp)");
}

void SingleChannelConv::weight_gradient(const float* x, const float* y, const float* dy, float* dw, float* db) {
  const std::size_t image_in = static_cast<std::size_t>(g_.h) * g_.w, image_out = image_in * g_.cout;
  const std::size_t padded = static_cast<std::size_t>(g_.h + 2) * (g_.w + 2);
  const std::size_t taps = kTaps * static_cast<std::size_t>(g_.cout);
  int team = 1;
#pragma omp parallel num_threads(threads_)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    if (t == 0) team = nt;
    float* xp = scratch_.data() + t * scratch_per_thread_;
    float* pdw = xp + padded;  // this thread's partial dw, then db
    std::fill(pdw, pdw + taps + g_.cout, 0.0f);
    // A static split of the images: the same thread count adds the same numbers in the same order.
    for (int i = n_ * t / nt; i < n_ * (t + 1) / nt; ++i) {
      const float* yi = y ? y + i * image_out : nullptr;
      if (y) image_gradient<true>(g_, x + i * image_in, yi, dy + i * image_out, xp, pdw, pdw + taps);
      else image_gradient<false>(g_, x + i * image_in, yi, dy + i * image_out, xp, pdw, pdw + taps);
    }
  }
  // The partial sums in thread order.
  for (std::size_t q = 0; q < taps + g_.cout; ++q) {
    float s = 0.0f;
    for (int t = 0; t < team; ++t) s += scratch_[t * scratch_per_thread_ + padded + q];
    (q < taps ? dw[q] : db[q - taps]) = s;
  }
}

void SingleChannelConv::forward(const float* x, const float* w, const float* b, float* y) {
  direct_.forward(x, w, b, y);
}

void SingleChannelConv::backward(const float* x, const float* dy, float* dw, float* db, float* dx) {
  if (dx != nullptr) return direct_.backward(x, dy, dw, db, dx);  // oneDNN computes both together
  weight_gradient(x, nullptr, dy, dw, db);
}

bool SingleChannelConv::backward_through_relu(const float* x, const float* y, float* dy, float* dw, float* db,
                                              float* dx) {
  if (dx != nullptr) return false;
  weight_gradient(x, y, dy, dw, db);
  return true;
}

#else  // no AVX2/FMA in this build: single_channel_conv_supports() is false and nothing makes one

SingleChannelConv::SingleChannelConv(const ConvGeometry& g, int n, const std::string& name)
    : g_(g), n_(n), threads_(1), direct_(g, n, name) {
  MNIST_ASSERT(false, "the one-input-channel convolution needs an AVX2/FMA build (" << name << ")");
}
void SingleChannelConv::weight_gradient(const float*, const float*, const float*, float*, float*) {}
void SingleChannelConv::forward(const float*, const float*, const float*, float*) {}
void SingleChannelConv::backward(const float*, const float*, float*, float*, float*) {}
bool SingleChannelConv::backward_through_relu(const float*, const float*, float*, float*, float*, float*) {
  return false;
}

#endif

}  // namespace mnist_ddp
