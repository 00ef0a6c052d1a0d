// h5.hpp — the HDF5 C API made safe to use: a checked-call macro with
// file:line, a move-only owner for every HDF5 identifier, and the few typed
// attribute and dataset helpers the model file and checkpoints are made of.
//
// HDF5's own error-stack printing is switched off (h5_silence_errors): a failed
// call becomes an H5Failure naming the call, what it was about, and where.
// H5Failure is internal to io/: the writers and readers catch it and throw the
// project's RuntimeError (writing) or InputError (reading: a bad file is bad
// input, not a bug) with the file name in front.
//
// Sizes in a file are claims: the readers take `file_bytes`, the file's
// length, and refuse any declared size that could not fit in it before memory
// is set aside.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace mnist_ddp {

// A failed HDF5 call, or a file whose HDF5 structure is not what we read.
class H5Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws H5Failure("<function> failed (<what>) [file:line]"); `call` is the
// checked expression, of which the function name is what helps a reader.
[[noreturn]] void h5_fail(const char* call, const std::string& what, const char* file, int line);

// Checks an herr_t / hid_t / htri_t / ssize_t result: negative means failure.
#define H5_CHECK(expr, what)                                                        \
  ([&]() {                                                                          \
    auto h5_result_ = (expr);                                                       \
    if (h5_result_ < 0) ::mnist_ddp::h5_fail(#expr, (what), __FILE__, __LINE__);  \
    return h5_result_;                                                              \
  }())

// Owns one HDF5 identifier and closes it with the function for its kind
// (H5Fclose, H5Gclose, ...). Move-only so that an id is closed exactly once.
class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  H5Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  H5Handle(H5Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), closer_(o.closer_) {}
  H5Handle& operator=(H5Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      closer_ = o.closer_;
    }
    return *this;
  }
  ~H5Handle() { reset(); }

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: handles pass straight to H5* calls

  // Closes now and reports failure: the file's close is where buffered data is
  // written, so its result matters (the destructor has to ignore it).
  void close(const char* what);

 private:
  void reset() noexcept {
    if (id_ >= 0) closer_(std::exchange(id_, H5I_INVALID_HID));
  }
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// A checked call whose result is an identifier, owned at once.
#define H5_HANDLE(expr, closer, what) ::mnist_ddp::H5Handle(H5_CHECK(expr, what), closer)

// Switches off HDF5's printing of its error stack to stderr: our exceptions
// report failures instead.
void h5_silence_errors();

// ---- writing ----------------------------------------------------------------------

// A scalar fixed-length string attribute (NULLPAD, ASCII, as h5py writes
// numpy 'S' strings).
void h5_write_string_attr(hid_t obj, const char* name, const std::string& value);

// A 1-D fixed-length string-array attribute. An empty list is written as Keras
// does through h5py: a float64 array of shape (0,).
void h5_write_string_list_attr(hid_t obj, const char* name, const std::vector<std::string>& values);

H5Handle h5_create_group(hid_t parent, const std::string& name);

// A contiguous dataset of `file_type` holding `data` (memory type `mem_type`).
void h5_write_dataset(hid_t parent, const std::string& name, const std::vector<std::size_t>& shape,
                      hid_t file_type, hid_t mem_type, const void* data);

// ---- reading ----------------------------------------------------------------------

bool h5_has_attr(hid_t obj, const char* name);
bool h5_has_link(hid_t parent, const std::string& name);
// Whether the relative path "a/b/c" exists under `parent`, every part of it.
bool h5_has_path(hid_t parent, const std::string& path);

// A string-valued attribute as a list: fixed-length or variable-length
// strings, a scalar (one element) or 1-D; an attribute with no elements
// (Keras's empty float64 weight_names) is the empty list.
std::vector<std::string> h5_read_strings_attr(hid_t obj, const char* name, std::uint64_t file_bytes);
// The same, for an attribute that must hold exactly one string.
std::string h5_read_string_attr(hid_t obj, const char* name, std::uint64_t file_bytes);

std::vector<std::size_t> h5_dataset_shape(hid_t dset, const std::string& what);
H5T_class_t h5_dataset_class(hid_t dset, const std::string& what);
// Bytes per element as stored (at least 1, so that it can divide).
std::size_t h5_dataset_element_size(hid_t dset, const std::string& what);

// The names of the links directly under `group`, in name order.
std::vector<std::string> h5_link_names(hid_t group, const std::string& what);
// Whether the object at `name` under `parent` is a dataset (not a subgroup).
bool h5_is_dataset(hid_t parent, const std::string& name);

// ---- files in memory (the weights inside a Keras 3 .keras zip) ---------------------

// A new, empty HDF5 file held in memory only (core driver, no backing file),
// in HDF5's default format (h5py's). `name` labels it in messages.
H5Handle h5_create_memory_file(const std::string& name);
// The bytes of an open file (flushed first): what would be on disk.
std::string h5_file_image(hid_t file, const std::string& name);
// Opens `image` (a copy of it) read-only as a file in memory.
H5Handle h5_open_memory_file(const std::string& image, const std::string& name);

// "(3,3,1,32)": a shape for messages.
std::string shape_text(const std::vector<std::size_t>& shape);

}  // namespace mnist_ddp
