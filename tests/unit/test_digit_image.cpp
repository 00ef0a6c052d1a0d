// test_digit_image.cpp — reading digit pictures (PNG in its grey, RGB and RGBA
// forms, PGM P2/P5 at 8 and 16 bits), the errors for broken files, and the
// MNIST normalisation: a real MNIST digit, enlarged and inverted as a scan or
// a drawing would be, must come back close to the original.
#include <gtest/gtest.h>

#include <png.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/data/idx.hpp"
#include "mnist_ddp/io/digit_image.hpp"
#include "support/temp_dir.hpp"

namespace mnist_ddp {
namespace {

namespace fs = std::filesystem;

// A fresh temporary directory per test, removed afterwards.
class DigitImageTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.file(name); }
  std::string write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }
  std::string read(const std::string& p) const {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  test_support::TempDir tmp_{"mnist_ddp_digit"};
};

using DigitImageRead = DigitImageTest;
using DigitImageErrors = DigitImageTest;

GrayImage gradient(int rows, int cols) {
  GrayImage g;
  g.rows = rows, g.cols = cols;
  for (int i = 0; i < rows * cols; ++i) g.pixels.push_back(static_cast<std::uint8_t>((i * 37) % 256));
  return g;
}

// Writes an 8-bit PNG in `format` (PNG_FORMAT_RGB, _RGBA, ...) with libpng directly.
void write_png(const std::string& path, int rows, int cols, png_uint_32 format, const std::vector<std::uint8_t>& px) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = cols, image.height = rows, image.format = format;
  ASSERT_TRUE(png_image_write_to_file(&image, path.c_str(), 0, px.data(), 0, nullptr)) << image.message;
}

// The InputError message for reading `path` ("(read)" if it reads).
std::string read_error(const std::string& path) {
  try {
    read_gray_image(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(read)";
}

TEST_F(DigitImageRead, GrayPngRoundTrip) {
  const GrayImage g = gradient(7, 5);
  write_gray_png(path("g.png"), g);
  const GrayImage r = read_gray_image(path("g.png"));
  EXPECT_EQ(r.rows, 7);
  EXPECT_EQ(r.cols, 5);
  EXPECT_EQ(r.pixels, g.pixels);
}

TEST_F(DigitImageRead, DetectedByContentNotName) {
  write_gray_png(path("really_a_png.pgm"), gradient(3, 4));
  EXPECT_EQ(read_gray_image(path("really_a_png.pgm")).pixels, gradient(3, 4).pixels);
}

TEST_F(DigitImageRead, RgbPngBecomesGrey) {
  // Grey colours stay exactly grey; pure white and black stay white and black.
  std::vector<std::uint8_t> px;
  const std::uint8_t levels[] = {0, 17, 128, 200, 255, 90};
  for (std::uint8_t v : levels) px.insert(px.end(), {v, v, v});
  write_png(path("rgb.png"), 2, 3, PNG_FORMAT_RGB, px);
  const GrayImage r = read_gray_image(path("rgb.png"));
  ASSERT_EQ(r.rows, 2);
  ASSERT_EQ(r.cols, 3);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(r.pixels[i], levels[i], 1) << i;
}

TEST_F(DigitImageRead, RgbaPngIsCompositedOnWhite) {
  const std::vector<std::uint8_t> px = {0,   0,   0,   0,     // transparent black → white paper
                                        0,   0,   0,   255,   // opaque black → black
                                        100, 100, 100, 128};  // half grey over white
  write_png(path("rgba.png"), 1, 3, PNG_FORMAT_RGBA, px);
  const GrayImage r = read_gray_image(path("rgba.png"));
  ASSERT_EQ(r.pixels.size(), 3u);
  EXPECT_EQ(r.pixels[0], 255);
  EXPECT_EQ(r.pixels[1], 0);
  EXPECT_NEAR(r.pixels[2], (100 * 128 + 255 * 127) / 255, 2);
}

TEST_F(DigitImageRead, PgmP5) {
  std::string bytes = "P5\n# a comment\n3 2\n255\n";
  for (char v : {0, 10, 20, 30, 40, 50}) bytes += v;
  const GrayImage r = read_gray_image(write("a.pgm", bytes));
  EXPECT_EQ(r.rows, 2);
  EXPECT_EQ(r.cols, 3);
  EXPECT_EQ(r.pixels, (std::vector<std::uint8_t>{0, 10, 20, 30, 40, 50}));
}

TEST_F(DigitImageRead, PgmP2WithCommentsAndSmallMaxval) {
  const GrayImage r = read_gray_image(write("a.pgm", "P2 # grey\n2 2 # size\n15\n0 15\n# middle\n5\t10\n"));
  EXPECT_EQ(r.rows, 2);
  EXPECT_EQ(r.cols, 2);
  EXPECT_EQ(r.pixels, (std::vector<std::uint8_t>{0, 255, 85, 170}));
}

TEST_F(DigitImageRead, Pgm16Bit) {
  std::string bytes = "P5 2 1 65535\n";
  for (int v : {65535, 32768}) bytes += static_cast<char>(v >> 8), bytes += static_cast<char>(v & 0xff);
  const GrayImage r = read_gray_image(write("a.pgm", bytes));
  EXPECT_EQ(r.pixels, (std::vector<std::uint8_t>{255, 128}));
  const GrayImage a = read_gray_image(write("b.pgm", "P2 2 1 1000\n1000 0\n"));
  EXPECT_EQ(a.pixels, (std::vector<std::uint8_t>{255, 0}));
}

TEST_F(DigitImageErrors, CorruptAndTruncatedPng) {
  GrayImage g = gradient(40, 40);
  write_gray_png(path("good.png"), g);
  const std::string good = read(path("good.png"));
  const std::string truncated = write("truncated.png", good.substr(0, good.size() / 2));
  std::string flipped = good;
  for (std::size_t i = 60; i < flipped.size() - 20; i += 7) flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
  const std::string corrupt = write("corrupt.png", flipped);
  const std::string header_only = write("header.png", good.substr(0, 8));
  for (const std::string& p : {truncated, corrupt, header_only}) {
    const std::string message = read_error(p);
    EXPECT_NE(message.find(p), std::string::npos) << message;
    EXPECT_NE(message.find("PNG"), std::string::npos) << message;
  }
}

TEST_F(DigitImageErrors, BadPgm) {
  const struct {
    const char* name;
    std::string bytes;
    const char* expect;
  } cases[] = {
      {"short.pgm", "P5 4 4 255\n" + std::string(10, 'x'), "truncated"},
      {"nopixels.pgm", "P5 4 4 255", "truncated"},
      {"nomaxval.pgm", "P2 4 4", "truncated"},
      {"few.pgm", "P2 2 2 255\n1 2 3\n", "truncated"},
      {"big.pgm", "P2 2 1 255\n1 256\n", "exceeds maxval"},
      {"maxval.pgm", "P2 1 1 70000\n1\n", "maxval"},
      {"zero.pgm", "P2 0 1 255\n", "zero"},
      {"word.pgm", "P2 2 x 255\n", "malformed"},
      {"junk.pgm", "P2 1 1 255\n1 2\n", "after"},
      {"ppm.ppm", "P6 1 1 255\nabc", "unsupported"},
  };
  for (const auto& c : cases) {
    const std::string p = write(c.name, c.bytes);
    const std::string message = read_error(p);
    EXPECT_NE(message.find(p), std::string::npos) << c.name << ": " << message;
    EXPECT_NE(message.find(c.expect), std::string::npos) << c.name << ": " << message;
  }
}

TEST_F(DigitImageErrors, NotAnImage) {
  for (const auto& [name, bytes] : {std::pair<std::string, std::string>{"notes.txt", "hello, world\n"},
                                    {"empty.png", ""}, {"jpeg.jpg", "\xff\xd8\xff\xe0junk"}}) {
    const std::string p = write(name, bytes);
    const std::string message = read_error(p);
    EXPECT_NE(message.find(p), std::string::npos) << message;
  }
  EXPECT_NE(read_error(path("missing.png")).find("missing.png"), std::string::npos);
}

// ---- to_mnist_form ------------------------------------------------------------

double centre_of_mass(const GrayImage& g, bool rows) {
  double mass = 0, m = 0;
  for (int r = 0; r < g.rows; ++r)
    for (int c = 0; c < g.cols; ++c) {
      const double w = g.pixels[static_cast<std::size_t>(r) * g.cols + c];
      mass += w, m += w * (rows ? r : c);  // pixel-index coordinates, as MNIST centres
    }
  return m / mass;
}

std::string mnist_dir() {
  if (const char* env = std::getenv("MNIST_DDP_DATA_DIR")) return env;
  return MNIST_DDP_DATA_DIR;
}

TEST(DigitImageForm, EnlargedInvertedMnistDigitComesBack) {
  const std::string dir = mnist_dir();
  std::string file;
  try {
    file = find_mnist_file(dir, "t10k-images-idx3-ubyte");
  } catch (const InputError&) {
    GTEST_SKIP() << "no MNIST test images in " << dir;
  }
  const IdxArray images = read_idx(file);
  for (int index = 0; index < 20; ++index) {
    GrayImage original;
    original.rows = original.cols = 28;
    original.pixels.assign(images.data.begin() + index * 784, images.data.begin() + (index + 1) * 784);
    // ×3 and dark on light, as a scan of ink on paper would be.
    GrayImage big;
    big.rows = big.cols = 84;
    for (int r = 0; r < 84; ++r)
      for (int c = 0; c < 84; ++c) big.pixels.push_back(static_cast<std::uint8_t>(255 - original.pixels[(r / 3) * 28 + c / 3]));
    const GrayImage back = to_mnist_form(big, "test");
    ASSERT_EQ(back.rows, 28);
    ASSERT_EQ(back.cols, 28);
    double diff = 0;
    for (int i = 0; i < 784; ++i) diff += std::abs(back.pixels[i] - original.pixels[i]);
    EXPECT_LT(diff / 784, 10.0) << "image " << index;
    EXPECT_NEAR(centre_of_mass(back, true), 14.0, 1.0) << "image " << index;
    EXPECT_NEAR(centre_of_mass(back, false), 14.0, 1.0) << "image " << index;
  }
}

TEST(DigitImageForm, SmallOffCentreStrokeIsFittedAndCentred) {
  // A dark vertical bar (a "1") in the top-left corner of a light 100×60 picture.
  GrayImage g;
  g.rows = 100, g.cols = 60;
  g.pixels.assign(6000, 230);
  for (int r = 5; r < 45; ++r)
    for (int c = 8; c < 14; ++c) g.pixels[r * 60 + c] = 20;
  const GrayImage m = to_mnist_form(g, "bar");
  int top = 28, bottom = -1, left = 28, right = -1;
  for (int r = 0; r < 28; ++r)
    for (int c = 0; c < 28; ++c)
      if (m.pixels[r * 28 + c] > 128) top = std::min(top, r), bottom = std::max(bottom, r),
                                         left = std::min(left, c), right = std::max(right, c);
  EXPECT_EQ(bottom - top + 1, 20);     // the long side fills 20 pixels
  EXPECT_NEAR(right - left + 1, 3, 1);  // aspect ratio kept: 40×6 → 20×3
  EXPECT_NEAR(centre_of_mass(m, true), 14.0, 1.0);
  EXPECT_NEAR(centre_of_mass(m, false), 14.0, 1.0);
  EXPECT_EQ(m.pixels[0], 0);  // background black
}

TEST(DigitImageForm, BlankImageIsAnInputError) {
  GrayImage g;
  g.rows = 30, g.cols = 40;
  g.pixels.assign(1200, 200);
  try {
    to_mnist_form(g, "blank.png");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("blank.png"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("blank"), std::string::npos) << e.what();
  }
  g.pixels.assign(1200, 0);
  EXPECT_THROW(to_mnist_form(g, "black.png"), InputError);
}

}  // namespace
}  // namespace mnist_ddp
