// conv_passes.hpp — the three passes of a Conv2D layer at one batch size, and
// which algorithm runs them.
//
// A CPU Conv2D ('same', stride 1, NHWC activations, HWIO kernel) is computed by
// one of these, chosen per layer when its passes are made:
//   direct         — oneDNN's convolution primitives (conv2d_primitives.hpp), any shape;
//   winograd       — the project's own Winograd (winograd_conv.hpp) for 3x3 kernels
//                    whose channel counts fill its register blocks (multiples of 16):
//                    F(4x4, 3x3), 4x fewer multiplications than direct. oneDNN 2.6
//                    has Winograd only on AVX-512, so on AVX2 nodes it is ours;
//   single channel — oneDNN's forward and the own weight gradient, ReLU backward
//                    fused (single_channel_conv.hpp), for 3x3 kernels over one input
//                    channel (the first layer on grey images), where oneDNN's AVX2
//                    weight gradient is slow.
// `--conv-algorithm winograd` (the default) takes the own passes wherever they
// apply and direct elsewhere; `--conv-algorithm direct` runs every layer on oneDNN.
#pragma once

#include <memory>
#include <string>

namespace mnist_ddp {

struct ConvGeometry {
  int h, w, cin, cout, k, pad;
  bool relu;
};

class ConvPasses {
 public:
  virtual ~ConvPasses() = default;
  // y = act(conv(x, w) + b), x: (n, h, w, cin), w: HWIO, y: (n, h, w, cout).
  virtual void forward(const float* x, const float* w, const float* b, float* y) = 0;
  // dw (HWIO) and db from x and dy; dx from dy when not null. Differentiates
  // the last forward, with the weights as they were then.
  virtual void backward(const float* x, const float* dy, float* dw, float* db, float* dx) = 0;
  // The fused ReLU's backward (dy where y > 0) within backward()'s own passes, dy
  // as it comes from the next layer — where the algorithm can for this call
  // (returns true; dy may be left masked, or as it came); returns false having
  // done nothing where it cannot, and the layer masks dy in place and calls backward().
  virtual bool backward_through_relu(const float* /*x*/, const float* /*y*/, float* /*dy*/, float* /*dw*/,
                                     float* /*db*/, float* /*dx*/) {
    return false;
  }
};

enum class ConvAlgorithm { kWinograd, kDirect };
const char* to_string(ConvAlgorithm a);

// The CPU backend's choice (`--conv-algorithm`), for every layer made afterwards.
void set_conv_algorithm(ConvAlgorithm a);
ConvAlgorithm conv_algorithm();

// Whether Winograd runs `g` under the current choice (kDirect: it does not).
ConvAlgorithm conv_algorithm_for(const ConvGeometry& g);

// The passes for `g` at n images. `name`: the layer's, for the record of what ran.
std::unique_ptr<ConvPasses> make_conv_passes(const ConvGeometry& g, int n, const std::string& name);

}  // namespace mnist_ddp
