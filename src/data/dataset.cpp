// dataset.cpp — what happens to MNIST between the file and the model: a limit
// for quick runs, the Keras-style validation split and pixel normalisation.
//
// The split follows Keras's validation_split exactly (the last fraction, before
// any shuffle, with the same rounding) so that runs can be compared with a Keras
// reference sample for sample.

#include "mnist_ddp/data/dataset.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

namespace {

// Samples [begin, end) of `set`; callers guarantee 0 <= begin <= end <= count.
MnistSet slice(const MnistSet& set, std::int64_t begin, std::int64_t end) {
  MnistSet s;
  s.count = end - begin;
  s.rows = set.rows;
  s.cols = set.cols;
  const std::size_t isz = set.image_size();
  const auto b = static_cast<std::size_t>(begin);
  const auto e = static_cast<std::size_t>(end);
  s.images.assign(set.images.begin() + static_cast<std::ptrdiff_t>(b * isz),
                  set.images.begin() + static_cast<std::ptrdiff_t>(e * isz));
  s.labels.assign(set.labels.begin() + static_cast<std::ptrdiff_t>(b),
                  set.labels.begin() + static_cast<std::ptrdiff_t>(e));
  return s;
}

}  // namespace

MnistSet take_first(const MnistSet& set, std::int64_t n) {
  if (n <= 0 || n >= set.count) return set;
  return slice(set, 0, n);
}

TrainValSplit split_validation(const MnistSet& all, double val_split) {
  // Written as a negated range test so that NaN is rejected too.
  if (!(val_split >= 0.0 && val_split < 1.0)) {
    std::ostringstream s;
    s << "--val-split must be in [0, 1), got " << val_split;
    throw UsageError(s.str());
  }
  // Keras: split_at = int(num_samples * (1.0 - validation_split)), in doubles.
  const auto split_at =
      static_cast<std::int64_t>(std::floor(static_cast<double>(all.count) * (1.0 - val_split)));
  if (split_at <= 0) {
    std::ostringstream s;
    s << "--val-split " << val_split << " leaves no training samples (of " << all.count << ")";
    throw UsageError(s.str());
  }
  TrainValSplit out;
  out.train = slice(all, 0, split_at);
  out.val = slice(all, split_at, all.count);
  return out;
}

void normalize_pixels(const std::uint8_t* src, float* dst, std::size_t n) {
  // Multiply by the shared kPixelScale rather than divide by 255 (the two can
  // differ in the last bit), so a backend using the same constant gets
  // bit-identical inputs.
  for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]) * kPixelScale;
}

ClassCounts class_counts(const MnistSet& set) {
  ClassCounts c;
  for (std::uint8_t l : set.labels) {
    // Labels are validated at load time; a bad one here is a programming error.
    MNIST_ASSERT(l < 10, "label " << int{l} << " out of range");
    ++c.count[l];
  }
  return c;
}

}  // namespace mnist_ddp
