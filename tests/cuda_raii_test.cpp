// The CUDA RAII owners and error macros (flipsweep_cuda/*.h). Ownership rules (not copyable,
// nothrow movable, moved-from objects empty) and the error messages are checked on every machine
// with the CUDA build; what needs a device skips without one.
#include <gtest/gtest.h>

#if defined(FLIPSWEEP_WITH_CUDA)

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "flipsweep/error.h"
#include "flipsweep_cuda/cublas_handle.h"
#include "flipsweep_cuda/cublas_loader.h"
#include "flipsweep_cuda/cuda_check.h"
#include "flipsweep_cuda/cudnn_handles.h"
#include "flipsweep_cuda/device.h"
#include "flipsweep_cuda/device_buffer.h"
#include "flipsweep_cuda/stream.h"

namespace flipsweep::cuda {
namespace {

template <class T>
constexpr bool is_unique_owner =
    !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> && std::is_nothrow_move_constructible_v<T> &&
    std::is_nothrow_move_assignable_v<T> && std::is_nothrow_default_constructible_v<T> &&
    std::is_nothrow_destructible_v<T>;

static_assert(is_unique_owner<DeviceBuffer<float>>);
static_assert(is_unique_owner<DeviceBuffer<int64_t>>);
static_assert(is_unique_owner<PinnedBuffer<float>>);
static_assert(is_unique_owner<CudaStream>);
static_assert(is_unique_owner<CudaEvent>);
static_assert(is_unique_owner<CudnnHandle>);
static_assert(is_unique_owner<CublasHandle>);
static_assert(is_unique_owner<TensorDescriptor4d>);
static_assert(is_unique_owner<FilterDescriptor4d>);
static_assert(is_unique_owner<ConvolutionDescriptor2d>);

bool has_device() { return device_count() > 0; }

template <class T>
void expect_empty_moves() {
  T a;
  EXPECT_TRUE(a.empty());
  T b(std::move(a));
  EXPECT_TRUE(b.empty());
  a = std::move(b);
  EXPECT_TRUE(a.empty());
  a = T();
  EXPECT_TRUE(a.empty());
}

TEST(CudaRaii, DefaultConstructedOwnersAreEmptyAndMoveWithoutAGpu) {
  expect_empty_moves<DeviceBuffer<float>>();
  expect_empty_moves<PinnedBuffer<double>>();
  expect_empty_moves<CudaStream>();
  expect_empty_moves<CudaEvent>();
  expect_empty_moves<CudnnHandle>();
  expect_empty_moves<CublasHandle>();
  expect_empty_moves<TensorDescriptor4d>();
  expect_empty_moves<FilterDescriptor4d>();
  expect_empty_moves<ConvolutionDescriptor2d>();
  DeviceBuffer<float> none(0);  // zero elements: no allocation, no CUDA call
  EXPECT_EQ(none.get(), nullptr);
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(none.bytes(), 0u);
  EXPECT_EQ(CudnnHandle().stream(), nullptr);
  EXPECT_EQ(CublasHandle().stream(), nullptr);
}

std::string thrown_message(void (*f)()) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

TEST(CudaRaii, CheckMacrosThrowWithLibraryNameCallFileAndLine) {
  const std::string cudnn = thrown_message([] { FLIPSWEEP_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM); });
  EXPECT_NE(cudnn.find("cuDNN error"), std::string::npos) << cudnn;
  EXPECT_NE(cudnn.find("CUDNN_STATUS_BAD_PARAM"), std::string::npos) << cudnn;  // cudnnGetErrorString's text
  EXPECT_NE(cudnn.find("cuda_raii_test.cpp:"), std::string::npos) << cudnn;

  const std::string cublas = thrown_message([] { FLIPSWEEP_CUBLAS_CHECK(CUBLAS_STATUS_INVALID_VALUE); });
  EXPECT_NE(cublas.find("cuBLAS error CUBLAS_STATUS_INVALID_VALUE"), std::string::npos) << cublas;
  EXPECT_NE(cublas.find("in CUBLAS_STATUS_INVALID_VALUE at"), std::string::npos) << cublas;
  EXPECT_NE(cublas.find("cuda_raii_test.cpp:"), std::string::npos) << cublas;

  const std::string cuda = thrown_message([] { FLIPSWEEP_CUDA_CHECK(cudaErrorInvalidValue); });
  EXPECT_NE(cuda.find("CUDA error cudaErrorInvalidValue"), std::string::npos) << cuda;

  EXPECT_NO_THROW(FLIPSWEEP_CUDNN_CHECK(CUDNN_STATUS_SUCCESS));
  EXPECT_NO_THROW(FLIPSWEEP_CUBLAS_CHECK(CUBLAS_STATUS_SUCCESS));
}

// cuBLAS is opened on first use, not linked (cublas_loader.h): on a machine with the toolkit
// the library opens without a GPU and has every function flipsweep forwards to it.
TEST(CudaRaii, CublasOpensOnFirstUseWithEveryFunctionWeCall) {
  std::string problem = "not asked";
  EXPECT_TRUE(cublas_loaded(&problem)) << problem;
  EXPECT_EQ(problem, "");
  EXPECT_STREQ(cublasGetStatusName(CUBLAS_STATUS_NOT_SUPPORTED), "CUBLAS_STATUS_NOT_SUPPORTED");
}

TEST(CudaRaii, NonThrowingFormsReturnFalseOnFailure) {
  EXPECT_TRUE(FLIPSWEEP_CUDNN_OK(CUDNN_STATUS_SUCCESS));
  EXPECT_FALSE(FLIPSWEEP_CUDNN_OK(CUDNN_STATUS_BAD_PARAM));
  EXPECT_TRUE(FLIPSWEEP_CUBLAS_OK(CUBLAS_STATUS_SUCCESS));
  EXPECT_FALSE(FLIPSWEEP_CUBLAS_OK(CUBLAS_STATUS_NOT_INITIALIZED));
  testing::internal::CaptureStderr();
  EXPECT_TRUE(FLIPSWEEP_CUDA_WARN(cudaSuccess));
  EXPECT_FALSE(FLIPSWEEP_CUDNN_WARN(CUDNN_STATUS_BAD_PARAM));
  EXPECT_FALSE(FLIPSWEEP_CUBLAS_WARN(CUBLAS_STATUS_INVALID_VALUE));
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("CUDNN_STATUS_BAD_PARAM"), std::string::npos) << err;
  EXPECT_NE(err.find("CUBLAS_STATUS_INVALID_VALUE"), std::string::npos) << err;
}

// cuDNN descriptors are host objects: created, moved and destroyed without a device.
TEST(CudaRaii, CudnnDescriptorsMoveAndReportBadParameters) {
  auto tensor = TensorDescriptor4d::create(2, 3, 8, 8);
  ASSERT_FALSE(tensor.empty());
  const cudnnTensorDescriptor_t raw = tensor.get();
  TensorDescriptor4d moved(std::move(tensor));
  EXPECT_TRUE(tensor.empty());  // NOLINT(bugprone-use-after-move): moved-from state is the point
  EXPECT_EQ(moved.get(), raw);
  cudnnDataType_t type{};
  int n = 0, c = 0, h = 0, w = 0, sn = 0, sc = 0, sh = 0, sw = 0;
  ASSERT_TRUE(FLIPSWEEP_CUDNN_OK(cudnnGetTensor4dDescriptor(moved.get(), &type, &n, &c, &h, &w, &sn, &sc, &sh, &sw)));
  EXPECT_EQ(type, CUDNN_DATA_FLOAT);
  EXPECT_EQ(n * 1000 + c * 100 + h * 10 + w, 2388);
  EXPECT_EQ(sn, 3 * 8 * 8);
  EXPECT_EQ(sw, 1);

  auto filter = FilterDescriptor4d::create(16, 4, 3, 3);
  FilterDescriptor4d filter2;
  filter2 = std::move(filter);
  EXPECT_TRUE(filter.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(filter2.empty());

  Convolution2dParams p;
  p.pad_h = p.pad_w = 1;
  p.groups = 2;
  auto conv = ConvolutionDescriptor2d::create(p);
  int groups = 0;
  ASSERT_TRUE(FLIPSWEEP_CUDNN_OK(cudnnGetConvolutionGroupCount(conv.get(), &groups)));
  EXPECT_EQ(groups, 2);
  cudnnMathType_t math{};
  ASSERT_TRUE(FLIPSWEEP_CUDNN_OK(cudnnGetConvolutionMathType(conv.get(), &math)));
  EXPECT_EQ(math, CUDNN_FMA_MATH);
  // 8 input channels = 2 groups x 4 per group, 16 output channels.
  auto input = TensorDescriptor4d::create(2, 8, 8, 8);
  int on = 0, oc = 0, oh = 0, ow = 0;
  ASSERT_TRUE(FLIPSWEEP_CUDNN_OK(
      cudnnGetConvolution2dForwardOutputDim(conv.get(), input.get(), filter2.get(), &on, &oc, &oh, &ow)));
  EXPECT_EQ(on * 1000 + oc * 100 + oh * 10 + ow, 2000 + 1600 + 80 + 8);

  const std::string bad = thrown_message([] { (void)TensorDescriptor4d::create(-1, 3, 8, 8); });
  EXPECT_NE(bad.find("cudnnSetTensor4dDescriptor"), std::string::npos) << bad;
  EXPECT_NE(bad.find("cudnn_handles.h:"), std::string::npos) << bad;
}

TEST(CudaRaii, DeviceAndPinnedBuffersMoveOwnership) {
  if (!has_device()) GTEST_SKIP() << "no CUDA device on this machine";
  DeviceBuffer<float> a(1000);
  float* p = a.get();
  ASSERT_NE(p, nullptr);
  DeviceBuffer<float> b(std::move(a));
  EXPECT_EQ(a.get(), nullptr);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.get(), p);
  EXPECT_EQ(b.size(), 1000u);
  EXPECT_EQ(b.bytes(), 4000u);
  DeviceBuffer<float> c(10);
  c = std::move(b);  // frees c's old allocation
  EXPECT_EQ(c.get(), p);

  PinnedBuffer<float> host(1000), back(1000);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i) * 0.5f;
  auto stream = CudaStream::create();
  FLIPSWEEP_CUDA_CHECK(cudaMemcpyAsync(c.get(), host.get(), c.bytes(), cudaMemcpyHostToDevice, stream.get()));
  FLIPSWEEP_CUDA_CHECK(cudaMemcpyAsync(back.get(), c.get(), c.bytes(), cudaMemcpyDeviceToHost, stream.get()));
  stream.synchronize();
  EXPECT_EQ(std::memcmp(host.get(), back.get(), host.bytes()), 0);
  PinnedBuffer<float> moved(std::move(host));
  EXPECT_TRUE(host.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(moved[10], 5.0f);
}

TEST(CudaRaii, StreamsEventsAndElapsedTime) {
  if (!has_device()) GTEST_SKIP() << "no CUDA device on this machine";
  auto stream = CudaStream::create();
  auto start = CudaEvent::create(), end = CudaEvent::create();
  DeviceBuffer<char> buffer(size_t{64} << 20);
  start.record(stream.get());
  FLIPSWEEP_CUDA_CHECK(cudaMemsetAsync(buffer.get(), 1, buffer.bytes(), stream.get()));
  end.record(stream.get());
  const float ms = CudaEvent::elapsed_ms(start, end);
  EXPECT_GE(ms, 0.0f);
  EXPECT_LT(ms, 10000.0f);
  EXPECT_EQ(start.elapsed_ms_until(end), ms);
  const cudaStream_t raw = stream.get();
  CudaStream other = std::move(stream);
  EXPECT_TRUE(stream.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(other.get(), raw);
}

TEST(CudaRaii, LibraryHandlesAreBoundToTheirStream) {
  if (!has_device()) GTEST_SKIP() << "no CUDA device on this machine";
  auto stream = CudaStream::create();
  auto dnn = CudnnHandle::create(stream.get());
  cudaStream_t bound = nullptr;
  FLIPSWEEP_CUDNN_CHECK(cudnnGetStream(dnn.get(), &bound));
  EXPECT_EQ(bound, stream.get());
  EXPECT_EQ(dnn.stream(), stream.get());
  CudnnHandle dnn2 = std::move(dnn);
  EXPECT_TRUE(dnn.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(dnn.stream(), nullptr);
  EXPECT_EQ(dnn2.stream(), stream.get());

  auto blas = CublasHandle::create(stream.get());
  bound = nullptr;
  FLIPSWEEP_CUBLAS_CHECK(cublasGetStream(blas.get(), &bound));
  EXPECT_EQ(bound, stream.get());
  cublasMath_t math{};
  FLIPSWEEP_CUBLAS_CHECK(cublasGetMathMode(blas.get(), &math));
  EXPECT_EQ(math, CUBLAS_PEDANTIC_MATH);
  CublasHandle blas2;
  blas2 = std::move(blas);
  EXPECT_TRUE(blas.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(blas2.stream(), stream.get());
}

// A grouped, padded convolution through the owners, against a direct FP64 loop: the owners wire
// cuDNN up correctly and FMA math (no TF32) keeps FP32 accuracy.
TEST(CudaRaii, GroupedConvolutionThroughTheOwnersMatchesADirectLoop) {
  if (!has_device()) GTEST_SKIP() << "no CUDA device on this machine";
  const int n = 2, c = 8, h = 9, w = 7, k = 6, groups = 2, r = 3, s = 3;
  const int cg = c / groups, kg = k / groups;
  std::vector<float> x(static_cast<size_t>(n * c * h * w)), wt(static_cast<size_t>(k * cg * r * s));
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (float& v : x) v = normal(rng);
  for (float& v : wt) v = normal(rng);

  auto stream = CudaStream::create();
  auto dnn = CudnnHandle::create(stream.get());
  Convolution2dParams p;
  p.pad_h = p.pad_w = 1;
  p.groups = groups;
  auto conv = ConvolutionDescriptor2d::create(p);
  auto xd = TensorDescriptor4d::create(n, c, h, w);
  auto wd = FilterDescriptor4d::create(k, cg, r, s);
  int on = 0, oc = 0, oh = 0, ow = 0;
  FLIPSWEEP_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv.get(), xd.get(), wd.get(), &on, &oc, &oh, &ow));
  ASSERT_EQ(on * 1000 + oc * 100 + oh * 10 + ow, 2000 + 600 + 90 + 7);
  auto yd = TensorDescriptor4d::create(on, oc, oh, ow);

  DeviceBuffer<float> dx(x.size()), dw(wt.size()), dy(static_cast<size_t>(on * oc * oh * ow));
  FLIPSWEEP_CUDA_CHECK(cudaMemcpy(dx.get(), x.data(), dx.bytes(), cudaMemcpyHostToDevice));
  FLIPSWEEP_CUDA_CHECK(cudaMemcpy(dw.get(), wt.data(), dw.bytes(), cudaMemcpyHostToDevice));
  const cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace_bytes = 0;
  FLIPSWEEP_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(dnn.get(), xd.get(), wd.get(), conv.get(), yd.get(),
                                                                algo, &workspace_bytes));
  DeviceBuffer<char> workspace(workspace_bytes);
  const float one = 1.0f, zero = 0.0f;
  FLIPSWEEP_CUDNN_CHECK(cudnnConvolutionForward(dnn.get(), &one, xd.get(), dx.get(), wd.get(), dw.get(), conv.get(),
                                                algo, workspace.get(), workspace_bytes, &zero, yd.get(), dy.get()));
  stream.synchronize();
  std::vector<float> y(dy.size());
  FLIPSWEEP_CUDA_CHECK(cudaMemcpy(y.data(), dy.get(), dy.bytes(), cudaMemcpyDeviceToHost));

  double max_error = 0.0;
  for (int b = 0; b < n; ++b)
    for (int o = 0; o < k; ++o)
      for (int i = 0; i < oh; ++i)
        for (int j = 0; j < ow; ++j) {
          const int g = o / kg;
          double sum = 0.0;
          for (int ci = 0; ci < cg; ++ci)
            for (int u = 0; u < r; ++u)
              for (int v = 0; v < s; ++v) {
                const int yi = i + u - 1, xj = j + v - 1;
                if (yi < 0 || yi >= h || xj < 0 || xj >= w) continue;
                sum += static_cast<double>(x[static_cast<size_t>(((b * c + g * cg + ci) * h + yi) * w + xj)]) *
                       wt[static_cast<size_t>(((o * cg + ci) * r + u) * s + v)];
              }
          const float got = y[static_cast<size_t>(((b * k + o) * oh + i) * ow + j)];
          max_error = std::max(max_error, std::abs(got - sum));
        }
  // 36 products of N(0,1) values: FP32 accumulation error is ~1e-6; TF32 would give ~1e-2.
  EXPECT_LT(max_error, 1e-4);
}

}  // namespace
}  // namespace flipsweep::cuda

#endif  // FLIPSWEEP_WITH_CUDA
