// zip_archive.hpp — the few zip archives the program reads and writes: Keras 3's
// `.keras` model file (config.json, metadata.json, model.weights.h5), with zlib.
//
// Writing: stored entries (method 0), as Keras 3 writes its files (Python's
// zipfile with its default ZIP_STORED), with CRC-32, no zip64 (entries and
// archive under 4 GiB), one disk.
// Reading: stored or deflated (method 8) entries, as any zip tool might repack
// a file; everything else — encryption, zip64, split archives, other methods,
// a CRC or size that does not match, names twice, a central directory that
// disagrees with the local headers or lies outside the file — is InputError
// naming the archive and what is wrong. Sizes are checked against the archive's
// length (stored), or `max_entry_bytes` and deflate's largest ratio (1032:1,
// deflated), before memory is set aside.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mnist_ddp {

struct ZipEntry {
  std::string name;  // path inside the archive, '/'-separated
  std::string data;  // the uncompressed bytes
};

// The bytes of a zip archive holding `entries`, in that order, stored.
// RuntimeError if an entry or the archive is too large for a plain zip.
std::string zip_store(const std::vector<ZipEntry>& entries);

// The entries of the archive `bytes`, in the central directory's order.
// `what` names the archive in errors ("model.keras").
std::vector<ZipEntry> zip_read(const std::string& bytes, const std::string& what,
                               std::uint64_t max_entry_bytes = std::uint64_t(1) << 30);

}  // namespace mnist_ddp
