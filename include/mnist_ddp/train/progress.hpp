// progress.hpp — a Keras-like progress display, for rank 0.
//
// On a terminal: a live bar redrawn in place with "\r",
//   "Epoch 3/15\n 211/422 [=========>..........] - ETA: 21s - loss: 0.0712 - accuracy: 0.9781"
// redrawn at most every 0.1 s. Not on a terminal (Slurm logs, files): no bar,
// only the epoch line. Either way each epoch ends with one line:
//   "Epoch 3/15 - 43s - loss: 0.0712 - accuracy: 0.9781 - val_loss: 0.0301 -
//    val_accuracy: 0.9912 - lr: 1.0000e-03 - 1256 img/s"
#pragma once

#include <chrono>
#include <cstdint>
#include <cstddef>
#include <iterator>
#include <ostream>
#include <string>

#include "mnist_ddp/core/enum_name.hpp"

namespace mnist_ddp {

// Which display a run asks for (--progress): auto is the bar on a terminal, epoch lines otherwise.
enum class ProgressMode { kAuto, kBar, kEpoch, kNone };

inline const char* to_string(ProgressMode p) {
  return enum_name(p, {"auto", "bar", "epoch", "none"});  // in the enum's order
}

struct EpochSummary {
  int epoch = 0;        // 1-based
  int epochs = 0;
  double seconds = 0;
  double loss = 0, accuracy = 0;
  double val_loss = 0, val_accuracy = 0;
  bool has_val = false;
  double lr = 0;
  double images_per_second = 0;
};

class ProgressDisplay {
 public:
  // interactive: draw the live bar (true when the stream is a terminal).
  ProgressDisplay(std::ostream& out, bool interactive);

  void begin_epoch(int epoch, int epochs, std::int64_t steps);
  // After step `step` (1-based) with the running mean loss and accuracy.
  void update(std::int64_t step, double loss, double accuracy);
  void end_epoch(const EpochSummary& summary);

  // Formats the end-of-epoch line (no newline); exposed for tests.
  static std::string epoch_line(const EpochSummary& s);
  // Formats the live bar line (no "\r", no newline); exposed for tests.
  static std::string bar_line(std::int64_t step, std::int64_t steps, double eta_seconds, double loss,
                              double accuracy);

 private:
  // Rewrites the current terminal line with `line` ("\r", then padding over
  // whatever longer line was drawn before).
  void draw(const std::string& line);

  std::ostream& out_;
  bool interactive_;
  std::int64_t steps_ = 0;
  std::size_t drawn_width_ = 0;  // longest line drawn on the current terminal line
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// Whether file descriptor 1 is a terminal.
bool stdout_is_terminal();

}  // namespace mnist_ddp
