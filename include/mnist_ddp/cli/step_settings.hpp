// step_settings.hpp — the narrow settings of a step backend, from the configuration.
//
// The backends (cpu/, cuda/) do not see the command line: this is the one
// place that picks out what they use.
#pragma once

#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/train/step_backend.hpp"

namespace mnist_ddp {

StepSettings step_settings(const Config& config);

}  // namespace mnist_ddp
