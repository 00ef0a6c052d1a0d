// zip_archive.cpp — stored zip archives written, stored and deflated ones read
// (include/mnist_ddp/io/zip_archive.hpp), after PKWARE's APPNOTE.TXT: local file
// headers, then the central directory, then the end-of-central-directory record.
#include "mnist_ddp/io/zip_archive.hpp"

#include <zlib.h>

#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

namespace {

constexpr std::uint32_t kLocalSignature = 0x04034b50;
constexpr std::uint32_t kCentralSignature = 0x02014b50;
constexpr std::uint32_t kEndSignature = 0x06054b50;
constexpr std::size_t kLocalHeaderBytes = 30, kCentralHeaderBytes = 46, kEndBytes = 22;
constexpr std::uint16_t kVersion = 20;           // 2.0: deflate, folders
constexpr std::uint16_t kDosDate = (1 << 5) | 1;  // 1980-01-01: the same bytes for the same model

void put16(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
}
void put32(std::string& out, std::uint32_t v) {
  put16(out, v & 0xffff);
  put16(out, v >> 16);
}

std::uint32_t crc_of(const std::string& data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  std::size_t done = 0;
  while (done < data.size()) {  // crc32 takes uInt lengths
    const auto n = static_cast<uInt>(std::min<std::size_t>(data.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + done), n);
    done += n;
  }
  return static_cast<std::uint32_t>(crc);
}

// The fields local and central headers share, from "version needed" to the name's length.
void put_common(std::string& out, const ZipEntry& e, std::uint32_t crc) {
  put16(out, kVersion);
  put16(out, 0);  // flags
  put16(out, 0);  // method: stored
  put16(out, 0);  // time
  put16(out, kDosDate);
  put32(out, crc);
  put32(out, static_cast<std::uint32_t>(e.data.size()));
  put32(out, static_cast<std::uint32_t>(e.data.size()));
  put16(out, static_cast<std::uint32_t>(e.name.size()));
  put16(out, 0);  // extra field length
}

// Reads little-endian fields of `bytes` at checked offsets.
struct Cursor {
  const std::string& bytes;
  const std::string& what;

  InputError bad(const std::string& why) const { return InputError(what + ": " + why); }
  void need(std::uint64_t offset, std::uint64_t count, const char* part) const {
    if (offset > bytes.size() || count > bytes.size() - offset)
      throw bad(std::string("damaged zip archive: ") + part + " lies beyond the end of the file");
  }
  std::uint32_t u16(std::uint64_t at) const {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at);
    return p[0] | (p[1] << 8);
  }
  std::uint32_t u32(std::uint64_t at) const { return u16(at) | (u16(at + 2) << 16); }
};

// One central directory record, as far as reading needs it.
struct CentralRecord {
  std::string name;
  std::uint32_t flags, method, crc, packed, size, local_offset;
};

// The end-of-central-directory record: the last one in the file (a comment may follow it).
std::uint64_t find_end_record(const Cursor& c) {
  if (c.bytes.size() < kEndBytes) throw c.bad("not a zip archive (too short)");
  const std::uint64_t lowest = c.bytes.size() > kEndBytes + 0xffff ? c.bytes.size() - kEndBytes - 0xffff : 0;
  for (std::uint64_t at = c.bytes.size() - kEndBytes + 1; at-- > lowest;)
    if (c.u32(at) == kEndSignature && at + kEndBytes + c.u16(at + 20) == c.bytes.size()) return at;
  throw c.bad("not a zip archive (no end-of-central-directory record)");
}

CentralRecord read_central_record(const Cursor& c, std::uint64_t& at) {
  c.need(at, kCentralHeaderBytes, "the central directory");
  if (c.u32(at) != kCentralSignature) throw c.bad("damaged zip archive: bad central directory entry");
  CentralRecord r{};
  r.flags = c.u16(at + 8);
  r.method = c.u16(at + 10);
  r.crc = c.u32(at + 16);
  r.packed = c.u32(at + 20);
  r.size = c.u32(at + 24);
  const std::uint32_t name_len = c.u16(at + 28), extra_len = c.u16(at + 30), comment_len = c.u16(at + 32);
  r.local_offset = c.u32(at + 42);
  c.need(at + kCentralHeaderBytes, std::uint64_t(name_len) + extra_len + comment_len, "a central directory entry");
  r.name = c.bytes.substr(at + kCentralHeaderBytes, name_len);
  at += kCentralHeaderBytes + name_len + extra_len + comment_len;
  return r;
}

std::string inflate_entry(const Cursor& c, const CentralRecord& r, std::uint64_t data_at) {
  std::string out(r.size, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw RuntimeError("zlib: inflateInit2 failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(c.bytes.data() + data_at));
  z.avail_in = r.packed;
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = r.size;
  // One call with room for exactly the declared size: more data is an error too.
  const int rc = inflate(&z, Z_FINISH);
  const bool complete = rc == Z_STREAM_END && z.total_out == r.size;
  inflateEnd(&z);
  if (!complete) throw c.bad("entry '" + r.name + "': damaged deflate data or wrong size");
  return out;
}

// The entry `r` describes: local header checked against it, data extracted and CRC-checked.
ZipEntry read_entry(const Cursor& c, const CentralRecord& r, std::uint64_t max_entry_bytes) {
  const std::string entry = "entry '" + r.name + "'";
  if (r.flags & 0x41) throw c.bad(entry + " is encrypted");
  if (r.packed == 0xffffffffu || r.size == 0xffffffffu || r.local_offset == 0xffffffffu)
    throw c.bad(entry + " needs zip64, which is not supported");
  if (r.method != 0 && r.method != 8)
    throw c.bad(entry + " uses compression method " + std::to_string(r.method) +
                " (only stored and deflated entries are read)");
  c.need(r.local_offset, kLocalHeaderBytes, "a local file header");
  const std::uint64_t h = r.local_offset;
  if (c.u32(h) != kLocalSignature || c.u16(h + 8) != r.method || c.u16(h + 26) != r.name.size() ||
      c.bytes.compare(h + kLocalHeaderBytes, r.name.size(), r.name) != 0)
    throw c.bad("damaged zip archive: the local header of " + entry + " disagrees with the central directory");
  const std::uint64_t data_at = h + kLocalHeaderBytes + r.name.size() + c.u16(h + 28);
  c.need(data_at, r.packed, entry.c_str());
  if (r.method == 0 && r.packed != r.size) throw c.bad(entry + ": stored sizes differ");
  // Deflate expands at most 1032:1: a larger declared size is damage, found before allocating it.
  if (r.method == 8 && (r.size > max_entry_bytes || r.size > std::uint64_t(r.packed) * 1032 + 64))
    throw c.bad(entry + " declares " + std::to_string(r.size) + " bytes from " + std::to_string(r.packed) +
                " compressed (at most " + std::to_string(max_entry_bytes) + ", and deflate expands at most 1032:1)");
  ZipEntry e{r.name, r.method == 0 ? c.bytes.substr(data_at, r.size) : inflate_entry(c, r, data_at)};
  if (crc_of(e.data) != r.crc) throw c.bad(entry + ": CRC-32 mismatch (damaged file)");
  return e;
}

}  // namespace

std::string zip_store(const std::vector<ZipEntry>& entries) {
  constexpr std::uint64_t kLimit = std::numeric_limits<std::uint32_t>::max() - 1;
  std::string out, central;
  for (const ZipEntry& e : entries) {
    if (e.data.size() > kLimit || e.name.size() > 0xffff || out.size() > kLimit)
      throw RuntimeError("zip entry '" + e.name + "' is too large for a zip archive without zip64");
    const std::uint32_t crc = crc_of(e.data), offset = static_cast<std::uint32_t>(out.size());
    put32(out, kLocalSignature);
    put_common(out, e, crc);
    out += e.name;
    out += e.data;
    put32(central, kCentralSignature);
    put16(central, kVersion);  // version made by
    put_common(central, e, crc);
    put16(central, 0);  // comment length
    put16(central, 0);  // disk number
    put16(central, 0);  // internal attributes
    put32(central, 0644u << 16);  // external attributes: a regular file (Unix mode in the high half)
    put32(central, offset);
    central += e.name;
  }
  if (entries.size() > 0xffff || out.size() + central.size() > kLimit)
    throw RuntimeError("zip archive too large without zip64");
  const auto central_offset = static_cast<std::uint32_t>(out.size());
  out += central;
  put32(out, kEndSignature);
  put16(out, 0);  // this disk
  put16(out, 0);  // disk of the central directory
  put16(out, static_cast<std::uint32_t>(entries.size()));
  put16(out, static_cast<std::uint32_t>(entries.size()));
  put32(out, static_cast<std::uint32_t>(central.size()));
  put32(out, central_offset);
  put16(out, 0);  // comment length
  return out;
}

std::vector<ZipEntry> zip_read(const std::string& bytes, const std::string& what, std::uint64_t max_entry_bytes) {
  const Cursor c{bytes, what};
  const std::uint64_t end = find_end_record(c);
  if (c.u16(end + 4) != 0 || c.u16(end + 6) != 0 || c.u16(end + 8) != c.u16(end + 10))
    throw c.bad("split (multi-disk) zip archives are not supported");
  const std::uint32_t count = c.u16(end + 10), dir_size = c.u32(end + 12), dir_offset = c.u32(end + 16);
  if (count == 0xffff || dir_size == 0xffffffffu || dir_offset == 0xffffffffu)
    throw c.bad("zip64 archives are not supported");
  c.need(dir_offset, dir_size, "the central directory");
  if (std::uint64_t(dir_offset) + dir_size > end) throw c.bad("damaged zip archive: central directory overlaps its end");
  std::vector<ZipEntry> entries;
  std::set<std::string> names;
  std::uint64_t at = dir_offset;
  for (std::uint32_t i = 0; i < count; ++i) {
    const CentralRecord r = read_central_record(c, at);
    if (at > std::uint64_t(dir_offset) + dir_size) throw c.bad("damaged zip archive: central directory overruns its size");
    if (!names.insert(r.name).second) throw c.bad("entry '" + r.name + "' appears twice");
    entries.push_back(read_entry(c, r, max_entry_bytes));
  }
  return entries;
}

}  // namespace mnist_ddp
