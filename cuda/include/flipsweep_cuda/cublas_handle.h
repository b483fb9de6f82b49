#pragma once
// A cuBLAS handle bound to a stream (not owned: the stream must outlive the handle). Default-
// constructed handles are empty and need no GPU; create() needs a device.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <utility>

#include "flipsweep_cuda/cuda_check.h"
#include "flipsweep_cuda/unique_handle.h"

namespace flipsweep::cuda {

namespace detail {
inline void destroy_cublas(cublasHandle_t h) noexcept { (void)FLIPSWEEP_CUBLAS_WARN(cublasDestroy(h)); }
}  // namespace detail

class CublasHandle {
 public:
  CublasHandle() noexcept = default;
  // CUBLAS_PEDANTIC_MATH: FP32 GEMMs in FP32, never TF32 or other reduced-precision shortcuts
  // (also not through NVIDIA_TF32_OVERRIDE), for CPU/GPU parity. Pass CUBLAS_DEFAULT_MATH to relax.
  static CublasHandle create(cudaStream_t stream, cublasMath_t math = CUBLAS_PEDANTIC_MATH) {
    cublasHandle_t raw = nullptr;
    FLIPSWEEP_CUBLAS_CHECK(cublasCreate(&raw));
    CublasHandle handle(raw);
    handle.set_stream(stream);
    FLIPSWEEP_CUBLAS_CHECK(cublasSetMathMode(raw, math));
    return handle;
  }
  CublasHandle(CublasHandle&& other) noexcept
      : handle_(std::move(other.handle_)), stream_(std::exchange(other.stream_, nullptr)) {}
  CublasHandle& operator=(CublasHandle&& other) noexcept {
    handle_ = std::move(other.handle_);
    stream_ = std::exchange(other.stream_, nullptr);
    return *this;
  }

  cublasHandle_t get() const noexcept { return handle_.get(); }
  cudaStream_t stream() const noexcept { return stream_; }
  bool empty() const noexcept { return handle_.empty(); }
  void set_stream(cudaStream_t stream) {
    FLIPSWEEP_CUBLAS_CHECK(cublasSetStream(get(), stream));
    stream_ = stream;
  }

 private:
  explicit CublasHandle(cublasHandle_t raw) noexcept : handle_(raw) {}
  detail::UniqueHandle<cublasHandle_t, detail::destroy_cublas> handle_;
  cudaStream_t stream_ = nullptr;
};

}  // namespace flipsweep::cuda
