// staged_weights.cpp — one weight of a model file, read and checked
// (include/mnist_ddp/io/staged_weights.hpp).
#include "mnist_ddp/io/staged_weights.hpp"

#include <algorithm>
#include <cmath>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/io/h5.hpp"

namespace mnist_ddp {

StagedWeight read_staged_weight(const std::string& file, hid_t group, const std::string& lname,
                                const WeightView& view, const std::string& name) {
  const std::string layer = file + ": layer '" + lname + "' ";
  if (!h5_has_path(group, name)) throw InputError(layer + "lacks dataset '" + name + "'");
  H5Handle dset = H5_HANDLE(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose, name);
  if (h5_dataset_class(dset, name) != H5T_FLOAT) throw InputError(layer + view.name + " is not a floating-point array");
  const std::vector<std::size_t> shape = h5_dataset_shape(dset, name);
  if (shape != view.shape)
    throw InputError(layer + "has " + view.name + " of shape " + shape_text(shape) + ", this program's model needs " +
                     shape_text(view.shape));
  std::size_t count = 1;
  for (std::size_t d : shape) count *= d;
  StagedWeight s{view.data, std::vector<float>(count)};
  // HDF5 converts float64 files to float here, should someone write one.
  if (count > 0) H5_CHECK(H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.values.data()), name);
  // No trained network has NaN or infinite weights; such values are damage
  // (or a diverged run), and would only make every prediction NaN.
  if (!std::all_of(s.values.begin(), s.values.end(), [](float v) { return std::isfinite(v); }))
    throw InputError(layer + view.name + " holds NaN or infinite values (damaged file?)");
  return s;
}

void commit_staged_weights(const std::vector<StagedWeight>& staged) {
  for (const auto& s : staged) std::copy(s.values.begin(), s.values.end(), s.target);
}

}  // namespace mnist_ddp
