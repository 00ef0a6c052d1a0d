// augment.hpp — Keras ImageDataGenerator-style random affine augmentation.
//
// For each training sample a transform is drawn from (seed, epoch, sample index)
// only — not from the rank, the batch or the backend — with, like Keras's
// ImageDataGenerator(rotation_range, zoom_range, width_shift_range,
// height_shift_range):
//   theta ~ U(-rotation, rotation) degrees
//   zx, zy ~ U(1 - zoom, 1 + zoom), independently
//   ty ~ U(-height_shift, height_shift) * rows,  tx ~ U(-width_shift, width_shift) * cols
// Keras composes rotation · shift · zoom about the image centre and maps each
// OUTPUT pixel (r, c) to an INPUT position:
//   [r_in]   [cos -sin] ( [zy 0 ] [r - cr]   [ty] )   [cr]
//   [c_in] = [sin  cos] ( [0  zx] [c - cc] + [tx] ) + [cc],   cr = (rows-1)/2, cc = (cols-1)/2
// The input is sampled bilinearly; positions outside it take the nearest edge
// pixel (fill_mode='nearest'). All of this is MNIST_HD: the CUDA kernel calls
// the same functions.
#pragma once

#include <cmath>
#include <cstdint>

#include "mnist_ddp/core/hd.hpp"
#include "mnist_ddp/core/rng.hpp"

namespace mnist_ddp {

struct AugmentRanges {
  float rotation_deg = 10.0f;
  float zoom = 0.1f;
  float width_shift = 0.1f;   // fraction of cols
  float height_shift = 0.1f;  // fraction of rows
};

// Output pixel (r, c) → input position (r_in, c_in) = (a00 r + a01 c + b0, a10 r + a11 c + b1).
struct Affine {
  float a00, a01, b0;
  float a10, a11, b1;
};

// The transform for explicit parameters (degrees, zoom factors, shifts in pixels).
MNIST_HD Affine make_affine(float theta_deg, float zx, float zy, float tx, float ty, int rows, int cols);

// The transform drawn for (seed, epoch, sample) under `ranges`.
MNIST_HD Affine sample_affine(std::uint64_t seed, std::uint32_t epoch, std::uint64_t sample,
                              const AugmentRanges& ranges, int rows, int cols);

// One output pixel of the transformed image, as a float in [0, 1]
// (bilinear, nearest-edge fill, pixel bytes scaled by 1/255).
MNIST_HD float affine_pixel(const std::uint8_t* image, int rows, int cols, const Affine& t, int r, int c);

// The whole transformed image into dst (rows*cols floats in [0, 1]).
void augment_image(const std::uint8_t* image, int rows, int cols, const Affine& t, float* dst);

// ---- implementation ----------------------------------------------------------

MNIST_HD Affine make_affine(float theta_deg, float zx, float zy, float tx, float ty, int rows, int cols) {
  const float theta = theta_deg * 0.017453292519943295f;
  const float cs = std::cos(theta), sn = std::sin(theta);
  const float cr = 0.5f * static_cast<float>(rows - 1), cc = 0.5f * static_cast<float>(cols - 1);
  Affine t;
  t.a00 = cs * zy;
  t.a01 = -sn * zx;
  t.a10 = sn * zy;
  t.a11 = cs * zx;
  // R·(Z·(p - centre) + shift) + centre
  t.b0 = cs * ty - sn * tx + cr - (t.a00 * cr + t.a01 * cc);
  t.b1 = sn * ty + cs * tx + cc - (t.a10 * cr + t.a11 * cc);
  return t;
}

MNIST_HD Affine sample_affine(std::uint64_t seed, std::uint32_t epoch, std::uint64_t sample,
                              const AugmentRanges& ranges, int rows, int cols) {
  const Philox4 r0 = random_bits(seed, RngStream::kAugment, epoch, static_cast<std::uint32_t>(sample),
                                 static_cast<std::uint32_t>(sample >> 32) << 1);
  const Philox4 r1 = random_bits(seed, RngStream::kAugment, epoch, static_cast<std::uint32_t>(sample),
                                 (static_cast<std::uint32_t>(sample >> 32) << 1) | 1u);
  const float theta = uniform(r0.v[0], -ranges.rotation_deg, ranges.rotation_deg);
  const float zx = uniform(r0.v[1], 1.0f - ranges.zoom, 1.0f + ranges.zoom);
  const float zy = uniform(r0.v[2], 1.0f - ranges.zoom, 1.0f + ranges.zoom);
  const float ty = uniform(r0.v[3], -ranges.height_shift, ranges.height_shift) * static_cast<float>(rows);
  const float tx = uniform(r1.v[0], -ranges.width_shift, ranges.width_shift) * static_cast<float>(cols);
  return make_affine(theta, zx, zy, tx, ty, rows, cols);
}

MNIST_HD float affine_pixel(const std::uint8_t* image, int rows, int cols, const Affine& t, int r, int c) {
  float ri = t.a00 * static_cast<float>(r) + t.a01 * static_cast<float>(c) + t.b0;
  float ci = t.a10 * static_cast<float>(r) + t.a11 * static_cast<float>(c) + t.b1;
  // fill_mode='nearest': clamp the position into the image.
  ri = fminf(fmaxf(ri, 0.0f), static_cast<float>(rows - 1));
  ci = fminf(fmaxf(ci, 0.0f), static_cast<float>(cols - 1));
  const int r0 = static_cast<int>(ri), c0 = static_cast<int>(ci);
  const int r1 = r0 + 1 < rows ? r0 + 1 : r0, c1 = c0 + 1 < cols ? c0 + 1 : c0;
  const float fr = ri - static_cast<float>(r0), fc = ci - static_cast<float>(c0);
  const float p00 = image[r0 * cols + c0], p01 = image[r0 * cols + c1];
  const float p10 = image[r1 * cols + c0], p11 = image[r1 * cols + c1];
  const float top = p00 + fc * (p01 - p00), bottom = p10 + fc * (p11 - p10);
  return (top + fr * (bottom - top)) * (1.0f / 255.0f);
}

}  // namespace mnist_ddp
