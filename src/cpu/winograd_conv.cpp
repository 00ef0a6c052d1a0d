// winograd_conv.cpp — Conv2D 3x3 'same' by Winograd's algorithm, AVX2 + FMA (winograd_conv.hpp).
//
// The tile transforms are in winograd_tiles.hpp. Tile (ty, tx) of an image covers
// outputs (m·ty.., m·tx..) and reads inputs from (m·ty - 1, m·tx - 1); rows and
// columns outside the image are zeros (the 'same' padding), outputs outside it
// are not written. Activations are transformed 8 channels at a time.
#include "mnist_ddp/cpu/winograd_conv.hpp"

#include <omp.h>

#include <algorithm>
#include <cstddef>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/dnnl_info.hpp"
#include "mnist_ddp/cpu/winograd_tiles.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define MNIST_DDP_WINOGRAD_AVX2 1
#endif

namespace mnist_ddp {

bool winograd_supports(const ConvGeometry& g) {
#ifdef MNIST_DDP_WINOGRAD_AVX2
  return g.k == 3 && g.pad == 1 && g.cin % 16 == 0 && g.cout % 16 == 0 && g.h > 0 && g.w > 0;
#else
  (void)g;
  return false;
#endif
}

#ifdef MNIST_DDP_WINOGRAD_AVX2

namespace {

using winograd::separable;
using winograd::separable_io;
// The tile of the forward and backward-data passes, and of the weight gradient.
using ConvTile = winograd::F4x4;
using GradientTile = winograd::F2x2;

// One cache line towards L1. An asm statement: GCC 12 deletes a loop of
// __builtin_prefetch (or _mm_prefetch) once it is inlined into its caller.
inline void prefetch_line(const char* p) { asm volatile("prefetcht0 %0" : : "m"(*p)); }

// The images of a batch and their m x m tiles: ceil(h/m) x ceil(w/m) per image.
struct Plane {
  int h, w, m, th, tw;
  std::ptrdiff_t tiles;  // of the whole batch
  Plane(const ConvGeometry& g, int n, int tile)
      : h(g.h), w(g.w), m(tile), th((g.h + tile - 1) / tile), tw((g.w + tile - 1) / tile),
        tiles(static_cast<std::ptrdiff_t>(n) * th * tw) {}
  // Tile t: its image and its top-left output pixel.
  void locate(std::ptrdiff_t t, std::ptrdiff_t& img, int& oy, int& ox) const {
    const std::ptrdiff_t per_image = static_cast<std::ptrdiff_t>(th) * tw;
    img = t / per_image;
    const int r = static_cast<int>(t % per_image);
    oy = m * (r / tw);
    ox = m * (r % tw);
  }
  // The Side x Side pixels of tile t in a tensor with `channels`, from `offset`
  // rows and columns off its first output pixel (nullptr: outside the image).
  template <int Side, typename P>
  void pixels(P* base, std::ptrdiff_t t, int offset, int channels, P* (&at)[Side * Side]) const {
    std::ptrdiff_t img;
    int oy, ox;
    locate(t, img, oy, ox);
    for (int q = 0; q < Side * Side; ++q) {
      const int y = oy + offset + q / Side, x = ox + offset + q % Side;
      const bool inside = y >= 0 && y < h && x >= 0 && x < w;
      at[q] = inside ? base + ((img * h + y) * w + x) * static_cast<std::ptrdiff_t>(channels) : nullptr;
    }
  }
  // Asks for the cache lines of tile t's Side x Side pixels (as pixels() finds them)
  // ahead of their use: the activations stream from memory, a tile's rows are far apart.
  template <int Side>
  void prefetch(const float* base, std::ptrdiff_t t, int offset, int channels) const {
    if (t >= tiles) return;
    std::ptrdiff_t img;
    int oy, ox;
    locate(t, img, oy, ox);
    const int x0 = std::max(0, ox + offset), x1 = std::min(w, ox + offset + Side);
    if (x0 >= x1) return;
    const std::ptrdiff_t bytes = static_cast<std::ptrdiff_t>(x1 - x0) * channels * 4;
    for (int y = std::max(0, oy + offset); y < std::min(h, oy + offset + Side); ++y) {
      const char* row = reinterpret_cast<const char*>(base + ((img * h + y) * w + x0) * static_cast<std::ptrdiff_t>(channels));
      for (std::ptrdiff_t b = 0; b < bytes; b += 64) prefetch_line(row + b);
    }
  }
};

// Tiles per block: the block's two transformed tensors (positions x tiles x
// channels) within ~256 KiB of the core's L2, whole 6-row GEMM steps.
template <class T>
int block_tiles(int cin, int cout) {
  return std::clamp(65536 / (T::positions * (cin + cout)) / 6 * 6, 6, 96);
}

// The tile whose pixels are asked for while this one is transformed: two ahead.
constexpr int kPrefetchAhead = 2;

// The distance between two positions ξ of a block's transformed tiles.
inline std::size_t xi_stride(int block, int channels) { return static_cast<std::size_t>(block) * channels; }

// ---- the activation transforms, 8 channels at a time --------------------------------------

// V[ξ][i][c] (ξ stride: block tiles) = Bᵀ d B of tiles t0 .. t0+tb.
template <class T>
void transform_inputs(const float* src, const Plane& p, int channels, std::ptrdiff_t t0, int tb, int block, float* v) {
  constexpr int a = T::a, aa = a * a;
  const std::size_t stride = xi_stride(block, channels);
  for (int i = 0; i < tb; ++i) {
    const float* at[aa];
    p.pixels<a>(src, t0 + i, -1, channels, at);
    p.prefetch<a>(src, t0 + i + kPrefetchAhead, -1, channels);
    float* vi = v + static_cast<std::size_t>(i) * channels;
    for (int c = 0; c < channels; c += 8)
      separable_io<a, a, __m256>(
          [&](int q) { return at[q] != nullptr ? _mm256_loadu_ps(at[q] + c) : _mm256_setzero_ps(); },
          [](const __m256* x, int xs, __m256* y, int ys) { T::input(x, xs, y, ys); },
          [&](int q, __m256 out) { _mm256_storeu_ps(vi + q * stride + c, out); });
  }
}

// dst's m x m outputs (Aᵀ M A) of tiles t0 .. t0+tb from M[ξ][i][k], plus the bias, through the ReLU if asked.
template <class T>
void transform_outputs(const float* m, const Plane& p, int channels, std::ptrdiff_t t0, int tb, int block,
                       const float* bias, bool relu, float* dst) {
  constexpr int a = T::a, mm = T::m * T::m;
  const std::size_t stride = xi_stride(block, channels);
  const __m256 zero = _mm256_setzero_ps();
  for (int i = 0; i < tb; ++i) {
    float* at[mm];
    p.pixels<T::m>(dst, t0 + i, 0, channels, at);
    p.prefetch<T::m>(dst, t0 + i + kPrefetchAhead, 0, channels);
    const float* mi = m + static_cast<std::size_t>(i) * channels;
    for (int k = 0; k < channels; k += 8) {
      const __m256 b = bias != nullptr ? _mm256_loadu_ps(bias + k) : zero;
      separable_io<a, T::m, __m256>(
          [&](int q) { return _mm256_loadu_ps(mi + q * stride + k); },
          [](const __m256* x, int xs, __m256* o, int os) { T::output(x, xs, o, os); },
          [&](int j, __m256 y) {
            if (at[j] != nullptr) _mm256_storeu_ps(at[j] + k, relu ? _mm256_max_ps(y + b, zero) : y + b);
          });
    }
  }
}

// dM[ξ][i][k] = (A dY Aᵀ)_ξ of tiles t0 .. t0+tb (dY zero outside the image), and db += Σ dY.
// With relu_y, dY is first masked where relu_y <= 0 and written back (the tiles
// of m x m outputs do not overlap: each pixel is masked once).
template <class T>
void transform_gradients(float* dy, const float* relu_y, const Plane& p, int channels, std::ptrdiff_t t0, int tb,
                         int block, float* dm, float* db) {
  constexpr int a = T::a, mm = T::m * T::m;
  const std::size_t stride = xi_stride(block, channels);
  const __m256 zero = _mm256_setzero_ps();
  for (int i = 0; i < tb; ++i) {
    float* at[mm];
    p.pixels<T::m>(dy, t0 + i, 0, channels, at);
    p.prefetch<T::m>(dy, t0 + i + kPrefetchAhead, 0, channels);
    if (relu_y != nullptr) p.prefetch<T::m>(relu_y, t0 + i + kPrefetchAhead, 0, channels);
    float* mi = dm + static_cast<std::size_t>(i) * channels;
    for (int k = 0; k < channels; k += 8) {
      __m256 g[mm];
      __m256 sum = zero;
      for (int j = 0; j < mm; ++j) {
        g[j] = at[j] != nullptr ? _mm256_loadu_ps(at[j] + k) : zero;
        if (relu_y != nullptr && at[j] != nullptr) {
          const __m256 on = _mm256_cmp_ps(_mm256_loadu_ps(relu_y + (at[j] - dy) + k), zero, _CMP_GT_OQ);
          g[j] = _mm256_and_ps(g[j], on);
          _mm256_storeu_ps(at[j] + k, g[j]);
        }
        sum = sum + g[j];
      }
      separable_io<T::m, a, __m256>([&](int j) { return g[j]; },
                                    [](const __m256* x, int xs, __m256* o, int os) { T::gradient(x, xs, o, os); },
                                    [&](int q, __m256 out) { _mm256_storeu_ps(mi + q * stride + k, out); });
      _mm256_storeu_ps(db + k, _mm256_loadu_ps(db + k) + sum);
    }
  }
}

// ---- the GEMMs: C (rows x cols) = or += A · B, cols a multiple of 16 ---------------------

// Rows r < R of C[r][0..16) from a[r·ars + p·aps] and b[p·bps + 0..16), p < depth.
// The accumulators are named registers (an array of them, even fully unrolled, is
// kept on the stack by GCC 12 and stored back after every FMA).
template <int R>
void gemm_block(const float* a, std::size_t ars, std::size_t aps, const float* b, std::size_t bps, int depth, float* c,
                std::size_t crs, bool add) {
  static_assert(R >= 1 && R <= 6, "6 rows of 16 columns: 12 accumulators, 2 B vectors, 1 broadcast");
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int p = 0; p < depth; ++p) {
    const float* bp = b + p * bps;
    const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
    const float* ap = a + p * aps;
    const auto row = [&](int r, __m256& lo, __m256& hi) {
      const __m256 ar = _mm256_broadcast_ss(ap + r * ars);
      lo = _mm256_fmadd_ps(ar, b0, lo);
      hi = _mm256_fmadd_ps(ar, b1, hi);
    };
    row(0, c00, c01);
    if constexpr (R > 1) row(1, c10, c11);
    if constexpr (R > 2) row(2, c20, c21);
    if constexpr (R > 3) row(3, c30, c31);
    if constexpr (R > 4) row(4, c40, c41);
    if constexpr (R > 5) row(5, c50, c51);
  }
  const __m256 rows[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * crs;
    __m256 lo = rows[r][0], hi = rows[r][1];
    if (add) {
      lo = lo + _mm256_loadu_ps(cr);
      hi = hi + _mm256_loadu_ps(cr + 8);
    }
    _mm256_storeu_ps(cr, lo);
    _mm256_storeu_ps(cr + 8, hi);
  }
}

struct Operand {
  const float* a;
  std::size_t ars, aps;  // A's strides: row, depth
  const float* b;
  std::size_t bps;       // B's depth stride (its columns are contiguous)
  float* c;
  std::size_t crs;
};

void gemm(const Operand& o, int rows, int cols, int depth, bool add) {
  constexpr int kRows = 6;  // 6 x 16: 12 accumulators, 2 loads and 6 broadcasts per step
  for (int j = 0; j < cols; j += 16)
    for (int r = 0; r < rows; r += kRows) {
      const float* a = o.a + r * o.ars;
      const float* b = o.b + j;
      float* c = o.c + r * o.crs + j;
      switch (std::min(kRows, rows - r)) {
        case 6: gemm_block<6>(a, o.ars, o.aps, b, o.bps, depth, c, o.crs, add); break;
        case 5: gemm_block<5>(a, o.ars, o.aps, b, o.bps, depth, c, o.crs, add); break;
        case 4: gemm_block<4>(a, o.ars, o.aps, b, o.bps, depth, c, o.crs, add); break;
        case 3: gemm_block<3>(a, o.ars, o.aps, b, o.bps, depth, c, o.crs, add); break;
        case 2: gemm_block<2>(a, o.ars, o.aps, b, o.bps, depth, c, o.crs, add); break;
        default: gemm_block<1>(a, o.ars, o.aps, b, o.bps, depth, c, o.crs, add); break;
      }
    }
}

// ---- kernel transforms (once per pass; scalar, small) --------------------------------------

// u[ξ][c][k] = (G g Gᵀ)_ξ from the HWIO kernel w, 8 output channels k at a time
// (contiguous in HWIO); `flip`: of the kernel flipped in space with in and out
// swapped (u[ξ][k][c]), the kernel of the backward-data convolution.
template <class T>
void transform_kernel(const float* w, int cin, int cout, bool flip, float* u) {
  const std::size_t cc = static_cast<std::size_t>(cin) * cout;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < cin; ++c)
    for (int k = 0; k < cout; k += 8) {
      const std::size_t ck = static_cast<std::size_t>(c) * cout + k;
      __m256 g[9], t[T::positions];
      for (int q = 0; q < 9; ++q) g[flip ? 8 - q : q] = _mm256_loadu_ps(w + q * cc + ck);
      separable<3, T::a>(g, t, [](const __m256* x, int xs, __m256* y, int ys) { T::kernel(x, xs, y, ys); });
      for (int q = 0; q < T::positions; ++q) {
        if (!flip) {
          _mm256_storeu_ps(u + q * cc + ck, t[q]);
          continue;
        }
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, t[q]);
        for (int j = 0; j < 8; ++j) u[q * cc + static_cast<std::size_t>(k + j) * cin + c] = lanes[j];
      }
    }
}

// dw (HWIO) = Gᵀ dU G from du[ξ][c][k].
template <class T>
void kernel_gradient(const float* du, std::size_t cc, float* dw) {
#pragma omp for schedule(static)
  for (std::ptrdiff_t e = 0; e < static_cast<std::ptrdiff_t>(cc); ++e) {
    float t[T::positions], d[9];
    for (int q = 0; q < T::positions; ++q) t[q] = du[q * cc + e];
    separable<T::a, 3>(t, d, [](const float* x, int xs, float* y, int ys) { T::kernel_gradient(x, xs, y, ys); });
    for (int q = 0; q < 9; ++q) dw[q * cc + e] = d[q];
  }
}

std::size_t tile_block(int positions, int block, const ConvGeometry& g) {
  return static_cast<std::size_t>(positions) * xi_stride(block, std::max(g.cin, g.cout));
}

}  // namespace

WinogradConv::WinogradConv(const ConvGeometry& g, int n, const std::string& name)
    : g_(g), n_(n), threads_(std::max(1, omp_get_max_threads())) {
  MNIST_ASSERT(winograd_supports(g), "Winograd does not apply to " << name);
  const std::size_t cc = static_cast<std::size_t>(g.cin) * g.cout;
  u_fwd_.resize(ConvTile::positions * cc);
  u_bwd_.resize(ConvTile::positions * cc);
  du_.resize(GradientTile::positions * cc);
  const std::size_t conv = tile_block(ConvTile::positions, block_tiles<ConvTile>(g.cin, g.cout), g);
  const std::size_t grad = tile_block(GradientTile::positions, block_tiles<GradientTile>(g.cin, g.cout), g);
  scratch_per_thread_ = std::max(2 * conv, 2 * grad + GradientTile::positions * cc + g.cout);
  scratch_.resize(scratch_per_thread_ * threads_);
  const std::string conv_impl = std::string("winograd ") + ConvTile::name + ":avx2 (mnist_ddp)";
  note_dnnl_primitive(name + " forward", conv_impl);
  note_dnnl_primitive(name + " backward-weights", std::string("winograd ") + GradientTile::name + ":avx2 (mnist_ddp)");
  note_dnnl_primitive(name + " backward-data", conv_impl);
}

float* WinogradConv::thread_scratch(int thread) {
  MNIST_ASSERT(thread < threads_, "Winograd scratch made for " << threads_ << " threads, thread " << thread << " ran");
  return scratch_.data() + scratch_per_thread_ * thread;
}

void WinogradConv::convolve(const float* src, int cs, const float* u, int cd, const float* bias, bool relu,
                            float* dst) {
  using T = ConvTile;
  const Plane p(g_, n_, T::m);
  const int block = block_tiles<T>(g_.cin, g_.cout);
  const std::ptrdiff_t blocks = (p.tiles + block - 1) / block;
  const std::size_t v_xi = xi_stride(block, cs), m_xi = xi_stride(block, cd);
#pragma omp parallel
  {
    float* v = thread_scratch(omp_get_thread_num());
    float* m = v + T::positions * v_xi;
#pragma omp for schedule(static)
    for (std::ptrdiff_t blk = 0; blk < blocks; ++blk) {
      const std::ptrdiff_t t0 = blk * block;
      const int tb = static_cast<int>(std::min<std::ptrdiff_t>(block, p.tiles - t0));
      transform_inputs<T>(src, p, cs, t0, tb, block, v);
      for (int xi = 0; xi < T::positions; ++xi) {  // M_ξ (tiles x cd) = V_ξ (tiles x cs) · U_ξ (cs x cd)
        const Operand o{v + xi * v_xi, static_cast<std::size_t>(cs), 1, u + static_cast<std::size_t>(xi) * cs * cd,
                        static_cast<std::size_t>(cd), m + xi * m_xi, static_cast<std::size_t>(cd)};
        gemm(o, tb, cd, cs, false);
      }
      transform_outputs<T>(m, p, cd, t0, tb, block, bias, relu, dst);
    }
  }
}

void WinogradConv::forward(const float* x, const float* w, const float* b, float* y) {
  transform_kernel<ConvTile>(w, g_.cin, g_.cout, false, u_fwd_.data());
  w_last_ = w;
  convolve(x, g_.cin, u_fwd_.data(), g_.cout, b, g_.relu, y);
}

void WinogradConv::weight_gradient(const float* x, float* dy, const float* relu_y, float* dw, float* db) {
  using T = GradientTile;
  const int cin = g_.cin, cout = g_.cout, block = block_tiles<T>(cin, cout);
  const Plane p(g_, n_, T::m);
  const std::ptrdiff_t blocks = (p.tiles + block - 1) / block;
  const std::size_t cc = static_cast<std::size_t>(cin) * cout, part = tile_block(T::positions, block, g_);
  const std::size_t v_xi = xi_stride(block, cin), m_xi = xi_stride(block, cout);
  const int threads = omp_get_max_threads();
  MNIST_ASSERT(threads <= threads_, "Winograd scratch made for " << threads_ << " threads, " << threads << " asked");
#pragma omp parallel num_threads(threads)
  {
    float* v = thread_scratch(omp_get_thread_num());
    float *dm = v + part, *du = dm + part, *dbt = du + T::positions * cc;
    std::fill(du, dbt + cout, 0.0f);
#pragma omp for schedule(static)
    for (std::ptrdiff_t blk = 0; blk < blocks; ++blk) {
      const std::ptrdiff_t t0 = blk * block;
      const int tb = static_cast<int>(std::min<std::ptrdiff_t>(block, p.tiles - t0));
      transform_inputs<T>(x, p, cin, t0, tb, block, v);
      transform_gradients<T>(dy, relu_y, p, cout, t0, tb, block, dm, dbt);
      for (int xi = 0; xi < T::positions; ++xi) {  // dU_ξ (cin x cout) += V_ξᵀ · dM_ξ over the block's tiles
        const Operand o{v + xi * v_xi, 1, static_cast<std::size_t>(cin), dm + xi * m_xi,
                        static_cast<std::size_t>(cout), du + xi * cc, static_cast<std::size_t>(cout)};
        gemm(o, cin, cout, tb, true);
      }
    }
    // The threads' partial sums, added in thread order (the same split every run: bitwise repeatable).
    const std::ptrdiff_t sums = static_cast<std::ptrdiff_t>(T::positions * cc + cout);
#pragma omp for schedule(static)
    for (std::ptrdiff_t e = 0; e < sums; ++e) {
      float s = 0.0f;
      for (int t = 0; t < threads; ++t) s += thread_scratch(t)[2 * part + e];
      if (e < static_cast<std::ptrdiff_t>(T::positions * cc)) du_[e] = s; else db[e - T::positions * cc] = s;
    }
    kernel_gradient<T>(du_.data(), cc, dw);
  }
}

void WinogradConv::backward(const float* x, const float* dy, float* dw, float* db, float* dx) {
  // Without a mask dy is only read.
  weight_gradient(x, const_cast<float*>(dy), nullptr, dw, db);
  backward_data(dy, dx);
}

bool WinogradConv::backward_through_relu(const float* x, const float* y, float* dy, float* dw, float* db, float* dx) {
  weight_gradient(x, dy, y, dw, db);
  backward_data(dy, dx);
  return true;
}

void WinogradConv::backward_data(const float* dy, float* dx) {
  if (dx == nullptr) return;
  MNIST_ASSERT(w_last_ != nullptr, "Conv2D backward before a forward of " << n_ << " images");
  transform_kernel<ConvTile>(w_last_, g_.cin, g_.cout, true, u_bwd_.data());
  convolve(dy, g_.cout, u_bwd_.data(), g_.cin, nullptr, false, dx);
}

#else  // no AVX2/FMA in this build: winograd_supports() is false and nothing makes one

WinogradConv::WinogradConv(const ConvGeometry& g, int, const std::string& name) : g_(g), n_(0) {
  MNIST_ASSERT(false, "Winograd needs an AVX2/FMA build (" << name << ")");
}
float* WinogradConv::thread_scratch(int) { return nullptr; }
void WinogradConv::convolve(const float*, int, const float*, int, const float*, bool, float*) {}
void WinogradConv::weight_gradient(const float*, float*, const float*, float*, float*) {}
void WinogradConv::backward_data(const float*, float*) {}
void WinogradConv::forward(const float*, const float*, const float*, float*) {}
void WinogradConv::backward(const float*, const float*, float*, float*, float*) {}
bool WinogradConv::backward_through_relu(const float*, const float*, float*, float*, float*, float*) { return false; }

#endif

}  // namespace mnist_ddp
