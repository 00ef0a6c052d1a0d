// primitive_cache.hpp — a layer's oneDNN primitives, made once per batch size.
//
// oneDNN primitives are made for fixed shapes and split their work for the
// OpenMP thread count at creation, so a layer keeps one set per (batch size,
// thread count): the training batch, the last short batch, the evaluation batch
// — as the GPU layers keep their cuDNN descriptors and algorithms. `make(n)`
// returns the set by value, or a std::unique_ptr to it (an interface's
// implementation, as the Conv2D algorithms, conv_passes.hpp).
#pragma once

#include <omp.h>

#include <map>
#include <memory>
#include <utility>

namespace mnist_ddp {

template <typename Primitives>
class PrimitiveCache {
 public:
  // The set for n samples on the current thread count; `make(n)` builds a missing one.
  template <typename Make>
  Primitives& get(int n, Make make) {
    const std::pair<int, int> key{n, omp_get_max_threads()};
    auto it = sets_.find(key);
    if (it == sets_.end()) it = sets_.emplace(key, owned(make(n))).first;
    return *it->second;
  }

 private:
  template <typename T>
  static std::unique_ptr<Primitives> owned(std::unique_ptr<T> made) { return made; }
  static std::unique_ptr<Primitives> owned(Primitives&& made) { return std::make_unique<Primitives>(std::move(made)); }

  std::map<std::pair<int, int>, std::unique_ptr<Primitives>> sets_;
};

}  // namespace mnist_ddp
