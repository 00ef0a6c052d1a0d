// test_checkpoint.cpp — checkpoints (src/io/checkpoint.cpp), the checkpoint
// store (src/io/checkpoint_store.cpp) and `--resume auto`.
//
// CheckpointRoundTrip: every field of a TrainingState stopped inside an epoch
// (position, partial sums, per-rank BatchNorm statistics, callbacks, history,
// optimizer slots, best weights) comes back exactly, with the weights.
// CheckpointChain: each write keeps the one before as ".prev" and leaves no
// temporary files. ResumeAuto: the newest valid checkpoint is taken, a corrupt
// newest one falls back to .prev with a note, none at all means "from scratch",
// and only corrupt ones are an InputError; --resume auto needs --checkpoint.
// Resume: the chosen state is handed over once and the log names its file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mnist_ddp/cli/checkpoint_settings.hpp"
#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/io/checkpoint.hpp"
#include "mnist_ddp/io/checkpoint_store.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/optimizer.hpp"
#include "mnist_ddp/nn/spec.hpp"
#include "support/temp_dir.hpp"

namespace mnist_ddp {
namespace {

namespace fs = std::filesystem;

class CheckpointFiles : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.file(name); }

  test_support::TempDir tmp_{"mnist_ddp_ckpt"};
  const fs::path dir_ = tmp_.path();
};

// A state as a run stopped by a signal in epoch 3 of 2 ranks would hold.
TrainingState mid_epoch_state(const Model& model, const Config& config, float salt) {
  TrainingState s;
  s.epochs_done = 2;
  s.epoch_steps_done = 17;
  s.epoch_loss_sum = 123.456789012345;
  s.epoch_correct = 999;
  s.epoch_seen = 1088;
  s.epoch_seconds = 4.25;
  s.rank_states.resize(2 * model.state().size());
  for (std::size_t i = 0; i < s.rank_states.size(); ++i) s.rank_states[i] = salt + 0.001f * static_cast<float>(i);
  s.lr = 5e-4;
  s.callbacks.es_best = 0.0625;
  s.callbacks.es_best_epoch = 1;
  s.callbacks.es_wait = 1;
  s.callbacks.rl_best = 0.0625;
  s.callbacks.rl_wait = 1;
  s.best_epoch = 2;
  s.best_params.assign(model.params().size(), salt);
  s.best_state.assign(model.state().size(), -salt);
  EpochRecord r;
  r.epoch = 1;
  r.loss = 0.5;
  r.val_loss = 0.25;
  s.history = {r, r};
  s.history[1].epoch = 2;
  s.optimizer_iterations = 2 * 43 + 17;
  OptimizerHyper h;
  h.kind = config.optimizer;
  s.optimizer_slots = Optimizer(h, model.params().size()).slots();
  for (std::size_t i = 0; i < s.optimizer_slots.size(); ++i) s.optimizer_slots[i] = 1e-3f * static_cast<float>(i % 97);
  return s;
}

TEST_F(CheckpointFiles, MidEpochStateRoundTripsExactly) {
  Config config;
  Model model(seed_cnn(), kMnistInput, 8);
  model.initialize(7);
  const TrainingState saved = mid_epoch_state(model, config, 0.5f);
  CheckpointStore(path("ck.h5"), checkpoint_settings(config, 2)).save(model, saved);

  Model other(seed_cnn(), kMnistInput, 8);
  other.initialize(8);
  std::ostringstream warnings;
  const TrainingState s = load_checkpoint(path("ck.h5"), other, checkpoint_settings(config, 2), warnings);
  EXPECT_EQ(warnings.str(), "");
  EXPECT_EQ(other.params(), model.params());
  EXPECT_EQ(other.state(), model.state());
  EXPECT_EQ(s.epochs_done, 2);
  EXPECT_EQ(s.epoch_steps_done, 17);
  EXPECT_EQ(s.epoch_loss_sum, saved.epoch_loss_sum);  // exactly: JSON keeps 17 digits
  EXPECT_EQ(s.epoch_correct, 999);
  EXPECT_EQ(s.epoch_seen, 1088);
  EXPECT_EQ(s.epoch_seconds, 4.25);
  EXPECT_EQ(s.rank_states, saved.rank_states);
  EXPECT_EQ(s.lr, 5e-4);
  EXPECT_EQ(s.callbacks.es_best, 0.0625);
  EXPECT_EQ(s.callbacks.rl_wait, 1);
  EXPECT_EQ(s.best_epoch, 2);
  EXPECT_EQ(s.best_params, saved.best_params);
  EXPECT_EQ(s.best_state, saved.best_state);
  ASSERT_EQ(s.history.size(), 2u);
  EXPECT_EQ(s.history[1].epoch, 2);
  EXPECT_EQ(s.optimizer_iterations, 2 * 43 + 17);
  EXPECT_EQ(s.optimizer_slots, saved.optimizer_slots);
}

TEST_F(CheckpointFiles, EpochBoundaryStateHasNoPosition) {
  Config config;
  Model model(seed_cnn(), kMnistInput, 8);
  model.initialize(7);
  TrainingState saved = mid_epoch_state(model, config, 0.5f);
  saved.epoch_steps_done = 0;
  saved.epoch_loss_sum = 0;
  saved.epoch_correct = saved.epoch_seen = 0;
  saved.rank_states.clear();
  CheckpointStore(path("ck.h5"), checkpoint_settings(config, 1)).save(model, saved);
  std::ostringstream warnings;
  const TrainingState s = load_checkpoint(path("ck.h5"), model, checkpoint_settings(config, 1), warnings);
  EXPECT_EQ(s.epoch_steps_done, 0);
  EXPECT_TRUE(s.rank_states.empty());
}

TEST_F(CheckpointFiles, EachWriteKeepsThePreviousAsPrevAndNoTemporaries) {
  Config config;
  Model model(seed_cnn(), kMnistInput, 8);
  model.initialize(7);
  TrainingState first = mid_epoch_state(model, config, 0.5f);
  first.epoch_steps_done = 5;
  CheckpointStore(path("ck.h5"), checkpoint_settings(config, 2)).save(model, first);
  EXPECT_FALSE(fs::exists(path("ck.h5.prev")));  // nothing before the first
  TrainingState second = first;
  second.epoch_steps_done = 6;
  CheckpointStore(path("ck.h5"), checkpoint_settings(config, 2)).save(model, second);
  EXPECT_EQ(previous_checkpoint_path(path("ck.h5")), path("ck.h5.prev"));
  std::ostringstream w;
  EXPECT_EQ(load_checkpoint(path("ck.h5"), model, checkpoint_settings(config, 2), w).epoch_steps_done, 6);
  EXPECT_EQ(load_checkpoint(path("ck.h5.prev"), model, checkpoint_settings(config, 2), w).epoch_steps_done, 5);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"ck.h5", "ck.h5.prev"}));
}

TEST_F(CheckpointFiles, ResumeAutoTakesTheNewestValidCheckpoint) {
  Config config;
  Model model(seed_cnn(), kMnistInput, 8);
  model.initialize(7);
  TrainingState a = mid_epoch_state(model, config, 0.5f), b = a;
  a.epoch_steps_done = 5;
  b.epoch_steps_done = 6;
  const std::vector<float> weights_a = model.params();
  CheckpointStore(path("ck.h5"), checkpoint_settings(config, 2)).save(model, a);
  model.params()[0] += 1.0f;
  const std::vector<float> weights_b = model.params();
  CheckpointStore(path("ck.h5"), checkpoint_settings(config, 2)).save(model, b);

  // Both valid: the newest.
  Model m(seed_cnn(), kMnistInput, 8);
  m.initialize(9);
  std::ostringstream notes;
  ResumePoint r = CheckpointStore(path("ck.h5"), checkpoint_settings(config, 2)).load_newest(m, notes);
  EXPECT_EQ(r.path, path("ck.h5"));
  EXPECT_EQ(r.state.epoch_steps_done, 6);
  EXPECT_EQ(m.params(), weights_b);

  // The newest cut short (a copy interrupted, a full disk): .prev, saying so.
  fs::resize_file(path("ck.h5"), 4000);
  std::ostringstream notes2;
  r = CheckpointStore(path("ck.h5"), checkpoint_settings(config, 2)).load_newest(m, notes2);
  EXPECT_EQ(r.path, path("ck.h5.prev"));
  EXPECT_EQ(r.state.epoch_steps_done, 5);
  EXPECT_EQ(m.params(), weights_a);
  EXPECT_NE(notes2.str().find("passing over " + path("ck.h5") + ": "), std::string::npos) << notes2.str();
  EXPECT_NE(notes2.str().find("falling back to the previous checkpoint " + path("ck.h5.prev")), std::string::npos)
      << notes2.str();

  // The newest missing (a crash between the two renames): .prev.
  fs::remove(path("ck.h5"));
  std::ostringstream notes3;
  EXPECT_EQ(CheckpointStore(path("ck.h5"), checkpoint_settings(config, 2)).load_newest(m, notes3).path, path("ck.h5.prev"));

  // Only corrupt files: refused, naming both, rather than starting over them.
  { std::ofstream(path("ck.h5")) << "not a checkpoint"; }
  fs::resize_file(path("ck.h5.prev"), 100);
  std::ostringstream notes4;
  try {
    CheckpointStore(path("ck.h5"), checkpoint_settings(config, 2)).load_newest(m, notes4);
    ADD_FAILURE() << "corrupt checkpoints were accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no valid checkpoint among " + path("ck.h5") + " and " + path("ck.h5.prev")), std::string::npos)
        << what;
  }
}

TEST_F(CheckpointFiles, ResumeAutoWithoutCheckpointsStartsFromScratch) {
  Config config;
  Model model(seed_cnn(), kMnistInput, 8);
  model.initialize(7);
  const std::vector<float> before = model.params();
  std::ostringstream notes;
  const ResumePoint r = CheckpointStore(path("none.h5"), checkpoint_settings(config, 1)).load_newest(model, notes);
  EXPECT_TRUE(r.path.empty());
  EXPECT_EQ(model.params(), before);
  EXPECT_NE(notes.str().find("starting from scratch"), std::string::npos) << notes.str();
}

// CheckpointStore::resume, what `--resume` does on every rank: the file it
// picks is loaded and handed over once, and the log says which.
TEST_F(CheckpointFiles, ResumeHandsTheChosenStateOverAndSaysWhich) {
  Config config;
  Model model(seed_cnn(), kMnistInput, 8);
  model.initialize(7);
  CheckpointStore store(path("ck.h5"), checkpoint_settings(config, 1));
  SingleProcessCommunicator comm;
  std::vector<std::int64_t> restored;
  const auto restore = [&](const TrainingState& s) { restored.push_back(s.epoch_steps_done); };

  std::ostringstream none;
  store.resume("auto", comm, model, restore, none);
  EXPECT_TRUE(restored.empty());
  EXPECT_NE(none.str().find("starting from scratch"), std::string::npos) << none.str();
  EXPECT_EQ(none.str().find("Resumed from"), std::string::npos) << none.str();

  for (const std::int64_t steps : {5, 6}) {  // .prev after 5 steps, the newest after 6
    TrainingState s = mid_epoch_state(model, config, 0.5f);
    s.epoch_steps_done = steps;
    store.save(model, s);
  }
  std::ostringstream newest;
  store.resume("auto", comm, model, restore, newest);
  EXPECT_EQ(restored, (std::vector<std::int64_t>{6}));
  EXPECT_NE(newest.str().find("Resumed from " + path("ck.h5") + "\n"), std::string::npos) << newest.str();

  std::ostringstream named;
  store.resume(path("ck.h5.prev"), comm, model, restore, named);
  EXPECT_EQ(restored, (std::vector<std::int64_t>{6, 5}));
  EXPECT_NE(named.str().find("Resumed from " + path("ck.h5.prev")), std::string::npos) << named.str();
}

TEST(ResumeAutoOption, NeedsCheckpointAndCommTimeoutIsChecked) {
  auto parse = [](std::vector<const char*> args) {
    args.insert(args.begin(), "mnist_ddp");
    return parse_command_line(static_cast<int>(args.size()), args.data()).config;
  };
  EXPECT_THROW(parse({"--resume", "auto"}), UsageError);
  const Config c = parse({"--resume", "auto", "--checkpoint", "ck.h5"});
  EXPECT_EQ(c.resume, "auto");
  EXPECT_EQ(c.checkpoint, "ck.h5");
  EXPECT_EQ(Config{}.comm_timeout, 60.0);
  EXPECT_EQ(parse({"--comm-timeout", "2.5"}).comm_timeout, 2.5);
  EXPECT_EQ(parse({"--comm-timeout", "0"}).comm_timeout, 0.0);
  EXPECT_THROW(parse({"--comm-timeout", "-1"}), UsageError);
  EXPECT_THROW(parse({"--comm-timeout", "soon"}), UsageError);
}

}  // namespace
}  // namespace mnist_ddp
