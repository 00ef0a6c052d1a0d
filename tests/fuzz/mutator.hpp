// mutator.hpp — seeded random mutations of a valid file, for the reader fuzz tests.
//
// A Mutator takes the bytes of a well-formed input (an IDX file, a gzip stream,
// an HDF5 model file) and damages them the ways files get damaged, and a few
// ways a hostile file might be: bit flips, bytes set to random or boundary
// values, truncation, extension, chunks deleted, duplicated or copied over, and
// edits of the format's header fields (a size set to 0, to 2^32-1, off by one).
// A MutationLayout tells it where the format's structure lies: `fields` to edit
// and `hot` byte ranges (headers, HDF5 metadata) that half of the positional
// mutations aim at, so that a large file of mostly raw numbers still gets its
// few structural bytes hit often. Everything is drawn from one 64-bit seed,
// without <random>'s distributions (their results differ between standard
// libraries), so a case is reproduced from its seed alone on any machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mnist_ddp::fuzz {

using Bytes = std::vector<std::uint8_t>;

// An unsigned integer field of a file header: `width` bytes at `offset`.
struct Field {
  std::string name;
  std::size_t offset = 0;
  int width = 4;  // 1, 2, 4 or 8
  bool big_endian = true;
  std::vector<std::uint64_t> interesting;  // values worth trying besides the generic ones
};

struct ByteRange {
  std::size_t begin = 0, end = 0;  // [begin, end)
};

struct MutationLayout {
  std::vector<Field> fields;
  std::vector<ByteRange> hot;
};

// SplitMix64: the seed of case `index` of a run seeded with `base`.
std::uint64_t case_seed(std::uint64_t base, std::uint64_t index);

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : state_(seed) {}

  // Applies 1 to `max_mutations` mutations (fewer more often) to `bytes` and
  // returns what it did, e.g. "flip 0x10 @17; truncate 812->40".
  std::string mutate(Bytes& bytes, const MutationLayout& layout, int max_mutations = 3);

  // Sets one of layout.fields (chosen at random) to a boundary, nearby, random
  // or listed value; the size of `bytes` is unchanged.
  std::string edit_field(Bytes& bytes, const MutationLayout& layout);

  std::uint64_t next();                         // xorshift64*: the raw stream
  std::uint64_t below(std::uint64_t n);         // in [0, n); 0 when n == 0
  bool chance(unsigned percent) { return below(100) < percent; }

 private:
  std::size_t position(const Bytes& bytes, const MutationLayout& layout);

  std::uint64_t state_;
};

}  // namespace mnist_ddp::fuzz
