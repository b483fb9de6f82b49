#pragma once
// The one owner template behind CudaStream, CudaEvent, CudnnHandle, CublasHandle and the cuDNN
// descriptors: holds an opaque handle (a pointer type), destroys it once, moves, never copies.
// A default-constructed or moved-from owner is empty (get() == nullptr) and touches no CUDA API,
// so these types can be created, moved and destroyed on machines without a GPU.
#include <utility>

namespace flipsweep::cuda::detail {

// Destroy must not throw (use the *_WARN macros of cuda_check.h inside it).
template <typename Handle, void (*Destroy)(Handle) noexcept>
class UniqueHandle {
 public:
  UniqueHandle() noexcept = default;
  explicit UniqueHandle(Handle handle) noexcept : handle_(handle) {}
  ~UniqueHandle() { reset(); }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  UniqueHandle(UniqueHandle&& other) noexcept : handle_(std::exchange(other.handle_, Handle{})) {}
  UniqueHandle& operator=(UniqueHandle&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, Handle{});
    }
    return *this;
  }

  Handle get() const noexcept { return handle_; }
  bool empty() const noexcept { return handle_ == Handle{}; }
  explicit operator bool() const noexcept { return !empty(); }
  void reset() noexcept {
    if (handle_ != Handle{}) Destroy(std::exchange(handle_, Handle{}));
  }

 private:
  Handle handle_{};
};

}  // namespace flipsweep::cuda::detail
