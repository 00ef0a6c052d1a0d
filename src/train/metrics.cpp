// metrics.cpp — the confusion matrix and its two text forms.
//
// The classification report reproduces sklearn.metrics.classification_report
// (digits=4, zero_division=0) character for character, so that its output can
// be diffed against the reference Python script's. The format strings below
// are sklearn's, translated from str.format to printf.
#include "mnist_ddp/train/metrics.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string>

namespace mnist_ddp {

std::int64_t ConfusionMatrix::total() const {
  std::int64_t n = 0;
  for (const auto& row : counts)
    for (std::int64_t c : row) n += c;
  return n;
}

std::int64_t ConfusionMatrix::correct() const {
  std::int64_t n = 0;
  for (int i = 0; i < kNumClasses; ++i) n += counts[i][i];
  return n;
}

double ConfusionMatrix::accuracy() const {
  const std::int64_t n = total();
  return n == 0 ? 0.0 : static_cast<double>(correct()) / static_cast<double>(n);
}

namespace {

std::string printf_string(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

std::string printf_string(const char* fmt, ...) {
  char buf[256];
  va_list args;
  va_start(args, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  return std::string(buf, n < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
}

double safe_div(double num, double den) { return den == 0.0 ? 0.0 : num / den; }

struct ClassScores {
  double precision = 0, recall = 0, f1 = 0;
  std::int64_t support = 0;
};

ClassScores scores_for(const ConfusionMatrix& cm, int k) {
  std::int64_t predicted = 0, support = 0;
  for (int i = 0; i < kNumClasses; ++i) {
    predicted += cm.counts[i][k];
    support += cm.counts[k][i];
  }
  const double tp = static_cast<double>(cm.counts[k][k]);
  ClassScores s;
  s.precision = safe_div(tp, static_cast<double>(predicted));
  s.recall = safe_div(tp, static_cast<double>(support));
  // sklearn's form: 2tp / (2tp + fp + fn); equal to 2PR/(P+R) but defined
  // (as 0) whenever the class has any predictions or any support.
  s.f1 = safe_div(2 * tp, static_cast<double>(predicted + support));
  s.support = support;
  return s;
}

}  // namespace

std::string format_confusion_matrix(const ConfusionMatrix& cm) {
  std::int64_t largest = 0;
  for (const auto& row : cm.counts)
    for (std::int64_t c : row) largest = std::max(largest, c);
  // Every column as wide as the largest count, so the matrix stays aligned.
  const int width = std::max<int>(3, static_cast<int>(std::to_string(largest).size())) + 1;
  const char* corner = "true\\pred";
  const int label_width = static_cast<int>(std::char_traits<char>::length(corner));

  std::string out = printf_string("%*s", label_width, corner);
  for (int p = 0; p < kNumClasses; ++p) out += printf_string("%*d", width, p);
  out += '\n';
  for (int t = 0; t < kNumClasses; ++t) {
    out += printf_string("%*d", label_width, t);
    for (int p = 0; p < kNumClasses; ++p)
      out += printf_string("%*lld", width, static_cast<long long>(cm.counts[t][p]));
    out += '\n';
  }
  return out;
}

std::string format_classification_report(const ConfusionMatrix& cm) {
  // sklearn: width = max(len of longest label, len("weighted avg"), digits) = 12.
  constexpr int kWidth = 12;
  std::string out = printf_string("%*s  %9s %9s %9s %9s\n\n", kWidth, "", "precision", "recall",
                                  "f1-score", "support");

  double macro_p = 0, macro_r = 0, macro_f = 0;
  double weighted_p = 0, weighted_r = 0, weighted_f = 0;
  std::int64_t total = 0;
  for (int k = 0; k < kNumClasses; ++k) {
    const ClassScores s = scores_for(cm, k);
    out += printf_string("%*d  %9.4f %9.4f %9.4f %9lld\n", kWidth, k, s.precision, s.recall, s.f1,
                         static_cast<long long>(s.support));
    macro_p += s.precision;
    macro_r += s.recall;
    macro_f += s.f1;
    const double w = static_cast<double>(s.support);
    weighted_p += w * s.precision;
    weighted_r += w * s.recall;
    weighted_f += w * s.f1;
    total += s.support;
  }
  out += '\n';

  const double n = static_cast<double>(total);
  const long long total_ll = static_cast<long long>(total);
  // sklearn leaves the precision and recall columns blank on the accuracy row.
  out += printf_string("%*s  %9s %9s %9.4f %9lld\n", kWidth, "accuracy", "", "", cm.accuracy(), total_ll);
  out += printf_string("%*s  %9.4f %9.4f %9.4f %9lld\n", kWidth, "macro avg", macro_p / kNumClasses,
                       macro_r / kNumClasses, macro_f / kNumClasses, total_ll);
  out += printf_string("%*s  %9.4f %9.4f %9.4f %9lld\n", kWidth, "weighted avg", safe_div(weighted_p, n),
                       safe_div(weighted_r, n), safe_div(weighted_f, n), total_ll);
  return out;
}

}  // namespace mnist_ddp
