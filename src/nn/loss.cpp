// loss.cpp — fused softmax cross-entropy on the CPU: the rows of loss_math.hpp.
#include "mnist_ddp/nn/loss.hpp"

#include "mnist_ddp/nn/loss_math.hpp"

namespace mnist_ddp {

LossSums softmax_cross_entropy(const float* logits, const std::uint8_t* labels, int n, int classes, float* dlogits,
                               float grad_scale, std::uint8_t* predictions) {
  LossSums sums;
  for (int i = 0; i < n; ++i) {
    const std::size_t row = static_cast<std::size_t>(i) * classes;
    const RowLoss r =
        softmax_xent_row(logits + row, classes, labels[i], dlogits != nullptr ? dlogits + row : nullptr, grad_scale);
    sums.loss += r.loss;
    sums.correct += r.predicted == labels[i];
    if (predictions != nullptr) predictions[i] = static_cast<std::uint8_t>(r.predicted);
  }
  return sums;
}

}  // namespace mnist_ddp
