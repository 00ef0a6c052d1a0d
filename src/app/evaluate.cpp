// evaluate.cpp — `mnist_ddp evaluate --model FILE`: a saved model on the MNIST
// test set, and the evaluation printout shared with `train`.
//
// Every rank loads the same model file and the same test set, then evaluates
// its shard; evaluate_sharded (train/evaluation.hpp) reduces the loss sums and
// confusion matrices over the ranks, so the numbers do not depend on the world size (up to the
// order of floating-point sums). Only rank 0 prints and writes the report.
#include "mnist_ddp/app/commands.hpp"
#include "mnist_ddp/app/device_selection.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/conv_passes.hpp"
#include "mnist_ddp/cpu/threads.hpp"
#include "mnist_ddp/dist/agreed_input.hpp"
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/data/idx.hpp"
#include "mnist_ddp/io/model_file.hpp"
#include "mnist_ddp/io/report.hpp"
#include "mnist_ddp/nn/loss_math.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/spec.hpp"
#include "mnist_ddp/train/metrics.hpp"

namespace mnist_ddp {

nlohmann::json evaluation_json(const EvalResult& r) {
  nlohmann::json cm = nlohmann::json::array();
  for (const auto& row : r.confusion.counts) cm.push_back(row);
  return {{"loss", r.loss}, {"accuracy", r.accuracy}, {"count", r.count}, {"confusion_matrix", cm}};
}

nlohmann::json prediction_samples(Model& model, const MnistSet& test, int batch) {
  batch = std::min(batch, model.max_batch());
  const int classes = model.num_outputs();
  std::vector<float> x(static_cast<std::size_t>(batch) * test.image_size());
  nlohmann::json out = nlohmann::json::array();
  for (std::int64_t b = 0; b < test.count; b += batch) {
    const int n = static_cast<int>(std::min<std::int64_t>(batch, test.count - b));
    normalize_pixels(test.images.data() + static_cast<std::size_t>(b) * test.image_size(), x.data(),
                     static_cast<std::size_t>(n) * test.image_size());
    const float* logits = model.forward(x.data(), n, ForwardContext{});
    for (int i = 0; i < n; ++i) {
      const float* z = logits + static_cast<std::size_t>(i) * classes;
      const SoftmaxRow row = softmax_row(z, classes);
      const std::int64_t index = b + i;
      const int label = test.labels[index];
      if (row.predicted == label && index >= kPredictionSamples) continue;
      out.push_back(
          {{"index", index}, {"label", label}, {"predicted", row.predicted}, {"probability", 1.0 / row.denom}});
    }
  }
  return out;
}

int configure_cpu(const Config& config, const Communicator& comm) {
  const int threads = config.threads > 0
                          ? config.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / comm.local_size());
  set_cpu_threads(threads);
  set_conv_algorithm(config.conv_algorithm);
  return threads;
}

void check_outputs_writable(const Config& config, Communicator& comm, bool model_output) {
  std::string problem;
  if (comm.is_root()) {
    const std::pair<const char*, std::string> outputs[] = {
        {"--output", model_output ? config.output : std::string()},
        {"--report", config.report},
        {"--checkpoint", model_output ? config.checkpoint : std::string()}};
    for (const auto& [option, path] : outputs) {
      if (path.empty() || !problem.empty()) continue;
      const std::string p = output_problem(path);
      if (!p.empty()) problem = std::string(option) + ": " + p;
    }
  }
  std::int64_t length = static_cast<std::int64_t>(problem.size());
  comm.broadcast(&length, sizeof length, 0);
  problem.resize(static_cast<std::size_t>(length));
  comm.broadcast(problem.data(), problem.size(), 0);
  if (!problem.empty()) throw UsageError(problem);
}

void print_evaluation(std::ostream& out, const EvalResult& result) {
  // Restore the stream's format afterwards: callers print more after us.
  const std::ios_base::fmtflags flags = out.flags();
  const std::streamsize precision = out.precision();
  out << std::fixed << std::setprecision(4) << "\nTest loss: " << result.loss
      << " - test accuracy: " << result.accuracy << " (" << result.count << " images)\n";
  out.flags(flags);
  out.precision(precision);
  out << "\nConfusion matrix (rows: true label, columns: predicted)\n" << format_confusion_matrix(result.confusion)
      << "\nClassification report\n" << format_classification_report(result.confusion);
}

int evaluate_command(const Config& config, Communicator& comm) {
  std::ostream& log = std::cout;
  const int threads = configure_cpu(config, comm);
  const SelectedDevice device = select_device(config, comm);  // collective: all ranks agree
  check_outputs_writable(config, comm, false);

  // Only the test files: evaluate has no use for the 47 MB of training images.
  MnistSet all_test;
  // The backends size their buffers for max(batch, eval batch), so the model must hold that many.
  Model model(seed_cnn(), kMnistInput, std::max(config.batch_size, config.eval_batch_size));
  // Every rank reads the files (no broadcast of weights needed): a bad one ends all ranks alike.
  read_on_every_rank(comm, [&] {
    all_test = load_mnist_pair(find_mnist_file(config.data_dir, "t10k-images-idx3-ubyte"),
                               find_mnist_file(config.data_dir, "t10k-labels-idx1-ubyte"));
    load_model_file(config.model, model);  // .h5 or .keras
  });
  const MnistSet test = take_first(all_test, config.test_limit);

  if (comm.is_root()) {
    log << "mnist_ddp evaluate: model " << config.model << ", " << test.count << " test images, " << comm.size()
        << (comm.size() == 1 ? " rank" : " ranks") << ", " << threads << " thread" << (threads == 1 ? "" : "s")
        << " per rank\n";
    log.flush();
  }
  const TrainingBackend backend = make_training_backend(device, config, comm, model);
  if (comm.is_root()) {
    if (!device.note.empty()) log << "Device auto: evaluating on the CPU: " << device.note << '\n';
    if (device.backend == Backend::kCuda) log << "GPU (rank 0): " << backend.description << '\n';
  }
  const EvalResult result = evaluate_sharded(model, *backend.backend, comm, test, config.eval_batch_size);

  if (comm.is_root()) {
    print_evaluation(log, result);
    if (!config.report.empty()) {
      const nlohmann::json report = {{"program", "mnist_ddp"},
                                     {"command", "evaluate"},
                                     {"model", config.model},
                                     {"world_size", comm.size()},
                                     {"test", evaluation_json(result)},
                                     {"test_predictions", prediction_samples(model, test, config.eval_batch_size)}};
      write_file_atomic(config.report, report.dump(2) + "\n");
      log << "Report written to " << config.report << '\n';
    }
  }
  return 0;
}

}  // namespace mnist_ddp
