// checkpoint.cpp — TrainingState to and from the model file's /mnist_ddp group.
#include "mnist_ddp/io/checkpoint.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <ostream>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/io/keras_h5.hpp"
#include "mnist_ddp/io/report.hpp"

namespace mnist_ddp {

namespace {
// 2: the position inside an epoch (epoch_steps_done and the partial sums).
// Version 1 files (epoch boundaries only) are still read.
constexpr int kCheckpointVersion = 2;

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}
}  // namespace

nlohmann::json history_to_json(const std::vector<EpochRecord>& history) {
  nlohmann::json out = nlohmann::json::array();
  for (const EpochRecord& e : history)
    out.push_back({{"epoch", e.epoch}, {"loss", e.loss}, {"accuracy", e.accuracy}, {"val_loss", e.val_loss},
                   {"val_accuracy", e.val_accuracy}, {"lr", e.lr}, {"seconds", e.seconds},
                   {"images_per_second", e.images_per_second}});
  return out;
}

void save_checkpoint(const std::string& path, Model& model, const TrainingState& state, const Config& config,
                     int world_size) {
  const CallbacksState& c = state.callbacks;
  const nlohmann::json info = {
      {"kind", "checkpoint"},
      {"checkpoint_version", kCheckpointVersion},
      {"epochs_done", state.epochs_done},
      {"epoch_steps_done", state.epoch_steps_done},
      {"epoch_loss_sum", state.epoch_loss_sum},
      {"epoch_correct", state.epoch_correct},
      {"epoch_seen", state.epoch_seen},
      {"epoch_seconds", state.epoch_seconds},
      {"stopped", state.stopped},
      {"lr", state.lr},
      {"best_epoch", state.best_epoch},
      {"callbacks", {{"es_best", c.es_best}, {"es_best_epoch", c.es_best_epoch}, {"es_wait", c.es_wait},
                     {"rl_best", c.rl_best}, {"rl_wait", c.rl_wait}, {"rl_cooldown", c.rl_cooldown}}},
      {"optimizer", to_string(config.optimizer)},
      {"optimizer_iterations", state.optimizer_iterations},
      {"seed", config.seed},
      {"world_size", world_size},
      {"history", history_to_json(state.history)},
      {"config", config_to_json(config)}};
  H5Extras extras;
  extras.floats["optimizer_slots"] = state.optimizer_slots;
  if (!state.rank_states.empty()) extras.floats["rank_bn_states"] = state.rank_states;
  if (!state.best_params.empty()) {
    extras.floats["best_params"] = state.best_params;
    extras.floats["best_state"] = state.best_state;
  }
  // The rename chain: the new file complete under .next first, then the
  // current one becomes .prev, then .next becomes current.
  const std::string next = path + ".next";
  save_keras_h5(next, model, info, extras);
  if (file_exists(path) && std::rename(path.c_str(), previous_checkpoint_path(path).c_str()) != 0)
    throw RuntimeError("cannot write '" + path + "': keeping the previous checkpoint as " +
                       previous_checkpoint_path(path) + ": " + std::strerror(errno));
  if (std::rename(next.c_str(), path.c_str()) != 0)
    throw RuntimeError("cannot write '" + path + "': rename from " + next + ": " + std::strerror(errno));
  sync_parent_directory(path);
}

std::string previous_checkpoint_path(const std::string& path) { return path + ".prev"; }

ResumePoint load_newest_checkpoint(const std::string& path, Model& model, const Config& config, int world_size,
                                   std::ostream& notes) {
  std::string problems;
  for (const std::string& candidate : {path, previous_checkpoint_path(path)}) {
    if (!file_exists(candidate)) continue;
    try {
      ResumePoint r;
      r.state = load_checkpoint(candidate, model, config, world_size, notes);
      r.path = candidate;
      if (!problems.empty()) notes << "--resume auto: falling back to the previous checkpoint " << candidate << '\n';
      return r;
    } catch (const InputError& e) {
      notes << "--resume auto: passing over " << candidate << ": " << e.what() << '\n';
      problems += (problems.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  if (!problems.empty())
    throw InputError("--resume auto: no valid checkpoint among " + path + " and " + previous_checkpoint_path(path) +
                     ": " + problems);
  notes << "--resume auto: no checkpoint at " << path << " (or " << previous_checkpoint_path(path)
        << "): starting from scratch\n";
  return {};
}

TrainingState load_checkpoint(const std::string& path, Model& model, const Config& config, int world_size,
                              std::ostream& warnings) {
  const LoadedModelFile file = load_keras_h5(path, model);
  const nlohmann::json& info = file.info;
  auto fail = [&](const std::string& what) { throw InputError(path + ": " + what); };
  // A value of the wrong type or out of range is damage like any other, checked
  // before use: get<int>() of 1e300 would be undefined behaviour.
  auto integer = [&](const nlohmann::json& v, const char* name, std::int64_t lo, std::int64_t hi) -> std::int64_t {
    bool ok = false;
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      ok = u <= static_cast<std::uint64_t>(hi) && static_cast<std::int64_t>(u) >= lo;
    } else if (v.is_number_integer()) {
      const auto i = v.get<std::int64_t>();
      ok = i >= lo && i <= hi;
    }
    if (!ok)
      fail(std::string("malformed training state: ") + name + " is " + v.dump() + ", not an integer from " +
           std::to_string(lo) + " to " + std::to_string(hi));
    return v.get<std::int64_t>();
  };
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
  if (!info.is_object() || !info.contains("kind") || info.at("kind") != "checkpoint")
    fail("not a checkpoint (a model file without training state; use it with evaluate or predict)");
  const std::int64_t version =
      info.contains("checkpoint_version") && info.at("checkpoint_version").is_number_integer()
          ? info.at("checkpoint_version").get<std::int64_t>()
          : 0;
  if (version < 1 || version > kCheckpointVersion)
    fail("checkpoint version " + std::to_string(version) + ", this program reads 1 to " +
         std::to_string(kCheckpointVersion));
  try {
    if (info.at("optimizer").get<std::string>() != to_string(config.optimizer))
      fail("saved with --optimizer " + info.at("optimizer").get<std::string>() + ", this run uses " +
           to_string(config.optimizer));
    const nlohmann::json& seed = info.at("seed");
    if (!seed.is_number_unsigned() && !(seed.is_number_integer() && seed.get<std::int64_t>() >= 0))
      fail("malformed training state: seed is " + seed.dump() + ", not a non-negative integer");
    if (seed.get<std::uint64_t>() != config.seed)
      warnings << "warning: " << path << " was made with --seed " << info.at("seed").get<std::uint64_t>()
               << ", this run uses " << config.seed << ": the data order will differ from the original run\n";
    const std::int64_t saved_world_size = integer(info.at("world_size"), "world_size", 1, kIntMax);
    if (saved_world_size != world_size)
      warnings << "warning: " << path << " was made with " << saved_world_size
               << " ranks, this run has " << world_size << ": training continues, but not bit for bit\n";
    TrainingState s;
    s.epochs_done = static_cast<int>(integer(info.at("epochs_done"), "epochs_done", 0, kIntMax));
    if (version >= 2) {
      s.epoch_steps_done = integer(info.at("epoch_steps_done"), "epoch_steps_done", 0, kInt64Max);
      s.epoch_loss_sum = info.at("epoch_loss_sum").get<double>();
      s.epoch_correct = integer(info.at("epoch_correct"), "epoch_correct", 0, kInt64Max);
      s.epoch_seen = integer(info.at("epoch_seen"), "epoch_seen", 0, kInt64Max);
      s.epoch_seconds = info.at("epoch_seconds").get<double>();
      if (s.epoch_steps_done < 0 || s.epoch_correct < 0 || s.epoch_seen < 0)
        fail("malformed training state: negative position inside the epoch");
    }
    s.stopped = info.at("stopped").get<bool>();
    s.lr = info.at("lr").get<double>();
    if (!std::isfinite(s.lr) || s.lr <= 0)
      fail("malformed training state: lr is " + info.at("lr").dump() + ", not a positive number");
    s.best_epoch = static_cast<int>(integer(info.at("best_epoch"), "best_epoch", -1, s.epochs_done));
    const nlohmann::json& c = info.at("callbacks");
    // JSON has no infinity: nlohmann writes it as null, which means "none yet".
    auto number_or_inf = [](const nlohmann::json& v) {
      return v.is_null() ? std::numeric_limits<double>::infinity() : v.get<double>();
    };
    s.callbacks.es_best = number_or_inf(c.at("es_best"));
    s.callbacks.es_best_epoch = static_cast<int>(integer(c.at("es_best_epoch"), "es_best_epoch", -1, kIntMax));
    s.callbacks.es_wait = static_cast<int>(integer(c.at("es_wait"), "es_wait", 0, kIntMax));
    s.callbacks.rl_best = number_or_inf(c.at("rl_best"));
    s.callbacks.rl_wait = static_cast<int>(integer(c.at("rl_wait"), "rl_wait", 0, kIntMax));
    s.callbacks.rl_cooldown = static_cast<int>(integer(c.at("rl_cooldown"), "rl_cooldown", 0, kIntMax));
    s.optimizer_iterations = integer(info.at("optimizer_iterations"), "optimizer_iterations", 0, kInt64Max);
    for (const auto& e : info.at("history")) {
      EpochRecord r;
      r.epoch = static_cast<int>(integer(e.at("epoch"), "history epoch", 1, kIntMax));
      r.loss = e.at("loss").get<double>();
      r.accuracy = e.at("accuracy").get<double>();
      r.val_loss = e.at("val_loss").get<double>();
      r.val_accuracy = e.at("val_accuracy").get<double>();
      r.lr = e.at("lr").get<double>();
      r.seconds = e.at("seconds").get<double>();
      r.images_per_second = e.at("images_per_second").get<double>();
      s.history.push_back(r);
    }
    const auto slots = file.extras.floats.find("optimizer_slots");
    if (slots == file.extras.floats.end()) fail("no optimizer state (dataset optimizer_slots)");
    s.optimizer_slots = slots->second;
    const auto rs = file.extras.floats.find("rank_bn_states");
    if (rs != file.extras.floats.end()) {
      if (rs->second.empty() || rs->second.size() % model.state().size() != 0)
        fail("per-rank BatchNorm statistics have the wrong size for this model");
      s.rank_states = rs->second;
    }
    const auto bp = file.extras.floats.find("best_params"), bs = file.extras.floats.find("best_state");
    if (bp != file.extras.floats.end() && bs != file.extras.floats.end()) {
      if (bp->second.size() != model.params().size() || bs->second.size() != model.state().size())
        fail("best-epoch weights have the wrong size for this model");
      s.best_params = bp->second;
      s.best_state = bs->second;
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("malformed training state: ") + e.what());
  }
  return {};
}

}  // namespace mnist_ddp
