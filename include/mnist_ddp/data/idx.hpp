// idx.hpp — the IDX file format (MNIST's), read strictly, raw or gzip.
//
// An IDX file is a big-endian header — two zero bytes, an element-type byte,
// a dimension count, then one uint32 size per dimension — followed by the
// elements. MNIST uses type 0x08 (unsigned byte): images are 3-D (N, 28, 28),
// labels 1-D (N). Files may be gzip-compressed (detected by the gzip magic,
// whatever the file name). Every defect — bad magic, unknown type, wrong
// dimension count, a size of zero, a file shorter or longer than the header
// says, a corrupt gzip stream — throws InputError naming the file and the problem.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mnist_ddp {

struct IdxArray {
  std::uint8_t type = 0;              // element type code (0x08 = unsigned byte)
  std::vector<std::uint32_t> dims;    // sizes, outermost first
  std::vector<std::uint8_t> data;     // the elements, as stored (only 0x08 is accepted)
  std::size_t count() const;          // product of dims
};

// Parses an in-memory IDX image (already decompressed). `name` is used in messages.
IdxArray parse_idx(const std::vector<std::uint8_t>& bytes, const std::string& name);

// Gunzips `raw` when it starts with the gzip magic (members written back to back
// are one stream); returns it unchanged otherwise. `name` is used in messages.
// Guards against decompression bombs: refuses output beyond 1 GiB.
std::vector<std::uint8_t> gunzip_if_compressed(std::vector<std::uint8_t> raw, const std::string& name);

// Reads a whole file (at most 1 GiB), then gunzip_if_compressed.
std::vector<std::uint8_t> read_file_maybe_gzip(const std::string& path);

// read_file_maybe_gzip + parse_idx.
IdxArray read_idx(const std::string& path);

// A set of images with their labels: images (count, rows, cols) as bytes.
struct MnistSet {
  std::int64_t count = 0;
  int rows = 0;
  int cols = 0;
  std::vector<std::uint8_t> images;   // (count, rows, cols), row-major
  std::vector<std::uint8_t> labels;   // (count), each 0..9
  std::size_t image_size() const { return static_cast<std::size_t>(rows) * cols; }
};

// Checks parsed image and label arrays as a pair — images 3-D, labels 1-D, the
// same count, every label in 0..9 — and moves their data into a set. The names
// are used in messages.
MnistSet mnist_set_from_arrays(IdxArray images, IdxArray labels, const std::string& images_name,
                               const std::string& labels_name);

// Reads an image file (3-D, type 0x08) and a label file (1-D, type 0x08):
// read_idx on each, then mnist_set_from_arrays.
MnistSet load_mnist_pair(const std::string& images_path, const std::string& labels_path);

struct Mnist {
  MnistSet train;
  MnistSet test;
};

// Locates the four standard files in `dir` — `train-images-idx3-ubyte` etc., each
// also accepted with a `.gz` suffix or with `.` instead of the last `-`
// (`train-images.idx3-ubyte`) — and loads them. Missing directory or file →
// InputError naming what was looked for.
Mnist load_mnist(const std::string& dir);

// Path of one of the standard files in `dir` (base name e.g. "train-images-idx3-ubyte"),
// trying the accepted variants; throws InputError listing the names tried.
std::string find_mnist_file(const std::string& dir, const std::string& base);

}  // namespace mnist_ddp
