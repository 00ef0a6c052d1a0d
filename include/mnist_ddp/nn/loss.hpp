// loss.hpp — softmax cross-entropy on class indices (Keras's categorical
// cross-entropy after a softmax, fused for numerical stability).
#pragma once

#include <cstdint>

namespace mnist_ddp {

struct LossSums {
  double loss = 0.0;         // Σ over samples of -log p(label)
  std::int64_t correct = 0;  // samples whose arg-max is the label
};

// logits (n, classes); labels (n). If dlogits is non-null it receives
// (softmax - onehot) · grad_scale, the gradient of grad_scale · Σ loss.
// predictions (n), if non-null, receives the arg-max of each row.
LossSums softmax_cross_entropy(const float* logits, const std::uint8_t* labels, int n, int classes, float* dlogits,
                               float grad_scale, std::uint8_t* predictions = nullptr);

}  // namespace mnist_ddp
