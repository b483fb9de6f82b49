#pragma once
// Owners of device and pinned host allocations: freed on scope exit, including when a later CUDA
// call throws. Movable (a moved-from buffer is empty: get() == nullptr, size() == 0), not copyable.
#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "flipsweep_cuda/cuda_check.h"

namespace flipsweep::cuda {

namespace detail {

// count elements of T from allocate(), returned with release(); Release must not throw.
template <typename T, cudaError_t (*Allocate)(void**, size_t), cudaError_t (*Release)(void*)>
class CudaAllocation {
 public:
  CudaAllocation() noexcept = default;
  explicit CudaAllocation(size_t count) : count_(count) {
    if (count_) FLIPSWEEP_CUDA_CHECK(Allocate(reinterpret_cast<void**>(&data_), count_ * sizeof(T)));
  }
  ~CudaAllocation() { reset(); }
  CudaAllocation(const CudaAllocation&) = delete;
  CudaAllocation& operator=(const CudaAllocation&) = delete;
  CudaAllocation(CudaAllocation&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), count_(std::exchange(other.count_, 0)) {}
  CudaAllocation& operator=(CudaAllocation&& other) noexcept {
    if (this != &other) {
      reset();
      data_ = std::exchange(other.data_, nullptr);
      count_ = std::exchange(other.count_, 0);
    }
    return *this;
  }

  T* get() const noexcept { return data_; }
  size_t size() const noexcept { return count_; }
  size_t bytes() const noexcept { return count_ * sizeof(T); }
  bool empty() const noexcept { return data_ == nullptr; }
  // Frees the allocation now; the buffer becomes empty.
  void reset() noexcept {
    if (data_) (void)FLIPSWEEP_CUDA_WARN(Release(std::exchange(data_, nullptr)));
    count_ = 0;
  }

 private:
  T* data_ = nullptr;
  size_t count_ = 0;
};

inline cudaError_t device_malloc(void** p, size_t bytes) { return cudaMalloc(p, bytes); }
inline cudaError_t device_free(void* p) { return cudaFree(p); }
inline cudaError_t pinned_malloc(void** p, size_t bytes) { return cudaMallocHost(p, bytes); }
inline cudaError_t pinned_free(void* p) { return cudaFreeHost(p); }

}  // namespace detail

// Device memory (cudaMalloc) for count elements of T; DeviceBuffer<T>() holds nothing.
template <typename T>
class DeviceBuffer : public detail::CudaAllocation<T, detail::device_malloc, detail::device_free> {
  using Base = detail::CudaAllocation<T, detail::device_malloc, detail::device_free>;

 public:
  DeviceBuffer() noexcept = default;
  explicit DeviceBuffer(size_t count) : Base(count) {}
};

// Page-locked host memory (cudaMallocHost) for count elements of T, for asynchronous copies.
template <typename T>
class PinnedBuffer : public detail::CudaAllocation<T, detail::pinned_malloc, detail::pinned_free> {
  using Base = detail::CudaAllocation<T, detail::pinned_malloc, detail::pinned_free>;

 public:
  PinnedBuffer() noexcept = default;
  explicit PinnedBuffer(size_t count) : Base(count) {}
  T* data() const noexcept { return this->get(); }
  T& operator[](size_t i) const noexcept { return this->get()[i]; }
};

}  // namespace flipsweep::cuda
