// report.cpp — the config's JSON form, and the check that an output can be
// written before a run spends hours on it. (Writing the outputs themselves:
// atomic_file.cpp.)
#include "mnist_ddp/io/report.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mnist_ddp {

nlohmann::json config_to_json(const Config& c) {
  nlohmann::json j;
  j["command"] = c.command;
  j["data_dir"] = c.data_dir;
  j["epochs"] = c.epochs;
  j["batch_size"] = c.batch_size;
  j["eval_batch_size"] = c.eval_batch_size;
  j["lr"] = c.lr;
  j["optimizer"] = to_string(c.optimizer);
  j["momentum"] = c.momentum;
  j["val_split"] = c.val_split;
  j["augment"] = c.augment;
  j["bucket_kb"] = c.bucket_kb;
  j["precise_bn_images"] = c.precise_bn_images;
  j["early_stopping"] = {
      {"enabled", c.early_stopping.enabled},
      {"patience", c.early_stopping.patience},
      {"min_delta", c.early_stopping.min_delta},
      {"restore_best_weights", c.early_stopping.restore_best_weights},
  };
  j["reduce_lr"] = {
      {"enabled", c.reduce_lr.enabled},     {"factor", c.reduce_lr.factor},
      {"patience", c.reduce_lr.patience},   {"min_lr", c.reduce_lr.min_lr},
      {"min_delta", c.reduce_lr.min_delta}, {"cooldown", c.reduce_lr.cooldown},
  };
  j["seed"] = c.seed;
  j["device"] = to_string(c.device);
  j["threads"] = c.threads;
  j["train_limit"] = c.train_limit;
  j["test_limit"] = c.test_limit;
  j["output"] = c.output;
  j["report"] = c.report;
  j["progress"] = to_string(c.progress);
  j["checkpoint"] = c.checkpoint;
  j["checkpoint_every"] = c.checkpoint_every;
  j["resume"] = c.resume;
  j["comm_timeout"] = c.comm_timeout;
  return j;
}

std::string output_problem(const std::string& path) {
  const std::string probe = path + ".probe." + std::to_string(::getpid());
  std::FILE* f = std::fopen(probe.c_str(), "wb");
  if (f == nullptr) return "cannot write '" + path + "': " + std::strerror(errno);
  std::fclose(f);
  std::remove(probe.c_str());
  return {};
}

}  // namespace mnist_ddp
