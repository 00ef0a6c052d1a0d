// test_augment.cpp — the Keras-style affine augmentation, checked on images
// small enough to work out by hand.
//
// Rotation direction, shift sign and zoom meaning are easy to get backwards,
// and the GPU kernel shares this code, so each is pinned to exact pixels here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "mnist_ddp/data/augment.hpp"
#include "mnist_ddp/data/dataset.hpp"

namespace mnist_ddp {
namespace {

std::vector<std::uint8_t> random_image(int rows, int cols, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> dist(0, 255);
  std::vector<std::uint8_t> img(static_cast<std::size_t>(rows * cols));
  for (auto& p : img) p = static_cast<std::uint8_t>(dist(gen));
  return img;
}

std::vector<float> apply(const std::vector<std::uint8_t>& img, int rows, int cols, const Affine& t) {
  std::vector<float> out(img.size(), -1.0f);
  augment_image(img.data(), rows, cols, t, out.data());
  return out;
}

constexpr double kPi = 3.14159265358979323846;

float px(const std::vector<std::uint8_t>& img, int cols, int r, int c) {
  return static_cast<float>(img[static_cast<std::size_t>(r * cols + c)]) * kPixelScale;
}

// All ranges zero: the drawn transform is the identity and the output is the
// normalised input, bit for bit (the same scaling as normalize_pixels).
TEST(AugmentIdentity, ZeroRangesReproduceInput) {
  const int rows = 28, cols = 28;
  const auto img = random_image(rows, cols, 1);
  AugmentRanges none;
  none.rotation_deg = none.zoom = none.width_shift = none.height_shift = 0.0f;
  for (std::uint64_t sample = 0; sample < 5; ++sample) {
    const auto out = apply(img, rows, cols, sample_affine(7, 3, sample, none, rows, cols));
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) {
        ASSERT_EQ(out[r * cols + c], px(img, cols, r, c)) << r << "," << c;
        // pixel * (1/255) may differ from pixel / 255 in the last bit.
        ASSERT_NEAR(out[r * cols + c], img[r * cols + c] / 255.0f, 1e-7f);
      }
    }
  }
}

TEST(AugmentIdentity, MakeAffineIdentityMatrix) {
  const Affine t = make_affine(0.0f, 1.0f, 1.0f, 0.0f, 0.0f, 28, 28);
  EXPECT_EQ(t.a00, 1.0f);
  EXPECT_EQ(t.a01, 0.0f);
  EXPECT_EQ(t.a10, 0.0f);
  EXPECT_EQ(t.a11, 1.0f);
  EXPECT_EQ(t.b0, 0.0f);
  EXPECT_EQ(t.b1, 0.0f);
}

// theta = +90°: (r_in, c_in) = R·(p - centre) + centre with R = [[0,-1],[1,0]]
// on (row, col), i.e. out(r, c) = in(rows-1-c, r). On screen (row 0 at the
// top) the top row of the input becomes the right column of the output, read
// top to bottom: positive theta turns the picture clockwise.
TEST(AugmentRotate, NinetyDegreesHandComputed) {
  const int n = 5;
  std::vector<std::uint8_t> img(n * n, 0);
  img[0 * n + 0] = 255;  // top-left
  img[0 * n + 1] = 200;  // right of it
  img[1 * n + 0] = 100;  // below it
  img[3 * n + 4] = 50;
  const auto out = apply(img, n, n, make_affine(90.0f, 1.0f, 1.0f, 0.0f, 0.0f, n, n));
  // cos(90°) in float is -4.4e-8, not 0: positions are off by ~1e-7.
  const float tol = 1e-5f;
  EXPECT_NEAR(out[0 * n + 4], 255 / 255.0f, tol);  // top-left → top-right
  EXPECT_NEAR(out[1 * n + 4], 200 / 255.0f, tol);  // along the top row → down the right column
  EXPECT_NEAR(out[0 * n + 3], 100 / 255.0f, tol);  // down the left column → leftwards along the top row
  EXPECT_NEAR(out[4 * n + 1], 50 / 255.0f, tol);
  float total = 0.0f;
  for (float v : out) total += v;
  EXPECT_NEAR(total, (255 + 200 + 100 + 50) / 255.0f, 1e-4f);  // nothing else lit
}

TEST(AugmentRotate, NinetyDegreesWholeImage) {
  for (int n : {4, 28}) {  // even sizes: the centre falls between pixels
    const auto img = random_image(n, n, 2);
    const auto out = apply(img, n, n, make_affine(90.0f, 1.0f, 1.0f, 0.0f, 0.0f, n, n));
    for (int r = 0; r < n; ++r) {
      for (int c = 0; c < n; ++c) {
        ASSERT_NEAR(out[r * n + c], px(img, n, n - 1 - c, r), 1e-5f) << n << ": " << r << "," << c;
      }
    }
  }
}

// An integer shift moves pixels exactly: (r_in, c_in) = (r + ty, c + tx), so
// tx = 2, ty = -3 moves the picture 2 left and 3 down; what comes in from
// outside repeats the nearest edge pixel. A non-square image catches swapped axes.
TEST(AugmentShift, IntegerShiftNearestFill) {
  const int rows = 6, cols = 7;
  const auto img = random_image(rows, cols, 3);
  const auto out = apply(img, rows, cols, make_affine(0.0f, 1.0f, 1.0f, 2.0f, -3.0f, rows, cols));
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const int ri = std::clamp(r - 3, 0, rows - 1), ci = std::clamp(c + 2, 0, cols - 1);
      ASSERT_EQ(out[r * cols + c], px(img, cols, ri, ci)) << r << "," << c;
    }
  }
  EXPECT_EQ(out[0 * cols + 6], px(img, cols, 0, 6));  // the corner repeats
  EXPECT_EQ(out[5 * cols + 0], px(img, cols, 2, 2));
}

TEST(AugmentShift, HalfPixelShiftIsBilinear) {
  const int rows = 5, cols = 5;
  const auto img = random_image(rows, cols, 4);
  const auto out = apply(img, rows, cols, make_affine(0.0f, 1.0f, 1.0f, 0.5f, 0.0f, rows, cols));
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c + 1 < cols; ++c) {
      ASSERT_NEAR(out[r * cols + c], 0.5f * (px(img, cols, r, c) + px(img, cols, r, c + 1)), 1e-6f);
    }
    ASSERT_EQ(out[r * cols + cols - 1], px(img, cols, r, cols - 1));
  }
}

// Zoom factors scale input positions about the centre: z = 0.5 reads the
// centre half of the input (magnifies it), z = 2 reads twice the extent.
TEST(AugmentZoom, HalfZoomReadsCentreRegion) {
  const int n = 9;  // centre (4, 4); r_in = 4 + (r - 4) / 2 spans [2, 6]
  auto img = random_image(n, n, 5);
  const Affine t = make_affine(0.0f, 0.5f, 0.5f, 0.0f, 0.0f, n, n);
  const auto out = apply(img, n, n, t);
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) {
      const float ri = 2.0f + 0.5f * r, ci = 2.0f + 0.5f * c;
      const int r0 = static_cast<int>(ri), c0 = static_cast<int>(ci);
      const int r1 = std::min(r0 + 1, n - 1), c1 = std::min(c0 + 1, n - 1);
      const float fr = ri - r0, fc = ci - c0;
      const float want = (1 - fr) * ((1 - fc) * px(img, n, r0, c0) + fc * px(img, n, r0, c1)) +
                         fr * ((1 - fc) * px(img, n, r1, c0) + fc * px(img, n, r1, c1));
      ASSERT_NEAR(out[r * n + c], want, 1e-6f) << r << "," << c;
    }
  }
  EXPECT_EQ(out[4 * n + 4], px(img, n, 4, 4));
  EXPECT_EQ(out[0 * n + 0], px(img, n, 2, 2));
  EXPECT_EQ(out[8 * n + 8], px(img, n, 6, 6));
  // Pixels outside rows/cols 2..6 play no part.
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) {
      if (r < 2 || r > 6 || c < 2 || c > 6) img[r * n + c] = static_cast<std::uint8_t>(255 - img[r * n + c]);
    }
  }
  EXPECT_EQ(apply(img, n, n, t), out);
}

TEST(AugmentZoom, DoubleZoomReadsWiderRegion) {
  const int n = 9;  // r_in = 4 + 2 (r - 4)
  const auto img = random_image(n, n, 6);
  const auto out = apply(img, n, n, make_affine(0.0f, 2.0f, 2.0f, 0.0f, 0.0f, n, n));
  EXPECT_EQ(out[4 * n + 4], px(img, n, 4, 4));
  EXPECT_EQ(out[2 * n + 2], px(img, n, 0, 0));
  EXPECT_EQ(out[3 * n + 5], px(img, n, 2, 6));
  EXPECT_EQ(out[6 * n + 3], px(img, n, 8, 2));
  EXPECT_EQ(out[0 * n + 8], px(img, n, 0, 8));  // clamped corner
  EXPECT_EQ(out[1 * n + 4], px(img, n, 0, 4));  // row 4 + 2*(1-4) = -2 → edge row 0
}

// zx scales columns, zy rows.
TEST(AugmentZoom, AxesAreIndependent) {
  const int rows = 9, cols = 9;
  const auto img = random_image(rows, cols, 7);
  const auto out = apply(img, rows, cols, make_affine(0.0f, 2.0f, 1.0f, 0.0f, 0.0f, rows, cols));
  for (int r = 0; r < rows; ++r) {
    EXPECT_EQ(out[r * cols + 3], px(img, cols, r, 2));
    EXPECT_EQ(out[r * cols + 6], px(img, cols, r, 8));
  }
}

TEST(AugmentImage, MatchesPerPixelFunction) {
  const int rows = 28, cols = 28;
  const auto img = random_image(rows, cols, 8);
  const Affine t = sample_affine(11, 2, 12345, AugmentRanges{}, rows, cols);
  const auto out = apply(img, rows, cols, t);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      ASSERT_EQ(out[r * cols + c], affine_pixel(img.data(), rows, cols, t, r, c));
      ASSERT_GE(out[r * cols + c], 0.0f);
      ASSERT_LE(out[r * cols + c], 1.0f);
    }
  }
}

bool same(const Affine& a, const Affine& b) {
  return a.a00 == b.a00 && a.a01 == b.a01 && a.b0 == b.b0 && a.a10 == b.a10 && a.a11 == b.a11 && a.b1 == b.b1;
}

TEST(AugmentSample, DeterministicAndDistinct) {
  const AugmentRanges rg;
  const Affine t = sample_affine(42, 3, 777, rg, 28, 28);
  EXPECT_TRUE(same(t, sample_affine(42, 3, 777, rg, 28, 28)));
  EXPECT_FALSE(same(t, sample_affine(42, 3, 778, rg, 28, 28)));
  EXPECT_FALSE(same(t, sample_affine(42, 4, 777, rg, 28, 28)));
  EXPECT_FALSE(same(t, sample_affine(43, 3, 777, rg, 28, 28)));
  // The high half of a 64-bit sample index counts too.
  EXPECT_FALSE(same(t, sample_affine(42, 3, 777 + (1ull << 32), rg, 28, 28)));
}

struct Params {
  double theta_deg, zx, zy, tx, ty;
};

// Recovers the parameters from the matrix: A = R·diag(zy, zx) (on (row, col))
// and b = R·t + c - A·c.
Params recover(const Affine& t, int rows, int cols) {
  Params p;
  p.zy = std::hypot(t.a00, t.a10);
  p.zx = std::hypot(t.a01, t.a11);
  p.theta_deg = std::atan2(t.a10, t.a00) * 180.0 / kPi;
  const double cr = 0.5 * (rows - 1), cc = 0.5 * (cols - 1);
  const double u0 = t.b0 - cr + t.a00 * cr + t.a01 * cc;  // R·t
  const double u1 = t.b1 - cc + t.a10 * cr + t.a11 * cc;
  const double cs = std::cos(p.theta_deg * kPi / 180.0), sn = std::sin(p.theta_deg * kPi / 180.0);
  p.ty = cs * u0 + sn * u1;  // Rᵀ·(R·t)
  p.tx = -sn * u0 + cs * u1;
  return p;
}

TEST(AugmentSample, RecoverRoundTrip) {
  const Params p = recover(make_affine(-7.5f, 0.93f, 1.08f, 1.25f, -2.5f, 20, 40), 20, 40);
  EXPECT_NEAR(p.theta_deg, -7.5, 1e-4);
  EXPECT_NEAR(p.zx, 0.93, 1e-6);
  EXPECT_NEAR(p.zy, 1.08, 1e-6);
  EXPECT_NEAR(p.tx, 1.25, 1e-4);
  EXPECT_NEAR(p.ty, -2.5, 1e-4);
}

TEST(AugmentSample, DefaultRangesRespected) {
  const AugmentRanges rg;  // 10°, 0.1, 0.1, 0.1
  const int rows = 28, cols = 28;
  double lo_theta = 1e9, hi_theta = -1e9, lo_z = 1e9, hi_z = -1e9, max_t = 0;
  int zx_ne_zy = 0;
  for (std::uint64_t s = 0; s < 2000; ++s) {
    const Affine t = sample_affine(5, 1, s, rg, rows, cols);
    const double det = static_cast<double>(t.a00) * t.a11 - static_cast<double>(t.a01) * t.a10;  // zx·zy
    ASSERT_GE(det, 0.81 - 1e-5);
    ASSERT_LE(det, 1.21 + 1e-5);
    const Params p = recover(t, rows, cols);
    ASSERT_LE(std::abs(p.theta_deg), 10.0 + 1e-3);
    for (double z : {p.zx, p.zy}) {
      ASSERT_GE(z, 0.9 - 1e-5);
      ASSERT_LE(z, 1.1 + 1e-5);
      lo_z = std::min(lo_z, z);
      hi_z = std::max(hi_z, z);
    }
    ASSERT_LE(std::abs(p.tx), 2.8 + 1e-3);
    ASSERT_LE(std::abs(p.ty), 2.8 + 1e-3);
    lo_theta = std::min(lo_theta, p.theta_deg);
    hi_theta = std::max(hi_theta, p.theta_deg);
    max_t = std::max({max_t, std::abs(p.tx), std::abs(p.ty)});
    if (std::abs(p.zx - p.zy) > 1e-4) ++zx_ne_zy;
  }
  // The ranges are used in full, and zx, zy are drawn independently.
  EXPECT_LT(lo_theta, -9.5);
  EXPECT_GT(hi_theta, 9.5);
  EXPECT_LT(lo_z, 0.91);
  EXPECT_GT(hi_z, 1.09);
  EXPECT_GT(max_t, 2.6);
  EXPECT_GT(zx_ne_zy, 1900);
}

// Height shift scales with rows and width shift with cols.
TEST(AugmentSample, ShiftRangesFollowTheirAxes) {
  AugmentRanges rg;
  rg.rotation_deg = 0.0f;
  rg.zoom = 0.0f;
  rg.width_shift = 0.1f;   // × 40 cols → |tx| ≤ 4
  rg.height_shift = 0.3f;  // × 20 rows → |ty| ≤ 6
  double max_tx = 0, max_ty = 0;
  for (std::uint64_t s = 0; s < 2000; ++s) {
    const Params p = recover(sample_affine(9, 0, s, rg, 20, 40), 20, 40);
    ASSERT_LE(std::abs(p.tx), 4.0 + 1e-4);
    ASSERT_LE(std::abs(p.ty), 6.0 + 1e-4);
    max_tx = std::max(max_tx, std::abs(p.tx));
    max_ty = std::max(max_ty, std::abs(p.ty));
  }
  EXPECT_GT(max_tx, 3.8);
  EXPECT_GT(max_ty, 5.7);
}

}  // namespace
}  // namespace mnist_ddp
