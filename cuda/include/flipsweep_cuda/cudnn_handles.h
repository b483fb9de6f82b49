#pragma once
// cuDNN owners: the library handle (bound to a stream) and the legacy-API descriptors the
// convolution path uses. Default-constructed owners are empty and need no GPU; create() makes
// the real object and throws flipsweep::Error (with cuDNN's message) on failure. Descriptors are
// host-side objects; only CudnnHandle::create needs a device.
#include <cuda_runtime.h>
#include <cudnn.h>

#include <utility>

#include "flipsweep_cuda/cuda_check.h"
#include "flipsweep_cuda/unique_handle.h"

namespace flipsweep::cuda {

namespace detail {
inline void destroy_cudnn(cudnnHandle_t h) noexcept { (void)FLIPSWEEP_CUDNN_WARN(cudnnDestroy(h)); }
inline void destroy_tensor_descriptor(cudnnTensorDescriptor_t d) noexcept {
  (void)FLIPSWEEP_CUDNN_WARN(cudnnDestroyTensorDescriptor(d));
}
inline void destroy_filter_descriptor(cudnnFilterDescriptor_t d) noexcept {
  (void)FLIPSWEEP_CUDNN_WARN(cudnnDestroyFilterDescriptor(d));
}
inline void destroy_convolution_descriptor(cudnnConvolutionDescriptor_t d) noexcept {
  (void)FLIPSWEEP_CUDNN_WARN(cudnnDestroyConvolutionDescriptor(d));
}
}  // namespace detail

// A cuDNN handle whose work goes to one stream (not owned: the stream must outlive the handle).
class CudnnHandle {
 public:
  CudnnHandle() noexcept = default;
  static CudnnHandle create(cudaStream_t stream) {
    cudnnHandle_t raw = nullptr;
    FLIPSWEEP_CUDNN_CHECK(cudnnCreate(&raw));
    CudnnHandle handle(raw);  // owns it from here, so a failing cudnnSetStream does not leak
    handle.set_stream(stream);
    return handle;
  }
  CudnnHandle(CudnnHandle&& other) noexcept
      : handle_(std::move(other.handle_)), stream_(std::exchange(other.stream_, nullptr)) {}
  CudnnHandle& operator=(CudnnHandle&& other) noexcept {
    handle_ = std::move(other.handle_);
    stream_ = std::exchange(other.stream_, nullptr);
    return *this;
  }

  cudnnHandle_t get() const noexcept { return handle_.get(); }
  cudaStream_t stream() const noexcept { return stream_; }
  bool empty() const noexcept { return handle_.empty(); }
  void set_stream(cudaStream_t stream) {
    FLIPSWEEP_CUDNN_CHECK(cudnnSetStream(get(), stream));
    stream_ = stream;
  }

 private:
  explicit CudnnHandle(cudnnHandle_t raw) noexcept : handle_(raw) {}
  detail::UniqueHandle<cudnnHandle_t, detail::destroy_cudnn> handle_;
  cudaStream_t stream_ = nullptr;
};

// A 4-D tensor descriptor (N, C, H, W) in NCHW or NHWC.
class TensorDescriptor4d {
 public:
  TensorDescriptor4d() noexcept = default;
  static TensorDescriptor4d create(int n, int c, int h, int w, cudnnDataType_t type = CUDNN_DATA_FLOAT,
                                   cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW) {
    cudnnTensorDescriptor_t raw = nullptr;
    FLIPSWEEP_CUDNN_CHECK(cudnnCreateTensorDescriptor(&raw));
    TensorDescriptor4d d(raw);
    FLIPSWEEP_CUDNN_CHECK(cudnnSetTensor4dDescriptor(raw, format, type, n, c, h, w));
    return d;
  }
  cudnnTensorDescriptor_t get() const noexcept { return handle_.get(); }
  bool empty() const noexcept { return handle_.empty(); }

 private:
  explicit TensorDescriptor4d(cudnnTensorDescriptor_t raw) noexcept : handle_(raw) {}
  detail::UniqueHandle<cudnnTensorDescriptor_t, detail::destroy_tensor_descriptor> handle_;
};

// A 4-D filter descriptor (K output channels, C input channels per group, R, S) — PyTorch's
// Conv2d weight layout with the default NCHW format.
class FilterDescriptor4d {
 public:
  FilterDescriptor4d() noexcept = default;
  static FilterDescriptor4d create(int k, int c, int r, int s, cudnnDataType_t type = CUDNN_DATA_FLOAT,
                                   cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW) {
    cudnnFilterDescriptor_t raw = nullptr;
    FLIPSWEEP_CUDNN_CHECK(cudnnCreateFilterDescriptor(&raw));
    FilterDescriptor4d d(raw);
    FLIPSWEEP_CUDNN_CHECK(cudnnSetFilter4dDescriptor(raw, type, format, k, c, r, s));
    return d;
  }
  cudnnFilterDescriptor_t get() const noexcept { return handle_.get(); }
  bool empty() const noexcept { return handle_.empty(); }

 private:
  explicit FilterDescriptor4d(cudnnFilterDescriptor_t raw) noexcept : handle_(raw) {}
  detail::UniqueHandle<cudnnFilterDescriptor_t, detail::destroy_filter_descriptor> handle_;
};

struct Convolution2dParams {
  int pad_h = 0, pad_w = 0;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
  // CUDNN_FMA_MATH: plain FP32 FMA arithmetic, no tensor cores. CUDNN_DEFAULT_MATH would let
  // cuDNN use TF32 for FP32 convolutions on Ampere and later (10-bit mantissa), which moves
  // results far beyond CPU/GPU parity tolerances.
  cudnnMathType_t math = CUDNN_FMA_MATH;
  // PyTorch's Conv2d is a cross-correlation; accumulate in FP32.
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute_type = CUDNN_DATA_FLOAT;
};

// A 2-D convolution descriptor with its group count and math type.
class ConvolutionDescriptor2d {
 public:
  ConvolutionDescriptor2d() noexcept = default;
  static ConvolutionDescriptor2d create(const Convolution2dParams& p) {
    cudnnConvolutionDescriptor_t raw = nullptr;
    FLIPSWEEP_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&raw));
    ConvolutionDescriptor2d d(raw);
    FLIPSWEEP_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(raw, p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dilation_h,
                                                          p.dilation_w, p.mode, p.compute_type));
    FLIPSWEEP_CUDNN_CHECK(cudnnSetConvolutionGroupCount(raw, p.groups));
    FLIPSWEEP_CUDNN_CHECK(cudnnSetConvolutionMathType(raw, p.math));
    return d;
  }
  cudnnConvolutionDescriptor_t get() const noexcept { return handle_.get(); }
  bool empty() const noexcept { return handle_.empty(); }

 private:
  explicit ConvolutionDescriptor2d(cudnnConvolutionDescriptor_t raw) noexcept : handle_(raw) {}
  detail::UniqueHandle<cudnnConvolutionDescriptor_t, detail::destroy_convolution_descriptor> handle_;
};

}  // namespace flipsweep::cuda
