// metrics.hpp — confusion matrix, accuracy and scikit-learn's classification report.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace mnist_ddp {

constexpr int kNumClasses = 10;

struct ConfusionMatrix {
  // counts[true][predicted]
  std::array<std::array<std::int64_t, kNumClasses>, kNumClasses> counts{};

  void add(int truth, int predicted) { ++counts[truth][predicted]; }
  std::int64_t total() const;
  std::int64_t correct() const;
  double accuracy() const;  // 0 when empty
  // Flat row-major view for reductions (100 int64 values).
  std::int64_t* data() { return &counts[0][0]; }
  const std::int64_t* data() const { return &counts[0][0]; }
};

// The matrix as text: a header row of predicted labels, one row per true label.
std::string format_confusion_matrix(const ConfusionMatrix& cm);

// Per class precision, recall, F1 and support, then accuracy, macro avg and
// weighted avg — laid out as sklearn.metrics.classification_report(digits=4)
// prints it. A class never predicted has precision 0 (sklearn's zero_division=0).
std::string format_classification_report(const ConfusionMatrix& cm);

}  // namespace mnist_ddp
