// digit_image.hpp — a picture of a digit, brought to MNIST's form.
//
// Reads PNG (libpng: 8/16-bit, grayscale, RGB, palette, with or without alpha)
// and PGM (P2 and P5) files of any size, then does what the MNIST creators did
// to their scans: grey levels (alpha composited on white), digit made light on
// dark (if the border is lighter than the middle the picture is inverted), the
// digit's bounding box scaled to fit 20×20 keeping its aspect ratio, placed in
// a 28×28 field so that its centre of mass is at the centre.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mnist_ddp {

struct GrayImage {
  int rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // rows × cols, 0 = black
};

// Reads a PNG or PGM file (by content, not by name). Unreadable, corrupt or
// unsupported files → InputError naming the file and the problem.
GrayImage read_gray_image(const std::string& path);

// Writes an 8-bit grayscale PNG (for exporting test images, and tests).
void write_gray_png(const std::string& path, const GrayImage& image);

// MNIST form: 28×28, light digit on dark, centred by mass, fitted into 20×20.
// An image with no contrast at all → InputError ("blank image").
GrayImage to_mnist_form(const GrayImage& image, const std::string& name_for_errors);

}  // namespace mnist_ddp
