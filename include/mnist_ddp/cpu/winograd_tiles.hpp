// winograd_tiles.hpp — the tile transforms of Winograd's F(2x2, 3x3) and F(4x4, 3x3).
//
// F(m x m, 3x3) computes an m x m output tile from an a x a input tile, a = m + 2,
// with a² multiplications per (input, output) channel pair instead of 9·m²
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
//
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ) ] A          g: 3x3 kernel, d: a x a input tile
//
//   F(2x2, 3x3), a = 4:                       F(4x4, 3x3), a = 6:
//     Bᵀ = [1  0 -1  0                          Bᵀ = [4  0 -5  0  1  0
//           0  1  1  0                                0 -4 -4  1  1  0
//           0 -1  1  0                                0  4 -4 -1  1  0
//           0  1  0 -1]                               0 -2 -1  2  1  0
//     G  = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]              0  2 -1 -2  1  0
//     Aᵀ = [1 1 1 0; 0 1 -1 -1]                       0  4  0 -5  0  1]
//                                               G  = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙;
//                                                     1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1]
//                                               Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0;
//                                                     0 1 1 4 4 0; 0 1 -1 8 -8 1]
//
// The weight gradient differentiates that bilinear form: dM = A dY Aᵀ per tile,
// dU = Σ over tiles of V ⊙ dM (per channel pair: a GEMM), dg = Gᵀ dU G.
//
// Every 2-D transform is separable: the 1-D one down the columns, then along the
// rows. Each 1-D transform is written once, for any element type E that has
// + - * (float for the kernels, an 8-float AVX vector for the activations).
// F(4x4) costs 2.25 multiplications per output against F(2x2)'s 4 and 9 direct,
// at a larger rounding error (its points ±2, ±½ scale values by up to 100).
#pragma once

namespace mnist_ddp::winograd {

// One value of E with every lane x.
template <typename E>
inline E splat(float x) {
  E e;
  if constexpr (sizeof(E) == sizeof(float)) {
    e = x;
  } else {
    e = E{} + x;  // GCC vector extension: the scalar is broadcast
  }
  return e;
}

// Applies a 1-D transform `f(in, in_stride, out, out_stride)` from In to Out
// points down the columns and then along the rows: the In x In values load(q)
// (q = row·In + column) -> the Out x Out values store(q, value), each read and
// written once, straight from and to where they live.
template <int In, int Out, typename E, typename Load, typename F, typename Store>
inline void separable_io(Load load, F f, Store store) {
  E t[Out * In];
  for (int s = 0; s < In; ++s) {
    E column[In];
    for (int k = 0; k < In; ++k) column[k] = load(k * In + s);
    f(column, 1, t + s, In);
  }
  for (int r = 0; r < Out; ++r) {
    E row[Out];
    f(t + r * In, 1, row, 1);
    for (int j = 0; j < Out; ++j) store(r * Out + j, row[j]);
  }
}

// The same from the array in (In x In) to the array out (Out x Out).
template <int In, int Out, typename E, typename F>
inline void separable(const E* in, E* out, F f) {
  separable_io<In, Out, E>([in](int q) { return in[q]; }, f, [out](int q, const E& v) { out[q] = v; });
}

struct F2x2 {
  static constexpr int m = 2, a = 4, positions = 16;
  static constexpr const char* name = "F(2x2,3x3)";

  template <typename E>  // o = Bᵀ d
  static void input(const E* d, int ds, E* o, int os) {
    o[0] = d[0] - d[2 * ds];
    o[os] = d[ds] + d[2 * ds];
    o[2 * os] = d[2 * ds] - d[ds];
    o[3 * os] = d[ds] - d[3 * ds];
  }
  template <typename E>  // y = Aᵀ x
  static void output(const E* x, int xs, E* y, int ys) {
    y[0] = x[0] + x[xs] + x[2 * xs];
    y[ys] = x[xs] - x[2 * xs] - x[3 * xs];
  }
  template <typename E>  // u = G g
  static void kernel(const E* g, int gs, E* u, int us) {
    const E half = splat<E>(0.5f);
    u[0] = g[0];
    u[us] = half * (g[0] + g[gs] + g[2 * gs]);
    u[2 * us] = half * (g[0] - g[gs] + g[2 * gs]);
    u[3 * us] = g[2 * gs];
  }
  template <typename E>  // m = A dy: the adjoint of output()
  static void gradient(const E* g, int gs, E* m, int ms) {
    m[0] = g[0];
    m[ms] = g[0] + g[gs];
    m[2 * ms] = g[0] - g[gs];
    m[3 * ms] = E{} - g[gs];
  }
  template <typename E>  // dg = Gᵀ du: the adjoint of kernel()
  static void kernel_gradient(const E* du, int ds, E* dg, int gs) {
    const E half = splat<E>(0.5f);
    dg[0] = du[0] + half * (du[ds] + du[2 * ds]);
    dg[gs] = half * (du[ds] - du[2 * ds]);
    dg[2 * gs] = half * (du[ds] + du[2 * ds]) + du[3 * ds];
  }
};

struct F4x4 {
  static constexpr int m = 4, a = 6, positions = 36;
  static constexpr const char* name = "F(4x4,3x3)";

  template <typename E>  // o = Bᵀ d
  static void input(const E* d, int ds, E* o, int os) {
    const E two = splat<E>(2.0f), four = splat<E>(4.0f), five = splat<E>(5.0f);
    const E d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
    o[0] = four * d0 - five * d2 + d4;
    o[os] = (d3 + d4) - four * (d1 + d2);
    o[2 * os] = four * (d1 - d2) + (d4 - d3);
    o[3 * os] = two * (d3 - d1) + (d4 - d2);
    o[4 * os] = two * (d1 - d3) + (d4 - d2);
    o[5 * os] = four * d1 - five * d3 + d5;
  }
  template <typename E>  // y = Aᵀ x
  static void output(const E* x, int xs, E* y, int ys) {
    const E two = splat<E>(2.0f), four = splat<E>(4.0f), eight = splat<E>(8.0f);
    const E s12 = x[xs] + x[2 * xs], d12 = x[xs] - x[2 * xs];
    const E s34 = x[3 * xs] + x[4 * xs], d34 = x[3 * xs] - x[4 * xs];
    y[0] = x[0] + s12 + s34;
    y[ys] = d12 + two * d34;
    y[2 * ys] = s12 + four * s34;
    y[3 * ys] = d12 + eight * d34 + x[5 * xs];
  }
  template <typename E>  // u = G g
  static void kernel(const E* g, int gs, E* u, int us) {
    const E g0 = g[0], g1 = g[gs], g2 = g[2 * gs];
    const E sixth = splat<E>(1.0f / 6.0f), twelfth = splat<E>(1.0f / 12.0f), quarter = splat<E>(0.25f);
    const E outer = g0 * splat<E>(1.0f / 24.0f) + g2 * sixth;
    u[0] = quarter * g0;
    u[us] = E{} - sixth * (g0 + g1 + g2);
    u[2 * us] = E{} - sixth * (g0 - g1 + g2);
    u[3 * us] = outer + twelfth * g1;
    u[4 * us] = outer - twelfth * g1;
    u[5 * us] = g2;
  }
  template <typename E>  // m = A dy: the adjoint of output()
  static void gradient(const E* g, int gs, E* m, int ms) {
    const E two = splat<E>(2.0f), four = splat<E>(4.0f), eight = splat<E>(8.0f);
    const E g0 = g[0], g1 = g[gs], g2 = g[2 * gs], g3 = g[3 * gs];
    const E even = g0 + four * g2, odd = two * g1 + eight * g3;
    m[0] = g0;
    m[ms] = (g0 + g2) + (g1 + g3);
    m[2 * ms] = (g0 + g2) - (g1 + g3);
    m[3 * ms] = even + odd;
    m[4 * ms] = even - odd;
    m[5 * ms] = g3;
  }
  template <typename E>  // dg = Gᵀ du: the adjoint of kernel()
  static void kernel_gradient(const E* du, int ds, E* dg, int gs) {
    const E sixth = splat<E>(1.0f / 6.0f), twelfth = splat<E>(1.0f / 12.0f), quarter = splat<E>(0.25f);
    const E s12 = du[ds] + du[2 * ds], d12 = du[ds] - du[2 * ds];
    const E s34 = du[3 * ds] + du[4 * ds], d34 = du[3 * ds] - du[4 * ds];
    dg[0] = quarter * du[0] - sixth * s12 + splat<E>(1.0f / 24.0f) * s34;
    dg[gs] = sixth * (E{} - d12) + twelfth * d34;
    dg[2 * gs] = sixth * (s34 - s12) + du[5 * ds];
  }
};

}  // namespace mnist_ddp::winograd
