#pragma once
// The host runtime of the trial-batched plan (backend "host-plan"): host memory, oneDNN's sgemm
// where the CUDA runtime calls cuDNN and cuBLAS, and the CUDA backend's own kernel bodies run by
// host_launch. It exists so that CI, which has no GPU, runs everything of the GPU path except the
// device calls themselves; it is not meant to be fast. See plan_backend.h for the runtime contract.
#include <omp.h>

#include <cstring>
#include <string>
#include <vector>

#include "flipsweep/kernels/direct_conv.h"
#include "flipsweep/kernels/host_launch.h"

namespace flipsweep::batched {

class HostRuntime {
 public:
  template <class T>
  class Buffer {
   public:
    Buffer() = default;
    explicit Buffer(size_t n) : data_(n) {}
    T* get() { return data_.data(); }
    const T* get() const { return data_.data(); }
    size_t size() const { return data_.size(); }

   private:
    std::vector<T> data_;
  };

  // `dataset_budget`: raw image bytes kept resident (0 streams every batch, as a GPU does when
  // the dataset does not fit).
  explicit HostRuntime(int threads, size_t dataset_budget = size_t{1} << 30)
      : threads_(threads > 0 ? threads : omp_get_max_threads()), dataset_budget_(dataset_budget) {}

  template <class T>
  Buffer<T> allocate(size_t n) {
    return Buffer<T>(n);
  }
  template <class T>
  void upload(T* dst, const T* host, size_t n) {
    if (n) std::memcpy(dst, host, n * sizeof(T));
  }
  template <class T>
  void download(T* host, const T* src, size_t n) {
    if (n) std::memcpy(host, src, n * sizeof(T));
  }
  template <class T>
  void copy(T* dst, const T* src, size_t n) {
    if (n) std::memmove(dst, src, n * sizeof(T));
  }
  template <class Body>
  void launch(int64_t count, const Body& body) {
    kernels::host_launch(count, body);
  }
  void synchronize() {}
  size_t dataset_budget_bytes() const { return dataset_budget_; }
  std::string name() const { return "host-plan"; }
  std::string description() const {
    return "host-plan (the CUDA backend's trial-batched plan on the CPU, " + std::to_string(threads_) + " threads)";
  }

  // im2col + sgemm per image, images in parallel: every output is a plain dot product over the
  // taps (padding contributes 0 · w = 0 for the clean, finite weights this is called with).
  void conv(const kernels::Conv2dGeometry& g, const float* x, const float* w, float* y);
  // oneDNN's sgemm, row-major.
  void gemm(int64_t rows, int64_t k, int64_t m, bool weight_transposed, const float* x, const float* w, float* y);

 private:
  int threads_;
  size_t dataset_budget_;
};

}  // namespace flipsweep::batched
