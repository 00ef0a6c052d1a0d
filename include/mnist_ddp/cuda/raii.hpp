// raii.hpp — owners for every CUDA, cuDNN and cuBLAS resource of the GPU backend.
//
// Each owner is move-only, creates its resource in the constructor (checked,
// throwing RuntimeError) and releases it in the destructor (checked, warning
// only): one template, Unique<Handle, Release>, holds every one of them.
// Nothing in the GPU backend calls a create/destroy pair by hand.
//
//   DeviceBuffer<T>   cudaMalloc'd array of T        PinnedBuffer<T>   cudaMallocHost'd array of T
//   Stream            non-blocking cudaStream_t      Event             cudaEvent_t (no timing by default)
//   CudnnHandle       cudnnHandle_t                  CublasHandle      cublasHandle_t
//   TensorDescriptor, FilterDescriptor, ConvolutionDescriptor, PoolingDescriptor, ActivationDescriptor,
//   BatchDescriptors (one tensor descriptor per batch size, in a layout.hpp view)
//
// cuDNN 9 marks its legacy (non-graph) API deprecated but fully supported; this
// backend uses it — see conv2d.hpp for why.
#pragma once

#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <cublas_v2.h>

#include <cstddef>
#include <map>
#include <utility>

#include "mnist_ddp/cuda/check.hpp"
#include "mnist_ddp/cuda/layout.hpp"
#include "mnist_ddp/nn/spec.hpp"

namespace mnist_ddp::cuda {

// ---- ownership ----------------------------------------------------------------------

// The move-only ownership every resource below shares: a handle (or pointer) that
// Release frees when it is not null — in the destructor, on move-assignment and in
// reset(). Release warns on failure (MNIST_*_WARN) and never throws.
template <typename Handle, typename Release>
class Unique {
 public:
  Unique() = default;
  explicit Unique(Handle h) : h_(h) {}
  ~Unique() { reset(); }
  Unique(Unique&& o) noexcept : h_(std::exchange(o.h_, Handle{})) {}
  Unique& operator=(Unique&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, Handle{});
    }
    return *this;
  }
  Unique(const Unique&) = delete;
  Unique& operator=(const Unique&) = delete;

  Handle get() const { return h_; }
  operator Handle() const { return h_; }  // NOLINT: used as the library argument it wraps
  void reset() noexcept {
    if (h_ != Handle{}) Release{}(h_);
    h_ = Handle{};
  }

 private:
  Handle h_{};
};

// The handle that `create` (a checked create call, throwing on failure) makes.
template <typename Handle, typename Create>
Handle created(Create create) {
  Handle h{};
  create(&h);
  return h;
}

struct CudaFree {
  void operator()(void* p) const noexcept { MNIST_CUDA_WARN(cudaFree(p)); }
};
struct CudaFreeHost {
  void operator()(void* p) const noexcept { MNIST_CUDA_WARN(cudaFreeHost(p)); }
};
struct StreamDestroy {
  void operator()(cudaStream_t s) const noexcept { MNIST_CUDA_WARN(cudaStreamDestroy(s)); }
};
struct EventDestroy {
  void operator()(cudaEvent_t e) const noexcept { MNIST_CUDA_WARN(cudaEventDestroy(e)); }
};
struct CudnnDestroy {
  void operator()(cudnnHandle_t h) const noexcept { MNIST_CUDNN_WARN(cudnnDestroy(h)); }
};
struct CublasDestroy {
  void operator()(cublasHandle_t h) const noexcept { MNIST_CUBLAS_WARN(cublasDestroy(h)); }
};
template <typename Handle, cudnnStatus_t (*Destroy)(Handle)>
struct CudnnDescriptorDestroy {
  void operator()(Handle d) const noexcept { MNIST_CUDNN_WARN(Destroy(d)); }
};

// ---- memory ----------------------------------------------------------------------

// `count` elements of T from `allocate` (cudaMalloc or cudaMallocHost), freed by Free.
template <typename T, typename Free>
class CudaArray {
 public:
  CudaArray() = default;
  CudaArray(std::size_t count, cudaError_t (*allocate)(void**, std::size_t)) {
    if (count == 0) return;
    void* p = nullptr;
    MNIST_CUDA_CHECK(allocate(&p, count * sizeof(T)));
    mem_ = Unique<void*, Free>(p);
    size_ = count;
  }
  CudaArray(CudaArray&& o) noexcept : mem_(std::move(o.mem_)), size_(std::exchange(o.size_, 0)) {}
  CudaArray& operator=(CudaArray&& o) noexcept {
    if (this != &o) {
      mem_ = std::move(o.mem_);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }

  T* data() { return static_cast<T*>(mem_.get()); }
  const T* data() const { return static_cast<const T*>(mem_.get()); }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }
  bool empty() const { return size_ == 0; }

 private:
  Unique<void*, Free> mem_;
  std::size_t size_ = 0;
};

inline cudaError_t device_malloc(void** p, std::size_t bytes) { return cudaMalloc(p, bytes); }
inline cudaError_t pinned_malloc(void** p, std::size_t bytes) { return cudaMallocHost(p, bytes); }

// A device array of `size()` elements of T. Contents are uninitialised unless zeroed.
template <typename T>
class DeviceBuffer : public CudaArray<T, CudaFree> {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) : CudaArray<T, CudaFree>(count, device_malloc) {}

  // Reallocates to `count` elements; the old contents are lost. The caller must
  // make sure no queued work still uses the old memory (cudaFree synchronises
  // the device, so work queued before this call is finished first).
  void reset(std::size_t count) {
    *this = DeviceBuffer();  // free first: the peak holds one buffer, not two
    *this = DeviceBuffer(count);
  }

  // Copies synchronous with the whole device (set-up, checkpoints, tests — never
  // per training step): they wait for the work queued on every stream (the
  // model's streams are non-blocking, so a plain cudaMemcpy would not be ordered
  // after them), and the data is in place when they return.
  void upload(const T* host, std::size_t count, std::size_t offset = 0) {
    MNIST_ASSERT(offset + count <= this->size(), "upload of " << count << " at " << offset << " into " << this->size());
    MNIST_CUDA_CHECK(cudaDeviceSynchronize());
    MNIST_CUDA_CHECK(cudaMemcpy(this->data() + offset, host, count * sizeof(T), cudaMemcpyHostToDevice));
    MNIST_CUDA_CHECK(cudaDeviceSynchronize());
  }
  void download(T* host, std::size_t count, std::size_t offset = 0) const {
    MNIST_ASSERT(offset + count <= this->size(),
                 "download of " << count << " at " << offset << " from " << this->size());
    MNIST_CUDA_CHECK(cudaDeviceSynchronize());
    MNIST_CUDA_CHECK(cudaMemcpy(host, this->data() + offset, count * sizeof(T), cudaMemcpyDeviceToHost));
  }
  // Asynchronous zero fill on `stream`.
  void zero(cudaStream_t stream) {
    if (!this->empty()) MNIST_CUDA_CHECK(cudaMemsetAsync(this->data(), 0, this->bytes(), stream));
  }
};

// Page-locked host memory: the target of asynchronous device-to-host copies
// (loss sums, metrics) that the host reads after an event or stream sync.
template <typename T>
class PinnedBuffer : public CudaArray<T, CudaFreeHost> {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t count) : CudaArray<T, CudaFreeHost>(count, pinned_malloc) {}
  T& operator[](std::size_t i) { return this->data()[i]; }
  const T& operator[](std::size_t i) const { return this->data()[i]; }
};

// ---- streams and events -------------------------------------------------------------

// A stream that does not synchronise with the legacy default stream.
class Stream : public Unique<cudaStream_t, StreamDestroy> {
 public:
  Stream()
      : Unique(created<cudaStream_t>(
            [](cudaStream_t* s) { MNIST_CUDA_CHECK(cudaStreamCreateWithFlags(s, cudaStreamNonBlocking)); })) {}

  void synchronize() const { MNIST_CUDA_CHECK(cudaStreamSynchronize(get())); }
  // Later work on this stream waits for `event` (recorded on another stream): no host wait.
  void wait(cudaEvent_t event) const { MNIST_CUDA_CHECK(cudaStreamWaitEvent(get(), event, 0)); }
};

class Event : public Unique<cudaEvent_t, EventDestroy> {
 public:
  // timing=false: cudaEventDisableTiming, the cheap kind used for ordering streams.
  explicit Event(bool timing = false)
      : Unique(created<cudaEvent_t>([timing](cudaEvent_t* e) {
          MNIST_CUDA_CHECK(cudaEventCreateWithFlags(e, timing ? cudaEventDefault : cudaEventDisableTiming));
        })) {}

  void record(cudaStream_t stream) { MNIST_CUDA_CHECK(cudaEventRecord(get(), stream)); }
  void synchronize() const { MNIST_CUDA_CHECK(cudaEventSynchronize(get())); }
  // True when all work before the last record() has completed (never blocks).
  bool done() const {
    const cudaError_t s = cudaEventQuery(get());
    if (s == cudaErrorNotReady) {
      // "Not ready" is an answer, not a failure, but the runtime records it as the
      // thread's last error: clear it, or the next launch check would throw it
      // (PyTorch's CUDAEvent::query does the same).
      detail::clear_last_cuda_error();
      return false;
    }
    MNIST_CUDA_CHECK(s);
    return true;
  }
  // Milliseconds between two timing events (both recorded and completed).
  static float elapsed_ms(const Event& start, const Event& stop) {
    float ms = 0.0f;
    MNIST_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    return ms;
  }
};

// ---- library handles ------------------------------------------------------------------

class CudnnHandle : public Unique<cudnnHandle_t, CudnnDestroy> {
 public:
  CudnnHandle() : Unique(created<cudnnHandle_t>([](cudnnHandle_t* h) { MNIST_CUDNN_CHECK(cudnnCreate(h)); })) {}
};

class CublasHandle : public Unique<cublasHandle_t, CublasDestroy> {
 public:
  CublasHandle() : Unique(created<cublasHandle_t>([](cublasHandle_t* h) { MNIST_CUBLAS_CHECK(cublasCreate(h)); })) {}
};

// ---- cuDNN descriptors ----------------------------------------------------------------

// One owner template for the five descriptor kinds: Create/Destroy are the cuDNN functions.
template <typename Handle, cudnnStatus_t (*Create)(Handle*), cudnnStatus_t (*Destroy)(Handle)>
class CudnnDescriptor : public Unique<Handle, CudnnDescriptorDestroy<Handle, Destroy>> {
 public:
  CudnnDescriptor()
      : Unique<Handle, CudnnDescriptorDestroy<Handle, Destroy>>(
            created<Handle>([](Handle* d) { MNIST_CUDNN_CHECK(Create(d)); })) {}
};

using TensorDescriptor =
    CudnnDescriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDescriptor =
    CudnnDescriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvolutionDescriptor =
    CudnnDescriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor, cudnnDestroyConvolutionDescriptor>;
using PoolingDescriptor =
    CudnnDescriptor<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor, cudnnDestroyPoolingDescriptor>;
using ActivationDescriptor =
    CudnnDescriptor<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor, cudnnDestroyActivationDescriptor>;

// A float tensor descriptor of n samples of `shape` stored NHWC (layout.hpp: nhwc_dims).
TensorDescriptor make_nhwc_descriptor(int n, Shape3 shape);
// The same memory seen as a plain matrix: (n·h·w, c, 1, 1) (layout.hpp: rows_dims).
// Not for BatchNorm: n·h·w goes into cuDNN's N, which its BatchNorm limits.
TensorDescriptor make_rows_descriptor(int n, Shape3 shape);

// Descriptors of one per-sample shape for each batch size seen: a batch size
// gets its descriptor once (training, last batch, evaluation batches).
class BatchDescriptors {
 public:
  using View = TensorView;
  BatchDescriptors(Shape3 shape, View view) : shape_(shape), view_(view) {}
  cudnnTensorDescriptor_t get(int n);

 private:
  Shape3 shape_;
  View view_;
  std::map<int, TensorDescriptor> by_batch_;
};

}  // namespace mnist_ddp::cuda
