// predict.cpp — `mnist_ddp predict --model FILE IMAGE...`: the digit in each
// picture, with the model's probabilities.
//
// Classifying a few pictures is far too little work to spread over ranks, so
// rank 0 does it all and the others return at once. Each picture is read
// (PNG or PGM), brought to MNIST's form (28×28, light on dark, centred by
// mass), scaled like the training data and run through the model in inference
// mode. A picture that cannot be read is reported and skipped: the others still
// get their answer, and the exit code (2) tells a script that one failed.
#include "mnist_ddp/app/commands.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/io/digit_image.hpp"
#include "mnist_ddp/io/model_file.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/spec.hpp"

namespace mnist_ddp {

int predict_command(const Config& config, Communicator& comm) {
  if (!comm.is_root()) return 0;
  // A few pictures, one at a time, on rank 0 alone: always the CPU.
  if (config.device == Device::kCuda) std::cerr << "mnist_ddp: note: predict runs on the CPU\n";
  configure_cpu(config, comm);

  Model model(seed_cnn(), kMnistInput, 1);  // one picture at a time
  load_model_file(config.model, model);
  const int classes = model.num_outputs();

  bool failed = false;
  std::vector<float> x(kMnistInput.size());
  std::vector<double> p(static_cast<std::size_t>(classes));
  for (const std::string& path : config.images) {
    GrayImage digit;
    try {
      digit = to_mnist_form(read_gray_image(path), path);
    } catch (const InputError& e) {
      // Flush stdout first so the error appears between the right lines.
      std::cout.flush();
      std::cerr << "mnist_ddp: error: " << e.what() << '\n';
      std::cerr.flush();
      failed = true;
      continue;
    }
    normalize_pixels(digit.pixels.data(), x.data(), x.size());  // × kPixelScale, as in training
    const float* logits = model.forward(x.data(), 1, ForwardContext{});  // inference: no dropout, moving BN stats
    // Softmax in double, shifted by the maximum for stability.
    const int best = static_cast<int>(std::max_element(logits, logits + classes) - logits);
    double sum = 0;
    for (int k = 0; k < classes; ++k) sum += p[k] = std::exp(static_cast<double>(logits[k]) - logits[best]);
    std::string line = path + ": " + std::to_string(best);
    char buf[32];
    std::snprintf(buf, sizeof buf, " (p=%.4f)  probabilities:", p[best] / sum);
    line += buf;
    for (int k = 0; k < classes; ++k) {
      std::snprintf(buf, sizeof buf, " %d:%.4f", k, p[k] / sum);
      line += buf;
    }
    std::cout << line << '\n';
  }
  std::cout.flush();
  return failed ? 2 : 0;
}

}  // namespace mnist_ddp
