// raii.hpp — owners for every CUDA, cuDNN and cuBLAS resource of the GPU backend.
//
// Each owner is move-only, creates its resource in the constructor (checked,
// throwing RuntimeError) and releases it in the destructor (checked, warning
// only). Nothing in the GPU backend calls a create/destroy pair by hand.
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

// ---- memory ----------------------------------------------------------------------

// A device array of `size()` elements of T. Contents are uninitialised unless zeroed.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) { allocate(count); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }
  bool empty() const { return size_ == 0; }

  // Reallocates to `count` elements; the old contents are lost. The caller must
  // make sure no queued work still uses the old memory (cudaFree synchronises
  // the device, so work queued before this call is finished first).
  void reset(std::size_t count) {
    release();
    allocate(count);
  }

  // Copies synchronous with the whole device (set-up, checkpoints, tests — never
  // per training step): they wait for the work queued on every stream (the
  // model's streams are non-blocking, so a plain cudaMemcpy would not be ordered
  // after them), and the data is in place when they return.
  void upload(const T* host, std::size_t count, std::size_t offset = 0) {
    MNIST_ASSERT(offset + count <= size_, "upload of " << count << " at " << offset << " into " << size_);
    MNIST_CUDA_CHECK(cudaDeviceSynchronize());
    MNIST_CUDA_CHECK(cudaMemcpy(data_ + offset, host, count * sizeof(T), cudaMemcpyHostToDevice));
    MNIST_CUDA_CHECK(cudaDeviceSynchronize());
  }
  void download(T* host, std::size_t count, std::size_t offset = 0) const {
    MNIST_ASSERT(offset + count <= size_, "download of " << count << " at " << offset << " from " << size_);
    MNIST_CUDA_CHECK(cudaDeviceSynchronize());
    MNIST_CUDA_CHECK(cudaMemcpy(host, data_ + offset, count * sizeof(T), cudaMemcpyDeviceToHost));
  }
  // Asynchronous zero fill on `stream`.
  void zero(cudaStream_t stream) {
    if (size_ > 0) MNIST_CUDA_CHECK(cudaMemsetAsync(data_, 0, bytes(), stream));
  }

 private:
  void allocate(std::size_t count) {
    if (count == 0) return;
    void* p = nullptr;
    MNIST_CUDA_CHECK(cudaMalloc(&p, count * sizeof(T)));
    data_ = static_cast<T*>(p);
    size_ = count;
  }
  void release() noexcept {
    if (data_ != nullptr) MNIST_CUDA_WARN(cudaFree(data_));
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// Page-locked host memory: the target of asynchronous device-to-host copies
// (loss sums, metrics) that the host reads after an event or stream sync.
template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t count) {
    if (count == 0) return;
    void* p = nullptr;
    MNIST_CUDA_CHECK(cudaMallocHost(&p, count * sizeof(T)));
    data_ = static_cast<T*>(p);
    size_ = count;
  }
  ~PinnedBuffer() {
    if (data_ != nullptr) MNIST_CUDA_WARN(cudaFreeHost(data_));
  }
  PinnedBuffer(PinnedBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      if (data_ != nullptr) MNIST_CUDA_WARN(cudaFreeHost(data_));
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  std::size_t size() const { return size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// ---- streams and events -------------------------------------------------------------

// A stream that does not synchronise with the legacy default stream.
class Stream {
 public:
  Stream() { MNIST_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s_ != nullptr) MNIST_CUDA_WARN(cudaStreamDestroy(s_));
  }
  Stream(Stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stream& operator=(Stream&& o) noexcept {
    if (this != &o) {
      if (s_ != nullptr) MNIST_CUDA_WARN(cudaStreamDestroy(s_));
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  cudaStream_t get() const { return s_; }
  operator cudaStream_t() const { return s_; }  // NOLINT: used as the library argument it wraps
  void synchronize() const { MNIST_CUDA_CHECK(cudaStreamSynchronize(s_)); }
  // Later work on this stream waits for `event` (recorded on another stream): no host wait.
  void wait(cudaEvent_t event) const { MNIST_CUDA_CHECK(cudaStreamWaitEvent(s_, event, 0)); }

 private:
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  // timing=false: cudaEventDisableTiming, the cheap kind used for ordering streams.
  explicit Event(bool timing = false) {
    MNIST_CUDA_CHECK(cudaEventCreateWithFlags(&e_, timing ? cudaEventDefault : cudaEventDisableTiming));
  }
  ~Event() {
    if (e_ != nullptr) MNIST_CUDA_WARN(cudaEventDestroy(e_));
  }
  Event(Event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Event& operator=(Event&& o) noexcept {
    if (this != &o) {
      if (e_ != nullptr) MNIST_CUDA_WARN(cudaEventDestroy(e_));
      e_ = std::exchange(o.e_, nullptr);
    }
    return *this;
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  cudaEvent_t get() const { return e_; }
  operator cudaEvent_t() const { return e_; }  // NOLINT
  void record(cudaStream_t stream) { MNIST_CUDA_CHECK(cudaEventRecord(e_, stream)); }
  void synchronize() const { MNIST_CUDA_CHECK(cudaEventSynchronize(e_)); }
  // True when all work before the last record() has completed (never blocks).
  bool done() const {
    const cudaError_t s = cudaEventQuery(e_);
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
    MNIST_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, stop.e_));
    return ms;
  }

 private:
  cudaEvent_t e_ = nullptr;
};

// ---- library handles ------------------------------------------------------------------

class CudnnHandle {
 public:
  CudnnHandle() { MNIST_CUDNN_CHECK(cudnnCreate(&h_)); }
  ~CudnnHandle() {
    if (h_ != nullptr) MNIST_CUDNN_WARN(cudnnDestroy(h_));
  }
  CudnnHandle(CudnnHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  CudnnHandle& operator=(CudnnHandle&&) = delete;
  CudnnHandle(const CudnnHandle&) = delete;
  CudnnHandle& operator=(const CudnnHandle&) = delete;
  cudnnHandle_t get() const { return h_; }

 private:
  cudnnHandle_t h_ = nullptr;
};

class CublasHandle {
 public:
  CublasHandle() { MNIST_CUBLAS_CHECK(cublasCreate(&h_)); }
  ~CublasHandle() {
    if (h_ != nullptr) MNIST_CUBLAS_WARN(cublasDestroy(h_));
  }
  CublasHandle(CublasHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  CublasHandle& operator=(CublasHandle&&) = delete;
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
};

// ---- cuDNN descriptors ----------------------------------------------------------------

// One owner template for the five descriptor kinds: Create/Destroy are the cuDNN functions.
template <typename Handle, cudnnStatus_t (*Create)(Handle*), cudnnStatus_t (*Destroy)(Handle)>
class CudnnDescriptor {
 public:
  CudnnDescriptor() { MNIST_CUDNN_CHECK(Create(&d_)); }
  ~CudnnDescriptor() {
    if (d_ != nullptr) MNIST_CUDNN_WARN(Destroy(d_));
  }
  CudnnDescriptor(CudnnDescriptor&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  CudnnDescriptor& operator=(CudnnDescriptor&& o) noexcept {
    if (this != &o) {
      if (d_ != nullptr) MNIST_CUDNN_WARN(Destroy(d_));
      d_ = std::exchange(o.d_, nullptr);
    }
    return *this;
  }
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  Handle get() const { return d_; }
  operator Handle() const { return d_; }  // NOLINT

 private:
  Handle d_ = nullptr;
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
