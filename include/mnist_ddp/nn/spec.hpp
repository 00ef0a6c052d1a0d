// spec.hpp — the network as data: a list of layer specs, and the seed CNN.
//
// The spec is what the CPU and GPU backends build from, what the model file's
// model_config describes and what a checkpoint's architecture check compares.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mnist_ddp {

enum class LayerKind { kConv2D, kBatchNorm, kMaxPool, kDropout, kFlatten, kDense };
enum class Activation { kLinear, kRelu, kSoftmax };

struct LayerSpec {
  LayerKind kind;
  int units = 0;             // Conv2D filters, Dense units
  int kernel = 0;            // Conv2D kernel size (square, 'same' padding, stride 1); MaxPool size
  Activation activation = Activation::kLinear;
  float rate = 0.0f;         // Dropout rate
  float epsilon = 1e-3f;     // BatchNorm
  float momentum = 0.99f;    // BatchNorm moving-average momentum (Keras meaning)
};

// The momentum that makes an exponential moving average unbiased by its initial
// value: after `step` earlier updates, average the next value in with
//   momentum · (1 - momentum^step) / (1 - momentum^(step+1)),
// which equals Adam's bias correction applied to the average (the first update
// takes the batch statistics as they are; as step grows it tends to momentum).
// step < 0: the plain momentum, as Keras uses it.
double debiased_momentum(double momentum, std::int64_t step);

// Per-sample tensor shape, stored channels-last (NHWC): index ((y * w) + x) * c + ch.
struct Shape3 {
  int h = 0, w = 0, c = 0;
  std::size_t size() const { return static_cast<std::size_t>(h) * w * c; }
  bool operator==(const Shape3& o) const { return h == o.h && w == o.w && c == o.c; }
};

constexpr Shape3 kMnistInput{28, 28, 1};

// The seed CNN (see README): three Conv2D blocks with BatchNorm, MaxPool and
// Dropout, then Dense(256) + BatchNorm + Dropout and Dense(10, softmax).
std::vector<LayerSpec> seed_cnn();

// Keras class name ("Conv2D", "BatchNormalization", ...).
const char* keras_class_name(LayerKind kind);
const char* to_string(Activation a);

}  // namespace mnist_ddp
