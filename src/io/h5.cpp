// h5.cpp — checked HDF5 calls, the identifier owner and the typed helpers
// (include/mnist_ddp/io/h5.hpp) shared by the model file and checkpoints.
#include "mnist_ddp/io/h5.hpp"

#include <algorithm>
#include <cstring>
#include <sstream>

namespace mnist_ddp {

void h5_fail(const char* call, const std::string& what, const char* file, int line) {
  const std::string expr(call);
  std::ostringstream s;
  s << expr.substr(0, expr.find('(')) << " failed";
  if (!what.empty()) s << " (" << what << ")";
  s << " [" << file << ':' << line << ']';
  throw H5Failure(s.str());
}

void H5Handle::close(const char* what) {
  if (id_ < 0) return;
  const herr_t rc = closer_(std::exchange(id_, H5I_INVALID_HID));
  if (rc < 0) h5_fail("H5*close", what, __FILE__, __LINE__);
}

void h5_silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// ---- writing ----------------------------------------------------------------------

namespace {

// A fixed-length byte string type of `size` bytes (at least 1: HDF5 refuses 0).
// NULLPAD and ASCII, as h5py writes numpy 'S' strings.
H5Handle fixed_string_type(std::size_t size) {
  H5Handle type = H5_HANDLE(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
  H5_CHECK(H5Tset_size(type, size == 0 ? 1 : size), "string size");
  H5_CHECK(H5Tset_strpad(type, H5T_STR_NULLPAD), "string padding");
  H5_CHECK(H5Tset_cset(type, H5T_CSET_ASCII), "string charset");
  return type;
}

}  // namespace

void h5_write_string_attr(hid_t obj, const char* name, const std::string& value) {
  H5Handle type = fixed_string_type(value.size());
  H5Handle space = H5_HANDLE(H5Screate(H5S_SCALAR), H5Sclose, name);
  H5Handle attr = H5_HANDLE(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, name);
  std::string buffer = value;
  if (buffer.empty()) buffer.push_back('\0');
  H5_CHECK(H5Awrite(attr, type, buffer.data()), name);
}

void h5_write_string_list_attr(hid_t obj, const char* name, const std::vector<std::string>& values) {
  const hsize_t dims[1] = {values.size()};
  H5Handle space = H5_HANDLE(H5Screate_simple(1, dims, nullptr), H5Sclose, name);
  if (values.empty()) {
    H5Handle attr =
        H5_HANDLE(H5Acreate2(obj, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, name);
    return;  // nothing to write: the attribute has no elements
  }
  std::size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size());
  std::vector<char> buffer(width * values.size(), '\0');  // NULLPAD: shorter names padded with NULs
  for (std::size_t i = 0; i < values.size(); ++i) std::memcpy(&buffer[i * width], values[i].data(), values[i].size());
  H5Handle type = fixed_string_type(width);
  H5Handle attr = H5_HANDLE(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, name);
  H5_CHECK(H5Awrite(attr, type, buffer.data()), name);
}

H5Handle h5_create_group(hid_t parent, const std::string& name) {
  return H5_HANDLE(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose, name);
}

void h5_write_dataset(hid_t parent, const std::string& name, const std::vector<std::size_t>& shape,
                      hid_t file_type, hid_t mem_type, const void* data) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  hsize_t count = 1;
  for (hsize_t d : dims) count *= d;
  H5Handle space =
      H5_HANDLE(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose, name);
  H5Handle dset = H5_HANDLE(
      H5Dcreate2(parent, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose, name);
  if (count > 0) H5_CHECK(H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), name);
}

// ---- reading ----------------------------------------------------------------------

bool h5_has_attr(hid_t obj, const char* name) { return H5_CHECK(H5Aexists(obj, name), name) > 0; }

bool h5_has_link(hid_t parent, const std::string& name) {
  return H5_CHECK(H5Lexists(parent, name.c_str(), H5P_DEFAULT), name) > 0;
}

bool h5_has_path(hid_t parent, const std::string& path) {
  for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
    if (!h5_has_link(parent, path.substr(0, slash))) return false;
  return h5_has_link(parent, path);
}

namespace {

std::vector<std::string> read_variable_strings(hid_t attr, hid_t type, hid_t space, std::size_t n,
                                               const char* name) {
  H5Handle mem = H5_HANDLE(H5Tcopy(H5T_C_S1), H5Tclose, name);
  H5_CHECK(H5Tset_size(mem, H5T_VARIABLE), name);
  H5_CHECK(H5Tset_cset(mem, H5Tget_cset(type)), name);
  std::vector<char*> ptrs(n, nullptr);
  H5_CHECK(H5Aread(attr, mem, ptrs.data()), name);
  std::vector<std::string> out;
  for (char* p : ptrs) out.emplace_back(p ? p : "");
  H5Dvlen_reclaim(mem, space, H5P_DEFAULT, ptrs.data());
  return out;
}

std::vector<std::string> read_fixed_strings(hid_t attr, hid_t type, std::uint64_t count, const char* name,
                                            std::uint64_t file_bytes) {
  const std::size_t width = H5Tget_size(type);
  if (width == 0) throw H5Failure(std::string("attribute '") + name + "' has size 0");
  if (width > file_bytes / count)
    throw H5Failure(std::string("attribute '") + name + "' declares " + std::to_string(count) + " strings of " +
                    std::to_string(width) + " bytes, more than the file's " + std::to_string(file_bytes) +
                    " bytes can hold");
  const auto n = static_cast<std::size_t>(count);
  std::vector<char> buffer(width * n + 1, '\0');
  H5_CHECK(H5Aread(attr, type, buffer.data()), name);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    const char* p = &buffer[i * width];
    out.emplace_back(p, strnlen(p, width));  // NULLPAD/NULLTERM: stop at the first NUL
  }
  return out;
}

}  // namespace

std::vector<std::string> h5_read_strings_attr(hid_t obj, const char* name, std::uint64_t file_bytes) {
  H5Handle attr = H5_HANDLE(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, name);
  H5Handle space = H5_HANDLE(H5Aget_space(attr), H5Sclose, name);
  const hssize_t n = H5_CHECK(H5Sget_simple_extent_npoints(space), name);
  if (n == 0) return {};
  H5Handle type = H5_HANDLE(H5Aget_type(attr), H5Tclose, name);
  if (H5_CHECK(H5Tget_class(type), name) != H5T_STRING)
    throw H5Failure(std::string("attribute '") + name + "' is not text");
  const auto count = static_cast<std::uint64_t>(n);
  if (count > file_bytes)
    throw H5Failure(std::string("attribute '") + name + "' declares " + std::to_string(count) +
                    " strings, more than the file's " + std::to_string(file_bytes) + " bytes can hold");
  if (H5_CHECK(H5Tis_variable_str(type), name) > 0)
    return read_variable_strings(attr, type, space, static_cast<std::size_t>(n), name);
  return read_fixed_strings(attr, type, count, name, file_bytes);
}

std::string h5_read_string_attr(hid_t obj, const char* name, std::uint64_t file_bytes) {
  std::vector<std::string> v = h5_read_strings_attr(obj, name, file_bytes);
  if (v.size() != 1) throw H5Failure(std::string("attribute '") + name + "' is not a single string");
  return v[0];
}

std::vector<std::size_t> h5_dataset_shape(hid_t dset, const std::string& what) {
  H5Handle space = H5_HANDLE(H5Dget_space(dset), H5Sclose, what);
  const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space), what);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) H5_CHECK(H5Sget_simple_extent_dims(space, dims.data(), nullptr), what);
  return std::vector<std::size_t>(dims.begin(), dims.end());
}

H5T_class_t h5_dataset_class(hid_t dset, const std::string& what) {
  H5Handle type = H5_HANDLE(H5Dget_type(dset), H5Tclose, what);
  return H5_CHECK(H5Tget_class(type), what);
}

std::size_t h5_dataset_element_size(hid_t dset, const std::string& what) {
  H5Handle type = H5_HANDLE(H5Dget_type(dset), H5Tclose, what);
  return std::max<std::size_t>(H5Tget_size(type), 1);
}

std::vector<std::string> h5_link_names(hid_t group, const std::string& what) {
  H5G_info_t info{};
  H5_CHECK(H5Gget_info(group, &info), what);
  std::vector<std::string> names;
  const std::string entry = what + " entry";
  for (hsize_t k = 0; k < info.nlinks; ++k) {
    const ssize_t len =
        H5_CHECK(H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, k, nullptr, 0, H5P_DEFAULT), entry);
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    H5_CHECK(H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, k, name.data(), name.size(), H5P_DEFAULT),
             entry);
    name.resize(static_cast<std::size_t>(len));
    names.push_back(std::move(name));
  }
  return names;
}

bool h5_is_dataset(hid_t parent, const std::string& name) {
  // H5Iget_type on the opened object rather than H5Oget_info, whose signature
  // differs between HDF5 1.10 and 1.12 API versions.
  H5Handle obj = H5_HANDLE(H5Oopen(parent, name.c_str(), H5P_DEFAULT), H5Oclose, name);
  return H5_CHECK(H5Iget_type(obj), name) == H5I_DATASET;
}

namespace {

// File access through the core driver: in memory, never written to disk. The
// default (earliest) format, as h5py writes: H5Fget_file_image of a file open
// in the 1.8 format gives a superblock whose checksum h5py then refuses.
H5Handle memory_access_list(const std::string& name) {
  H5Handle fapl = H5_HANDLE(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, name);
  H5_CHECK(H5Pset_fapl_core(fapl, 1 << 20, 0), name);
  return fapl;
}

}  // namespace

H5Handle h5_create_memory_file(const std::string& name) {
  H5Handle fapl = memory_access_list(name);
  return H5_HANDLE(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), H5Fclose, name);
}

std::string h5_file_image(hid_t file, const std::string& name) {
  H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL), name);
  const ssize_t size = H5_CHECK(H5Fget_file_image(file, nullptr, 0), name);
  std::string image(static_cast<std::size_t>(size), '\0');
  H5_CHECK(H5Fget_file_image(file, image.data(), image.size()), name);
  return image;
}

H5Handle h5_open_memory_file(const std::string& image, const std::string& name) {
  H5Handle fapl = memory_access_list(name);
  // H5Pset_file_image copies the buffer: the file owns its own bytes.
  H5_CHECK(H5Pset_file_image(fapl, const_cast<char*>(image.data()), image.size()), name);
  return H5_HANDLE(H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl), H5Fclose, name);
}

std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + ")";
}

}  // namespace mnist_ddp
