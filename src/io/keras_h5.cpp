// keras_h5.cpp — the model file in Keras's legacy HDF5 layout, with the HDF5 C API.
//
// The layout follows tf.keras 2.x (tensorflow/python/keras/saving/hdf5_format.py,
// continued as keras/src/legacy/saving/legacy_h5_format.py): save_model_to_hdf5 puts
// keras_version, backend and model_config (json.dumps(...).encode()) on the root;
// save_weights_to_hdf5_group writes layer_names (np.asarray of byte strings, i.e.
// one fixed-length NULLPAD string array), backend and keras_version on
// /model_weights, one group per layer with a weight_names attribute, and one
// dataset per weight named after the variable ("conv2d/kernel:0"), which h5py
// turns into the nested group /model_weights/conv2d/conv2d/kernel:0. A layer
// without weights gets weight_names = np.asarray([]): a float64 array of shape
// (0,), which is what we write too, so that h5py and Keras read exactly what
// they would read from their own file.
//
// Every HDF5 identifier lives in a move-only Handle that calls the matching
// H5*close, and every HDF5 call is checked; HDF5's own error stack printing is
// switched off, and failures become our exceptions: RuntimeError when writing,
// InputError ("FILE: what is wrong") when reading, since a bad model file is bad
// input, not a bug. Reading trusts nothing the file declares: sizes of
// attributes and arrays are checked against the file's length before memory is
// set aside, and weights must be finite. Damage to the HDF5 structure itself is
// caught by the format's metadata checksums (the 1.8 format written here keeps
// them); tests/fuzz mutates files at random to check all of this. Writing is atomic: "<path>.tmp.<pid>", flush, close, fsync,
// rename, so a job killed mid-save leaves the old file or the new one.
#include "mnist_ddp/io/keras_h5.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/core/fault_injection.hpp"

namespace mnist_ddp {

namespace {

// The Keras version we claim: a tf.keras 2.x release, because the layout and the
// layer configs written here are tf.keras 2.x's (Keras 3 reads them as legacy).
constexpr const char* kKerasVersion = "2.15.0";
constexpr const char* kBackend = "tensorflow";

// A failed HDF5 call. Internal: save/load turn it into RuntimeError/InputError
// with the file name in front, so that callers see the project's error types.
class H5Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void h5_fail(const char* call, const std::string& what, const char* file, int line) {
  // `call` is the checked expression; its function name is what helps a reader.
  const std::string expr(call);
  std::ostringstream s;
  s << expr.substr(0, expr.find('(')) << " failed";
  if (!what.empty()) s << " (" << what << ")";
  s << " [" << file << ':' << line << ']';
  throw H5Failure(s.str());
}

// Checks an herr_t / hid_t / htri_t / ssize_t result: negative means failure.
#define H5_CHECK(expr, what)                                                 \
  ([&]() {                                                                   \
    auto h5_result_ = (expr);                                                \
    if (h5_result_ < 0) h5_fail(#expr, (what), __FILE__, __LINE__);          \
    return h5_result_;                                                       \
  }())

// Owns one HDF5 identifier and closes it with the function for its kind
// (H5Fclose, H5Gclose, ...). Move-only so that an id is closed exactly once.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), closer_(o.closer_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      closer_ = o.closer_;
    }
    return *this;
  }
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: handles pass straight to H5* calls

  // Closes now and reports failure: the file's close is where buffered data is
  // written, so its result matters (the destructor has to ignore it).
  void close(const char* what) {
    if (id_ < 0) return;
    const herr_t rc = closer_(std::exchange(id_, H5I_INVALID_HID));
    if (rc < 0) h5_fail("H5*close", what, __FILE__, __LINE__);
  }

 private:
  void reset() noexcept {
    if (id_ >= 0) closer_(std::exchange(id_, H5I_INVALID_HID));
  }
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

#define H5_HANDLE(expr, closer, what) Handle(H5_CHECK(expr, what), closer)

// ---- writing ---------------------------------------------------------------------

// A fixed-length byte string type of `size` bytes (at least 1: HDF5 refuses 0).
// NULLPAD and ASCII, as h5py writes numpy 'S' strings.
Handle fixed_string_type(std::size_t size) {
  Handle type = H5_HANDLE(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
  H5_CHECK(H5Tset_size(type, size == 0 ? 1 : size), "string size");
  H5_CHECK(H5Tset_strpad(type, H5T_STR_NULLPAD), "string padding");
  H5_CHECK(H5Tset_cset(type, H5T_CSET_ASCII), "string charset");
  return type;
}

// A scalar fixed-length string attribute (root keras_version, backend, ...).
void write_string_attr(hid_t obj, const char* name, const std::string& value) {
  Handle type = fixed_string_type(value.size());
  Handle space = H5_HANDLE(H5Screate(H5S_SCALAR), H5Sclose, name);
  Handle attr = H5_HANDLE(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, name);
  std::string buffer = value;
  if (buffer.empty()) buffer.push_back('\0');
  H5_CHECK(H5Awrite(attr, type, buffer.data()), name);
}

// A 1-D string-array attribute (layer_names, weight_names). An empty list is
// written as Keras does through h5py: a float64 array of shape (0,).
void write_string_list_attr(hid_t obj, const char* name, const std::vector<std::string>& values) {
  const hsize_t dims[1] = {values.size()};
  Handle space = H5_HANDLE(H5Screate_simple(1, dims, nullptr), H5Sclose, name);
  if (values.empty()) {
    Handle attr =
        H5_HANDLE(H5Acreate2(obj, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, name);
    return;  // nothing to write: the attribute has no elements
  }
  std::size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size());
  std::vector<char> buffer(width * values.size(), '\0');  // NULLPAD: shorter names padded with NULs
  for (std::size_t i = 0; i < values.size(); ++i) std::memcpy(&buffer[i * width], values[i].data(), values[i].size());
  Handle type = fixed_string_type(width);
  Handle attr = H5_HANDLE(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, name);
  H5_CHECK(H5Awrite(attr, type, buffer.data()), name);
}

Handle create_group(hid_t parent, const std::string& name) {
  return H5_HANDLE(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose, name);
}

// A contiguous dataset of `file_type` holding `data` (memory type `mem_type`).
void write_dataset(hid_t parent, const std::string& name, const std::vector<std::size_t>& shape, hid_t file_type,
                   hid_t mem_type, const void* data) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  hsize_t count = 1;
  for (hsize_t d : dims) count *= d;
  Handle space = H5_HANDLE(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose, name);
  Handle dset = H5_HANDLE(H5Dcreate2(parent, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                          H5Dclose, name);
  if (count > 0) H5_CHECK(H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), name);
}

// The name an extra array may have: one HDF5 link name, not a path.
void check_extra_name(const std::string& path, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    throw RuntimeError("cannot write '" + path + "': invalid extra array name '" + name + "'");
}

void write_contents(hid_t file, const std::string& path, Model& model, const nlohmann::json& info,
                    const H5Extras& extras) {
  // Root: what save_model_to_hdf5 writes (training_config only for compiled
  // models; ours is not a Keras-compiled model, so it is left out).
  write_string_attr(file, "keras_version", kKerasVersion);
  write_string_attr(file, "backend", kBackend);
  write_string_attr(file, "model_config", keras_model_config(model).dump());

  // /model_weights: save_weights_to_hdf5_group.
  Handle weights_group = create_group(file, "model_weights");
  std::vector<std::string> layer_names;
  for (auto& layer : model.layers()) layer_names.push_back(layer->name());
  write_string_list_attr(weights_group, "layer_names", layer_names);
  write_string_attr(weights_group, "backend", kBackend);
  write_string_attr(weights_group, "keras_version", kKerasVersion);
  // Keras creates the layer groups in name order ("to avoid prefix issues");
  // readers look them up by name, but the same order makes the files alike.
  std::vector<Layer*> by_name;
  for (auto& layer : model.layers()) by_name.push_back(layer.get());
  std::sort(by_name.begin(), by_name.end(), [](Layer* a, Layer* b) { return a->name() < b->name(); });
  for (Layer* layer : by_name) {
    Handle g = create_group(weights_group, layer->name());
    const std::vector<WeightView> weights = layer->weights();
    std::vector<std::string> names;
    for (const auto& w : weights) names.push_back(layer->name() + "/" + w.name + ":0");
    write_string_list_attr(g, "weight_names", names);
    if (weights.empty()) continue;
    // The variable name "conv2d/kernel:0" contains a '/': h5py creates the
    // intermediate group, so the dataset lives at <layer>/<layer>/kernel:0.
    Handle inner = create_group(g, layer->name());
    for (const auto& w : weights)
      write_dataset(inner, w.name + ":0", w.shape, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, w.data);
  }

  // /mnist_ddp: this program's own group, ignored by Keras.
  Handle own = create_group(file, "mnist_ddp");
  // Invalid UTF-8 in a string of `info` (a path, say) must not lose the model:
  // replace it rather than let dump() throw.
  write_string_attr(own, "info", info.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  for (const auto& [name, values] : extras.floats) {
    check_extra_name(path, name);
    if (extras.ints.count(name))
      throw RuntimeError("cannot write '" + path + "': extra array '" + name + "' is both float and int");
    write_dataset(own, name, {values.size()}, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, values.data());
  }
  for (const auto& [name, values] : extras.ints) {
    check_extra_name(path, name);
    write_dataset(own, name, {values.size()}, H5T_STD_I64LE, H5T_NATIVE_INT64, values.data());
  }
}

std::string parent_directory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Why creating `tmp` failed, in words: HDF5's own message says only "unable to
// open file", so ask the file system the way write_file_atomic reports it.
std::string create_failure_reason(const std::string& tmp, const std::string& path) {
  const std::string dir = parent_directory(path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return "directory '" + dir + "' does not exist";
  if (!S_ISDIR(st.st_mode)) return "'" + dir + "' is not a directory";
  if (::access(dir.c_str(), W_OK) != 0) return std::string("directory '") + dir + "': " + std::strerror(errno);
  return "cannot create '" + tmp + "'";
}

// ---- reading ---------------------------------------------------------------------

bool has_attr(hid_t obj, const char* name) { return H5_CHECK(H5Aexists(obj, name), name) > 0; }

bool has_link(hid_t parent, const std::string& name) {
  return H5_CHECK(H5Lexists(parent, name.c_str(), H5P_DEFAULT), name) > 0;
}

// Reads a string-valued attribute into a list: fixed-length or variable-length
// strings, a scalar (one element) or 1-D; an attribute with no elements (Keras's
// empty float64 weight_names) is the empty list. Sizes in a file are claims:
// the attribute's declared size must fit in `file_bytes` (the file's size)
// before any memory is set aside for it.
std::vector<std::string> read_strings_attr(hid_t obj, const char* name, std::uint64_t file_bytes) {
  Handle attr = H5_HANDLE(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, name);
  Handle space = H5_HANDLE(H5Aget_space(attr), H5Sclose, name);
  const hssize_t n = H5_CHECK(H5Sget_simple_extent_npoints(space), name);
  if (n == 0) return {};
  Handle type = H5_HANDLE(H5Aget_type(attr), H5Tclose, name);
  if (H5_CHECK(H5Tget_class(type), name) != H5T_STRING) throw H5Failure(std::string("attribute '") + name + "' is not text");
  const auto count = static_cast<std::uint64_t>(n);
  if (count > file_bytes)
    throw H5Failure(std::string("attribute '") + name + "' declares " + std::to_string(count) +
                    " strings, more than the file's " + std::to_string(file_bytes) + " bytes can hold");
  std::vector<std::string> out;
  if (H5_CHECK(H5Tis_variable_str(type), name) > 0) {
    Handle mem = H5_HANDLE(H5Tcopy(H5T_C_S1), H5Tclose, name);
    H5_CHECK(H5Tset_size(mem, H5T_VARIABLE), name);
    H5_CHECK(H5Tset_cset(mem, H5Tget_cset(type)), name);
    std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
    H5_CHECK(H5Aread(attr, mem, ptrs.data()), name);
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem, space, H5P_DEFAULT, ptrs.data());
    return out;
  }
  const std::size_t width = H5Tget_size(type);
  if (width == 0) throw H5Failure(std::string("attribute '") + name + "' has size 0");
  if (width > file_bytes / count)
    throw H5Failure(std::string("attribute '") + name + "' declares " + std::to_string(count) + " strings of " +
                    std::to_string(width) + " bytes, more than the file's " + std::to_string(file_bytes) +
                    " bytes can hold");
  std::vector<char> buffer(width * static_cast<std::size_t>(n) + 1, '\0');
  H5_CHECK(H5Aread(attr, type, buffer.data()), name);
  for (hssize_t i = 0; i < n; ++i) {
    const char* p = &buffer[static_cast<std::size_t>(i) * width];
    out.emplace_back(p, strnlen(p, width));  // NULLPAD/NULLTERM: stop at the first NUL
  }
  return out;
}

std::string read_string_attr(hid_t obj, const char* name, std::uint64_t file_bytes) {
  std::vector<std::string> v = read_strings_attr(obj, name, file_bytes);
  if (v.size() != 1) throw H5Failure(std::string("attribute '") + name + "' is not a single string");
  return v[0];
}

std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + ")";
}

std::vector<std::size_t> dataset_shape(hid_t dset, const std::string& what) {
  Handle space = H5_HANDLE(H5Dget_space(dset), H5Sclose, what);
  const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space), what);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) H5_CHECK(H5Sget_simple_extent_dims(space, dims.data(), nullptr), what);
  return std::vector<std::size_t>(dims.begin(), dims.end());
}

H5T_class_t dataset_class(hid_t dset, const std::string& what) {
  Handle type = H5_HANDLE(H5Dget_type(dset), H5Tclose, what);
  return H5_CHECK(H5Tget_class(type), what);
}

// Reads every weight into a staging copy first, so that a file that fails
// half-way leaves the model untouched.
struct StagedWeight {
  float* target;
  std::vector<float> values;
};

// `file_bytes`, the file's size, bounds every size the file declares.
void read_contents(hid_t file, const std::string& path, std::uint64_t file_bytes, Model& model,
                   LoadedModelFile& result) {
  auto bad = [&](const std::string& what) { return InputError(path + ": " + what); };

  if (!has_link(file, "model_weights")) throw bad("no model_weights group (not a Keras model file)");
  Handle weights_group = H5_HANDLE(H5Gopen2(file, "model_weights", H5P_DEFAULT), H5Gclose, "model_weights");
  if (!has_attr(weights_group, "layer_names")) throw bad("model_weights has no layer_names attribute");
  const std::vector<std::string> file_layers = read_strings_attr(weights_group, "layer_names", file_bytes);
  auto& layers = model.layers();
  if (file_layers.size() != layers.size())
    throw bad("the file has " + std::to_string(file_layers.size()) + " layers, the model has " +
              std::to_string(layers.size()));

  std::vector<StagedWeight> staged;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    Layer& layer = *layers[i];
    const std::string& lname = layer.name();
    if (file_layers[i] != lname)
      throw bad("layer " + std::to_string(i) + " is '" + file_layers[i] + "' in the file, '" + lname +
                "' in the model");
    if (!has_link(weights_group, lname)) throw bad("no group for layer '" + lname + "'");
    Handle g = H5_HANDLE(H5Gopen2(weights_group, lname.c_str(), H5P_DEFAULT), H5Gclose, lname);
    const std::vector<std::string> names =
        has_attr(g, "weight_names") ? read_strings_attr(g, "weight_names", file_bytes) : std::vector<std::string>{};
    std::vector<WeightView> weights = layer.weights();
    if (names.size() != weights.size())
      throw bad("layer '" + lname + "' has " + std::to_string(names.size()) + " weights in the file, the model's has " +
                std::to_string(weights.size()));
    for (std::size_t w = 0; w < weights.size(); ++w) {
      const WeightView& view = weights[w];
      const std::string expected = lname + "/" + view.name + ":0";
      if (names[w] != expected)
        throw bad("layer '" + lname + "' weight " + std::to_string(w) + " is '" + names[w] + "', expected '" +
                  expected + "'");
      // weight_names are paths relative to the layer group (h5py resolves the '/').
      if (!has_link(g, lname) || H5_CHECK(H5Lexists(g, names[w].c_str(), H5P_DEFAULT), names[w]) <= 0)
        throw bad("layer '" + lname + "' lacks dataset '" + names[w] + "'");
      Handle dset = H5_HANDLE(H5Dopen2(g, names[w].c_str(), H5P_DEFAULT), H5Dclose, names[w]);
      if (dataset_class(dset, names[w]) != H5T_FLOAT)
        throw bad("layer '" + lname + "' " + view.name + " is not a floating-point array");
      const std::vector<std::size_t> shape = dataset_shape(dset, names[w]);
      if (shape != view.shape)
        throw bad("layer '" + lname + "' has " + view.name + " of shape " + shape_text(shape) +
                  ", this program's model needs " + shape_text(view.shape));
      std::size_t count = 1;
      for (std::size_t d : shape) count *= d;
      StagedWeight s{view.data, std::vector<float>(count)};
      // HDF5 converts float64 files to float here, should someone write one.
      if (count > 0) H5_CHECK(H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.values.data()), names[w]);
      // No trained network has NaN or infinite weights; such values are damage
      // (or a diverged run), and would only make every prediction NaN.
      if (!std::all_of(s.values.begin(), s.values.end(), [](float v) { return std::isfinite(v); }))
        throw bad("layer '" + lname + "' " + view.name + " holds NaN or infinite values (damaged file?)");
      staged.push_back(std::move(s));
    }
  }

  // /mnist_ddp: optional (a model written by Keras itself has none).
  if (has_link(file, "mnist_ddp")) {
    Handle own = H5_HANDLE(H5Gopen2(file, "mnist_ddp", H5P_DEFAULT), H5Gclose, "mnist_ddp");
    if (has_attr(own, "info")) {
      const std::string text = read_string_attr(own, "info", file_bytes);
      try {
        result.info = nlohmann::json::parse(text);
      } catch (const nlohmann::json::exception& e) {
        throw bad(std::string("/mnist_ddp info is not valid JSON: ") + e.what());
      }
    }
    H5G_info_t ginfo{};
    H5_CHECK(H5Gget_info(own, &ginfo), "mnist_ddp");
    for (hsize_t k = 0; k < ginfo.nlinks; ++k) {
      const ssize_t len = H5_CHECK(
          H5Lget_name_by_idx(own, ".", H5_INDEX_NAME, H5_ITER_INC, k, nullptr, 0, H5P_DEFAULT), "mnist_ddp entry");
      std::string name(static_cast<std::size_t>(len) + 1, '\0');
      H5_CHECK(H5Lget_name_by_idx(own, ".", H5_INDEX_NAME, H5_ITER_INC, k, name.data(), name.size(), H5P_DEFAULT),
               "mnist_ddp entry");
      name.resize(static_cast<std::size_t>(len));
      {
        // H5Iget_type on the opened object rather than H5Oget_info, whose
        // signature differs between HDF5 1.10 and 1.12 API versions.
        Handle obj = H5_HANDLE(H5Oopen(own, name.c_str(), H5P_DEFAULT), H5Oclose, name);
        if (H5_CHECK(H5Iget_type(obj), name) != H5I_DATASET) continue;  // a subgroup: not ours to read
      }
      Handle dset = H5_HANDLE(H5Dopen2(own, name.c_str(), H5P_DEFAULT), H5Dclose, name);
      const std::vector<std::size_t> shape = dataset_shape(dset, name);
      if (shape.size() != 1) throw bad("/mnist_ddp/" + name + " is not a 1-D array");
      const H5T_class_t cls = dataset_class(dset, name);
      {
        // We write these arrays uncompressed: a size beyond the file's is damage.
        Handle type = H5_HANDLE(H5Dget_type(dset), H5Tclose, name);
        const std::size_t element = std::max<std::size_t>(H5Tget_size(type), 1);
        if (shape[0] > file_bytes / element)
          throw bad("/mnist_ddp/" + name + " declares " + std::to_string(shape[0]) + " values, more than the file's " +
                    std::to_string(file_bytes) + " bytes can hold");
      }
      if (cls == H5T_FLOAT) {
        std::vector<float>& v = result.extras.floats[name];
        v.resize(shape[0]);
        if (!v.empty()) H5_CHECK(H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), name);
      } else if (cls == H5T_INTEGER) {
        std::vector<std::int64_t>& v = result.extras.ints[name];
        v.resize(shape[0]);
        if (!v.empty()) H5_CHECK(H5Dread(dset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), name);
      } else {
        throw bad("/mnist_ddp/" + name + " is neither a float nor an integer array");
      }
    }
  }

  // Everything read and checked: only now touch the model.
  for (auto& s : staged) std::copy(s.values.begin(), s.values.end(), s.target);
}

}  // namespace

nlohmann::json keras_model_config(Model& model) {
  using nlohmann::json;
  const Shape3 in = model.input_shape();
  json layers = json::array();
  // tf.keras 2.x Sequential.get_config lists the InputLayer it made for the
  // first layer's input_shape, named "<first layer>_input".
  const std::string first = model.layers().empty() ? std::string("input") : model.layers().front()->name();
  const json batch_input_shape = json::array({nullptr, in.h, in.w, in.c});
  layers.push_back({{"class_name", "InputLayer"},
                    {"config",
                     {{"batch_input_shape", batch_input_shape},
                      {"dtype", "float32"},
                      {"sparse", false},
                      {"ragged", false},
                      {"name", first + "_input"}}}});
  const json glorot = {{"class_name", "GlorotUniform"}, {"config", {{"seed", nullptr}}}};
  const json zeros = {{"class_name", "Zeros"}, {"config", json::object()}};
  const json ones = {{"class_name", "Ones"}, {"config", json::object()}};
  const auto& specs = model.specs();
  int rank = 4;  // of the tensor entering the layer, batch axis included: BatchNormalization's axis
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const LayerSpec& spec = specs[i];
    json config = {{"name", model.layers()[i]->name()}, {"trainable", true}, {"dtype", "float32"}};
    if (i == 0) config["batch_input_shape"] = batch_input_shape;
    // The keys Conv2D and Dense share: activation, bias, initialisers, no regularisers.
    const json kernel_layer_keys = {{"activation", to_string(spec.activation)},
                                    {"use_bias", true},
                                    {"kernel_initializer", glorot},
                                    {"bias_initializer", zeros},
                                    {"kernel_regularizer", nullptr},
                                    {"bias_regularizer", nullptr},
                                    {"activity_regularizer", nullptr},
                                    {"kernel_constraint", nullptr},
                                    {"bias_constraint", nullptr}};
    switch (spec.kind) {
      case LayerKind::kConv2D:
        config.update({{"filters", spec.units},
                       {"kernel_size", {spec.kernel, spec.kernel}},
                       {"strides", {1, 1}},
                       {"padding", "same"},
                       {"data_format", "channels_last"},
                       {"dilation_rate", {1, 1}},
                       {"groups", 1}});
        config.update(kernel_layer_keys);
        break;
      case LayerKind::kBatchNorm:
        config.update({{"axis", json::array({rank - 1})},
                       {"momentum", spec.momentum},
                       {"epsilon", spec.epsilon},
                       {"center", true},
                       {"scale", true},
                       {"beta_initializer", zeros},
                       {"gamma_initializer", ones},
                       {"moving_mean_initializer", zeros},
                       {"moving_variance_initializer", ones},
                       {"beta_regularizer", nullptr},
                       {"gamma_regularizer", nullptr},
                       {"beta_constraint", nullptr},
                       {"gamma_constraint", nullptr}});
        break;
      case LayerKind::kMaxPool:
        config.update({{"pool_size", {spec.kernel, spec.kernel}},
                       {"padding", "valid"},
                       {"strides", {spec.kernel, spec.kernel}},
                       {"data_format", "channels_last"}});
        break;
      case LayerKind::kDropout:
        config.update({{"rate", spec.rate}, {"noise_shape", nullptr}, {"seed", nullptr}});
        break;
      case LayerKind::kFlatten:
        config["data_format"] = "channels_last";
        rank = 2;
        break;
      case LayerKind::kDense:
        config["units"] = spec.units;
        config.update(kernel_layer_keys);
        rank = 2;
        break;
    }
    layers.push_back({{"class_name", keras_class_name(spec.kind)}, {"config", std::move(config)}});
  }
  return {{"class_name", "Sequential"}, {"config", {{"name", "sequential"}, {"layers", std::move(layers)}}}};
}

void save_keras_h5(const std::string& path, Model& model, const nlohmann::json& info, const H5Extras& extras) {
  if (path.empty()) throw RuntimeError("cannot write '': empty file name");
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // our exceptions report failures, not HDF5's stderr dump
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    // The 1.8 file format: attributes over 64 KiB (a long training history in
    // "info") go to dense storage instead of failing; h5py reads it everywhere.
    Handle fapl = H5_HANDLE(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "file access list");
    H5_CHECK(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST), "format bounds");
    const hid_t raw = H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (raw < 0) throw RuntimeError("cannot write '" + path + "': " + create_failure_reason(tmp, path));
    Handle file(raw, H5Fclose);
    write_contents(file, path, model, info, extras);
    H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush");
    file.close("file");
    // fsync before rename, or the rename may reach the disk before the data.
    const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      const int err = errno;
      if (fd >= 0) ::close(fd);
      throw RuntimeError("cannot write '" + path + "': fsync: " + std::strerror(err));
    }
    ::close(fd);
    fault_point_before_rename(path);  // tests: SIGKILL here must leave the old file
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw RuntimeError("cannot write '" + path + "': rename: " + std::strerror(errno));
  } catch (const H5Failure& e) {
    ::unlink(tmp.c_str());
    throw RuntimeError("cannot write '" + path + "': " + e.what());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename durable; best effort, as in write_file_atomic.
  const int dir_fd = ::open(parent_directory(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

LoadedModelFile load_keras_h5(const std::string& path, Model& model) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw InputError(path + ": cannot open: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw InputError(path + ": is a directory, not a model file");
  if (::access(path.c_str(), R_OK) != 0) throw InputError(path + ": cannot open: " + std::strerror(errno));
  // H5Fis_hdf5 looks for the signature only: 0 means some other kind of file.
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 <= 0) throw InputError(path + ": not an HDF5 file");
  const hid_t raw = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  // The signature is there but the file does not open: typically a copy cut
  // short (HDF5 compares the stored end-of-file address with the real size).
  if (raw < 0) throw InputError(path + ": damaged or truncated HDF5 file (cannot open it)");
  Handle file(raw, H5Fclose);
  LoadedModelFile result;
  result.info = nlohmann::json::object();
  try {
    read_contents(file, path, static_cast<std::uint64_t>(st.st_size), model, result);
  } catch (const H5Failure& e) {
    throw InputError(path + ": damaged or unreadable HDF5 file: " + e.what());
  }
  return result;
}

}  // namespace mnist_ddp
