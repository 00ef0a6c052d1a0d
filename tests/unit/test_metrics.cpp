// test_metrics.cpp — the confusion matrix and the sklearn-style report, on a
// small matrix whose scores are worked out by hand below.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "mnist_ddp/train/metrics.hpp"

namespace mnist_ddp {
namespace {

// counts[true][predicted]; classes 4..9 are empty.
//   true 0: 5 as 0, 1 as 1          support 6
//   true 1: 1 as 0, 3 as 1, 1 as 2  support 5
//   true 2: 4 as 2                  support 4
//   true 3: 2 as 2 (never predicted) support 2
// Column sums (predicted): 0 -> 6, 1 -> 4, 2 -> 7, 3 -> 0. Total 17, correct 12.
//   class 0: P = 5/6 = .8333, R = 5/6 = .8333, F1 = 2*5/(6+6) = .8333
//   class 1: P = 3/4 = .7500, R = 3/5 = .6000, F1 = 2*3/(4+5) = .6667
//   class 2: P = 4/7 = .5714, R = 4/4 = 1.000, F1 = 2*4/(7+4) = .7273
//   class 3: P = 0/0 -> 0 (zero_division), R = 0/2 = 0, F1 = 0
//   accuracy 12/17 = .7059
//   macro (over all 10 classes): P = (.8333+.75+.5714)/10 = .2155,
//     R = (.8333+.6+1)/10 = .2433, F1 = (.8333+.6667+.7273)/10 = .2227
//   weighted: P = (6*.8333 + 5*.75 + 4*.5714)/17 = 11.0357/17 = .6492,
//     R = 12/17 = .7059, F1 = (5 + 3.3333 + 2.9091)/17 = .6613
ConfusionMatrix sample_matrix() {
  ConfusionMatrix cm;
  auto add_n = [&](int t, int p, int n) {
    for (int i = 0; i < n; ++i) cm.add(t, p);
  };
  add_n(0, 0, 5);
  add_n(0, 1, 1);
  add_n(1, 0, 1);
  add_n(1, 1, 3);
  add_n(1, 2, 1);
  add_n(2, 2, 4);
  add_n(3, 2, 2);
  return cm;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(MetricsConfusionMatrix, Counts) {
  const ConfusionMatrix cm = sample_matrix();
  EXPECT_EQ(cm.total(), 17);
  EXPECT_EQ(cm.correct(), 12);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 12.0 / 17.0);
  EXPECT_EQ(cm.data()[1 * kNumClasses + 2], 1);  // row-major: [true 1][pred 2]
}

TEST(MetricsConfusionMatrix, EmptyHasZeroAccuracy) {
  const ConfusionMatrix cm;
  EXPECT_EQ(cm.total(), 0);
  EXPECT_EQ(cm.accuracy(), 0.0);
}

TEST(MetricsConfusionMatrix, Format) {
  const auto lines = lines_of(format_confusion_matrix(sample_matrix()));
  ASSERT_EQ(lines.size(), 11u);
  EXPECT_EQ(lines[0], "true\\pred   0   1   2   3   4   5   6   7   8   9");
  EXPECT_EQ(lines[2], "        1   1   3   1   0   0   0   0   0   0   0");
}

TEST(MetricsConfusionMatrix, FormatWidensForLargeCounts) {
  ConfusionMatrix cm;
  cm.counts[0][0] = 123456;
  const auto lines = lines_of(format_confusion_matrix(cm));
  EXPECT_EQ(lines[1].substr(0, 16), "        0 123456");
  EXPECT_EQ(lines[0].size(), lines[1].size());
}

TEST(MetricsReport, MatchesSklearnLayout) {
  const std::string report = format_classification_report(sample_matrix());
  const auto lines = lines_of(report);
  ASSERT_EQ(lines.size(), 16u);
  EXPECT_EQ(lines[0], "              precision    recall  f1-score   support");
  EXPECT_EQ(lines[1], "");
  EXPECT_EQ(lines[2], "           0     0.8333    0.8333    0.8333         6");
  EXPECT_EQ(lines[3], "           1     0.7500    0.6000    0.6667         5");
  EXPECT_EQ(lines[4], "           2     0.5714    1.0000    0.7273         4");
  EXPECT_EQ(lines[5], "           3     0.0000    0.0000    0.0000         2");
  EXPECT_EQ(lines[11], "           9     0.0000    0.0000    0.0000         0");
  EXPECT_EQ(lines[12], "");
  EXPECT_EQ(lines[13], "    accuracy                         0.7059        17");
  EXPECT_EQ(lines[14], "   macro avg     0.2155    0.2433    0.2227        17");
  EXPECT_EQ(lines[15], "weighted avg     0.6492    0.7059    0.6613        17");
  EXPECT_EQ(report.back(), '\n');
}

TEST(MetricsReport, EmptyMatrixIsAllZeros) {
  const auto lines = lines_of(format_classification_report(ConfusionMatrix{}));
  ASSERT_EQ(lines.size(), 16u);
  EXPECT_EQ(lines[13], "    accuracy                         0.0000         0");
  EXPECT_EQ(lines[15], "weighted avg     0.0000    0.0000    0.0000         0");
}

}  // namespace
}  // namespace mnist_ddp
