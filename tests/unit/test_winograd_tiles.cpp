// test_winograd_tiles.cpp — the tile transforms of Winograd's F(2x2, 3x3) and
// F(4x4, 3x3) (cpu/winograd_tiles.hpp), on single floats.
//
// A tile's Winograd product Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A must equal the direct 3x3
// correlation of the (m+2)² input tile d with g; and the two transforms of the
// weight gradient must be the adjoints of the forward ones (⟨Aᵀ x A, y⟩ =
// ⟨x, A y Aᵀ⟩, ⟨G g Gᵀ, u⟩ = ⟨g, Gᵀ u G⟩), or the gradient would not be the
// derivative of the forward pass.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "mnist_ddp/cpu/winograd_tiles.hpp"
#include "support/random_vector.hpp"

namespace mnist_ddp {
namespace {

using test_support::random_vector;
using winograd::separable;

template <class T>
struct Transforms {
  static void input(const float* d, float* v) {
    separable<T::a, T::a>(d, v, [](const float* x, int xs, float* y, int ys) { T::input(x, xs, y, ys); });
  }
  static void output(const float* m, float* y) {
    separable<T::a, T::m>(m, y, [](const float* x, int xs, float* o, int os) { T::output(x, xs, o, os); });
  }
  static void kernel(const float* g, float* u) {
    separable<3, T::a>(g, u, [](const float* x, int xs, float* o, int os) { T::kernel(x, xs, o, os); });
  }
  static void gradient(const float* dy, float* dm) {
    separable<T::m, T::a>(dy, dm, [](const float* x, int xs, float* o, int os) { T::gradient(x, xs, o, os); });
  }
  static void kernel_gradient(const float* du, float* dg) {
    separable<T::a, 3>(du, dg, [](const float* x, int xs, float* o, int os) { T::kernel_gradient(x, xs, o, os); });
  }
};

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

template <class T>
void check_tile_convolution(std::uint64_t seed) {
  using X = Transforms<T>;
  const std::vector<float> d = random_vector(T::a * T::a, -1.0f, 1.0f, seed);
  const std::vector<float> g = random_vector(9, -1.0f, 1.0f, seed + 1);
  std::vector<float> v(T::positions), u(T::positions), y(T::m * T::m);
  X::input(d.data(), v.data());
  X::kernel(g.data(), u.data());
  for (int q = 0; q < T::positions; ++q) v[q] *= u[q];
  X::output(v.data(), y.data());
  for (int oy = 0; oy < T::m; ++oy)
    for (int ox = 0; ox < T::m; ++ox) {
      double want = 0;
      for (int ky = 0; ky < 3; ++ky)
        for (int kx = 0; kx < 3; ++kx) want += d[(oy + ky) * T::a + ox + kx] * static_cast<double>(g[ky * 3 + kx]);
      EXPECT_NEAR(y[oy * T::m + ox], want, 2e-5) << T::name << " output (" << oy << ", " << ox << ")";
    }
}

template <class T>
void check_adjoints(std::uint64_t seed) {
  using X = Transforms<T>;
  const std::vector<float> m = random_vector(T::positions, -1.0f, 1.0f, seed);
  const std::vector<float> dy = random_vector(T::m * T::m, -1.0f, 1.0f, seed + 1);
  std::vector<float> y(T::m * T::m), dm(T::positions);
  X::output(m.data(), y.data());
  X::gradient(dy.data(), dm.data());
  EXPECT_NEAR(dot(y, dy), dot(m, dm), 1e-4) << T::name << ": A dY Aᵀ is not the adjoint of Aᵀ M A";
  const std::vector<float> g = random_vector(9, -1.0f, 1.0f, seed + 2);
  const std::vector<float> du = random_vector(T::positions, -1.0f, 1.0f, seed + 3);
  std::vector<float> u(T::positions), dg(9);
  X::kernel(g.data(), u.data());
  X::kernel_gradient(du.data(), dg.data());
  EXPECT_NEAR(dot(u, du), dot(g, dg), 1e-5) << T::name << ": Gᵀ dU G is not the adjoint of G g Gᵀ";
}

TEST(WinogradTiles, TileProductIsTheDirectConvolution) {
  for (std::uint64_t seed = 1; seed < 20; ++seed) {
    check_tile_convolution<winograd::F2x2>(seed);
    check_tile_convolution<winograd::F4x4>(seed);
  }
}

TEST(WinogradTiles, GradientTransformsAreTheAdjoints) {
  for (std::uint64_t seed = 1; seed < 20; ++seed) {
    check_adjoints<winograd::F2x2>(seed * 10);
    check_adjoints<winograd::F4x4>(seed * 10);
  }
}

}  // namespace
}  // namespace mnist_ddp
