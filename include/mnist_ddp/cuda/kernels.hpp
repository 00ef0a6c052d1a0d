// kernels.hpp — the project's own CUDA kernels, where the libraries have nothing:
// batch assembly with augmentation, softmax cross-entropy, optimizer updates.
// (Dropout and the BatchNorm moving averages have theirs next to their layers.)
//
// Each launcher queues one kernel on `stream`, checks the launch and returns at
// once. All pointers are device pointers unless said otherwise. The arithmetic
// is the CPU backend's, through the same MNIST_HD functions:
// data/augment.hpp (sample_affine, affine_pixel), nn/optimizer_math.hpp,
// nn/loss_math.hpp (the CPU loss's formula, in double).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "mnist_ddp/data/augment.hpp"
#include "mnist_ddp/nn/optimizer_math.hpp"

namespace mnist_ddp::cuda {

// ---- batch assembly --------------------------------------------------------------------

// x(i) = image ids[i] of `images` (count, rows, cols) bytes, as floats in [0, 1]:
// augmented with the transform of (seed, epoch, ids[i]) when `augment`, else
// byte · kPixelScale; y(i) = labels[ids[i]]. One block per sample.
//   images: (count, rows, cols) uint8   labels: (count) uint8   ids: (n) int64
//   x: (n, rows, cols, 1) float          y: (n) uint8 (may be null)
void gather_batch(const std::uint8_t* images, const std::uint8_t* labels, int rows, int cols,
                  const std::int64_t* ids, int n, bool augment, std::uint64_t seed, std::uint32_t epoch,
                  const AugmentRanges& ranges, float* x, std::uint8_t* y, cudaStream_t stream);

// ---- loss --------------------------------------------------------------------------------

// Device accumulators of softmax_cross_entropy(): sums over every call until
// zeroed, so a trainer reads them rarely (once per progress update or epoch).
struct LossAccumulators {
  double* loss = nullptr;                    // Σ -log p(label)
  unsigned long long* correct = nullptr;     // samples whose first arg-max is the label
  unsigned long long* confusion = nullptr;   // (classes, classes) [true][predicted], or null
};

// logits (n, classes), labels (n). dlogits (n, classes) or null receives
// (softmax - onehot) · grad_scale. predictions (n) or null receives the arg-max.
// The sums of this batch are added to `acc` in a fixed order (deterministic).
void softmax_cross_entropy(const float* logits, const std::uint8_t* labels, int n, int classes, float* dlogits,
                           float grad_scale, LossAccumulators acc, std::uint8_t* predictions, cudaStream_t stream);

// ---- optimizer updates (one element per thread, nn/optimizer_math.hpp) ---------------------

void adam_step(float* params, const float* grads, float* m, float* v, std::size_t count, const AdamHyper& h,
               cudaStream_t stream);
void rmsprop_step(float* params, const float* grads, float* v, std::size_t count, float lr, float rho, float epsilon,
                  cudaStream_t stream);
void sgd_momentum_step(float* params, const float* grads, float* m, std::size_t count, float lr, float momentum,
                       cudaStream_t stream);

// ---- small utilities ---------------------------------------------------------------------

// x *= factor (e.g. a gradient sum into a mean when the all-reduce only sums).
void scale(float* x, std::size_t count, float factor, cudaStream_t stream);

}  // namespace mnist_ddp::cuda
