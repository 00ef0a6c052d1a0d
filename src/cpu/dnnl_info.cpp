// dnnl_info.cpp — oneDNN's version, ISA and the primitives' implementations.
#include "mnist_ddp/cpu/dnnl_info.hpp"

#include <dnnl.hpp>

#include <mutex>
#include <sstream>
#include <utility>
#include <vector>

namespace mnist_ddp {

namespace {

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::all: return "all";
  }
  return "unknown";
}

struct Noted {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> entries;
};

Noted& noted() {
  static Noted n;
  return n;
}

}  // namespace

std::string dnnl_description() {
  const dnnl::version_t* v = dnnl::version();
  std::ostringstream s;
  s << "oneDNN " << v->major << '.' << v->minor << '.' << v->patch << " (ISA "
    << isa_name(dnnl::get_effective_cpu_isa()) << ", " << (v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other")
    << " runtime)";
  return s.str();
}

void note_dnnl_primitive(const std::string& what, const std::string& impl) {
  Noted& n = noted();
  std::lock_guard<std::mutex> lock(n.mutex);
  for (auto& e : n.entries)
    if (e.first == what) {
      e.second = impl;
      return;
    }
  n.entries.emplace_back(what, impl);
}

std::string dnnl_primitives_description() {
  Noted& n = noted();
  std::lock_guard<std::mutex> lock(n.mutex);
  std::ostringstream s;
  for (std::size_t i = 0; i < n.entries.size(); ++i)
    s << (i ? "; " : "") << n.entries[i].first << ": " << n.entries[i].second;
  return s.str();
}

}  // namespace mnist_ddp
