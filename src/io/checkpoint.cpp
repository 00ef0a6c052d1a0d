// checkpoint.cpp — TrainingState to and from the model file's /mnist_ddp group.
#include "mnist_ddp/io/checkpoint.hpp"

#include <limits>
#include <ostream>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/io/keras_h5.hpp"
#include "mnist_ddp/io/report.hpp"

namespace mnist_ddp {

namespace {
constexpr int kCheckpointVersion = 1;
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
  if (!state.best_params.empty()) {
    extras.floats["best_params"] = state.best_params;
    extras.floats["best_state"] = state.best_state;
  }
  save_keras_h5(path, model, info, extras);
}

TrainingState load_checkpoint(const std::string& path, Model& model, const Config& config, int world_size,
                              std::ostream& warnings) {
  const LoadedModelFile file = load_keras_h5(path, model);
  const nlohmann::json& info = file.info;
  auto fail = [&](const std::string& what) { throw InputError(path + ": " + what); };
  if (!info.is_object() || info.value("kind", "") != "checkpoint")
    fail("not a checkpoint (a model file without training state; use it with evaluate or predict)");
  if (info.value("checkpoint_version", 0) != kCheckpointVersion)
    fail("checkpoint version " + std::to_string(info.value("checkpoint_version", 0)) + ", this program reads " +
         std::to_string(kCheckpointVersion));
  try {
    if (info.at("optimizer").get<std::string>() != to_string(config.optimizer))
      fail("saved with --optimizer " + info.at("optimizer").get<std::string>() + ", this run uses " +
           to_string(config.optimizer));
    if (info.at("seed").get<std::uint64_t>() != config.seed)
      warnings << "warning: " << path << " was made with --seed " << info.at("seed").get<std::uint64_t>()
               << ", this run uses " << config.seed << ": the data order will differ from the original run\n";
    if (info.at("world_size").get<int>() != world_size)
      warnings << "warning: " << path << " was made with " << info.at("world_size").get<int>()
               << " ranks, this run has " << world_size << ": training continues, but not bit for bit\n";
    TrainingState s;
    s.epochs_done = info.at("epochs_done").get<int>();
    s.stopped = info.at("stopped").get<bool>();
    s.lr = info.at("lr").get<double>();
    s.best_epoch = info.at("best_epoch").get<int>();
    const nlohmann::json& c = info.at("callbacks");
    // JSON has no infinity: nlohmann writes it as null, which means "none yet".
    auto number_or_inf = [](const nlohmann::json& v) {
      return v.is_null() ? std::numeric_limits<double>::infinity() : v.get<double>();
    };
    s.callbacks.es_best = number_or_inf(c.at("es_best"));
    s.callbacks.es_best_epoch = c.at("es_best_epoch").get<int>();
    s.callbacks.es_wait = c.at("es_wait").get<int>();
    s.callbacks.rl_best = number_or_inf(c.at("rl_best"));
    s.callbacks.rl_wait = c.at("rl_wait").get<int>();
    s.callbacks.rl_cooldown = c.at("rl_cooldown").get<int>();
    s.optimizer_iterations = info.at("optimizer_iterations").get<std::int64_t>();
    for (const auto& e : info.at("history")) {
      EpochRecord r;
      r.epoch = e.at("epoch").get<int>();
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
