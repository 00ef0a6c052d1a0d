// run.cpp — the job: MPI start-up, configuration, data, model, training,
// evaluation and outputs, with errors mapped to exit codes on every rank.
//
// Error policy: a usage error is found identically by every rank (they parse
// the same argv), so each exits with code 2 after MPI_Finalize; rank 0 prints
// it. So is a non-finite loss (NumericalFault: every rank sees the same reduced
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

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "mnist_ddp/cli/checkpoint_settings.hpp"
#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/core/signals.hpp"
#include "mnist_ddp/cpu/blas.hpp"
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/data/idx.hpp"
#include "mnist_ddp/dist/mpi_communicator.hpp"
#include "mnist_ddp/io/checkpoint.hpp"
#include "mnist_ddp/io/checkpoint_store.hpp"
#include "mnist_ddp/io/keras_h5.hpp"
#include "mnist_ddp/io/report.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/train/decision.hpp"
#include "mnist_ddp/train/trainer.hpp"

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



int train_command(const Config& config, Communicator& comm) {
  const bool root = comm.is_root();
  std::ostream& log = std::cout;
  // From here on SIGTERM, SIGINT and SIGUSR1 stop training at a step boundary.
  const StopSignalHandlers stop_signals;

  const int threads = configure_threads(config, comm);
  const SelectedDevice device = select_device(config, comm);  // collective: all ranks agree

  check_outputs_writable(config, comm, true);
  const Mnist data = load_mnist(config.data_dir);
  const MnistSet all_train = take_first(data.train, config.train_limit);
  const TrainValSplit split = split_validation(all_train, config.val_split);
  const MnistSet test = take_first(data.test, config.test_limit);
  const std::int64_t shard = (split.train.count + comm.size() - 1) / comm.size();
  if (split.train.count < comm.size())
    throw UsageError("the training set has " + std::to_string(split.train.count) + " images, fewer than the " +
                     std::to_string(comm.size()) + " ranks");
  if (config.batch_size > shard)
    throw UsageError("--batch-size " + std::to_string(config.batch_size) + " is larger than each rank's share of " +
                     std::to_string(shard) + " training images (" + std::to_string(split.train.count) + " over " +
                     std::to_string(comm.size()) + " ranks)");

  if (root) {
    log << "mnist_ddp: " << comm.size() << (comm.size() == 1 ? " rank" : " ranks") << ", device "
        << to_string(device.backend) << ", " << threads << " thread" << (threads == 1 ? "" : "s") << " per rank, "
        << blas_description() << '\n';
    if (!device.note.empty()) log << "Device auto: training on the CPU: " << device.note << '\n';
    describe_data(log, data, split, test);
    log << "Global batch " << config.batch_size * comm.size() << " (" << config.batch_size << " per rank), "
        << to_string(config.optimizer) << " lr " << config.lr << ", augmentation "
        << (config.augment ? "on" : "off") << ", seed " << config.seed << "\n";
    log.flush();
  }

  Model model(seed_cnn(), kMnistInput, std::max(config.batch_size, config.eval_batch_size));
  model.initialize(config.seed);
  if (root) log << "Model: seed CNN, " << model.params().size() << " trainable parameters\n";
  // The step backend, made before the data is sharded: NCCL's bootstrap is collective.
  const TrainingBackend backend = make_training_backend(device, config, comm, model);
  if (root && device.backend == Backend::kCuda) log << "GPU (rank 0): " << backend.description << '\n';
  Trainer trainer(config, comm, model, log, *backend.backend);
  CheckpointStore checkpoints(config.checkpoint, checkpoint_settings(config, comm.size()));
  if (!config.resume.empty())
    checkpoints.resume(config.resume, comm, model, [&](const TrainingState& s) { trainer.restore(s); }, log);
  trainer.broadcast_weights();  // identical start on every rank

  // Checkpoints at epoch ends: every checkpoint_every epochs and at the last.
  Trainer::EpochHook checkpoint;
  if (!config.checkpoint.empty()) {
    checkpoint = [&](const TrainingState& state) {
      const bool last = state.stopped || state.epochs_done == config.epochs;
      if (root && (state.epochs_done % config.checkpoint_every == 0 || last)) {
        checkpoints.save(model, state);
        log << "Checkpoint written to " << config.checkpoint << " (epoch " << state.epochs_done << ")\n";
      }
    };
  }
  TrainResult fit;
  try {
    fit = trainer.fit(split.train, split.val, checkpoint);
  } catch (const NumericalFault& e) {
    // Every rank stops at the same step: end in order, keeping every file.
    if (root) {
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
  if (const Preemption& p = fit.preempted; p.signal != 0) {
    if (root) {
      std::ostringstream where;
      where << "Preempted by " << signal_name(p.signal) << " at epoch " << p.epoch << " step " << p.step << " (of "
            << p.steps << "; received by " << p.ranks << " of " << comm.size() << (comm.size() == 1 ? " rank" : " ranks")
            << ")";
      if (config.checkpoint.empty()) {
        log << where.str() << ": no --checkpoint was given, nothing was saved\n";
      } else {
        checkpoints.save(model, trainer.state());
        log << where.str() << ": checkpoint written to " << config.checkpoint << "; resume with --resume auto\n";
      }
      log.flush();
    }
    // No rank exits before rank 0 has written: under mpirun a rank's exit
    // code 3 can make the launcher end the others.
    comm.barrier();
    return kExitPreempted;
  }
  const EvalResult result = trainer.evaluate(test);

  // Data parallelism keeps one model: check that it did, bit for bit.
  const bool identical = identical_on_all_ranks(comm, model.params().data(), model.params().size()) &&
                         identical_on_all_ranks(comm, model.state().data(), model.state().size());
  if (!identical) throw RuntimeError("the ranks ended with different weights: data-parallel training diverged");
  const std::vector<double> shard_sizes = all_gather(comm, static_cast<double>(fit.shard_size));
  const std::vector<double> compute_s = all_gather(comm, fit.times.compute);
  const std::vector<double> comm_s = all_gather(comm, fit.times.communication);
  const std::vector<double> data_s = all_gather(comm, fit.times.data);

  if (root) {
    print_evaluation(log, result);  // the same printout as `evaluate`
    log << "\nTraining throughput: " << std::setprecision(0) << std::fixed << fit.train_images_per_second
        << " images/s\n" << std::defaultfloat << std::setprecision(6);
    if (comm.size() > 1) log << "Weights and BatchNorm statistics bitwise identical on all " << comm.size() << " ranks\n";
    const nlohmann::json report = {
        {"program", "mnist_ddp"},
        {"world_size", comm.size()},
        {"device", to_string(device.backend)},
        {"device_description", device.backend == Backend::kCuda ? backend.description : std::string("cpu")},
        {"threads_per_rank", threads},
        {"blas", blas_description()},
        {"config", config_to_json(config)},
        {"data", {{"train", split.train.count}, {"validation", split.val.count}, {"test", test.count},
                  {"shard_size", fit.shard_size}}},
        {"history", history_to_json(fit.history)},
        {"best_epoch", fit.best_epoch},
        {"stopped_early", fit.stopped_early},
        {"restored_best_weights", fit.restored_best},
        {"steps", fit.steps},
        {"train_images_per_second", fit.train_images_per_second},
        {"time_seconds", {{"data", fit.times.data}, {"compute", fit.times.compute},
                          {"communication", fit.times.communication}, {"evaluation", fit.times.evaluation}}},
        {"ranks", {{"shard_size", shard_sizes}, {"compute_seconds", compute_s},
                   {"communication_seconds", comm_s}, {"data_seconds", data_s}}},
        {"weights_identical_on_all_ranks", identical},
        {"test", evaluation_json(result)},
        {"test_predictions", prediction_samples(model, test, config.eval_batch_size)}};
    nlohmann::json info = report;
    info["kind"] = "model";
    save_keras_h5(config.output, model, info);
    log << "Model written to " << config.output << '\n';
    if (!config.report.empty()) {
      write_file_atomic(config.report, report.dump(2) + "\n");
      log << "Report written to " << config.report << '\n';
    }
  }
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
  } catch (const InputError& e) {
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
