// staged_weights.hpp — one layer weight read from an HDF5 model file into a
// staging copy, checked, for both model files (the Keras 2 .h5 and the
// weights inside a Keras 3 .keras): the readers fill the model only once every
// weight has been read, so a file that fails half-way leaves it untouched.
#pragma once

#include <hdf5.h>

#include <string>
#include <vector>

#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp {

struct StagedWeight {
  float* target;              // where the values go in the model
  std::vector<float> values;  // read and checked
};

// The weight `view` of layer `lname` from the dataset `name` (a path relative
// to `group`). InputError "<file>: layer '<lname>' ..." when the dataset is
// missing, not floating-point, of another shape than the model's, or holds NaN
// or infinite values. HDF5 failures come out as H5Failure.
StagedWeight read_staged_weight(const std::string& file, hid_t group, const std::string& lname,
                                const WeightView& view, const std::string& name);

// Copies every staged weight into the model.
void commit_staged_weights(const std::vector<StagedWeight>& staged);

}  // namespace mnist_ddp
