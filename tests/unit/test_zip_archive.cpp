// test_zip_archive.cpp — the zip archives of Keras 3's .keras files (src/io/zip_archive.cpp).
//
// ZipArchive: stored archives come back entry for entry (empty and binary
// entries included); what is not a readable zip — nothing, text, a cut copy at
// every length, a flipped data byte (CRC), another compression method,
// encryption, a name twice, a central directory pointing outside the file — is
// InputError naming the archive and the fault. Deflated entries are read in
// tests/python/test_keras_h5_roundtrip.sh (a .keras file repacked by Python's
// zipfile); tests/fuzz mutates .keras files at random.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/io/zip_archive.hpp"

namespace mnist_ddp {
namespace {

std::vector<ZipEntry> sample_entries() {
  std::string binary;
  for (int i = 0; i < 3000; ++i) binary.push_back(static_cast<char>(i * 37 % 256));
  return {{"config.json", "{\"a\": 1}"}, {"empty", ""}, {"dir/model.weights.h5", binary}};
}

// zip_read expecting InputError; returns its message.
std::string read_error(const std::string& bytes) {
  try {
    zip_read(bytes, "x.keras");
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected InputError";
  return "";
}

// Sets the little-endian 16-bit field at `at`.
void set16(std::string& bytes, std::size_t at, unsigned value) {
  bytes[at] = static_cast<char>(value & 0xff);
  bytes[at + 1] = static_cast<char>(value >> 8);
}

TEST(ZipArchive, StoredEntriesComeBack) {
  const std::vector<ZipEntry> entries = sample_entries();
  const std::vector<ZipEntry> back = zip_read(zip_store(entries), "x.keras");
  ASSERT_EQ(back.size(), entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(back[i].name, entries[i].name);
    EXPECT_EQ(back[i].data, entries[i].data);
  }
  EXPECT_TRUE(zip_read(zip_store({}), "x.keras").empty());
}

TEST(ZipArchive, WhatIsNotAZipIsNamed) {
  EXPECT_NE(read_error("").find("x.keras: not a zip archive"), std::string::npos);
  EXPECT_NE(read_error(std::string(100, 'z')).find("x.keras: not a zip archive"), std::string::npos);
  const std::string good = zip_store(sample_entries());
  for (std::size_t n = 0; n < good.size(); n += 97) EXPECT_FALSE(read_error(good.substr(0, n)).empty()) << n;
}

TEST(ZipArchive, DamageIsFound) {
  std::string bytes = zip_store(sample_entries());
  bytes[30 + std::string("config.json").size() + 2] ^= 0x10;  // a data byte of the first entry
  EXPECT_NE(read_error(bytes).find("entry 'config.json': CRC-32 mismatch"), std::string::npos) << read_error(bytes);

  bytes = zip_store(sample_entries());
  bytes[bytes.size() - 6] = 0x7f;  // central directory offset: far outside
  EXPECT_NE(read_error(bytes).find("lies beyond the end of the file"), std::string::npos) << read_error(bytes);
}

TEST(ZipArchive, OnlyStoredAndDeflatedPlainEntriesAreRead) {
  std::string bytes = zip_store(sample_entries());
  set16(bytes, 8, 12);                              // local header: method bzip2
  set16(bytes, bytes.find("PK\x01\x02") + 10, 12);  // and its central record
  EXPECT_NE(read_error(bytes).find("entry 'config.json' uses compression method 12"), std::string::npos)
      << read_error(bytes);

  bytes = zip_store(sample_entries());
  set16(bytes, bytes.find("PK\x01\x02") + 8, 1);  // central record: encrypted
  EXPECT_NE(read_error(bytes).find("entry 'config.json' is encrypted"), std::string::npos) << read_error(bytes);

  const std::string twice = zip_store({{"a", "1"}, {"a", "2"}});
  EXPECT_NE(read_error(twice).find("entry 'a' appears twice"), std::string::npos) << read_error(twice);
}

}  // namespace
}  // namespace mnist_ddp
