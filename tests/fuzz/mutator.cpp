// mutator.cpp — the mutations of mutator.hpp.
#include "fuzz/mutator.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace mnist_ddp::fuzz {

namespace {

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llX", static_cast<unsigned long long>(v));
  return buf;
}

std::uint64_t read_uint(const Bytes& b, const Field& f) {
  std::uint64_t v = 0;
  for (int i = 0; i < f.width; ++i) {
    const int byte = f.big_endian ? i : f.width - 1 - i;
    v = (v << 8) | b[f.offset + static_cast<std::size_t>(byte)];
  }
  return v;
}

void write_uint(Bytes& b, const Field& f, std::uint64_t v) {
  for (int i = f.width - 1; i >= 0; --i) {
    const int byte = f.big_endian ? i : f.width - 1 - i;
    b[f.offset + static_cast<std::size_t>(byte)] = static_cast<std::uint8_t>(v & 0xFF);
    v >>= 8;
  }
}

}  // namespace

std::uint64_t case_seed(std::uint64_t base, std::uint64_t index) {
  std::uint64_t z = base + 0x9E3779B97F4A7C15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t Mutator::next() {
  if (state_ == 0) state_ = 0x2545F4914F6CDD1Dull;  // xorshift's one fixed point
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 0x2545F4914F6CDD1Dull;
}

std::uint64_t Mutator::below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }

std::size_t Mutator::position(const Bytes& bytes, const MutationLayout& layout) {
  if (!layout.hot.empty() && chance(50)) {
    const ByteRange& r = layout.hot[below(layout.hot.size())];
    const std::size_t begin = std::min(r.begin, bytes.size());
    const std::size_t end = std::min(r.end, bytes.size());
    if (end > begin) return begin + below(end - begin);
  }
  return below(bytes.size());
}

std::string Mutator::edit_field(Bytes& bytes, const MutationLayout& layout) {
  const Field& f = layout.fields[below(layout.fields.size())];
  if (f.offset + static_cast<std::size_t>(f.width) > bytes.size()) return "edit " + f.name + " (cut off)";
  const std::uint64_t old = read_uint(bytes, f);
  const std::uint64_t max = f.width == 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * f.width)) - 1;
  std::uint64_t v = 0;
  switch (below(f.interesting.empty() ? 8 : 10)) {
    case 0: v = 0; break;
    case 1: v = 1; break;
    case 2: v = max; break;
    case 3: v = max >> 1; break;               // largest signed
    case 4: v = (max >> 1) + 1; break;          // smallest negative when signed
    case 5: v = old + 1; break;
    case 6: v = old - 1; break;
    case 7: v = next(); break;
    default: v = f.interesting[below(f.interesting.size())]; break;
  }
  v &= max;
  write_uint(bytes, f, v);
  return "set " + f.name + " " + hex(old) + "->" + hex(v);
}

std::string Mutator::mutate(Bytes& bytes, const MutationLayout& layout, int max_mutations) {
  // 1 mutation half of the time, 2 a quarter, ...: mostly small damage, which
  // gets furthest into a reader before being noticed.
  int n = 1;
  while (n < max_mutations && chance(50)) ++n;
  std::string what;
  for (int m = 0; m < n; ++m) {
    if (!what.empty()) what += "; ";
    const std::size_t size = bytes.size();
    switch (below(layout.fields.empty() ? 8 : 10)) {
      case 0:
      case 1: {  // flip 1..8 bits of one byte
        if (size == 0) { what += "flip (empty)"; break; }
        const std::size_t p = position(bytes, layout);
        const auto mask = static_cast<std::uint8_t>(chance(60) ? 1u << below(8) : 1 + below(255));
        bytes[p] ^= mask;
        what += "flip " + hex(mask) + " @" + std::to_string(p);
        break;
      }
      case 2: {  // set one byte to a boundary or random value
        if (size == 0) { what += "set (empty)"; break; }
        static const std::uint8_t kValues[] = {0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF};
        const std::size_t p = position(bytes, layout);
        const auto v = chance(50) ? kValues[below(std::size(kValues))] : static_cast<std::uint8_t>(next());
        what += "byte @" + std::to_string(p) + " " + hex(bytes[p]) + "->" + hex(v);
        bytes[p] = v;
        break;
      }
      case 3: {  // truncate: anywhere, or just a few bytes off the end
        const std::size_t to = chance(30) ? size - std::min<std::size_t>(size, 1 + below(8)) : below(size + 1);
        bytes.resize(to);
        what += "truncate " + std::to_string(size) + "->" + std::to_string(to);
        break;
      }
      case 4: {  // extend with zeros, random bytes, or a copy of the start
        const std::size_t add = 1 + below(chance(70) ? 16 : 4096);
        const int kind = static_cast<int>(below(3));
        for (std::size_t i = 0; i < add; ++i)
          bytes.push_back(kind == 0 ? 0 : kind == 1 ? static_cast<std::uint8_t>(next()) : (size ? bytes[i % size] : 0));
        what += std::string("extend +") + std::to_string(add) + (kind == 0 ? " zeros" : kind == 1 ? " random" : " copy");
        break;
      }
      case 5: {  // delete a chunk
        if (size == 0) { what += "delete (empty)"; break; }
        const std::size_t p = position(bytes, layout);
        const std::size_t len = std::min<std::size_t>(size - p, 1 + below(chance(70) ? 8 : 512));
        bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(p), bytes.begin() + static_cast<std::ptrdiff_t>(p + len));
        what += "delete " + std::to_string(len) + " @" + std::to_string(p);
        break;
      }
      case 6: {  // duplicate a chunk in place (inserted right after itself)
        if (size == 0) { what += "duplicate (empty)"; break; }
        const std::size_t p = position(bytes, layout);
        const std::size_t len = std::min<std::size_t>(size - p, 1 + below(chance(70) ? 8 : 512));
        const Bytes chunk(bytes.begin() + static_cast<std::ptrdiff_t>(p), bytes.begin() + static_cast<std::ptrdiff_t>(p + len));
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(p + len), chunk.begin(), chunk.end());
        what += "duplicate " + std::to_string(len) + " @" + std::to_string(p);
        break;
      }
      case 7: {  // copy a chunk over another place (same size)
        if (size < 2) { what += "copy (too small)"; break; }
        const std::size_t from = below(size), to = position(bytes, layout);
        const std::size_t len = std::min({size - from, size - to, std::size_t{1} + below(64)});
        std::copy_n(Bytes(bytes.begin() + static_cast<std::ptrdiff_t>(from),
                          bytes.begin() + static_cast<std::ptrdiff_t>(from + len)).begin(),
                    len, bytes.begin() + static_cast<std::ptrdiff_t>(to));
        what += "copy " + std::to_string(len) + " @" + std::to_string(from) + "->@" + std::to_string(to);
        break;
      }
      default:  // a header field
        what += edit_field(bytes, layout);
        break;
    }
  }
  return what;
}

}  // namespace mnist_ddp::fuzz
