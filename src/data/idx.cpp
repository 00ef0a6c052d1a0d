// idx.cpp — strict reading of IDX files (MNIST's format), raw or gzip.
//
// Data files come from outside the program, so nothing in them is trusted: every
// size is checked against the bytes actually present before it is used, and each
// defect becomes an InputError that names the file and says plainly what is wrong,
// so that a user with a damaged download knows which file to fetch again.

#include "mnist_ddp/data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

namespace fs = std::filesystem;

namespace {

// Beyond this a "data file" is a decompression bomb, not MNIST (47 MB raw).
constexpr std::size_t kMaxDecompressed = std::size_t{1} << 30;

constexpr std::uint8_t kTypeUnsignedByte = 0x08;

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw InputError(name + ": " + what);
}

std::string hex_byte(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", v & 0xFFu);
  return buf;
}

// Names of the element types the IDX format defines; nullptr for any other code.
const char* idx_type_name(std::uint8_t t) {
  switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return nullptr;
  }
}

std::uint32_t read_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
         (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

std::string dims_text(const std::vector<std::uint32_t>& dims) {
  std::ostringstream s;
  for (std::size_t i = 0; i < dims.size(); ++i) s << (i ? " x " : "") << dims[i];
  return s.str();
}

std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& in, const std::string& path) {
  z_stream zs{};
  // 15 + 32: largest window, and let zlib recognise the gzip (or zlib) wrapper itself.
  if (inflateInit2(&zs, 15 + 32) != Z_OK) {
    throw RuntimeError(path + ": cannot initialise zlib: " + (zs.msg ? zs.msg : "unknown error"));
  }
  // inflateEnd must run on every exit path, including the throws below.
  struct Guard {
    z_stream* z;
    ~Guard() { inflateEnd(z); }
  } guard{&zs};

  std::vector<std::uint8_t> out;
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  std::size_t in_pos = 0;
  // zlib's avail_in is a uInt; feed the input in pieces that fit.
  auto feed = [&]() {
    const std::size_t n = std::min<std::size_t>(in.size() - in_pos, std::numeric_limits<uInt>::max());
    zs.next_in = const_cast<Bytef*>(in.data() + in_pos);
    zs.avail_in = static_cast<uInt>(n);
    in_pos += n;
  };
  feed();

  for (;;) {
    // Room for one byte past the cap, so that reaching it is seen as exceeding it.
    const std::size_t old = out.size();
    const std::size_t grow = std::min(kChunk, kMaxDecompressed + 1 - old);
    out.resize(old + grow);
    zs.next_out = out.data() + old;
    zs.avail_out = static_cast<uInt>(grow);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(old + (grow - zs.avail_out));
    if (out.size() > kMaxDecompressed) {
      fail(path, "decompressed data exceeds 1 GiB; refusing to continue (not an MNIST file?)");
    }
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0 && in_pos < in.size()) feed();
      if (zs.avail_in == 0) break;
      // gzip allows several members back to back (cat a.gz b.gz); anything else
      // after the end of the stream is damage.
      if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
        if (inflateReset(&zs) != Z_OK) fail(path, "corrupt gzip stream (cannot restart after a member)");
        continue;
      }
      fail(path, "corrupt gzip stream: unexpected bytes after the end of the compressed data");
    }
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
      fail(path, std::string("corrupt gzip stream: ") + (zs.msg ? zs.msg : "invalid compressed data"));
    }
    if (rc == Z_MEM_ERROR) throw RuntimeError(path + ": out of memory while decompressing");
    if (rc == Z_BUF_ERROR || (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0)) {
      // No progress possible: either more input is due, or the file ended mid-stream.
      if (in_pos < in.size()) {
        feed();
        continue;
      }
      if (zs.avail_out != 0) fail(path, "truncated gzip stream: the file ends before the compressed data does");
    } else if (rc != Z_OK) {
      fail(path, "corrupt gzip stream (zlib error " + std::to_string(rc) + ")");
    }
  }
  return out;
}

}  // namespace

std::size_t IdxArray::count() const {
  std::size_t n = 1;
  for (std::uint32_t d : dims) n *= d;
  return n;
}

IdxArray parse_idx(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  const std::size_t size = bytes.size();
  if (size == 0) fail(name, "file is empty (expected an IDX header)");
  if (size < 4) {
    fail(name, "file is " + std::to_string(size) + " bytes, too short for an IDX header (at least 4)");
  }
  if (bytes[0] != 0 || bytes[1] != 0) {
    fail(name, "bad magic: the first two bytes are " + hex_byte(bytes[0]) + " " + hex_byte(bytes[1]) +
                   ", an IDX file starts with 0x00 0x00 (not an IDX file?)");
  }
  const std::uint8_t type = bytes[2];
  if (type != kTypeUnsignedByte) {
    if (const char* known = idx_type_name(type)) {
      fail(name, "unsupported element type " + hex_byte(type) + " (" + known + "), expected 0x08 (unsigned byte)");
    }
    fail(name, "unknown element type " + hex_byte(type) + ", expected 0x08 (unsigned byte)");
  }
  const unsigned ndims = bytes[3];
  if (ndims < 1 || ndims > 3) {
    fail(name, "has " + std::to_string(ndims) + " dimensions; expected 1 to 3");
  }
  const std::size_t header = 4 + 4 * std::size_t{ndims};
  if (size < header) {
    fail(name, "truncated header: file is " + std::to_string(size) + " bytes but a header with " +
                   std::to_string(ndims) + " dimensions needs " + std::to_string(header));
  }

  IdxArray a;
  a.type = type;
  std::size_t product = 1;
  for (unsigned i = 0; i < ndims; ++i) {
    const std::uint32_t d = read_be32(bytes.data() + 4 + 4 * i);
    if (d == 0) fail(name, "dimension " + std::to_string(i) + " has size 0");
    if (product > std::numeric_limits<std::size_t>::max() / d) {
      fail(name, "dimensions " + dims_text(a.dims) + " x " + std::to_string(d) + " are too large");
    }
    product *= d;
    a.dims.push_back(d);
  }

  const std::size_t payload = size - header;
  if (payload != product) {
    // Written as "needs header + data" so the numbers can be checked by hand.
    const bool shorter = payload < product;
    const std::size_t needed = product > std::numeric_limits<std::size_t>::max() - header
                                   ? std::numeric_limits<std::size_t>::max()
                                   : header + product;
    fail(name, std::string(shorter ? "truncated" : "trailing bytes") + ": file is " + std::to_string(size) +
                   " bytes but the header (" + dims_text(a.dims) + ", unsigned byte) needs " +
                   std::to_string(needed));
  }
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return a;
}

std::vector<std::uint8_t> read_file_maybe_gzip(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    const int err = ec ? ec.value() : ENOENT;
    fail(path, "cannot open: " + std::string(std::strerror(err)));
  }
  if (fs::is_directory(st)) fail(path, "cannot read: " + std::string(std::strerror(EISDIR)));

  errno = 0;
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    const int err = errno ? errno : EIO;
    fail(path, "cannot open: " + std::string(std::strerror(err)));
  }
  std::vector<std::uint8_t> raw;
  // Do not trust the reported size for the cap: read with a limit instead, so a
  // special file (a pipe, /dev/zero) cannot exhaust memory either.
  constexpr std::size_t kBuf = std::size_t{1} << 20;
  std::vector<char> buf(kBuf);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const std::streamsize got = f.gcount();
    if (got <= 0) break;
    if (raw.size() + static_cast<std::size_t>(got) > kMaxDecompressed) {
      fail(path, "file is larger than 1 GiB; refusing to read it (not an MNIST file?)");
    }
    raw.insert(raw.end(), buf.data(), buf.data() + got);
  }
  if (f.bad()) fail(path, "read error: " + std::string(std::strerror(errno ? errno : EIO)));

  return gunzip_if_compressed(std::move(raw), path);
}

std::vector<std::uint8_t> gunzip_if_compressed(std::vector<std::uint8_t> raw, const std::string& name) {
  if (raw.size() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) return gunzip(raw, name);
  return raw;
}

IdxArray read_idx(const std::string& path) { return parse_idx(read_file_maybe_gzip(path), path); }

MnistSet load_mnist_pair(const std::string& images_path, const std::string& labels_path) {
  return mnist_set_from_arrays(read_idx(images_path), read_idx(labels_path), images_path, labels_path);
}

MnistSet mnist_set_from_arrays(IdxArray img, IdxArray lab, const std::string& images_path,
                               const std::string& labels_path) {
  if (img.dims.size() != 3) {
    fail(images_path, "an image file must have 3 dimensions (count x rows x cols) but this one has " +
                          std::to_string(img.dims.size()) + " (" + dims_text(img.dims) + ")");
  }
  if (lab.dims.size() != 1) {
    fail(labels_path, "a label file must have 1 dimension (count) but this one has " +
                          std::to_string(lab.dims.size()) + " (" + dims_text(lab.dims) + ")");
  }
  if (img.dims[0] != lab.dims[0]) {
    throw InputError(images_path + " has " + std::to_string(img.dims[0]) + " images but " + labels_path +
                     " has " + std::to_string(lab.dims[0]) + " labels");
  }
  // Arrays from parse_idx hold exactly count() elements; checked again because
  // this function takes arrays from any caller.
  if (img.data.size() != img.count() || lab.data.size() != lab.count()) {
    throw InputError(images_path + ", " + labels_path + ": element count does not match the dimensions");
  }
  // rows * cols <= file size <= 1 GiB, so each fits an int; checked anyway because
  // parse_idx may be handed larger in-memory data by other callers.
  if (img.dims[1] > static_cast<std::uint32_t>(INT_MAX) || img.dims[2] > static_cast<std::uint32_t>(INT_MAX)) {
    fail(images_path, "image size " + std::to_string(img.dims[1]) + " x " + std::to_string(img.dims[2]) +
                          " is too large");
  }
  for (std::size_t i = 0; i < lab.data.size(); ++i) {
    if (lab.data[i] > 9) {
      fail(labels_path, "label " + std::to_string(i) + " is " + std::to_string(lab.data[i]) +
                            "; labels must be 0..9");
    }
  }
  MnistSet s;
  s.count = img.dims[0];
  s.rows = static_cast<int>(img.dims[1]);
  s.cols = static_cast<int>(img.dims[2]);
  s.images = std::move(img.data);
  s.labels = std::move(lab.data);
  return s;
}

std::string find_mnist_file(const std::string& dir, const std::string& base) {
  std::vector<std::string> names{base, base + ".gz"};
  // Common downloads (e.g. Kaggle's) name the files `train-images.idx3-ubyte`:
  // the dash before "idx" becomes a dot. Replacing the very last dash
  // (`train-images-idx3.ubyte`) is accepted too, for other mirrors.
  for (const std::size_t dash : {base.rfind("-idx"), base.rfind('-')}) {
    if (dash == std::string::npos) continue;
    std::string dotted = base;
    dotted[dash] = '.';
    if (std::find(names.begin(), names.end(), dotted) != names.end()) continue;
    names.push_back(dotted);
    names.push_back(dotted + ".gz");
  }
  std::string tried;
  for (const std::string& n : names) {
    const fs::path p = fs::path(dir) / n;
    std::error_code ec;
    // A directory of that name is not the file; keep looking, and let a
    // wrong file type be reported by the reader if nothing better is found.
    if (fs::exists(p, ec) && !fs::is_directory(p, ec)) return p.string();
    tried += (tried.empty() ? "" : ", ") + n;
  }
  throw InputError("data directory '" + dir + "': " + base + " not found (tried " + tried +
                   "; run scripts/setup.sh to fetch MNIST)");
}

Mnist load_mnist(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    throw InputError("data directory '" + dir + "' does not exist (run scripts/setup.sh to fetch MNIST)");
  }
  if (!fs::is_directory(dir, ec)) {
    throw InputError("data directory '" + dir + "' is not a directory");
  }
  auto load = [&](const char* images_base, const char* labels_base) {
    const std::string ip = find_mnist_file(dir, images_base);
    const std::string lp = find_mnist_file(dir, labels_base);
    MnistSet s = load_mnist_pair(ip, lp);
    // The model's input layer is 28 x 28; any other size means these are not the
    // standard MNIST files (e.g. a different dataset dropped into the directory).
    if (s.rows != 28 || s.cols != 28) {
      fail(ip, "images are " + std::to_string(s.rows) + " x " + std::to_string(s.cols) +
                   " but MNIST images are 28 x 28");
    }
    return s;
  };
  Mnist m;
  m.train = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte");
  m.test = load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
  return m;
}

}  // namespace mnist_ddp
