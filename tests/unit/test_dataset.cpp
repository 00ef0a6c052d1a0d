// test_dataset.cpp — unit tests for the dataset helpers: the Keras-style
// validation split, take_first, pixel normalisation and class counts.
//
// The split is checked byte for byte, because "the last 10%" versus "the first
// 10%" or an off-by-one in the rounding would silently change every result
// compared against a Keras reference run.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/data/dataset.hpp"

namespace {

using mnist_ddp::MnistSet;

// n samples of 2 x 2 pixels; every pixel of sample i is i, and its label is i % 10,
// so any slice can be recognised by its bytes.
MnistSet numbered_set(std::int64_t n) {
  MnistSet s;
  s.count = n;
  s.rows = 2;
  s.cols = 2;
  for (std::int64_t i = 0; i < n; ++i) {
    for (int p = 0; p < 4; ++p) s.images.push_back(static_cast<std::uint8_t>(i));
    s.labels.push_back(static_cast<std::uint8_t>(i % 10));
  }
  return s;
}

void expect_samples(const MnistSet& s, std::int64_t first, std::int64_t count) {
  ASSERT_EQ(s.count, count);
  EXPECT_EQ(s.rows, 2);
  EXPECT_EQ(s.cols, 2);
  ASSERT_EQ(s.images.size(), static_cast<std::size_t>(count * 4));
  ASSERT_EQ(s.labels.size(), static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) {
    for (int p = 0; p < 4; ++p) {
      EXPECT_EQ(s.images[static_cast<std::size_t>(i * 4 + p)], static_cast<std::uint8_t>(first + i)) << "sample " << i;
    }
    EXPECT_EQ(s.labels[static_cast<std::size_t>(i)], static_cast<std::uint8_t>((first + i) % 10));
  }
}

void expect_usage_error(double val_split, std::int64_t n, const std::string& phrase) {
  const MnistSet all = numbered_set(n);
  try {
    mnist_ddp::split_validation(all, val_split);
    ADD_FAILURE() << "no exception for val_split " << val_split;
  } catch (const mnist_ddp::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
  }
}

TEST(DatasetSplit, TenPercentOfHundredIsTheLastTen) {
  const auto sp = mnist_ddp::split_validation(numbered_set(100), 0.1);
  expect_samples(sp.train, 0, 90);
  expect_samples(sp.val, 90, 10);
}

TEST(DatasetSplit, RoundsLikeKeras) {
  // Keras: split_at = int(60000 * (1 - 0.1)) = 54000; and floor for odd sizes.
  EXPECT_EQ(mnist_ddp::split_validation(numbered_set(60000), 0.1).train.count, 54000);
  const auto sp = mnist_ddp::split_validation(numbered_set(7), 0.5);  // 3.5 → 3
  EXPECT_EQ(sp.train.count, 3);
  EXPECT_EQ(sp.val.count, 4);
}

TEST(DatasetSplit, ZeroGivesAnEmptyValidationSet) {
  const auto sp = mnist_ddp::split_validation(numbered_set(100), 0.0);
  expect_samples(sp.train, 0, 100);
  EXPECT_EQ(sp.val.count, 0);
  EXPECT_TRUE(sp.val.images.empty());
  EXPECT_TRUE(sp.val.labels.empty());
  EXPECT_EQ(sp.val.rows, 2);
}

TEST(DatasetSplit, OutOfRangeIsAUsageError) {
  expect_usage_error(1.0, 100, "--val-split");
  expect_usage_error(-0.1, 100, "--val-split");
  expect_usage_error(1.5, 100, "--val-split");
  expect_usage_error(std::numeric_limits<double>::quiet_NaN(), 100, "--val-split");
}

TEST(DatasetSplit, EmptyTrainingPartIsAUsageError) {
  expect_usage_error(0.5, 1, "no training samples");
  expect_usage_error(0.0, 0, "no training samples");
}

TEST(DatasetTakeFirst, LimitsTheCount) {
  const MnistSet all = numbered_set(20);
  expect_samples(mnist_ddp::take_first(all, 5), 0, 5);
  expect_samples(mnist_ddp::take_first(all, 0), 0, 20);
  expect_samples(mnist_ddp::take_first(all, -3), 0, 20);
  expect_samples(mnist_ddp::take_first(all, 20), 0, 20);
  expect_samples(mnist_ddp::take_first(all, 1000), 0, 20);
}

TEST(DatasetNormalize, MapsBytesToUnitInterval) {
  std::vector<std::uint8_t> src(256);
  for (int i = 0; i < 256; ++i) src[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  std::vector<float> dst(256, -1.0f);
  mnist_ddp::normalize_pixels(src.data(), dst.data(), src.size());
  EXPECT_EQ(dst[0], 0.0f);
  EXPECT_FLOAT_EQ(dst[255], 1.0f);
  for (int i = 0; i < 256; ++i) {
    const float v = dst[static_cast<std::size_t>(i)];
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.0f);
    EXPECT_NEAR(v, i / 255.0, 1e-6) << i;
    if (i > 0) {
      EXPECT_GT(v, dst[static_cast<std::size_t>(i - 1)]);
    }
  }
}

TEST(DatasetNormalize, WritesExactlyNValues) {
  const std::uint8_t src[3] = {255, 255, 255};
  float dst[4] = {-1, -1, -1, -1};
  mnist_ddp::normalize_pixels(src, dst, 3);
  EXPECT_EQ(dst[3], -1.0f);
}

TEST(DatasetClassCounts, CountsEachLabel) {
  const auto c = mnist_ddp::class_counts(numbered_set(25));  // labels 0..9, 0..9, 0..4
  for (int k = 0; k < 10; ++k) EXPECT_EQ(c.count[k], k < 5 ? 3 : 2) << "class " << k;
  const auto empty = mnist_ddp::class_counts(numbered_set(0));
  for (int k = 0; k < 10; ++k) EXPECT_EQ(empty.count[k], 0);
}

}  // namespace
