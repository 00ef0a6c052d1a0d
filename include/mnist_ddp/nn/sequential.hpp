// sequential.hpp — the forward and backward walks of a sequential network, for
// the CPU Model and the GPU CudaModel alike.
//
// Both keep one output buffer per layer (acts[i], kept from forward to
// backward) and two ping-pong gradient buffers, and their layers share the
// forward/backward signature (nn/layer.hpp, cuda/layer.hpp), so the walks are
// written once over any layer and buffer types with .data().
#pragma once

#include <cstddef>
#include <functional>
#include <utility>

#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp {

// Runs x (n samples) through every layer; returns the last layer's output.
template <typename Layers, typename Buffers>
const float* sequential_forward(Layers& layers, Buffers& acts, const float* x, int n, const ForwardContext& ctx) {
  const float* in = x;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    layers[i]->forward(in, acts[i].data(), n, ctx);
    in = acts[i].data();
  }
  return in;
}

// Backward from dy (the last layer's output gradient, may be overwritten) with
// dx as the other ping-pong buffer; `input` is the last forward's x.
// on_layer_done(i), if given, follows layer i (layers run last to first).
template <typename Layers, typename Buffers>
void sequential_backward(Layers& layers, Buffers& acts, const float* input, float* dy, float* dx, int n,
                         const std::function<void(std::size_t)>& on_layer_done) {
  for (std::size_t i = layers.size(); i-- > 0;) {
    const float* x = i == 0 ? input : acts[i - 1].data();
    layers[i]->backward(x, acts[i].data(), dy, i == 0 ? nullptr : dx, n);
    if (on_layer_done) on_layer_done(i);
    std::swap(dy, dx);
  }
}

}  // namespace mnist_ddp
