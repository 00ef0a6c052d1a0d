// test_idx.cpp — unit tests for the IDX reader and the MNIST file loader.
//
// Each defect a real download can have (empty, wrong format, cut short, extra
// bytes, damaged gzip, mismatched pair, out-of-range label, missing file or
// directory) gets its own small file in a temporary directory, and each test
// checks both the exception type and that the message names the file and the
// problem: the message is what a user sees, so it is part of the contract.

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/data/idx.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using mnist_ddp::InputError;
using Bytes = std::vector<std::uint8_t>;

using mnist_ddp::test_support::TempDir;

Bytes make_idx(const std::vector<std::uint32_t>& dims, const Bytes& data, std::uint8_t type = 0x08) {
  Bytes b{0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(d >> shift));
  }
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

Bytes iota_bytes(std::size_t n, std::uint8_t mod = 251) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i % mod);
  return b;
}

void write_file(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  ASSERT_TRUE(f.good()) << path;
}

void write_gz(const std::string& path, const Bytes& b) {
  gzFile g = gzopen(path.c_str(), "wb");
  ASSERT_NE(g, nullptr) << path;
  if (!b.empty()) {
    ASSERT_EQ(gzwrite(g, b.data(), static_cast<unsigned>(b.size())), static_cast<int>(b.size()));
  }
  ASSERT_EQ(gzclose(g), Z_OK);
}

Bytes read_raw(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Runs fn, expects an exception of type E whose message contains every phrase.
template <class E>
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> phrases) {
  try {
    fn();
    ADD_FAILURE() << "no exception thrown";
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const std::string& p : phrases) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

void expect_read_error(const std::string& path, std::initializer_list<std::string> phrases) {
  expect_error<InputError>([&] { mnist_ddp::read_idx(path); }, phrases);
}

// ---- well-formed files ---------------------------------------------------------

TEST(IdxRead, RawAndGzipParseToTheSameArray) {
  TempDir t;
  const Bytes data = iota_bytes(5 * 3 * 4);
  const Bytes file = make_idx({5, 3, 4}, data);
  write_file(t.file("a-idx3-ubyte"), file);
  write_gz(t.file("a-idx3-ubyte.gz"), file);

  const auto raw = mnist_ddp::read_idx(t.file("a-idx3-ubyte"));
  const auto gz = mnist_ddp::read_idx(t.file("a-idx3-ubyte.gz"));
  EXPECT_EQ(raw.type, 0x08);
  EXPECT_EQ(raw.dims, (std::vector<std::uint32_t>{5, 3, 4}));
  EXPECT_EQ(raw.count(), 60u);
  EXPECT_EQ(raw.data, data);
  EXPECT_EQ(gz.type, raw.type);
  EXPECT_EQ(gz.dims, raw.dims);
  EXPECT_EQ(gz.data, raw.data);
}

TEST(IdxRead, GzipIsDetectedByContentNotName) {
  TempDir t;
  const Bytes file = make_idx({7}, iota_bytes(7, 10));
  write_gz(t.file("labels-without-suffix"), file);
  EXPECT_EQ(mnist_ddp::read_file_maybe_gzip(t.file("labels-without-suffix")), file);
}

TEST(IdxRead, ConcatenatedGzipMembersAreOneStream) {
  // `cat a.gz b.gz` is valid gzip and decompresses to the concatenation.
  TempDir t;
  const Bytes file = make_idx({10}, iota_bytes(10, 10));
  const Bytes first(file.begin(), file.begin() + 6), second(file.begin() + 6, file.end());
  write_gz(t.file("p1.gz"), first);
  write_gz(t.file("p2.gz"), second);
  Bytes joined = read_raw(t.file("p1.gz"));
  const Bytes p2 = read_raw(t.file("p2.gz"));
  joined.insert(joined.end(), p2.begin(), p2.end());
  write_file(t.file("joined.gz"), joined);
  EXPECT_EQ(mnist_ddp::read_idx(t.file("joined.gz")).data, iota_bytes(10, 10));
}

TEST(IdxParse, OneAndTwoDimensionsAreAccepted) {
  const auto a = mnist_ddp::parse_idx(make_idx({3}, {1, 2, 3}), "x");
  EXPECT_EQ(a.dims.size(), 1u);
  const auto b = mnist_ddp::parse_idx(make_idx({2, 3}, iota_bytes(6)), "x");
  EXPECT_EQ(b.count(), 6u);
}

// ---- one test per defect ---------------------------------------------------------

TEST(IdxDefect, EmptyFile) {
  TempDir t;
  write_file(t.file("empty-idx1-ubyte"), {});
  expect_read_error(t.file("empty-idx1-ubyte"), {"empty-idx1-ubyte", "empty"});
}

TEST(IdxDefect, ShorterThanFourBytes) {
  TempDir t;
  write_file(t.file("tiny"), {0, 0});
  expect_read_error(t.file("tiny"), {"tiny", "too short"});
}

TEST(IdxDefect, BadMagic) {
  TempDir t;
  Bytes b = make_idx({3}, {1, 2, 3});
  b[0] = 'P';
  b[1] = 'K';
  write_file(t.file("zip.idx"), b);
  expect_read_error(t.file("zip.idx"), {"zip.idx", "bad magic"});
}

TEST(IdxDefect, KnownButUnsupportedType) {
  TempDir t;
  write_file(t.file("floats.idx"), make_idx({1}, {0, 0, 0, 0}, 0x0D));
  expect_read_error(t.file("floats.idx"),
                    {"floats.idx", "unsupported element type 0x0D (float), expected 0x08 (unsigned byte)"});
}

TEST(IdxDefect, UnknownType) {
  TempDir t;
  write_file(t.file("weird.idx"), make_idx({1}, {0}, 0x42));
  expect_read_error(t.file("weird.idx"), {"weird.idx", "unknown element type 0x42"});
}

TEST(IdxDefect, ZeroDimensions) {
  TempDir t;
  write_file(t.file("zero-dims.idx"), make_idx({}, {}));
  expect_read_error(t.file("zero-dims.idx"), {"zero-dims.idx", "0 dimensions"});
}

TEST(IdxDefect, TooManyDimensions) {
  TempDir t;
  write_file(t.file("four-dims.idx"), make_idx({1, 1, 1, 1}, {7}));
  expect_read_error(t.file("four-dims.idx"), {"four-dims.idx", "4 dimensions", "expected 1 to 3"});
}

TEST(IdxDefect, TruncatedHeader) {
  TempDir t;
  Bytes b = make_idx({2, 2, 2}, {});
  b.resize(9);  // the third size is missing
  write_file(t.file("short-header.idx"), b);
  expect_read_error(t.file("short-header.idx"), {"short-header.idx", "truncated header"});
}

TEST(IdxDefect, TruncatedData) {
  TempDir t;
  Bytes b = make_idx({10, 2, 2}, iota_bytes(40));
  b.resize(b.size() - 1);
  write_file(t.file("cut-idx3-ubyte"), b);
  expect_read_error(t.file("cut-idx3-ubyte"),
                    {"cut-idx3-ubyte", "truncated", "file is 55 bytes but the header (10 x 2 x 2, unsigned byte) needs 56"});
}

TEST(IdxDefect, TrailingBytes) {
  TempDir t;
  Bytes b = make_idx({4}, {1, 2, 3, 4});
  b.push_back(0);
  write_file(t.file("long-idx1-ubyte"), b);
  expect_read_error(t.file("long-idx1-ubyte"), {"long-idx1-ubyte", "trailing bytes", "needs 12"});
}

TEST(IdxDefect, ZeroSizedDimension) {
  TempDir t;
  write_file(t.file("zero-size.idx"), make_idx({5, 0, 28}, {}));
  expect_read_error(t.file("zero-size.idx"), {"zero-size.idx", "dimension 1 has size 0"});
}

TEST(IdxDefect, OverflowingDimensions) {
  // The product must be checked before it is used, or it would wrap around.
  expect_error<InputError>(
      [] { mnist_ddp::parse_idx(make_idx({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, {}), "huge.idx"); },
      {"huge.idx", "too large"});
}

TEST(IdxDefect, HugeDimensionsWithFewBytesAreTruncated) {
  expect_error<InputError>([] { mnist_ddp::parse_idx(make_idx({0xFFFFFFFFu, 0xFFFFFFFFu}, {1}), "big.idx"); },
                           {"big.idx", "truncated"});
}

TEST(IdxDefect, CorruptGzip) {
  TempDir t;
  // A valid gzip member header (magic, deflate, no flags, mtime, xfl, OS) then garbage.
  Bytes b{0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03};
  for (int i = 0; i < 64; ++i) b.push_back(0xFF);
  write_file(t.file("bad.gz"), b);
  expect_read_error(t.file("bad.gz"), {"bad.gz", "corrupt gzip"});
}

TEST(IdxDefect, TruncatedGzip) {
  TempDir t;
  write_gz(t.file("full.gz"), make_idx({100, 5, 5}, iota_bytes(2500)));
  Bytes b = read_raw(t.file("full.gz"));
  ASSERT_GT(b.size(), 40u);
  b.resize(b.size() / 2);
  write_file(t.file("half.gz"), b);
  expect_read_error(t.file("half.gz"), {"half.gz", "truncated gzip"});
}

TEST(IdxDefect, GzipMissingOnlyTheTrailer) {
  // All the data is there but the CRC/length trailer is not: still a damaged file.
  TempDir t;
  write_gz(t.file("full.gz"), make_idx({3}, {1, 2, 3}));
  Bytes b = read_raw(t.file("full.gz"));
  b.resize(b.size() - 4);
  write_file(t.file("notrailer.gz"), b);
  expect_read_error(t.file("notrailer.gz"), {"notrailer.gz", "truncated gzip"});
}

TEST(IdxDefect, GzipWithGarbageAfterTheStream) {
  TempDir t;
  write_gz(t.file("full.gz"), make_idx({3}, {1, 2, 3}));
  Bytes b = read_raw(t.file("full.gz"));
  b.push_back(0x42);
  b.push_back(0x42);
  write_file(t.file("extra.gz"), b);
  expect_read_error(t.file("extra.gz"), {"extra.gz", "corrupt gzip"});
}

TEST(IdxDefect, GzipOfAFileWithBadMagic) {
  // Sound compression around a damaged file: the IDX check names the .gz file.
  TempDir t;
  Bytes b = make_idx({3}, {1, 2, 3});
  b[1] = 0x01;
  write_gz(t.file("labels.gz"), b);
  expect_read_error(t.file("labels.gz"), {"labels.gz: bad magic: the first two bytes are 0x00 0x01"});
}

TEST(IdxDefect, SecondGzipMemberDamaged) {
  TempDir t;
  write_gz(t.file("p1.gz"), make_idx({4}, {1, 2, 3, 4}));
  Bytes joined = read_raw(t.file("p1.gz"));
  Bytes second{0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03};
  for (int i = 0; i < 16; ++i) second.push_back(0xFF);
  joined.insert(joined.end(), second.begin(), second.end());
  write_file(t.file("joined.gz"), joined);
  expect_read_error(t.file("joined.gz"), {"joined.gz: corrupt gzip stream"});
}

TEST(IdxParse, GunzipIfCompressedPassesOtherBytesThrough) {
  const Bytes raw = make_idx({3}, {1, 2, 3});
  EXPECT_EQ(mnist_ddp::gunzip_if_compressed(raw, "x"), raw);
  EXPECT_EQ(mnist_ddp::gunzip_if_compressed({}, "x"), Bytes{});
  EXPECT_EQ(mnist_ddp::gunzip_if_compressed({0x1f}, "x"), Bytes{0x1f});
}

TEST(IdxDefect, MissingFile) {
  TempDir t;
  expect_read_error(t.file("nope-idx1-ubyte"), {"nope-idx1-ubyte", "No such file"});
}

TEST(IdxDefect, DirectoryInsteadOfFile) {
  TempDir t;
  fs::create_directory(t.file("adir"));
  expect_read_error(t.file("adir"), {"adir", "Is a directory"});
}

// ---- image/label pairs -----------------------------------------------------------

TEST(MnistPair, LoadsAnyImageSize) {
  TempDir t;
  write_file(t.file("img"), make_idx({4, 2, 3}, iota_bytes(24)));
  write_file(t.file("lab"), make_idx({4}, {0, 9, 3, 3}));
  const auto s = mnist_ddp::load_mnist_pair(t.file("img"), t.file("lab"));
  EXPECT_EQ(s.count, 4);
  EXPECT_EQ(s.rows, 2);
  EXPECT_EQ(s.cols, 3);
  EXPECT_EQ(s.image_size(), 6u);
  EXPECT_EQ(s.images, iota_bytes(24));
  EXPECT_EQ(s.labels, (Bytes{0, 9, 3, 3}));
}

TEST(MnistPair, CountMismatch) {
  TempDir t;
  write_file(t.file("imgs-idx3-ubyte"), make_idx({5, 2, 2}, iota_bytes(20)));
  write_file(t.file("labs-idx1-ubyte"), make_idx({4}, {1, 2, 3, 4}));
  expect_error<InputError>(
      [&] { mnist_ddp::load_mnist_pair(t.file("imgs-idx3-ubyte"), t.file("labs-idx1-ubyte")); },
      {t.file("imgs-idx3-ubyte") + " has 5 images but " + t.file("labs-idx1-ubyte") + " has 4 labels"});
}

TEST(MnistPair, LabelOutOfRange) {
  TempDir t;
  write_file(t.file("imgs"), make_idx({4, 1, 1}, {0, 0, 0, 0}));
  write_file(t.file("labs-idx1-ubyte"), make_idx({4}, {1, 2, 10, 11}));
  expect_error<InputError>([&] { mnist_ddp::load_mnist_pair(t.file("imgs"), t.file("labs-idx1-ubyte")); },
                           {"labs-idx1-ubyte", "label 2 is 10", "0..9"});
}

TEST(MnistPair, ImagesWithTwoDimensions) {
  TempDir t;
  write_file(t.file("flat-images"), make_idx({4, 4}, iota_bytes(16)));
  write_file(t.file("labs"), make_idx({4}, {0, 1, 2, 3}));
  expect_error<InputError>([&] { mnist_ddp::load_mnist_pair(t.file("flat-images"), t.file("labs")); },
                           {"flat-images", "must have 3 dimensions", "has 2"});
}

TEST(MnistPair, LabelsWithTwoDimensions) {
  TempDir t;
  write_file(t.file("imgs"), make_idx({4, 1, 1}, {0, 0, 0, 0}));
  write_file(t.file("labs-2d"), make_idx({4, 1}, {0, 1, 2, 3}));
  expect_error<InputError>([&] { mnist_ddp::load_mnist_pair(t.file("imgs"), t.file("labs-2d")); },
                           {"labs-2d", "must have 1 dimension", "has 2"});
}

TEST(MnistPair, LabelOf255) {
  TempDir t;
  write_file(t.file("imgs"), make_idx({2, 1, 1}, {0, 0}));
  write_file(t.file("labs"), make_idx({2}, {3, 255}));
  expect_error<InputError>([&] { mnist_ddp::load_mnist_pair(t.file("imgs"), t.file("labs")); },
                           {t.file("labs") + ": label 1 is 255; labels must be 0..9"});
}

TEST(MnistPair, ArraysFromMemoryAreCheckedLikeFiles) {
  auto images = mnist_ddp::parse_idx(make_idx({2, 2, 2}, iota_bytes(8)), "mem-images");
  auto labels = mnist_ddp::parse_idx(make_idx({2}, {1, 2}), "mem-labels");
  const auto s = mnist_ddp::mnist_set_from_arrays(images, labels, "mem-images", "mem-labels");
  EXPECT_EQ(s.count, 2);
  EXPECT_EQ(s.images, iota_bytes(8));
  images.data.pop_back();  // no longer what the dimensions say
  expect_error<InputError>([&] { mnist_ddp::mnist_set_from_arrays(images, labels, "mem-images", "mem-labels"); },
                           {"mem-images, mem-labels: element count does not match the dimensions"});
  expect_error<InputError>(
      [&] {
        mnist_ddp::mnist_set_from_arrays(mnist_ddp::parse_idx(make_idx({3, 1, 1}, {0, 0, 0}), "a"), labels, "a", "b");
      },
      {"a has 3 images but b has 2 labels"});
}

// ---- the standard files in a directory -------------------------------------------

void write_standard_set(const TempDir& t, const std::string& images, const std::string& labels, std::uint32_t n,
                        std::uint32_t rows, std::uint32_t cols) {
  write_file(t.file(images), make_idx({n, rows, cols}, iota_bytes(std::size_t{n} * rows * cols)));
  write_file(t.file(labels), make_idx({n}, iota_bytes(n, 10)));
}

TEST(MnistDir, MissingDirectory) {
  TempDir t;
  const std::string dir = t.file("no-such-dir");
  expect_error<InputError>([&] { mnist_ddp::load_mnist(dir); },
                           {"data directory '" + dir + "' does not exist", "scripts/setup.sh"});
}

TEST(MnistDir, FindsEveryAcceptedNameVariant) {
  TempDir t;
  write_file(t.file("train-images-idx3-ubyte"), make_idx({3, 28, 28}, iota_bytes(3 * 28 * 28)));
  write_gz(t.file("train-labels-idx1-ubyte.gz"), make_idx({3}, {0, 1, 2}));
  write_gz(t.file("t10k-images.idx3-ubyte"), make_idx({2, 28, 28}, iota_bytes(2 * 28 * 28)));
  // Raw bytes under a .gz name and gzip under a plain name: detection is by content.
  write_file(t.file("t10k-labels-idx1.ubyte.gz"), make_idx({2}, {5, 6}));
  EXPECT_EQ(mnist_ddp::find_mnist_file(t.str(), "train-images-idx3-ubyte"), t.file("train-images-idx3-ubyte"));
  EXPECT_EQ(mnist_ddp::find_mnist_file(t.str(), "train-labels-idx1-ubyte"), t.file("train-labels-idx1-ubyte.gz"));
  EXPECT_EQ(mnist_ddp::find_mnist_file(t.str(), "t10k-images-idx3-ubyte"), t.file("t10k-images.idx3-ubyte"));
  EXPECT_EQ(mnist_ddp::find_mnist_file(t.str(), "t10k-labels-idx1-ubyte"), t.file("t10k-labels-idx1.ubyte.gz"));

  const auto m = mnist_ddp::load_mnist(t.str());
  EXPECT_EQ(m.train.count, 3);
  EXPECT_EQ(m.test.count, 2);
  EXPECT_EQ(m.train.labels, (Bytes{0, 1, 2}));
  EXPECT_EQ(m.test.labels, (Bytes{5, 6}));
  EXPECT_EQ(m.test.images.size(), 2u * 28 * 28);
}

TEST(MnistDir, MissingFileListsTheNamesTried) {
  TempDir t;
  write_standard_set(t, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 2, 28, 28);
  expect_error<InputError>([&] { mnist_ddp::load_mnist(t.str()); },
                           {t.str(), "t10k-images-idx3-ubyte not found", "t10k-images-idx3-ubyte.gz",
                            "t10k-images.idx3-ubyte", "t10k-images.idx3-ubyte.gz", "t10k-images-idx3.ubyte",
                            "t10k-images-idx3.ubyte.gz"});
}

TEST(MnistDir, RejectsImagesThatAreNot28x28) {
  TempDir t;
  write_standard_set(t, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 2, 28, 28);
  write_standard_set(t, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 2, 32, 32);
  expect_error<InputError>([&] { mnist_ddp::load_mnist(t.str()); },
                           {"t10k-images-idx3-ubyte", "32 x 32", "28 x 28"});
}

TEST(MnistDir, PathIsAFile) {
  TempDir t;
  write_file(t.file("plain"), {1});
  expect_error<InputError>([&] { mnist_ddp::load_mnist(t.file("plain")); }, {"plain", "not a directory"});
}

// ---- the real data, when it has been fetched ------------------------------------

TEST(MnistReal, StandardFilesLoad) {
  const std::string dir = MNIST_DDP_DATA_DIR;
  if (!fs::is_directory(dir)) GTEST_SKIP() << "MNIST not found at " << dir << " (run scripts/setup.sh to fetch it)";
  mnist_ddp::Mnist m;
  try {
    m = mnist_ddp::load_mnist(dir);
  } catch (const InputError& e) {
    // A directory without the files (e.g. a partial setup) is "absent", not a failure.
    if (std::string(e.what()).find("not found") != std::string::npos) GTEST_SKIP() << e.what();
    throw;
  }
  EXPECT_EQ(m.train.count, 60000);
  EXPECT_EQ(m.test.count, 10000);
  EXPECT_EQ(m.train.rows, 28);
  EXPECT_EQ(m.train.cols, 28);
  EXPECT_EQ(m.test.rows, 28);
  EXPECT_EQ(m.test.cols, 28);
  EXPECT_EQ(m.train.images.size(), 60000u * 28 * 28);
  EXPECT_EQ(m.test.labels.size(), 10000u);

  const std::array<std::int64_t, 10> expected{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
  const auto counts = mnist_ddp::class_counts(m.test);
  for (int c = 0; c < 10; ++c) EXPECT_EQ(counts.count[c], expected[c]) << "class " << c;
}

}  // namespace
