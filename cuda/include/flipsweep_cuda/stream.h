#pragma once
// CUDA streams and events as movable owners. Default-constructed ones are empty and need no GPU;
// create() makes the real thing (and throws flipsweep::Error without a device).
#include <cuda_runtime.h>

#include "flipsweep_cuda/cuda_check.h"
#include "flipsweep_cuda/unique_handle.h"

namespace flipsweep::cuda {

namespace detail {
inline void destroy_stream(cudaStream_t s) noexcept { (void)FLIPSWEEP_CUDA_WARN(cudaStreamDestroy(s)); }
inline void destroy_event(cudaEvent_t e) noexcept { (void)FLIPSWEEP_CUDA_WARN(cudaEventDestroy(e)); }
}  // namespace detail

class CudaStream {
 public:
  CudaStream() noexcept = default;
  // Non-blocking by default: our streams never synchronise implicitly with the legacy stream 0.
  static CudaStream create(unsigned flags = cudaStreamNonBlocking) {
    cudaStream_t stream = nullptr;
    FLIPSWEEP_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, flags));
    return CudaStream(stream);
  }

  cudaStream_t get() const noexcept { return handle_.get(); }
  bool empty() const noexcept { return handle_.empty(); }
  void synchronize() const { FLIPSWEEP_CUDA_CHECK(cudaStreamSynchronize(get())); }
  void reset() noexcept { handle_.reset(); }

 private:
  explicit CudaStream(cudaStream_t stream) noexcept : handle_(stream) {}
  detail::UniqueHandle<cudaStream_t, detail::destroy_stream> handle_;
};

class CudaEvent {
 public:
  CudaEvent() noexcept = default;
  // cudaEventDefault keeps timing; pass cudaEventDisableTiming for pure synchronisation.
  static CudaEvent create(unsigned flags = cudaEventDefault) {
    cudaEvent_t event = nullptr;
    FLIPSWEEP_CUDA_CHECK(cudaEventCreateWithFlags(&event, flags));
    return CudaEvent(event);
  }

  cudaEvent_t get() const noexcept { return handle_.get(); }
  bool empty() const noexcept { return handle_.empty(); }
  void record(cudaStream_t stream) const { FLIPSWEEP_CUDA_CHECK(cudaEventRecord(get(), stream)); }
  void synchronize() const { FLIPSWEEP_CUDA_CHECK(cudaEventSynchronize(get())); }
  void reset() noexcept { handle_.reset(); }

  // Milliseconds between two recorded events (waits for `end`); both need timing enabled.
  static float elapsed_ms(const CudaEvent& start, const CudaEvent& end) {
    end.synchronize();
    float ms = 0.0f;
    FLIPSWEEP_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), end.get()));
    return ms;
  }
  // Milliseconds from this event to `end`.
  float elapsed_ms_until(const CudaEvent& end) const { return elapsed_ms(*this, end); }

 private:
  explicit CudaEvent(cudaEvent_t event) noexcept : handle_(event) {}
  detail::UniqueHandle<cudaEvent_t, detail::destroy_event> handle_;
};

}  // namespace flipsweep::cuda
