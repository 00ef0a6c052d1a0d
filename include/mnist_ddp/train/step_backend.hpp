// step_backend.hpp — where the arithmetic of training runs: the seam between the
// trainer's loop and a backend (CPU: cpu/cpu_step_backend.hpp; CUDA:
// cuda/cuda_step_backend.hpp).
//
// The Trainer keeps everything that is the same for every backend: sampling,
// the host collectives (control record, epoch sums, BatchNorm averaging,
// decisions), callbacks, checkpoints and progress. A backend does the work on
// the data: assembling a batch, forward, loss, backward, the gradient mean
// over the ranks, the optimizer update, and evaluation.
//
// Host copies. The host Model (weights, BatchNorm state) and Optimizer (slots,
// iteration count) held by the trainer are the truth at the trainer's
// boundaries: start of fit() and evaluate(), end of an epoch, a stop. A backend
// with its own copies (the GPU) takes them with upload() and gives them back
// with download(); the CPU backend works on the host Model itself.
//
// Sync points. Reading a result back from a GPU makes the host wait for it, so
// the loss sums, the correct counts and the finiteness checks are read only at
// sync points: every sync_interval() steps and at the end of an epoch (or a
// stop). On the CPU every step is one. take_sums() returns the sums of the
// steps since the previous call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mnist_ddp/data/idx.hpp"
#include "mnist_ddp/nn/layer.hpp"
#include "mnist_ddp/nn/loss.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/optimizer.hpp"
#include "mnist_ddp/train/metrics.hpp"

namespace mnist_ddp {

// What a backend needs to know of the run's configuration (cli/step_settings.hpp
// derives it from the command line).
struct StepSettings {
  std::uint64_t seed = 42;        // augmentation transforms of (seed, epoch, sample)
  int max_batch = 0;              // the largest batch loaded: max(training, evaluation)
  std::size_t bucket_bytes = 0;   // gradient buckets (--bucket-kb); 0: one reduction after backward
  double comm_timeout = 60;       // seconds a GPU backend waits for its peers (--comm-timeout)
  bool sync_bn = false;           // BatchNorm statistics over all ranks (--sync-bn; both backends)
};

// Where a micro-batch stands in its update (--accumulate K: K micro-batches,
// one optimizer step). The loss gradient is scaled by 1 / update_size, so the
// micro-batches' gradients add up to the mean over the update's samples; the
// gradients are kept from `first` on, and reduced across the ranks only after
// the `last` (PyTorch DDP's no_sync for the others).
struct MicroBatch {
  int update_size = 0;  // samples of the whole update on this rank (0: this micro-batch's n)
  bool first = true, last = true;
};

class StepBackend {
 public:
  virtual ~StepBackend() = default;
  virtual const char* name() const = 0;  // "cpu", "cuda"

  // ---- host copies ------------------------------------------------------------
  // Weights and BatchNorm state of `model`, and the optimizer's slots and
  // iteration count unless `optimizer` is null, into the backend.
  virtual void upload(const Model& model, const Optimizer* optimizer) = 0;
  // The same, back to the host.
  virtual void download(Model& model, Optimizer* optimizer) = 0;

  // ---- a batch --------------------------------------------------------------------
  // Samples `ids` of `set` as the next batch: pixels in [0, 1], augmented with
  // the transform of (seed, epoch, sample) when `augment`; their labels.
  virtual void load_batch(const MnistSet& set, const std::vector<std::int64_t>& ids, std::uint32_t epoch,
                          bool augment) = 0;

  // ---- a training step, in this order ----------------------------------------------
  // Forward (ctx: training mode, its host sample ids), softmax cross-entropy,
  // backward into the gradients of the batch's mean loss; the loss and correct
  // counts are added to the sums. Gradient reductions may start during backward
  // of the last micro-batch; the default is one micro-batch per update.
  virtual void forward_backward(int n, const ForwardContext& ctx, const MicroBatch& micro) = 0;
  void forward_backward(int n, const ForwardContext& ctx) { forward_backward(n, ctx, MicroBatch{}); }
  // The gradients become their mean over all ranks.
  virtual void reduce_gradients() = 0;
  // One update with learning rate `lr`; optimizer.iterations() advances by one.
  virtual void optimizer_step(Optimizer& optimizer, double lr) = 0;

  // ---- at sync points only ---------------------------------------------------------
  virtual int sync_interval() const = 0;
  // Loss sum and correct count since the previous call.
  virtual LossSums take_sums() = 0;
  // Whether the (reduced) gradients, and the weights, hold no NaN or infinity.
  virtual bool gradients_finite() = 0;
  virtual bool weights_finite() = 0;

  // ---- inference on the loaded batch -----------------------------------------------
  // Forward only, e.g. training-mode BatchNorm without dropout to recompute the
  // moving statistics (ctx.bn_momentum); nothing is read back.
  virtual void forward_statistics(int n, const ForwardContext& ctx) = 0;
  // Inference forward; the loss sum and the confusion matrix are accumulated.
  virtual void evaluate_batch(int n) = 0;
  // The accumulated evaluation since the previous call: adds the confusion
  // counts to `confusion` and returns the loss sum.
  virtual double take_evaluation(ConfusionMatrix& confusion) = 0;
};

}  // namespace mnist_ddp
