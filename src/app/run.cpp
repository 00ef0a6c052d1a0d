// run.cpp — the job: MPI start-up, configuration, data, model, training,
// evaluation and outputs, with errors mapped to exit codes on every rank.
//
// Error policy: a usage error is found identically by every rank (they parse
// the same argv), so each exits with code 2 after MPI_Finalize; rank 0 prints
// it. So is bad input that every rank reads alike (a data file, the model, a
// checkpoint: AgreedInputError, see dist/agreed_input.hpp); bad input on some
// ranks only ends the job by MPI_Abort. So is a non-finite loss (NumericalFault: every rank sees the same reduced
// values), which exits 1 the same way. Any other failure may hit one rank
// only, so that rank prints it and calls MPI_Abort, which ends every rank
// instead of leaving them blocked in the next collective; a rank that dies or
// hangs without failing is caught by the communicator's watchdog
// (--comm-timeout). A stop signal (SIGTERM, SIGINT, SIGUSR1) makes every rank
// stop after the same step; rank 0 writes the checkpoint, all ranks meet in a
// barrier (so that no rank's exit makes the launcher kill rank 0 mid-write),
// and all exit with code 3.
#include "mnist_ddp/app/run.hpp"
#include "mnist_ddp/app/commands.hpp"
#include "mnist_ddp/app/device_selection.hpp"
#include "mnist_ddp/cli/trainer_settings.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "mnist_ddp/cli/checkpoint_settings.hpp"
#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/core/signals.hpp"
#include "mnist_ddp/cpu/dnnl_info.hpp"
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/data/idx.hpp"
#include "mnist_ddp/dist/agreed_input.hpp"
#include "mnist_ddp/dist/mpi_communicator.hpp"
#include "mnist_ddp/io/checkpoint.hpp"
#include "mnist_ddp/io/checkpoint_store.hpp"
#include "mnist_ddp/io/model_file.hpp"
#include "mnist_ddp/io/report.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/train/checkpoint_policy.hpp"
#include "mnist_ddp/train/decision.hpp"
#include "mnist_ddp/train/evaluation.hpp"
#include "mnist_ddp/train/progress.hpp"
#include "mnist_ddp/train/progress_observer.hpp"
#include "mnist_ddp/train/trainer.hpp"
#include "mnist_ddp/train/training_messages.hpp"

namespace mnist_ddp {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitPreempted = 3;

// A small picture of one image in the terminal, darker pixels as lighter glyphs.
std::string ascii_image(const MnistSet& set, std::int64_t index) {
  static const char* kShades = " .:-=+*#%@";
  std::ostringstream s;
  const std::uint8_t* img = set.images.data() + static_cast<std::size_t>(index) * set.image_size();
  for (int r = 0; r < set.rows; r += 2) {  // every other row keeps the aspect ratio
    s << "    ";
    for (int c = 0; c < set.cols; ++c) {
      const int v = std::max<int>(img[r * set.cols + c], r + 1 < set.rows ? img[(r + 1) * set.cols + c] : 0);
      s << kShades[v * 9 / 255];
    }
    s << '\n';
  }
  return s.str();
}

void describe_data(std::ostream& out, const Mnist& data, const TrainValSplit& split, const MnistSet& test) {
  out << "Data: " << data.train.count << " training images (" << split.train.count << " train, "
      << split.val.count << " validation), " << test.count << " test images, " << data.train.rows << 'x'
      << data.train.cols << " pixels\n";
  const ClassCounts tr = class_counts(split.train), te = class_counts(test);
  out << "  class     ";
  for (int k = 0; k < 10; ++k) out << std::setw(6) << k;
  out << "\n  train     ";
  for (int k = 0; k < 10; ++k) out << std::setw(6) << tr.count[k];
  out << "\n  test      ";
  for (int k = 0; k < 10; ++k) out << std::setw(6) << te.count[k];
  out << "\n  first training images, labels " << static_cast<int>(split.train.labels[0]) << " and "
      << static_cast<int>(split.train.labels[1]) << ":\n";
  std::istringstream a(ascii_image(split.train, 0)), b(ascii_image(split.train, 1));
  for (std::string la, lb; std::getline(a, la) && std::getline(b, lb);) out << la << "  " << lb << '\n';
}



// The sets of a training run after --train-limit, --val-split and --test-limit.
struct TrainingData {
  Mnist all;  // as read, for the description of the data
  TrainValSplit split;
  MnistSet test;
};

// Collective: loads the data (a bad file: AgreedInputError where every rank
// finds it alike) and checks it against the ranks and the batch size: the same
// UsageError on every rank.
TrainingData load_training_data(const Config& config, Communicator& comm) {
  TrainingData d;
  read_on_every_rank(comm, [&] { d.all = load_mnist(config.data_dir); });
  d.split = split_validation(take_first(d.all.train, config.train_limit), config.val_split);
  d.test = take_first(d.all.test, config.test_limit);
  const std::int64_t train = d.split.train.count;
  const std::int64_t shard = (train + comm.size() - 1) / comm.size();
  if (train < comm.size())
    throw UsageError("the training set has " + std::to_string(train) + " images, fewer than the " +
                     std::to_string(comm.size()) + " ranks");
  if (config.batch_size > shard)
    throw UsageError("--batch-size " + std::to_string(config.batch_size) + " is larger than each rank's share of " +
                     std::to_string(shard) + " training images (" + std::to_string(train) + " over " +
                     std::to_string(comm.size()) + " ranks)");
  return d;
}

// What the job runs on, for the header and the report.
struct JobSetup {
  SelectedDevice device;
  int threads = 0;
  std::string gpu_description;  // the GPU backend's description (empty on the CPU)
};

// Rank 0: the lines before training (ranks, device, data, batch and optimizer).
void print_job(std::ostream& log, const Config& config, const Communicator& comm, const JobSetup& job,
               const TrainingData& d) {
  log << "mnist_ddp: " << comm.size() << (comm.size() == 1 ? " rank" : " ranks") << ", device "
      << to_string(job.device.backend) << ", " << job.threads << " thread" << (job.threads == 1 ? "" : "s")
      << " per rank, " << dnnl_description();
  if (job.device.backend == Backend::kCpu) log << ", convolutions " << to_string(config.conv_algorithm);
  log << '\n';
  if (!job.device.note.empty()) log << "Device auto: training on the CPU: " << job.device.note << '\n';
  describe_data(log, d.all, d.split, d.test);
  const int batches = comm.size() * config.accumulate;
  log << "Global batch " << config.batch_size * batches << " (" << config.batch_size << " per rank"
      << (config.accumulate > 1 ? " x " + std::to_string(config.accumulate) + " micro-batches" : std::string()) << "), "
      << to_string(config.optimizer) << " lr " << config.lr;
  const double scale = lr_scale_factor(config.lr_scaling, batches);
  if (scale != 1.0)
    log << " x " << scale << " (--lr-scaling " << to_string(config.lr_scaling) << ") = " << config.lr * scale
        << ", warm-up " << config.warmup_epochs << " epochs";
  log << ", augmentation " << (config.augment ? "on" : "off") << ", seed " << config.seed << "\n";
  log.flush();
}

// Whether the progress display draws the live bar (--progress bar, or auto on a terminal).
bool progress_bar(const Config& c) {
  switch (c.progress) {
    case ProgressMode::kBar: return true;
    case ProgressMode::kAuto: return stdout_is_terminal();
    default: return false;
  }
}

// Rank 0's observers of training, in the order they print: the progress
// display and the decisions' messages (unless --progress none), then the
// checkpoint policy (checkpoints and the preemption message). Other ranks: none.
std::vector<std::unique_ptr<TrainingObserver>> training_observers(const Config& config, const Communicator& comm,
                                                                  CheckpointStore& checkpoints, Model& model,
                                                                  std::ostream& log) {
  std::vector<std::unique_ptr<TrainingObserver>> observers;
  if (!comm.is_root()) return observers;
  if (config.progress != ProgressMode::kNone) {
    observers.push_back(std::make_unique<ProgressObserver>(log, progress_bar(config)));
    observers.push_back(std::make_unique<TrainingMessages>(log, config.early_stopping.patience));
  }
  CheckpointWriter write;
  if (!config.checkpoint.empty())
    write = [&checkpoints, &model](const TrainingState& state) { checkpoints.save(model, state); };
  observers.push_back(std::make_unique<CheckpointPolicy>(std::move(write), config.checkpoint,
                                                         config.checkpoint_every, comm.size(), log));
  return observers;
}

// Every rank stops at the same step on a non-finite value: rank 0 says so,
// all meet and end in order, keeping every file.
int numerical_fault_exit(const NumericalFault& e, const Config& config, Communicator& comm, std::ostream& log) {
  if (comm.is_root()) {
    log.flush();
    std::cerr << "mnist_ddp: error: " << e.what() << '\n';
    std::cerr << "mnist_ddp: " << config.output << " was not written"
              << (config.checkpoint.empty() ? std::string()
                                            : "; the checkpoint " + config.checkpoint + " keeps the last good epoch")
              << '\n';
  }
  comm.barrier();
  return kExitFailure;
}

// This machine's host name (the node a rank runs on).
std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

// Collective: this rank's figures of the report, gathered by rank: its node
// (host name) and node-local rank, its shard and times.
nlohmann::json rank_figures(Communicator& comm, const TrainResult& fit) {
  return {{"node", all_gather_text(comm, host_name())},
          {"local_rank", all_gather(comm, static_cast<double>(comm.local_rank()))},
          {"shard_size", all_gather(comm, static_cast<double>(fit.shard_size))},
          {"compute_seconds", all_gather(comm, fit.times.compute)},
          {"communication_seconds", all_gather(comm, fit.times.communication)},
          {"data_seconds", all_gather(comm, fit.times.data)}};
}

// Rank 0: the JSON report of a finished run (also the model file's "info").
nlohmann::json train_report(const Config& config, const Communicator& comm, const JobSetup& job, const TrainingData& d,
                            const TrainResult& fit, const EvalResult& result, nlohmann::json ranks, Model& model) {
  return {
      {"program", "mnist_ddp"},
      {"world_size", comm.size()},
      {"lr_scale", lr_scale_factor(config.lr_scaling, comm.size() * config.accumulate)},
      {"device", to_string(job.device.backend)},
      {"device_description", job.device.backend == Backend::kCuda ? job.gpu_description : std::string("cpu")},
      {"threads_per_rank", job.threads},
      {"onednn", dnnl_description()},
      {"onednn_primitives", dnnl_primitives_description()},
      {"config", config_to_json(config)},
      {"data", {{"train", d.split.train.count}, {"validation", d.split.val.count}, {"test", d.test.count},
                {"shard_size", fit.shard_size}}},
      {"history", history_to_json(fit.history)},
      {"best_epoch", fit.best_epoch},
      {"stopped_early", fit.stopped_early},
      {"restored_best_weights", fit.restored_best},
      {"steps", fit.steps},
      {"train_images_per_second", fit.train_images_per_second},
      {"time_seconds", {{"data", fit.times.data}, {"compute", fit.times.compute},
                        {"communication", fit.times.communication}, {"evaluation", fit.times.evaluation}}},
      {"ranks", std::move(ranks)},
      {"weights_identical_on_all_ranks", true},  // checked before: the run fails otherwise
      {"test", evaluation_json(result)},
      {"test_predictions", prediction_samples(model, d.test, config.eval_batch_size)}};
}

// Collective: checks that the ranks ended with one model, then rank 0 prints
// the test evaluation and writes the model file and the report.
void finish_training(const Config& config, Communicator& comm, const JobSetup& job, const TrainingData& d,
                     const TrainResult& fit, const EvalResult& result, Model& model, std::ostream& log) {
  // Data parallelism keeps one model: check that it did, bit for bit.
  const bool identical = identical_on_all_ranks(comm, model.params().data(), model.params().size()) &&
                         identical_on_all_ranks(comm, model.state().data(), model.state().size());
  if (!identical) throw RuntimeError("the ranks ended with different weights: data-parallel training diverged");
  nlohmann::json ranks = rank_figures(comm, fit);
  if (!comm.is_root()) return;
  print_evaluation(log, result);  // the same printout as `evaluate`
  log << "\nTraining throughput: " << std::setprecision(0) << std::fixed << fit.train_images_per_second
      << " images/s\n" << std::defaultfloat << std::setprecision(6);
  if (comm.size() > 1) log << "Weights and BatchNorm statistics bitwise identical on all " << comm.size() << " ranks\n";
  const nlohmann::json report = train_report(config, comm, job, d, fit, result, std::move(ranks), model);
  SavedModelInfo saved{report, trainer_settings(config).optimizer, config.lr};
  saved.info["kind"] = "model";
  if (!fit.history.empty()) saved.learning_rate = fit.history.back().lr;  // the rate of the last epoch
  save_model_file(config.output, model, saved);
  log << "Model written to " << config.output << '\n';
  if (!config.report.empty()) {
    write_file_atomic(config.report, report.dump(2) + "\n");
    log << "Report written to " << config.report << '\n';
  }
}

int train_command(const Config& config, Communicator& comm) {
  const bool root = comm.is_root();
  std::ostream& log = std::cout;
  // From here on SIGTERM, SIGINT and SIGUSR1 stop training at a step boundary.
  const StopSignalHandlers stop_signals;

  JobSetup job;
  job.threads = configure_cpu(config, comm);
  job.device = select_device(config, comm);  // collective: all ranks agree
  check_outputs_writable(config, comm, true);
  const TrainingData d = load_training_data(config, comm);
  if (root) print_job(log, config, comm, job, d);

  Model model(seed_cnn(), kMnistInput, std::max(config.batch_size, config.eval_batch_size));
  model.initialize(config.seed);
  if (root) log << "Model: seed CNN, " << model.params().size() << " trainable parameters\n";
  // The step backend, made before the data is sharded: NCCL's bootstrap is collective.
  const TrainingBackend backend = make_training_backend(job.device, config, comm, model);
  if (job.device.backend == Backend::kCuda) job.gpu_description = backend.description;
  if (root && job.device.backend == Backend::kCuda) log << "GPU (rank 0): " << backend.description << '\n';
  Trainer trainer(trainer_settings(config), comm, model, log, *backend.backend);
  CheckpointStore checkpoints(config.checkpoint, checkpoint_settings(config, comm.size()));
  if (!config.resume.empty())
    checkpoints.resume(config.resume, comm, model, [&](const TrainingState& s) { trainer.restore(s); }, log);
  trainer.broadcast_weights();  // identical start on every rank

  const std::vector<std::unique_ptr<TrainingObserver>> observers =
      training_observers(config, comm, checkpoints, model, log);
  std::vector<TrainingObserver*> watching;
  for (const auto& o : observers) watching.push_back(o.get());
  TrainResult fit;
  try {
    fit = trainer.fit(d.split.train, d.split.val, watching);
  } catch (const NumericalFault& e) {
    return numerical_fault_exit(e, config, comm, log);
  }
  if (fit.preempted.signal != 0) {
    // Rank 0 wrote the checkpoint (the policy). No rank exits before it has:
    // under mpirun a rank's exit code 3 can make the launcher end the others.
    comm.barrier();
    return kExitPreempted;
  }
  const EvalResult result = evaluate_sharded(model, *backend.backend, comm, d.test, config.eval_batch_size);
  finish_training(config, comm, job, d, fit, result, model, log);
  return kExitOk;
}

}  // namespace

int run_main(int argc, char** argv) {
  MpiRuntime mpi(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  try {
    const ParsedCommandLine cl = parse_command_line(argc, argv);
    if (cl.help || cl.version) {
      if (rank == 0) std::cout << (cl.help ? cl.help_text : "mnist_ddp 0.1.0\n");
      return kExitOk;
    }
    MpiCommunicator comm(cl.config.comm_timeout);
    if (cl.config.command == "evaluate") return evaluate_command(cl.config, comm);
    if (cl.config.command == "predict") return predict_command(cl.config, comm);
    return train_command(cl.config, comm);
  } catch (const UsageError& e) {
    // Every rank reaches the same usage error: no rank is left waiting.
    if (rank == 0) std::cerr << "mnist_ddp: error: " << e.what() << "\nTry 'mnist_ddp --help' for the options.\n";
    return kExitUsage;
  } catch (const AgreedInputError& e) {
    // Every rank found the same bad input: rank 0 says it once, all finalize.
    if (rank == 0) std::cerr << "mnist_ddp: error: " << e.what() << '\n';
    return kExitUsage;
  } catch (const PeerInputError&) {
    // Other ranks failed to read their input and print why; they end the job.
    std::cerr.flush();
    mpi.abort(kExitUsage);
  } catch (const InputError& e) {
    // Bad input on some ranks only: this rank says so and ends the job.
    std::cerr << "mnist_ddp: error: " << e.what() << '\n';
    std::cerr.flush();
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) mpi.abort(kExitUsage);
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "mnist_ddp: rank " << rank << ": fatal: " << e.what() << '\n';
    std::cerr.flush();
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) mpi.abort(kExitFailure);
    return kExitFailure;
  }
}

}  // namespace mnist_ddp
