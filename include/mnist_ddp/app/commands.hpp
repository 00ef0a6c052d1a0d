// commands.hpp — the commands that use a trained model: `evaluate` (the test
// set, sharded over the ranks) and `predict` (pictures of digits, rank 0 only),
// plus the evaluation printout that `train` shares with `evaluate`, so the two
// always report a model in the same words and layout.
#pragma once

#include <memory>
#include <ostream>

#include <nlohmann/json.hpp>

#include "mnist_ddp/app/device_selection.hpp"
#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/data/idx.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/train/evaluation.hpp"
#include "mnist_ddp/train/step_backend.hpp"

namespace mnist_ddp {

// "\nTest loss: X - test accuracy: Y (N images)\n", then the confusion matrix
// and the classification report (rank 0 calls it).
void print_evaluation(std::ostream& out, const EvalResult& result);

// {"loss", "accuracy", "count", "confusion_matrix"} of an evaluation, for reports.
nlohmann::json evaluation_json(const EvalResult& result);

// Predictions for the pictures of predictions (rank 0, inference over the whole
// set): every misclassified image and the first kPredictionSamples images, each
// {"index", "label", "predicted", "probability"}.
constexpr int kPredictionSamples = 60;
nlohmann::json prediction_samples(Model& model, const MnistSet& test, int batch);

// Sets the CPU backend of this rank: its threads (--threads, or the node's
// cores shared among its ranks) and its convolutions (--conv-algorithm).
// Returns the thread count.
int configure_cpu(const Config& config, const Communicator& comm);

// Collective: rank 0 checks that it can create the files named by --output,
// --report and --checkpoint (those not empty); every rank throws the same
// UsageError if one cannot be written, before any work is done.
void check_outputs_writable(const Config& config, Communicator& comm, bool model_output);

// Loads the MNIST test set (--data-dir, --test-limit) and the model file
// (--model) on every rank, evaluates in shards reduced over the ranks, and
// prints (and with --report writes) the result on rank 0. Returns the exit code.
int evaluate_command(const Config& config, Communicator& comm);

// Classifies each of config.images with the model file on rank 0 (the other
// ranks return 0 at once). One line per image; an unreadable image is reported
// and skipped, and makes the exit code 2 once all images are done.
int predict_command(const Config& config, Communicator& comm);

}  // namespace mnist_ddp
