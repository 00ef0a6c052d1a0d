// checkpoint_store.hpp — the run's checkpoint at --checkpoint and the one
// before it: saving with rotation, and where a resumed run starts.
//
// Saving keeps the checkpoint before as "<path>.prev": the new one is written
// completely (and synced) as "<path>.next", then <path> is renamed to .prev
// and .next to <path>. A crash at any moment leaves at least one complete
// checkpoint among <path> and <path>.prev; `--resume auto` takes the newest
// of them that loads.
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/io/checkpoint.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/train/trainer.hpp"

namespace mnist_ddp {

// Where the checkpoint before `path` is kept.
std::string previous_checkpoint_path(const std::string& path);

// A checkpoint found by `--resume auto`.
struct ResumePoint {
  std::string path;  // empty: nothing to resume
  TrainingState state;
};

class CheckpointStore {
 public:
  // `path`: --checkpoint (may be empty when only an explicit --resume file is read).
  CheckpointStore(std::string path, CheckpointSettings settings);

  const std::string& path() const { return path_; }

  // Writes the checkpoint atomically, keeping the one before as "<path>.prev"
  // (rank 0 only calls it). Throws RuntimeError naming the path.
  void save(Model& model, const TrainingState& state);

  // `--resume auto` on this rank: the newest valid checkpoint — path() itself,
  // else "<path>.prev" — loaded into `model`. `notes` says what was found and
  // why a file was passed over. Returns an empty path when neither exists
  // (start from scratch); throws InputError when files exist but none loads.
  ResumePoint load_newest(Model& model, std::ostream& notes) const;

  // --resume on every rank (collective): `resume_from` is a checkpoint file or
  // "auto". With "auto", rank 0 picks the newest valid checkpoint (or none)
  // and every rank loads that one, so that all ranks agree even if they would
  // see the files differently. Each rank hands the loaded state to `restore`
  // (Trainer::restore) at once; rank 0 writes what it found to `log`.
  void resume(const std::string& resume_from, Communicator& comm, Model& model,
              const std::function<void(const TrainingState&)>& restore, std::ostream& log) const;

 private:
  std::string path_;
  CheckpointSettings settings_;
};

}  // namespace mnist_ddp
