// digit_image.cpp — reading PNG and PGM pictures of digits and bringing them to
// MNIST's form (see digit_image.hpp for the contract).
//
// Reading: the file is read whole and its format decided by its first bytes,
// never by its name. PNG goes through libpng's simplified API (it handles bit
// depths, palettes, tRNS and colour → grey conversion); we ask for grey+alpha
// and composite on white ourselves, so a transparent background reads as paper.
// PGM (P2 ASCII and P5 binary, maxval up to 65535) is parsed here, strictly:
// anything short, malformed or out of range is an InputError naming the file.
//
// MNIST form: the MNIST creators took 20×20-normalised digits (anti-aliased) and
// centred them by centre of mass in a 28×28 field, light digit on black. We
// follow the same steps: invert if the border is lighter than the picture on
// average (dark ink on paper), subtract the background level and stretch the
// contrast, find the bounding box of the ink, scale it to fit 20×20 keeping the
// aspect ratio (area averaging when shrinking, bilinear when enlarging), and
// paste it so that its centre of mass lands on the field's centre.
#include "mnist_ddp/io/digit_image.hpp"

#include <png.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/io/atomic_file.hpp"

namespace mnist_ddp {

namespace {

// Guards against absurd headers (and the allocations they would cause): a
// picture of a digit has no business being larger than 400 megapixels.
constexpr std::uint64_t kMaxPixels = 400ull * 1000 * 1000;

[[noreturn]] void input_error(const std::string& path, const std::string& what) {
  throw InputError(path + ": " + what);
}

std::vector<std::uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) input_error(path, std::string("cannot open image: ") + std::strerror(errno));
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) input_error(path, "read error");
  return bytes;
}

void check_size(const std::string& path, std::uint64_t rows, std::uint64_t cols) {
  if (rows == 0 || cols == 0) input_error(path, "image has zero width or height");
  if (rows * cols > kMaxPixels)
    input_error(path, "image of " + std::to_string(cols) + "x" + std::to_string(rows) + " pixels is too large");
}

// ---- PNG ----------------------------------------------------------------------

constexpr std::uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

// RAII for png_image: png_image_free must run on every path after begin_read.
struct PngImageGuard {
  png_image* image;
  ~PngImageGuard() { png_image_free(image); }
};

GrayImage read_png(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  PngImageGuard guard{&image};
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()))
    input_error(path, std::string("corrupt PNG: ") + image.message);
  check_size(path, image.height, image.width);
  // Grey + alpha, 8-bit sRGB: libpng converts colour to grey and expands
  // palettes and tRNS; 8-bit non-linear output is not alpha-premultiplied.
  image.format = PNG_FORMAT_GA;
  std::vector<std::uint8_t> ga(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, ga.data(), 0, nullptr))
    input_error(path, std::string("corrupt PNG: ") + image.message);
  GrayImage out;
  out.rows = static_cast<int>(image.height);
  out.cols = static_cast<int>(image.width);
  out.pixels.resize(static_cast<std::size_t>(out.rows) * out.cols);
  for (std::size_t i = 0; i < out.pixels.size(); ++i) {
    // Composite on white: transparent areas are paper, not ink.
    const int g = ga[2 * i], a = ga[2 * i + 1];
    out.pixels[i] = static_cast<std::uint8_t>((g * a + 255 * (255 - a) + 127) / 255);
  }
  return out;
}

// ---- PGM ----------------------------------------------------------------------

// A cursor over the header (and P2 body) of a PGM file.
class PgmReader {
 public:
  PgmReader(const std::string& path, const std::vector<std::uint8_t>& bytes) : path_(path), bytes_(bytes) {}

  // Skips whitespace and '#' comments (which run to the end of the line).
  void skip_space() {
    while (pos_ < bytes_.size()) {
      const char ch = static_cast<char>(bytes_[pos_]);
      if (ch == '#') {
        while (pos_ < bytes_.size() && bytes_[pos_] != '\n' && bytes_[pos_] != '\r') ++pos_;
      } else if (is_space(ch)) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  // A decimal number, preceded by whitespace/comments; `what` names it in errors.
  std::uint64_t number(const char* what) {
    skip_space();
    if (pos_ >= bytes_.size()) input_error(path_, std::string("truncated PGM: missing ") + what);
    if (!std::isdigit(bytes_[pos_]))
      input_error(path_, std::string("malformed PGM: expected ") + what + " at byte " + std::to_string(pos_));
    std::uint64_t v = 0;
    while (pos_ < bytes_.size() && std::isdigit(bytes_[pos_])) {
      v = v * 10 + (bytes_[pos_] - '0');
      if (v > 0xffffffffull) input_error(path_, std::string("malformed PGM: ") + what + " is too large");
      ++pos_;
    }
    // A number must end at whitespace, a comment or the end of the file ("12x" is not 12).
    if (pos_ < bytes_.size() && !is_space(static_cast<char>(bytes_[pos_])) && bytes_[pos_] != '#')
      input_error(path_, std::string("malformed PGM: bad character after ") + what + " at byte " +
                             std::to_string(pos_));
    return v;
  }

  std::size_t pos() const { return pos_; }
  void advance(std::size_t n) { pos_ += n; }
  bool at_end() const { return pos_ >= bytes_.size(); }

  static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f'; }

 private:
  const std::string& path_;
  const std::vector<std::uint8_t>& bytes_;
  std::size_t pos_ = 2;  // after the magic
};

GrayImage read_pgm(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  const bool binary = bytes[1] == '5';
  PgmReader r(path, bytes);
  // The magic must be followed by whitespace (or a comment): "P55" is not PGM.
  if (bytes.size() > 2 && !PgmReader::is_space(static_cast<char>(bytes[2])) && bytes[2] != '#')
    input_error(path, "malformed PGM: bad magic number");
  const std::uint64_t cols = r.number("width");
  const std::uint64_t rows = r.number("height");
  const std::uint64_t maxval = r.number("maxval");
  check_size(path, rows, cols);
  if (maxval < 1 || maxval > 65535)
    input_error(path, "malformed PGM: maxval " + std::to_string(maxval) + " is not in 1..65535");

  GrayImage out;
  out.rows = static_cast<int>(rows);
  out.cols = static_cast<int>(cols);
  const std::size_t n = static_cast<std::size_t>(rows * cols);
  out.pixels.resize(n);
  // Rescale to 0..255 with rounding; maxval 255 is the identity.
  auto scale = [maxval](std::uint64_t v) { return static_cast<std::uint8_t>((v * 255 + maxval / 2) / maxval); };

  if (binary) {
    // Exactly one whitespace byte separates maxval from the raster.
    if (r.at_end()) input_error(path, "truncated PGM: no pixel data");
    r.advance(1);
    const std::size_t bpp = maxval < 256 ? 1 : 2;
    const std::size_t need = n * bpp;
    const std::size_t have = bytes.size() - r.pos();
    if (have < need)
      input_error(path, "truncated PGM: " + std::to_string(need) + " bytes of pixel data expected, " +
                            std::to_string(have) + " present");
    const std::uint8_t* p = bytes.data() + r.pos();
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t v = bpp == 1 ? p[i] : (static_cast<std::uint64_t>(p[2 * i]) << 8) | p[2 * i + 1];
      if (v > maxval)
        input_error(path, "malformed PGM: pixel value " + std::to_string(v) + " exceeds maxval " +
                              std::to_string(maxval));
      out.pixels[i] = scale(v);
    }
    // Trailing bytes are tolerated: netpbm allows several images per file and
    // some writers add a newline; we read the first image.
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t v = r.number("pixel value");
      if (v > maxval)
        input_error(path, "malformed PGM: pixel value " + std::to_string(v) + " exceeds maxval " +
                              std::to_string(maxval));
      out.pixels[i] = scale(v);
    }
    r.skip_space();
    if (!r.at_end()) input_error(path, "malformed PGM: unexpected data after the " + std::to_string(n) + " pixels");
  }
  return out;
}

// ---- MNIST form -----------------------------------------------------------------

// Area average of src over the rectangle [x0, x1) × [y0, y1) in pixel units
// (pixel (c, r) covers [c, c+1) × [r, r+1)); outside the image counts as 0.
float area_average(const std::vector<float>& src, int rows, int cols, double x0, double x1, double y0, double y1) {
  double sum = 0;
  const int c0 = std::max(0, static_cast<int>(std::floor(x0))), c1 = std::min(cols, static_cast<int>(std::ceil(x1)));
  const int r0 = std::max(0, static_cast<int>(std::floor(y0))), r1 = std::min(rows, static_cast<int>(std::ceil(y1)));
  for (int r = r0; r < r1; ++r) {
    const double wy = std::min<double>(r + 1, y1) - std::max<double>(r, y0);
    if (wy <= 0) continue;
    for (int c = c0; c < c1; ++c) {
      const double wx = std::min<double>(c + 1, x1) - std::max<double>(c, x0);
      if (wx > 0) sum += wx * wy * src[static_cast<std::size_t>(r) * cols + c];
    }
  }
  return static_cast<float>(sum / ((x1 - x0) * (y1 - y0)));
}

// Bilinear sample at (x, y) in pixel-centre coordinates (pixel (c, r) is at
// (c, r)); outside the image counts as 0 so the digit fades out at the edges.
float bilinear(const std::vector<float>& src, int rows, int cols, double x, double y) {
  const int c = static_cast<int>(std::floor(x)), r = static_cast<int>(std::floor(y));
  const double fx = x - c, fy = y - r;
  auto at = [&](int rr, int cc) -> double {
    return (rr < 0 || cc < 0 || rr >= rows || cc >= cols) ? 0.0 : src[static_cast<std::size_t>(rr) * cols + cc];
  };
  return static_cast<float>((1 - fy) * ((1 - fx) * at(r, c) + fx * at(r, c + 1)) +
                            fy * ((1 - fx) * at(r + 1, c) + fx * at(r + 1, c + 1)));
}

}  // namespace

GrayImage read_gray_image(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_all(path);
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSignature, 8) == 0) return read_png(path, bytes);
  if (bytes.size() >= 2 && bytes[0] == 'P') {
    if (bytes[1] == '2' || bytes[1] == '5') return read_pgm(path, bytes);
    if (bytes[1] >= '1' && bytes[1] <= '7')
      input_error(path, std::string("unsupported Netpbm format P") + static_cast<char>(bytes[1]) +
                            " (only PGM, P2 and P5, is read)");
  }
  if (bytes.empty()) input_error(path, "empty file, not an image");
  input_error(path, "not a PNG or PGM image");
}

void write_gray_png(const std::string& path, const GrayImage& image) {
  MNIST_CHECK(image.rows > 0 && image.cols > 0 &&
                  image.pixels.size() == static_cast<std::size_t>(image.rows) * image.cols,
              RuntimeError, path << ": cannot write a " << image.cols << "x" << image.rows << " image with "
                                 << image.pixels.size() << " pixels");
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.cols);
  png.height = static_cast<png_uint_32>(image.rows);
  png.format = PNG_FORMAT_GRAY;
  // Encode to memory first, then write atomically like every other output.
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, image.pixels.data(), 0, nullptr))
    throw RuntimeError(path + ": PNG encoding failed: " + png.message);
  std::string buffer(size, '\0');
  if (!png_image_write_to_memory(&png, &buffer[0], &size, 0, image.pixels.data(), 0, nullptr))
    throw RuntimeError(path + ": PNG encoding failed: " + png.message);
  buffer.resize(size);
  write_file_atomic(path, buffer);
}

namespace {

// A picture as floats in [0, 255], light ink on black (MNIST's polarity).
struct FloatImage {
  int rows = 0, cols = 0;
  std::vector<float> px;
  float at(int r, int c) const { return px[static_cast<std::size_t>(r) * cols + c]; }
};

struct InkBox {
  int top, bottom, left, right;
  int width() const { return right - left + 1; }
  int height() const { return bottom - top + 1; }
};

// 1. Polarity: MNIST digits are light on dark. Paper is lighter than the
// picture's average, so a border lighter than the whole means dark ink.
// 2. Background to black, ink to full white: the median border level is the
// background (robust to a stroke touching the edge); stretch the rest.
FloatImage normalised_polarity_and_contrast(const GrayImage& image, const std::string& name_for_errors) {
  const int rows = image.rows, cols = image.cols;
  const std::size_t n = image.pixels.size();
  double border_sum = 0, all_sum = 0;
  std::size_t border_n = 0;
  std::vector<std::uint8_t> border;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const std::uint8_t v = image.pixels[static_cast<std::size_t>(r) * cols + c];
      all_sum += v;
      if (r == 0 || c == 0 || r == rows - 1 || c == cols - 1) {
        border_sum += v;
        ++border_n;
        border.push_back(v);
      }
    }
  const bool invert = border_sum / border_n > all_sum / n;
  FloatImage out{rows, cols, std::vector<float>(n)};
  std::vector<float>& px = out.px;
  for (std::size_t i = 0; i < n; ++i) px[i] = invert ? 255.0f - image.pixels[i] : image.pixels[i];
  for (auto& v : border) v = invert ? static_cast<std::uint8_t>(255 - v) : v;

  std::nth_element(border.begin(), border.begin() + border.size() / 2, border.end());
  const float background = border[border.size() / 2];
  const float peak = *std::max_element(px.begin(), px.end());
  if (peak - background < 1.0f) input_error(name_for_errors, "blank image (no contrast), no digit to read");
  const float gain = 255.0f / (peak - background);
  for (float& v : px) v = std::clamp((v - background) * gain, 0.0f, 255.0f);
  return out;
}

// 3. Bounding box of the ink. The threshold ignores faint noise and
// anti-aliasing fringes; the fringe is kept by the margin of the scaling.
InkBox ink_box(const FloatImage& img, const std::string& name_for_errors) {
  constexpr float kInkThreshold = 255.0f / 8;
  InkBox box{img.rows, -1, img.cols, -1};
  for (int r = 0; r < img.rows; ++r)
    for (int c = 0; c < img.cols; ++c)
      if (img.at(r, c) > kInkThreshold) {
        box.top = std::min(box.top, r), box.bottom = std::max(box.bottom, r);
        box.left = std::min(box.left, c), box.right = std::max(box.right, c);
      }
  if (box.bottom < 0) input_error(name_for_errors, "blank image (no contrast), no digit to read");
  return box;
}

// 4. Scale the box to fit 20×20, keeping the aspect ratio. The scaled box
// gets a one-pixel margin so anti-aliased edges just outside it survive.
FloatImage scaled_to_20(const FloatImage& img, const InkBox& box) {
  const double s = 20.0 / std::max(box.width(), box.height());
  const int out_w = std::max(1, static_cast<int>(std::lround(box.width() * s)));
  const int out_h = std::max(1, static_cast<int>(std::lround(box.height() * s)));
  const int cw = out_w + 2, ch = out_h + 2;  // canvas with the margin
  FloatImage canvas{ch, cw, std::vector<float>(static_cast<std::size_t>(cw) * ch)};
  for (int v = 0; v < ch; ++v)
    for (int u = 0; u < cw; ++u) {
      // Canvas pixel (u, v) covers source [left + (u-1)/s, left + u/s) × ...
      const double x0 = box.left + (u - 1) / s, x1 = box.left + u / s;
      const double y0 = box.top + (v - 1) / s, y1 = box.top + v / s;
      canvas.px[static_cast<std::size_t>(v) * cw + u] =
          s <= 1.0 ? area_average(img.px, img.rows, img.cols, x0, x1, y0, y1)
                   : bilinear(img.px, img.rows, img.cols, (x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5);
    }
  return canvas;
}

// 5. Centre of mass → the centre of the 28×28 field, by a whole-pixel shift
// (as MNIST did). Measured on MNIST itself, the centre of mass sits at pixel
// index 14 (not at the geometric centre 13.5), so that is the target.
GrayImage centred_by_mass(const FloatImage& canvas, const std::string& name_for_errors) {
  const int ch = canvas.rows, cw = canvas.cols;
  double mass = 0, mx = 0, my = 0;
  for (int v = 0; v < ch; ++v)
    for (int u = 0; u < cw; ++u) {
      const double w = canvas.at(v, u);
      mass += w, mx += w * u, my += w * v;
    }
  if (!(mass > 0)) input_error(name_for_errors, "blank image (no contrast), no digit to read");
  const int dx = static_cast<int>(std::lround(14.0 - mx / mass));
  const int dy = static_cast<int>(std::lround(14.0 - my / mass));

  GrayImage out;
  out.rows = out.cols = 28;
  out.pixels.assign(28 * 28, 0);
  for (int v = 0; v < ch; ++v)
    for (int u = 0; u < cw; ++u) {
      const int r = v + dy, c = u + dx;
      if (r < 0 || c < 0 || r >= 28 || c >= 28) continue;
      out.pixels[static_cast<std::size_t>(r) * 28 + c] =
          static_cast<std::uint8_t>(std::clamp(std::lround(canvas.at(v, u)), 0L, 255L));
    }
  return out;
}

}  // namespace

GrayImage to_mnist_form(const GrayImage& image, const std::string& name_for_errors) {
  MNIST_CHECK(image.rows > 0 && image.cols > 0 &&
                  image.pixels.size() == static_cast<std::size_t>(image.rows) * image.cols,
              InputError, name_for_errors << ": empty or inconsistent image");
  const FloatImage clean = normalised_polarity_and_contrast(image, name_for_errors);
  const InkBox box = ink_box(clean, name_for_errors);
  return centred_by_mass(scaled_to_20(clean, box), name_for_errors);
}

}  // namespace mnist_ddp
