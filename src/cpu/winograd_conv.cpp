// winograd_conv.cpp — Conv2D 3x3 'same' by Winograd's F(2x2, 3x3), AVX2 + FMA (winograd_conv.hpp).
//
// The transforms (Lavin & Gray 2016, F(2x2, 3x3)):
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]     input tile d (4x4):   V = Bᵀ d B
//   G  = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]               kernel g (3x3):       U = G g Gᵀ
//   Aᵀ = [1 1 1 0; 0 1 -1 -1]                         output tile:          Y = Aᵀ M A
// and for the weight gradient their adjoints: dM = A dY Aᵀ, dg = Gᵀ dU G.
// Tile (ty, tx) of an image covers outputs (2ty.., 2tx..) and reads inputs from
// (2ty-1, 2tx-1); rows and columns outside the image are zeros (the 'same' padding).
#include "mnist_ddp/cpu/winograd_conv.hpp"

#include <omp.h>

#include <algorithm>
#include <cstddef>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/dnnl_info.hpp"

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

constexpr int kXi = 16;  // positions of a transformed 4x4 tile

// The images, their size and their tiles.
struct Plane {
  int h, w, th, tw;
  std::ptrdiff_t tiles;  // of the whole batch
  // Tile t: its image and its top-left output pixel.
  void locate(std::ptrdiff_t t, std::ptrdiff_t& img, int& oy, int& ox) const {
    const std::ptrdiff_t per_image = static_cast<std::ptrdiff_t>(th) * tw;
    img = t / per_image;
    const int r = static_cast<int>(t % per_image);
    oy = 2 * (r / tw);
    ox = 2 * (r % tw);
  }
};

// ---- the three transforms, 8 channels at a time ------------------------------------------

// v = Bᵀ d B for a 4x4 tile d (row-major).
inline void input_tile(const __m256 d[16], __m256 v[16]) {
  __m256 t[16];
  for (int s = 0; s < 4; ++s) {
    t[0 + s] = d[0 + s] - d[8 + s];
    t[4 + s] = d[4 + s] + d[8 + s];
    t[8 + s] = d[8 + s] - d[4 + s];
    t[12 + s] = d[4 + s] - d[12 + s];
  }
  for (int r = 0; r < 4; ++r) {
    const __m256* q = t + 4 * r;
    v[4 * r + 0] = q[0] - q[2];
    v[4 * r + 1] = q[1] + q[2];
    v[4 * r + 2] = q[2] - q[1];
    v[4 * r + 3] = q[1] - q[3];
  }
}

// y = Aᵀ m A (2x2, row-major) for a 4x4 tile m.
inline void output_tile(const __m256 m[16], __m256 y[4]) {
  __m256 t[8];
  for (int s = 0; s < 4; ++s) {
    t[s] = m[s] + m[4 + s] + m[8 + s];
    t[4 + s] = m[4 + s] - m[8 + s] - m[12 + s];
  }
  for (int j = 0; j < 2; ++j) {
    const __m256* q = t + 4 * j;
    y[2 * j + 0] = q[0] + q[1] + q[2];
    y[2 * j + 1] = q[1] - q[2] - q[3];
  }
}

// m = A g Aᵀ (4x4) for a 2x2 tile g: the adjoint of output_tile.
inline void gradient_tile(const __m256 g[4], __m256 m[16]) {
  __m256 t[8];  // A g: 4 rows of 2
  for (int s = 0; s < 2; ++s) {
    t[0 + s] = g[s];
    t[2 + s] = g[s] + g[2 + s];
    t[4 + s] = g[s] - g[2 + s];
    t[6 + s] = -g[2 + s];
  }
  for (int r = 0; r < 4; ++r) {
    const __m256 a = t[2 * r], b = t[2 * r + 1];
    m[4 * r + 0] = a;
    m[4 * r + 1] = a + b;
    m[4 * r + 2] = a - b;
    m[4 * r + 3] = -b;
  }
}

// The tile's 16 input pixels (nullptr: outside the image, a zero).
void tile_inputs(const float* src, const Plane& p, int channels, std::ptrdiff_t t, const float* at[16]) {
  std::ptrdiff_t img;
  int oy, ox;
  p.locate(t, img, oy, ox);
  for (int r = 0; r < 4; ++r)
    for (int s = 0; s < 4; ++s) {
      const int iy = oy - 1 + r, ix = ox - 1 + s;
      const bool inside = iy >= 0 && iy < p.h && ix >= 0 && ix < p.w;
      at[4 * r + s] = inside ? src + ((img * p.h + iy) * p.w + ix) * channels : nullptr;
    }
}

// V[ξ][i][c] (ξ stride: block tiles) of tiles t0 .. t0+tb.
void transform_inputs(const float* src, const Plane& p, int channels, std::ptrdiff_t t0, int tb, int block, float* v) {
  const std::size_t xi_stride = static_cast<std::size_t>(block) * channels;
  for (int i = 0; i < tb; ++i) {
    const float* at[16];
    tile_inputs(src, p, channels, t0 + i, at);
    float* vi = v + static_cast<std::size_t>(i) * channels;
    for (int c = 0; c < channels; c += 8) {
      __m256 d[16], out[16];
      for (int q = 0; q < 16; ++q) d[q] = at[q] != nullptr ? _mm256_loadu_ps(at[q] + c) : _mm256_setzero_ps();
      input_tile(d, out);
      for (int q = 0; q < 16; ++q) _mm256_storeu_ps(vi + q * xi_stride + c, out[q]);
    }
  }
}

// dst's 2x2 outputs of tiles t0 .. t0+tb from M[ξ][i][k], plus the bias, through the ReLU if asked.
void transform_outputs(const float* m, const Plane& p, int channels, std::ptrdiff_t t0, int tb, int block,
                       const float* bias, bool relu, float* dst) {
  const std::size_t xi_stride = static_cast<std::size_t>(block) * channels;
  const __m256 zero = _mm256_setzero_ps();
  for (int i = 0; i < tb; ++i) {
    std::ptrdiff_t img;
    int oy, ox;
    p.locate(t0 + i, img, oy, ox);
    float* at[4];
    for (int j = 0; j < 4; ++j) {
      const int y = oy + j / 2, x = ox + j % 2;
      at[j] = y < p.h && x < p.w ? dst + ((img * p.h + y) * p.w + x) * channels : nullptr;
    }
    const float* mi = m + static_cast<std::size_t>(i) * channels;
    for (int k = 0; k < channels; k += 8) {
      __m256 in[16], y[4];
      for (int q = 0; q < 16; ++q) in[q] = _mm256_loadu_ps(mi + q * xi_stride + k);
      output_tile(in, y);
      const __m256 b = bias != nullptr ? _mm256_loadu_ps(bias + k) : zero;
      for (int j = 0; j < 4; ++j) {
        if (at[j] == nullptr) continue;
        const __m256 out = relu ? _mm256_max_ps(y[j] + b, zero) : y[j] + b;
        _mm256_storeu_ps(at[j] + k, out);
      }
    }
  }
}

// dM[ξ][i][k] = (A dY Aᵀ)_ξ of tiles t0 .. t0+tb (dY zero outside the image), and db += Σ dY.
void transform_gradients(const float* dy, const Plane& p, int channels, std::ptrdiff_t t0, int tb, int block,
                         float* dm, float* db) {
  const std::size_t xi_stride = static_cast<std::size_t>(block) * channels;
  for (int i = 0; i < tb; ++i) {
    std::ptrdiff_t img;
    int oy, ox;
    p.locate(t0 + i, img, oy, ox);
    const float* at[4];
    for (int j = 0; j < 4; ++j) {
      const int y = oy + j / 2, x = ox + j % 2;
      at[j] = y < p.h && x < p.w ? dy + ((img * p.h + y) * p.w + x) * channels : nullptr;
    }
    float* mi = dm + static_cast<std::size_t>(i) * channels;
    for (int k = 0; k < channels; k += 8) {
      __m256 g[4], out[16];
      for (int j = 0; j < 4; ++j) g[j] = at[j] != nullptr ? _mm256_loadu_ps(at[j] + k) : _mm256_setzero_ps();
      gradient_tile(g, out);
      for (int q = 0; q < 16; ++q) _mm256_storeu_ps(mi + q * xi_stride + k, out[q]);
      _mm256_storeu_ps(db + k, _mm256_loadu_ps(db + k) + ((g[0] + g[1]) + (g[2] + g[3])));
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
    __m256 ar = _mm256_broadcast_ss(ap);
    c00 = _mm256_fmadd_ps(ar, b0, c00);
    c01 = _mm256_fmadd_ps(ar, b1, c01);
    if constexpr (R > 1) {
      ar = _mm256_broadcast_ss(ap + ars);
      c10 = _mm256_fmadd_ps(ar, b0, c10);
      c11 = _mm256_fmadd_ps(ar, b1, c11);
    }
    if constexpr (R > 2) {
      ar = _mm256_broadcast_ss(ap + 2 * ars);
      c20 = _mm256_fmadd_ps(ar, b0, c20);
      c21 = _mm256_fmadd_ps(ar, b1, c21);
    }
    if constexpr (R > 3) {
      ar = _mm256_broadcast_ss(ap + 3 * ars);
      c30 = _mm256_fmadd_ps(ar, b0, c30);
      c31 = _mm256_fmadd_ps(ar, b1, c31);
    }
    if constexpr (R > 4) {
      ar = _mm256_broadcast_ss(ap + 4 * ars);
      c40 = _mm256_fmadd_ps(ar, b0, c40);
      c41 = _mm256_fmadd_ps(ar, b1, c41);
    }
    if constexpr (R > 5) {
      ar = _mm256_broadcast_ss(ap + 5 * ars);
      c50 = _mm256_fmadd_ps(ar, b0, c50);
      c51 = _mm256_fmadd_ps(ar, b1, c51);
    }
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

// ---- kernel transforms (once per pass; scalar, tiny) ---------------------------------------

// U = G g Gᵀ.
void kernel_tile(const float g[9], float u[16]) {
  float t[12];  // G g: 4 rows of 3
  for (int s = 0; s < 3; ++s) {
    t[s] = g[s];
    t[3 + s] = 0.5f * (g[s] + g[3 + s] + g[6 + s]);
    t[6 + s] = 0.5f * (g[s] - g[3 + s] + g[6 + s]);
    t[9 + s] = g[6 + s];
  }
  for (int r = 0; r < 4; ++r) {
    const float* q = t + 3 * r;
    u[4 * r + 0] = q[0];
    u[4 * r + 1] = 0.5f * (q[0] + q[1] + q[2]);
    u[4 * r + 2] = 0.5f * (q[0] - q[1] + q[2]);
    u[4 * r + 3] = q[2];
  }
}

// dg = Gᵀ dU G: the adjoint of kernel_tile.
void kernel_gradient_tile(const float du[16], float dg[9]) {
  float t[12];  // Gᵀ dU: 3 rows of 4
  for (int s = 0; s < 4; ++s) {
    t[s] = du[s] + 0.5f * (du[4 + s] + du[8 + s]);
    t[4 + s] = 0.5f * (du[4 + s] - du[8 + s]);
    t[8 + s] = 0.5f * (du[4 + s] + du[8 + s]) + du[12 + s];
  }
  for (int r = 0; r < 3; ++r) {
    const float* q = t + 4 * r;
    dg[3 * r + 0] = q[0] + 0.5f * (q[1] + q[2]);
    dg[3 * r + 1] = 0.5f * (q[1] - q[2]);
    dg[3 * r + 2] = 0.5f * (q[1] + q[2]) + q[3];
  }
}

// u[ξ][c][k] from the HWIO kernel w; `flip`: of the kernel flipped in space with
// in and out swapped (u[ξ][k][c]), the kernel of the backward-data convolution.
void transform_kernel(const float* w, int cin, int cout, bool flip, float* u) {
  const std::size_t cc = static_cast<std::size_t>(cin) * cout;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < cin; ++c)
    for (int k = 0; k < cout; ++k) {
      float g[9], t[16];
      for (int q = 0; q < 9; ++q) g[flip ? 8 - q : q] = w[q * cc + static_cast<std::size_t>(c) * cout + k];
      kernel_tile(g, t);
      const std::size_t at = flip ? static_cast<std::size_t>(k) * cin + c : static_cast<std::size_t>(c) * cout + k;
      for (int q = 0; q < kXi; ++q) u[q * cc + at] = t[q];
    }
}

// Tiles per block: the block's V and M (16 x tiles x channels each) within ~256 KiB, whole 6-row steps.
int block_tiles(int cin, int cout) { return std::clamp(4096 / (cin + cout) / 6 * 6, 6, 96); }

}  // namespace

WinogradConv::WinogradConv(const ConvGeometry& g, int n, const std::string& name)
    : g_(g), n_(n), tiles_h_((g.h + 1) / 2), tiles_w_((g.w + 1) / 2), block_(block_tiles(g.cin, g.cout)),
      threads_(std::max(1, omp_get_max_threads())) {
  MNIST_ASSERT(winograd_supports(g), "Winograd F(2x2, 3x3) does not apply to " << name);
  const std::size_t cc = static_cast<std::size_t>(g.cin) * g.cout;
  u_fwd_.resize(kXi * cc);
  u_bwd_.resize(kXi * cc);
  du_.resize(kXi * cc);
  const std::size_t tile_block = static_cast<std::size_t>(kXi) * block_ * std::max(g.cin, g.cout);
  scratch_per_thread_ = 2 * tile_block + kXi * cc + g.cout;
  scratch_.resize(scratch_per_thread_ * threads_);
  const std::string impl = "winograd F(2x2,3x3):avx2 (mnist_ddp)";
  note_dnnl_primitive(name + " forward", impl);
  note_dnnl_primitive(name + " backward-weights", impl);
  note_dnnl_primitive(name + " backward-data", impl);
}

float* WinogradConv::thread_scratch(int thread) {
  MNIST_ASSERT(thread < threads_, "Winograd scratch made for " << threads_ << " threads, thread " << thread << " ran");
  return scratch_.data() + scratch_per_thread_ * thread;
}

void WinogradConv::convolve(const float* src, int cs, const float* u, int cd, const float* bias, bool relu,
                            float* dst) {
  const Plane p{g_.h, g_.w, tiles_h_, tiles_w_, static_cast<std::ptrdiff_t>(n_) * tiles_h_ * tiles_w_};
  const std::ptrdiff_t blocks = (p.tiles + block_ - 1) / block_;
  const std::size_t v_xi = static_cast<std::size_t>(block_) * cs, m_xi = static_cast<std::size_t>(block_) * cd;
#pragma omp parallel
  {
    float* v = thread_scratch(omp_get_thread_num());
    float* m = v + kXi * v_xi;
#pragma omp for schedule(static)
    for (std::ptrdiff_t blk = 0; blk < blocks; ++blk) {
      const std::ptrdiff_t t0 = blk * block_;
      const int tb = static_cast<int>(std::min<std::ptrdiff_t>(block_, p.tiles - t0));
      transform_inputs(src, p, cs, t0, tb, block_, v);
      for (int xi = 0; xi < kXi; ++xi) {
        const Operand o{v + xi * v_xi, static_cast<std::size_t>(cs), 1, u + static_cast<std::size_t>(xi) * cs * cd,
                        static_cast<std::size_t>(cd), m + xi * m_xi, static_cast<std::size_t>(cd)};
        gemm(o, tb, cd, cs, false);
      }
      transform_outputs(m, p, cd, t0, tb, block_, bias, relu, dst);
    }
  }
}

void WinogradConv::forward(const float* x, const float* w, const float* b, float* y) {
  transform_kernel(w, g_.cin, g_.cout, false, u_fwd_.data());
  w_last_ = w;
  convolve(x, g_.cin, u_fwd_.data(), g_.cout, b, g_.relu, y);
}

void WinogradConv::backward(const float* x, const float* dy, float* dw, float* db, float* dx) {
  const int cin = g_.cin, cout = g_.cout;
  const Plane p{g_.h, g_.w, tiles_h_, tiles_w_, static_cast<std::ptrdiff_t>(n_) * tiles_h_ * tiles_w_};
  const std::ptrdiff_t blocks = (p.tiles + block_ - 1) / block_;
  const std::size_t cc = static_cast<std::size_t>(cin) * cout;
  const std::size_t v_xi = static_cast<std::size_t>(block_) * cin, m_xi = static_cast<std::size_t>(block_) * cout;
  const std::size_t tile_block = static_cast<std::size_t>(kXi) * block_ * std::max(cin, cout);
  const int threads = omp_get_max_threads();
  MNIST_ASSERT(threads <= threads_, "Winograd scratch made for " << threads_ << " threads, " << threads << " asked");
#pragma omp parallel num_threads(threads)
  {
    float* v = thread_scratch(omp_get_thread_num());
    float* dm = v + tile_block;
    float* du = dm + tile_block;
    float* dbt = du + kXi * cc;
    std::fill(du, dbt + cout, 0.0f);
#pragma omp for schedule(static)
    for (std::ptrdiff_t blk = 0; blk < blocks; ++blk) {
      const std::ptrdiff_t t0 = blk * block_;
      const int tb = static_cast<int>(std::min<std::ptrdiff_t>(block_, p.tiles - t0));
      transform_inputs(x, p, cin, t0, tb, block_, v);
      transform_gradients(dy, p, cout, t0, tb, block_, dm, dbt);
      for (int xi = 0; xi < kXi; ++xi) {  // dU_ξ (cin x cout) += V_ξᵀ · dM_ξ over the block's tiles
        const Operand o{v + xi * v_xi, 1, static_cast<std::size_t>(cin), dm + xi * m_xi,
                        static_cast<std::size_t>(cout), du + xi * cc, static_cast<std::size_t>(cout)};
        gemm(o, cin, cout, tb, true);
      }
    }
    // The threads' partial sums, added in thread order (the same split every run: bitwise repeatable).
#pragma omp for schedule(static)
    for (std::ptrdiff_t e = 0; e < static_cast<std::ptrdiff_t>(kXi * cc + cout); ++e) {
      float s = 0.0f;
      for (int t = 0; t < threads; ++t) s += thread_scratch(t)[2 * tile_block + e];
      if (e < static_cast<std::ptrdiff_t>(kXi * cc)) du_[e] = s; else db[e - kXi * cc] = s;
    }
#pragma omp for schedule(static)
    for (std::ptrdiff_t e = 0; e < static_cast<std::ptrdiff_t>(cc); ++e) {  // dw = Gᵀ dU G, to HWIO
      float t[16], d[9];
      for (int q = 0; q < kXi; ++q) t[q] = du_[q * cc + e];
      kernel_gradient_tile(t, d);
      for (int q = 0; q < 9; ++q) dw[q * cc + e] = d[q];
    }
  }
  if (dx == nullptr) return;
  MNIST_ASSERT(w_last_ != nullptr, "Conv2D backward before a forward of " << n_ << " images");
  transform_kernel(w_last_, cin, cout, true, u_bwd_.data());
  convolve(dy, cout, u_bwd_.data(), cin, nullptr, false, dx);
}

#else  // no AVX2/FMA in this build: winograd_supports() is false and nothing makes one

WinogradConv::WinogradConv(const ConvGeometry& g, int, const std::string& name) : g_(g), n_(0) {
  MNIST_ASSERT(false, "Winograd F(2x2, 3x3) needs an AVX2/FMA build (" << name << ")");
}
float* WinogradConv::thread_scratch(int) { return nullptr; }
void WinogradConv::convolve(const float*, int, const float*, int, const float*, bool, float*) {}
void WinogradConv::forward(const float*, const float*, const float*, float*) {}
void WinogradConv::backward(const float*, const float*, float*, float*, float*) {}

#endif

}  // namespace mnist_ddp
