// test_progress.cpp — the Keras-style bar and epoch lines, and what a
// non-terminal (log file) run writes.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "mnist_ddp/train/progress.hpp"

namespace mnist_ddp {
namespace {

EpochSummary sample_summary() {
  EpochSummary s;
  s.epoch = 3;
  s.epochs = 15;
  s.seconds = 43.2;
  s.loss = 0.0712;
  s.accuracy = 0.9781;
  s.val_loss = 0.0301;
  s.val_accuracy = 0.9912;
  s.has_val = true;
  s.lr = 1e-3;
  s.images_per_second = 1256.4;
  return s;
}

TEST(ProgressLines, EpochLine) {
  EXPECT_EQ(ProgressDisplay::epoch_line(sample_summary()),
            "Epoch 3/15 - 43s - loss: 0.0712 - accuracy: 0.9781 - val_loss: 0.0301 - val_accuracy: 0.9912"
            " - lr: 1.0000e-03 - 1256 img/s");
}

TEST(ProgressLines, EpochLineWithoutValidation) {
  EpochSummary s = sample_summary();
  s.has_val = false;
  EXPECT_EQ(ProgressDisplay::epoch_line(s),
            "Epoch 3/15 - 43s - loss: 0.0712 - accuracy: 0.9781 - lr: 1.0000e-03 - 1256 img/s");
}

TEST(ProgressLines, TinyValuesUseExponent) {
  // Keras prints "%.4e" for |value| <= 1e-3 so small losses do not read 0.0000.
  EpochSummary s = sample_summary();
  s.has_val = false;
  s.loss = 0.0005;
  EXPECT_NE(ProgressDisplay::epoch_line(s).find("loss: 5.0000e-04 "), std::string::npos);
}

TEST(ProgressLines, BarHalfway) {
  // int(30 * 211/422) = 15 filled: 14 '=' then '>', then 15 '.'.
  EXPECT_EQ(ProgressDisplay::bar_line(211, 422, 21.7, 0.0712, 0.9781),
            " 211/422 [" + std::string(14, '=') + ">" + std::string(15, '.') +
                "] - ETA: 21s - loss: 0.0712 - accuracy: 0.9781");
}

TEST(ProgressLines, BarStartAndEnd) {
  // int(30 * 1/422) = 0: no arrow yet; the step count is padded to the width of 422.
  EXPECT_EQ(ProgressDisplay::bar_line(1, 422, 90, 2.3, 0.1),
            "   1/422 [" + std::string(30, '.') + "] - ETA: 1:30 - loss: 2.3000 - accuracy: 0.1000");
  // Complete: all '=', no ETA.
  EXPECT_EQ(ProgressDisplay::bar_line(422, 422, 0, 0.05, 0.99),
            " 422/422 [" + std::string(30, '=') + "] - loss: 0.0500 - accuracy: 0.9900");
}

TEST(ProgressLines, EtaFormats) {
  auto eta = [](double seconds) {
    const std::string line = ProgressDisplay::bar_line(1, 10, seconds, 1, 1);
    const auto at = line.find("ETA: ") + 5;
    return line.substr(at, line.find(' ', at) - at);
  };
  EXPECT_EQ(eta(21.9), "21s");  // whole seconds, truncated as Keras does
  EXPECT_EQ(eta(59.9), "59s");
  EXPECT_EQ(eta(60), "1:00");
  EXPECT_EQ(eta(65), "1:05");
  EXPECT_EQ(eta(3723), "1:02:03");
}

TEST(ProgressDisplayRun, NonInteractiveWritesOnlyEpochLines) {
  std::ostringstream out;
  ProgressDisplay display(out, /*interactive=*/false);
  EpochSummary s = sample_summary();
  for (int epoch = 1; epoch <= 2; ++epoch) {
    display.begin_epoch(epoch, 2, 5);
    for (int step = 1; step <= 5; ++step) display.update(step, 0.1, 0.9);
    s.epoch = epoch;
    s.epochs = 2;
    display.end_epoch(s);
  }
  EpochSummary first = s, second = s;
  first.epoch = 1;
  second.epoch = 2;
  EXPECT_EQ(out.str(), ProgressDisplay::epoch_line(first) + "\n" + ProgressDisplay::epoch_line(second) + "\n");
}

TEST(ProgressDisplayRun, InteractiveDrawsBarThenEpochLine) {
  std::ostringstream out;
  ProgressDisplay display(out, /*interactive=*/true);
  display.begin_epoch(1, 1, 3);
  for (int step = 1; step <= 3; ++step) display.update(step, 0.5, 0.8);
  EpochSummary s = sample_summary();
  s.epoch = 1;
  s.epochs = 1;
  display.end_epoch(s);
  const std::string text = out.str();
  EXPECT_EQ(text.rfind("Epoch 1/1\n", 0), 0u);
  // The final step is always drawn, however soon after the previous one.
  EXPECT_NE(text.find("\r 3/3 [" + std::string(30, '=') + "]"), std::string::npos);
  const std::string tail = "\r" + ProgressDisplay::epoch_line(s);
  const auto at = text.rfind(tail);
  ASSERT_NE(at, std::string::npos);
  // The epoch line is padded over the longer bar line, then ends the line.
  const std::string rest = text.substr(at + tail.size());
  EXPECT_EQ(rest.back(), '\n');
  EXPECT_EQ(rest.find_first_not_of(' '), rest.size() - 1);
}

}  // namespace
}  // namespace mnist_ddp
