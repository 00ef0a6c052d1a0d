// dataset.hpp — what happens to MNIST between the file and the model:
// the validation split, a limit for quick runs, and normalisation to [0, 1].
#pragma once

#include <cstdint>

#include "mnist_ddp/data/idx.hpp"

namespace mnist_ddp {

// The first `n` samples of `set` (all of them when n <= 0 or n >= count).
MnistSet take_first(const MnistSet& set, std::int64_t n);

struct TrainValSplit {
  MnistSet train;
  MnistSet val;
};

// Keras validation_split: the LAST fraction of the samples (before any shuffle)
// becomes the validation set; split_at = floor(count * (1 - val_split)).
// val_split must be in [0, 1); 0 gives an empty validation set.
// A split that leaves the training set empty → UsageError.
TrainValSplit split_validation(const MnistSet& all, double val_split);

// Pixel byte → float in [0, 1], the same on every backend.
constexpr float kPixelScale = 1.0f / 255.0f;

// dst[i] = src[i] / 255 for n bytes.
void normalize_pixels(const std::uint8_t* src, float* dst, std::size_t n);

// Count of each label 0..9.
struct ClassCounts {
  std::int64_t count[10] = {};
};
ClassCounts class_counts(const MnistSet& set);

}  // namespace mnist_ddp
