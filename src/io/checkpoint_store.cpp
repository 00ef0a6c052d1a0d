// checkpoint_store.cpp — rotation (.next → path, path → .prev) and the choice
// of checkpoint for --resume (include/mnist_ddp/io/checkpoint_store.hpp).
#include "mnist_ddp/io/checkpoint_store.hpp"

#include "mnist_ddp/dist/agreed_input.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <utility>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/io/atomic_file.hpp"

namespace mnist_ddp {

namespace {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

std::string previous_checkpoint_path(const std::string& path) { return path + ".prev"; }

CheckpointStore::CheckpointStore(std::string path, CheckpointSettings settings)
    : path_(std::move(path)), settings_(std::move(settings)) {}

void CheckpointStore::save(Model& model, const TrainingState& state) {
  // The rename chain: the new file complete under .next first, then the
  // current one becomes .prev, then .next becomes current.
  const std::string next = path_ + ".next";
  const std::string prev = previous_checkpoint_path(path_);
  write_checkpoint(next, model, state, settings_);
  if (file_exists(path_) && std::rename(path_.c_str(), prev.c_str()) != 0)
    throw RuntimeError("cannot write '" + path_ + "': keeping the previous checkpoint as " + prev + ": " +
                       std::strerror(errno));
  if (std::rename(next.c_str(), path_.c_str()) != 0)
    throw RuntimeError("cannot write '" + path_ + "': rename from " + next + ": " + std::strerror(errno));
  sync_parent_directory(path_);
}

ResumePoint CheckpointStore::load_newest(Model& model, std::ostream& notes) const {
  const std::string prev = previous_checkpoint_path(path_);
  std::string problems;
  for (const std::string& candidate : {path_, prev}) {
    if (!file_exists(candidate)) continue;
    try {
      ResumePoint r;
      r.state = load_checkpoint(candidate, model, settings_, notes);
      r.path = candidate;
      if (!problems.empty()) notes << "--resume auto: falling back to the previous checkpoint " << candidate << '\n';
      return r;
    } catch (const InputError& e) {
      notes << "--resume auto: passing over " << candidate << ": " << e.what() << '\n';
      problems += (problems.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  if (!problems.empty())
    throw InputError("--resume auto: no valid checkpoint among " + path_ + " and " + prev + ": " + problems);
  notes << "--resume auto: no checkpoint at " << path_ << " (or " << prev << "): starting from scratch\n";
  return {};
}

void CheckpointStore::resume(const std::string& resume_from, Communicator& comm, Model& model,
                             const std::function<void(const TrainingState&)>& restore, std::ostream& log) const {
  const bool root = comm.is_root();
  std::ostringstream notes;
  std::string path = resume_from;
  if (resume_from == "auto") {
    std::int32_t choice = -1;  // -1: none, 0: path(), 1: its .prev, -2: none valid (rank 0's error)
    std::string error;
    if (root) {
      try {
        ResumePoint r = load_newest(model, notes);
        if (!r.path.empty()) {
          choice = r.path == path_ ? 0 : 1;
          restore(r.state);
        }
      } catch (const InputError& e) {
        choice = -2;
        error = e.what();
      }
    }
    comm.broadcast(&choice, sizeof choice, 0);
    if (root) log << notes.str();
    // Rank 0 looked for every rank: all end alike, rank 0 prints the message.
    if (choice == -2) throw AgreedInputError(error);
    if (choice < 0) return;
    path = choice == 0 ? path_ : previous_checkpoint_path(path_);
    read_on_every_rank(comm, [&] {
      if (root) return;
      std::ostringstream ignored;  // rank 0 printed the warnings
      restore(load_checkpoint(path, model, settings_, ignored));
    });
  } else {
    read_on_every_rank(comm, [&] { restore(load_checkpoint(path, model, settings_, notes)); });
    if (root) log << notes.str();
  }
  if (root) log << "Resumed from " << path << '\n';
}

}  // namespace mnist_ddp
