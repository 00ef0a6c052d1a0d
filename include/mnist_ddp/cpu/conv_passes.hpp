// conv_passes.hpp — the three passes of a Conv2D layer at one batch size, and
// which algorithm runs them.
//
// A CPU Conv2D ('same', stride 1, NHWC activations, HWIO kernel) is computed by
// one of two algorithms, chosen per layer when its passes are made:
//   direct   — oneDNN's convolution primitives (conv2d_primitives.hpp), any shape;
//   winograd — the project's own Winograd F(2x2, 3x3) (winograd_conv.hpp), 3x3
//              kernels with channel counts that fill its register blocks; 2.25x
//              fewer multiplications than direct. oneDNN 2.6 has Winograd only
//              on AVX-512 (and there only forward), so on AVX2 nodes it is ours.
// `--conv-algorithm winograd` (the default) takes Winograd wherever it applies
// and direct elsewhere (the first layer, one input channel, is always direct);
// `--conv-algorithm direct` runs every layer on oneDNN.
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
};

enum class ConvAlgorithm { kWinograd, kDirect };
const char* to_string(ConvAlgorithm a);

// The CPU backend's choice (`--conv-algorithm`), for every layer made afterwards.
void set_conv_algorithm(ConvAlgorithm a);
ConvAlgorithm conv_algorithm();

// The algorithm that runs `g` under the current choice: kWinograd where
// Winograd does not apply is direct.
ConvAlgorithm conv_algorithm_for(const ConvGeometry& g);

// The passes for `g` at n images. `name`: the layer's, for the record of what ran.
std::unique_ptr<ConvPasses> make_conv_passes(const ConvGeometry& g, int n, const std::string& name);

}  // namespace mnist_ddp
