// model_layout.hpp — the model's shapes, sizes, offsets and names, computed once.
//
// Built from the layer specs (spec.hpp) and the input shape: for each layer its
// Keras name ("conv2d", "conv2d_1", "batch_normalization", ...), kind, input and
// output shape, and the counts and offsets of its slices in the three flat
// buffers (trainable parameters, their gradients — same layout —, non-trainable
// state). The CPU Model and the GPU CudaModel, every layer constructor, the
// gradient bucket plan, the model file and the checkpoint all read this one
// description, so the two backends' buffers agree by construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mnist_ddp/nn/spec.hpp"

namespace mnist_ddp {

// Conv2D, 'same' padding, stride 1: spatial size kept, `filters` channels.
inline Shape3 conv_same_output(Shape3 in, int filters) { return Shape3{in.h, in.w, filters}; }
inline int conv_same_padding(int kernel) { return kernel / 2; }
// MaxPooling2D, window = stride, 'valid': floor(size / window).
inline Shape3 pool_output(Shape3 in, int window) { return Shape3{in.h / window, in.w / window, in.c}; }

// How Keras initialises a weight (nn/init.hpp).
enum class WeightInit { kGlorotUniform, kZeros, kOnes };

// One of a layer's weights in Keras order: its name and shape, how it starts, and
// where its values sit: at `offset` in the layer's parameter (and gradient)
// slice when trainable, in its state slice when not.
struct WeightSlot {
  std::string name;  // "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"
  std::vector<std::size_t> shape;
  bool trainable = true;
  WeightInit init = WeightInit::kZeros;
  std::size_t offset = 0;
  std::size_t count() const;
};

// The position of each weight in LayerLayout::weights, by layer kind.
namespace slot {
constexpr std::size_t kKernel = 0, kBias = 1;                                      // Conv2D, Dense
constexpr std::size_t kGamma = 0, kBeta = 1, kMovingMean = 2, kMovingVariance = 3;  // BatchNormalization
}  // namespace slot

// One layer of a model, or a layer on its own (offsets 0).
struct LayerLayout {
  LayerSpec spec;
  std::string name;             // Keras's automatic name
  std::uint32_t index = 0;      // position in the model: the layer's random streams
  Shape3 input, output;         // per sample, NHWC
  std::size_t param_offset = 0, param_count = 0;  // slice of the parameter and gradient buffers
  std::size_t state_offset = 0, state_count = 0;  // slice of the state buffer
  std::vector<WeightSlot> weights;                // Keras order; the counts above are their sums
};

// The layout of one layer applied to `in` (offsets 0).
LayerLayout layer_layout(const LayerSpec& spec, Shape3 in, std::string name, std::uint32_t index);

// Keras's automatic layer names: conv2d, conv2d_1, batch_normalization, ...
// (`ordinal`: earlier layers of the same kind).
std::string keras_layer_name(LayerKind kind, int ordinal);

class ModelLayout {
 public:
  ModelLayout(std::vector<LayerSpec> specs, Shape3 input);

  const std::vector<LayerSpec>& specs() const { return specs_; }
  Shape3 input() const { return input_; }
  Shape3 output() const { return layers_.back().output; }
  std::size_t size() const { return layers_.size(); }
  const LayerLayout& operator[](std::size_t i) const { return layers_[i]; }
  const std::vector<LayerLayout>& layers() const { return layers_; }

  std::size_t param_count() const { return params_; }
  std::size_t state_count() const { return state_; }
  // Floats per sample of the largest tensor (input included): the backward ping-pong buffers.
  std::size_t widest() const { return widest_; }
  // Floats per sample of all layer outputs together (what forward keeps for backward).
  std::size_t output_floats() const { return outputs_; }

 private:
  std::vector<LayerSpec> specs_;
  Shape3 input_;
  std::vector<LayerLayout> layers_;
  std::size_t params_ = 0, state_ = 0, widest_ = 0, outputs_ = 0;
};

}  // namespace mnist_ddp
