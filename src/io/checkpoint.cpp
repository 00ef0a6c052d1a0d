// checkpoint.cpp — TrainingState to and from the model file's /mnist_ddp group.
//
// The state is JSON text (attribute "info") plus float arrays (the optimizer's
// moments, per-rank BatchNorm statistics, best weights). Reading checks every
// value's type and range before use, so that damage is an InputError naming
// the file, never undefined behaviour: get<int>() of 1e300 would be.
#include "mnist_ddp/io/checkpoint.hpp"

#include <cmath>
#include <limits>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/io/keras_h5.hpp"

namespace mnist_ddp {

namespace {
// 2: the position inside an epoch (epoch_steps_done and the partial sums).
// 3: the position as global samples consumed (epoch_samples_done, valid on any
// rank count) and the --lr-scaling factor of lr (lr_scale). Versions 1 (epoch
// boundaries only) and 2 (their position: steps x batch size x ranks of the
// saved run) are still read.
constexpr int kCheckpointVersion = 3;

constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

nlohmann::json state_info(const TrainingState& state, const CheckpointSettings& settings) {
  const CallbacksState& c = state.callbacks;
  return {{"kind", "checkpoint"},
          {"checkpoint_version", kCheckpointVersion},
          {"epochs_done", state.epochs_done},
          {"epoch_samples_done", state.epoch_samples_done},
          {"epoch_steps_done", state.epoch_steps_done},
          {"epoch_loss_sum", state.epoch_loss_sum},
          {"epoch_correct", state.epoch_correct},
          {"epoch_seen", state.epoch_seen},
          {"epoch_seconds", state.epoch_seconds},
          {"stopped", state.stopped},
          {"lr", state.lr},
          {"lr_scale", state.lr_scale},
          {"best_epoch", state.best_epoch},
          {"callbacks", {{"es_best", c.es_best}, {"es_best_epoch", c.es_best_epoch}, {"es_wait", c.es_wait},
                         {"rl_best", c.rl_best}, {"rl_wait", c.rl_wait}, {"rl_cooldown", c.rl_cooldown}}},
          {"optimizer", to_string(settings.optimizer)},
          {"optimizer_iterations", state.optimizer_iterations},
          {"seed", settings.seed},
          {"world_size", settings.world_size},
          {"history", history_to_json(state.history)},
          {"config", settings.run_config}};
}

// Reads the info JSON of one file: every failure names the file.
class StateReader {
 public:
  explicit StateReader(const std::string& path) : path_(path) {}

  [[noreturn]] void fail(const std::string& what) const { throw InputError(path_ + ": " + what); }

  // A value of the wrong type or out of range is damage like any other.
  std::int64_t integer(const nlohmann::json& v, const char* name, std::int64_t lo, std::int64_t hi) const {
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
  }
  int int_value(const nlohmann::json& v, const char* name, std::int64_t lo) const {
    return static_cast<int>(integer(v, name, lo, kIntMax));
  }

 private:
  const std::string& path_;
};

// Kind and version: which fields to expect.
std::int64_t checkpoint_version(const StateReader& r, const nlohmann::json& info) {
  if (!info.is_object() || !info.contains("kind") || info.at("kind") != "checkpoint")
    r.fail("not a checkpoint (a model file without training state; use it with evaluate or predict)");
  const std::int64_t version =
      info.contains("checkpoint_version") && info.at("checkpoint_version").is_number_integer()
          ? info.at("checkpoint_version").get<std::int64_t>()
          : 0;
  if (version < 1 || version > kCheckpointVersion)
    r.fail("checkpoint version " + std::to_string(version) + ", this program reads 1 to " +
           std::to_string(kCheckpointVersion));
  return version;
}

// The run the file was made by against this one: the optimizer must match,
// another seed or rank count is said on `warnings`.
void check_run(const StateReader& r, const std::string& path, const nlohmann::json& info,
               const CheckpointSettings& settings, std::ostream& warnings) {
  if (info.at("optimizer").get<std::string>() != to_string(settings.optimizer))
    r.fail("saved with --optimizer " + info.at("optimizer").get<std::string>() + ", this run uses " +
           to_string(settings.optimizer));
  const nlohmann::json& seed = info.at("seed");
  if (!seed.is_number_unsigned() && !(seed.is_number_integer() && seed.get<std::int64_t>() >= 0))
    r.fail("malformed training state: seed is " + seed.dump() + ", not a non-negative integer");
  if (seed.get<std::uint64_t>() != settings.seed)
    warnings << "warning: " << path << " was made with --seed " << info.at("seed").get<std::uint64_t>()
             << ", this run uses " << settings.seed << ": the data order will differ from the original run\n";
  const std::int64_t saved_world_size = r.integer(info.at("world_size"), "world_size", 1, kIntMax);
  if (saved_world_size != settings.world_size)
    warnings << "warning: " << path << " was made with " << saved_world_size << " ranks, this run has "
             << settings.world_size << ": training continues, but not bit for bit\n";
}

// Version 2: where inside the epoch the run stopped, and its partial sums;
// version 3 states the position in samples, version 2 in steps of its run.
void read_position(const StateReader& r, const nlohmann::json& info, std::int64_t version, TrainingState& s) {
  s.epoch_steps_done = r.integer(info.at("epoch_steps_done"), "epoch_steps_done", 0, kInt64Max);
  if (version >= 3) {
    s.epoch_samples_done = r.integer(info.at("epoch_samples_done"), "epoch_samples_done", 0, kInt64Max);
  } else if (s.epoch_steps_done > 0) {
    const std::int64_t batch = r.integer(info.at("config").at("batch_size"), "config batch_size", 1, kIntMax);
    const std::int64_t world = r.integer(info.at("world_size"), "world_size", 1, kIntMax);
    if (s.epoch_steps_done > kInt64Max / batch / world) r.fail("malformed training state: epoch_steps_done too large");
    s.epoch_samples_done = s.epoch_steps_done * batch * world;  // the trainer caps it at the epoch's end
  }
  if (s.epoch_steps_done == 0 && s.epoch_samples_done > 0)
    r.fail("malformed training state: samples consumed without steps made");
  s.epoch_loss_sum = info.at("epoch_loss_sum").get<double>();
  s.epoch_correct = r.integer(info.at("epoch_correct"), "epoch_correct", 0, kInt64Max);
  s.epoch_seen = r.integer(info.at("epoch_seen"), "epoch_seen", 0, kInt64Max);
  s.epoch_seconds = info.at("epoch_seconds").get<double>();
  if (s.epoch_steps_done < 0 || s.epoch_correct < 0 || s.epoch_seen < 0)
    r.fail("malformed training state: negative position inside the epoch");
}

CallbacksState read_callbacks(const StateReader& r, const nlohmann::json& c) {
  // JSON has no infinity: nlohmann writes it as null, which means "none yet".
  auto number_or_inf = [](const nlohmann::json& v) {
    return v.is_null() ? std::numeric_limits<double>::infinity() : v.get<double>();
  };
  CallbacksState s;
  s.es_best = number_or_inf(c.at("es_best"));
  s.es_best_epoch = r.int_value(c.at("es_best_epoch"), "es_best_epoch", -1);
  s.es_wait = r.int_value(c.at("es_wait"), "es_wait", 0);
  s.rl_best = number_or_inf(c.at("rl_best"));
  s.rl_wait = r.int_value(c.at("rl_wait"), "rl_wait", 0);
  s.rl_cooldown = r.int_value(c.at("rl_cooldown"), "rl_cooldown", 0);
  return s;
}

std::vector<EpochRecord> read_history(const StateReader& r, const nlohmann::json& history) {
  std::vector<EpochRecord> out;
  for (const auto& e : history) {
    EpochRecord rec;
    rec.epoch = r.int_value(e.at("epoch"), "history epoch", 1);
    rec.loss = e.at("loss").get<double>();
    rec.accuracy = e.at("accuracy").get<double>();
    rec.val_loss = e.at("val_loss").get<double>();
    rec.val_accuracy = e.at("val_accuracy").get<double>();
    rec.lr = e.at("lr").get<double>();
    rec.lr_target = e.contains("lr_target") ? e.at("lr_target").get<double>() : rec.lr;  // version 3
    rec.seconds = e.at("seconds").get<double>();
    rec.images_per_second = e.at("images_per_second").get<double>();
    out.push_back(rec);
  }
  return out;
}

// The scalars of the state (info's fields), checked.
TrainingState read_state(const StateReader& r, const nlohmann::json& info, std::int64_t version) {
  TrainingState s;
  s.epochs_done = r.int_value(info.at("epochs_done"), "epochs_done", 0);
  if (version >= 2) read_position(r, info, version, s);
  s.stopped = info.at("stopped").get<bool>();
  s.lr = info.at("lr").get<double>();
  if (!std::isfinite(s.lr) || s.lr <= 0)
    r.fail("malformed training state: lr is " + info.at("lr").dump() + ", not a positive number");
  if (version >= 3) {
    s.lr_scale = info.at("lr_scale").get<double>();
    if (!std::isfinite(s.lr_scale) || s.lr_scale < 1)
      r.fail("malformed training state: lr_scale is " + info.at("lr_scale").dump() + ", not a number >= 1");
  }
  s.best_epoch = static_cast<int>(r.integer(info.at("best_epoch"), "best_epoch", -1, s.epochs_done));
  s.callbacks = read_callbacks(r, info.at("callbacks"));
  s.optimizer_iterations = r.integer(info.at("optimizer_iterations"), "optimizer_iterations", 0, kInt64Max);
  s.history = read_history(r, info.at("history"));
  return s;
}

// The arrays of the state (the file's extra datasets), checked against `model`.
void read_arrays(const StateReader& r, const H5Extras& extras, const Model& model, TrainingState& s) {
  const auto slots = extras.floats.find("optimizer_slots");
  if (slots == extras.floats.end()) r.fail("no optimizer state (dataset optimizer_slots)");
  s.optimizer_slots = slots->second;
  const auto rs = extras.floats.find("rank_bn_states");
  if (rs != extras.floats.end()) {
    if (rs->second.empty() || rs->second.size() % model.state().size() != 0)
      r.fail("per-rank BatchNorm statistics have the wrong size for this model");
    s.rank_states = rs->second;
  }
  const auto bp = extras.floats.find("best_params"), bs = extras.floats.find("best_state");
  if (bp != extras.floats.end() && bs != extras.floats.end()) {
    if (bp->second.size() != model.params().size() || bs->second.size() != model.state().size())
      r.fail("best-epoch weights have the wrong size for this model");
    s.best_params = bp->second;
    s.best_state = bs->second;
  }
}

}  // namespace

nlohmann::json history_to_json(const std::vector<EpochRecord>& history) {
  nlohmann::json out = nlohmann::json::array();
  for (const EpochRecord& e : history)
    out.push_back({{"epoch", e.epoch}, {"loss", e.loss}, {"accuracy", e.accuracy}, {"val_loss", e.val_loss},
                   {"val_accuracy", e.val_accuracy}, {"lr", e.lr}, {"lr_target", e.lr_target}, {"seconds", e.seconds},
                   {"images_per_second", e.images_per_second}});
  return out;
}

void write_checkpoint(const std::string& path, Model& model, const TrainingState& state,
                      const CheckpointSettings& settings) {
  H5Extras extras;
  extras.floats["optimizer_slots"] = state.optimizer_slots;
  if (!state.rank_states.empty()) extras.floats["rank_bn_states"] = state.rank_states;
  if (!state.best_params.empty()) {
    extras.floats["best_params"] = state.best_params;
    extras.floats["best_state"] = state.best_state;
  }
  save_keras_h5(path, model, state_info(state, settings), extras);
}

TrainingState load_checkpoint(const std::string& path, Model& model, const CheckpointSettings& settings,
                              std::ostream& warnings) {
  const LoadedModelFile file = load_keras_h5(path, model);
  const StateReader r(path);
  const std::int64_t version = checkpoint_version(r, file.info);
  try {
    check_run(r, path, file.info, settings, warnings);
    TrainingState s = read_state(r, file.info, version);
    read_arrays(r, file.extras, model, s);
    return s;
  } catch (const nlohmann::json::exception& e) {
    r.fail(std::string("malformed training state: ") + e.what());
  }
}

}  // namespace mnist_ddp
