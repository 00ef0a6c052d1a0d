// device_selection.hpp — the device every rank trains on, agreed by all ranks.
//
// Each rank probes CUDA (unless --device cpu), makes its own choice
// (core/device_choice.hpp: GPU = node-local rank), and the ranks exchange their
// choices and GPU UUIDs, so that they all reach the same outcome: all on their
// own GPU, all on the CPU (--device auto, with the reason), or all throwing the
// same UsageError (exit 2) — never one rank failing while the others wait.
#pragma once

#include <memory>
#include <string>

#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/core/device_choice.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/train/step_backend.hpp"

namespace mnist_ddp {

struct SelectedDevice {
  Backend backend = Backend::kCpu;
  int gpu = -1;              // this rank's CUDA device (bound to the calling thread)
  std::string description;   // this rank's GPU, e.g. "NVIDIA H100 ... driver 13.0"; empty for the CPU
  std::string note;          // --device auto on the CPU: why not CUDA (empty when not asked)
};

// Collective. Throws the same UsageError on every rank when --device cuda cannot be honoured.
SelectedDevice select_device(const Config& config, Communicator& comm);

// The training backend for the selected device: the CUDA one on this rank's GPU
// (collective over comm: NCCL's bootstrap when there are several ranks), with
// its description (device, libraries, layers), or the CpuStepBackend on `model`
// itself (no description). `model` gives the architecture and the batch
// capacity; the Trainer uploads its weights.
struct TrainingBackend {
  std::unique_ptr<StepBackend> backend;
  std::string description;
};
TrainingBackend make_training_backend(const SelectedDevice& device, const Config& config, Communicator& comm,
                                      Model& model);

}  // namespace mnist_ddp
