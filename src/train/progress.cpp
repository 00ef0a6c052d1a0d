// progress.cpp — the Keras-like progress display.
//
// The bar and number formats are those of keras.utils.Progbar: a 30-character
// bar, values printed "%.4f" (or "%.4e" when tiny, so 3e-5 does not show as
// 0.0000), ETA as "21s", "1:05" or "1:02:03". Output to a file or a Slurm log
// gets only the epoch lines: a bar redrawn with "\r" turns into megabytes of
// noise there.
#include "mnist_ddp/train/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace mnist_ddp {

namespace {

constexpr int kBarWidth = 30;
constexpr double kRedrawSeconds = 0.1;

// Keras: "%.4f" when |v| > 1e-3, else "%.4e".
std::string metric_value(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, std::fabs(v) > 1e-3 ? "%.4f" : "%.4e", v);
  return buf;
}

std::string eta_text(double seconds) {
  // Keras prints whole seconds, truncated.
  const long long eta = seconds > 0 && std::isfinite(seconds) ? static_cast<long long>(seconds) : 0;
  char buf[64];
  if (eta >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", eta / 3600, (eta % 3600) / 60, eta % 60);
  else if (eta >= 60)
    std::snprintf(buf, sizeof buf, "%lld:%02lld", eta / 60, eta % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", eta);
  return buf;
}

double seconds_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

ProgressDisplay::ProgressDisplay(std::ostream& out, bool interactive) : out_(out), interactive_(interactive) {}

std::string ProgressDisplay::bar_line(std::int64_t step, std::int64_t steps, double eta_seconds, double loss,
                                      double accuracy) {
  steps = std::max<std::int64_t>(steps, 1);
  step = std::clamp<std::int64_t>(step, 0, steps);
  const int digits = static_cast<int>(std::to_string(steps).size());
  char head[64];
  std::snprintf(head, sizeof head, " %*lld/%lld [", digits, static_cast<long long>(step),
                static_cast<long long>(steps));
  std::string line = head;

  const int filled = static_cast<int>(kBarWidth * static_cast<double>(step) / static_cast<double>(steps));
  if (filled > 0) {
    line.append(static_cast<std::size_t>(filled - 1), '=');
    line += step < steps ? '>' : '=';
  }
  line.append(static_cast<std::size_t>(kBarWidth - filled), '.');
  line += ']';
  if (step < steps) line += " - ETA: " + eta_text(eta_seconds);
  line += " - loss: " + metric_value(loss);
  line += " - accuracy: " + metric_value(accuracy);
  return line;
}

std::string ProgressDisplay::epoch_line(const EpochSummary& s) {
  char buf[64];
  std::string line = "Epoch " + std::to_string(s.epoch) + "/" + std::to_string(s.epochs);
  std::snprintf(buf, sizeof buf, " - %.0fs", s.seconds);
  line += buf;
  line += " - loss: " + metric_value(s.loss);
  line += " - accuracy: " + metric_value(s.accuracy);
  if (s.has_val) {
    line += " - val_loss: " + metric_value(s.val_loss);
    line += " - val_accuracy: " + metric_value(s.val_accuracy);
  }
  std::snprintf(buf, sizeof buf, " - lr: %.4e - %.0f img/s", s.lr, s.images_per_second);
  line += buf;
  return line;
}

void ProgressDisplay::begin_epoch(int epoch, int epochs, std::int64_t steps) {
  steps_ = steps;
  start_ = std::chrono::steady_clock::now();
  last_draw_ = start_;
  drawn_width_ = 0;
  if (interactive_) out_ << "Epoch " << epoch << '/' << epochs << '\n' << std::flush;
}

void ProgressDisplay::update(std::int64_t step, double loss, double accuracy) {
  if (!interactive_) return;
  const auto now = std::chrono::steady_clock::now();
  // Redrawing on every step would make the terminal, not training, the
  // bottleneck with small batches; the last step is always drawn.
  if (step < steps_ && drawn_width_ > 0 && seconds_between(last_draw_, now) < kRedrawSeconds) return;
  last_draw_ = now;
  const double elapsed = seconds_between(start_, now);
  const double eta = step > 0 ? elapsed / static_cast<double>(step) * static_cast<double>(steps_ - step) : 0.0;
  draw(bar_line(step, steps_, eta, loss, accuracy));
}

void ProgressDisplay::end_epoch(const EpochSummary& summary) {
  const std::string line = epoch_line(summary);
  if (interactive_)
    draw(line);
  else
    out_ << line;
  out_ << '\n' << std::flush;
  drawn_width_ = 0;
}

void ProgressDisplay::draw(const std::string& line) {
  // Pad with spaces over the previous, possibly longer, line rather than use
  // terminal escape codes.
  out_ << '\r' << line;
  if (line.size() < drawn_width_) out_ << std::string(drawn_width_ - line.size(), ' ');
  out_ << std::flush;
  drawn_width_ = std::max(drawn_width_, line.size());
}

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

}  // namespace mnist_ddp
