// layer_flops.hpp — how much arithmetic and memory traffic each layer of the
// network needs, from its shapes alone: the one definition the CPU benchmark
// (bench_cpu.cpp) and the GPU benchmark (bench_cuda.cu) divide their times by.
//
// Counts are per image (multiply them by the batch), single precision.
//
//   Conv2D ('same', stride 1), output H×W×Cout, kernel K×K over Cin channels:
//     forward  2·H·W·K·K·Cin·Cout            (the im2col GEMM; a multiply-add is 2 FLOPs)
//     — the direct convolution's count whatever algorithm runs: Winograd's F(4x4, 3x3)
//     does 4x fewer multiplications, so its rates are effective ones and may pass
//     the sgemm ceiling.
//     backward 2·H·W·K·K·Cin·Cout for dW, the same again for dX when dX is wanted
//   Dense, In → Out:
//     forward  2·In·Out, backward 2·In·Out (dW) + 2·In·Out (dX)
//   Bias add and the fused ReLU of Conv2D/Dense are not counted (they are
//   O(outputs), below 1 % of the GEMM for every layer of the seed CNN).
//
// Element-wise layers do almost no arithmetic; their FLOP counts below are
// nominal (stated per element so they can be compared), and what limits them
// is memory traffic, reported as bytes:
//   BatchNorm (training mode): forward 8 per element (mean 1, variance 3,
//     normalise + scale + shift 4), backward 10 (recompute x̂ 2, dγ 2, dβ 1, dx 5)
//   MaxPool 2×2: forward 3 comparisons per output, backward 1 per input element
//   Dropout: 1 multiply per element each way (the Philox draw is not counted)
//   Flatten: 0 (a copy)
// Bytes are a lower bound: every tensor the layer must touch, read or written
// once, 4 bytes an element — forward reads x and writes y; backward reads x,
// y and dy and writes dx. Weights are not counted (read once per batch).
#pragma once

#include <cstddef>
#include <vector>

#include "mnist_ddp/nn/spec.hpp"

namespace mnist_ddp::bench {

struct LayerCost {
  double forward_flops = 0;   // per image
  double backward_flops = 0;  // per image, dX included when `with_dx`
  double forward_bytes = 0;   // per image
  double backward_bytes = 0;  // per image
  bool gemm = false;          // dominated by a matrix product: compare it with the GEMM ceiling
};

// The cost of one layer: spec, its per-image input and output shapes, and
// whether backward computes dX (the model skips it for the first layer).
inline LayerCost layer_cost(const LayerSpec& spec, Shape3 in, Shape3 out, bool with_dx = true) {
  const double nin = static_cast<double>(in.size()), nout = static_cast<double>(out.size());
  LayerCost c;
  c.forward_bytes = 4.0 * (nin + nout);
  c.backward_bytes = 4.0 * ((with_dx ? 2.0 : 1.0) * nin + 2.0 * nout);
  switch (spec.kind) {
    case LayerKind::kConv2D: {
      const double macs = static_cast<double>(out.h) * out.w * spec.kernel * spec.kernel * in.c * out.c;
      c.forward_flops = 2.0 * macs;
      c.backward_flops = (with_dx ? 4.0 : 2.0) * macs;
      c.gemm = true;
      break;
    }
    case LayerKind::kDense: {
      const double macs = nin * nout;
      c.forward_flops = 2.0 * macs;
      c.backward_flops = (with_dx ? 4.0 : 2.0) * macs;
      c.gemm = true;
      break;
    }
    case LayerKind::kBatchNorm:
      c.forward_flops = 8.0 * nin;
      c.backward_flops = 10.0 * nin;
      break;
    case LayerKind::kMaxPool:
      c.forward_flops = 3.0 * nout;
      c.backward_flops = nin;
      break;
    case LayerKind::kDropout:
      c.forward_flops = nin;
      c.backward_flops = nin;
      break;
    case LayerKind::kFlatten:
      break;
  }
  return c;
}

// The FLOPs of a training step per image, as the step rows report them: the
// matrix products only (every Conv2D and Dense forward and backward, no dX for
// the first layer, which the model skips) — the arithmetic a GEMM ceiling bounds.
// Element-wise layers, the loss and the optimizer are left out (under 1 %).
template <typename Layers>
double train_step_gemm_flops_per_image(const std::vector<LayerSpec>& specs, const Layers& layers) {
  double total = 0;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const LayerCost c = layer_cost(specs[i], layers[i]->input_shape(), layers[i]->output_shape(), i > 0);
    if (c.gemm) total += c.forward_flops + c.backward_flops;
  }
  return total;
}

}  // namespace mnist_ddp::bench
