// augment.cpp — the host-side whole-image augmentation.
//
// The per-pixel arithmetic lives inline in augment.hpp so the CUDA kernel runs
// the very same code; this file only loops it over an image for the CPU path,
// which keeps CPU and GPU augmentation bit-for-bit comparable.
#include "mnist_ddp/data/augment.hpp"

namespace mnist_ddp {

void augment_image(const std::uint8_t* image, int rows, int cols, const Affine& t, float* dst) {
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      dst[r * cols + c] = affine_pixel(image, rows, cols, t, r, c);
    }
  }
}

}  // namespace mnist_ddp
