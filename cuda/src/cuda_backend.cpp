// The CUDA runtime of the trial-batched plan: device memory, one stream, cuDNN for the shared
// dense convolutions, cuBLAS for the GEMMs, and the kernel bodies through their launchers. The
// plan walking itself (plan_backend.h) is the code CI runs on the CPU with the host runtime.
#include "flipsweep_cuda/cuda_backend.h"

#include <cudnn.h>
#include <cublas_v2.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <tuple>

#include "flipsweep/backend/backend_factory.h"
#include "flipsweep/batched/plan_backend.h"
#include "flipsweep_cuda/correction_launchers.h"
#include "flipsweep_cuda/cublas_handle.h"
#include "flipsweep_cuda/cuda_check.h"
#include "flipsweep_cuda/cudnn_handles.h"
#include "flipsweep_cuda/device.h"
#include "flipsweep_cuda/device_buffer.h"
#include "flipsweep_cuda/launchers.h"
#include "flipsweep_cuda/stream.h"

namespace flipsweep::cuda {

namespace {

// cuDNN and cuBLAS take int dimensions, and several cuDNN kernels index tensors with 32-bit
// offsets: dense calls are split along the batch to stay below this many elements per tensor.
constexpr int64_t kMaxElementsPerCall = (int64_t{1} << 31) - 1;
// cuDNN's workspace for one convolution at most; algorithms that want more are passed over.
constexpr size_t kWorkspaceCapBytes = size_t{2} << 30;
// The batch at which each layer's convolution algorithm is chosen, once (see conv_plan).
constexpr int64_t kAlgorithmReferenceImages = 256;

class CudaRuntime {
 public:
  template <class T>
  using Buffer = DeviceBuffer<T>;

  CudaRuntime(int device, bool tf32) : device_(device), tf32_(tf32) {
    FLIPSWEEP_CUDA_CHECK(cudaSetDevice(device));
    stream_ = CudaStream::create();
    cudnn_ = CudnnHandle::create(stream_.get());
    cublas_ = CublasHandle::create(stream_.get(), tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH);
    const auto devices = describe_devices();
    device_name_ = device < static_cast<int>(devices.size()) ? devices[static_cast<size_t>(device)] : "?";
  }

  template <class T>
  Buffer<T> allocate(size_t n) {
    return Buffer<T>(n);
  }
  template <class T>
  void upload(T* dst, const T* host, size_t n) {
    if (n) FLIPSWEEP_CUDA_CHECK(cudaMemcpyAsync(dst, host, n * sizeof(T), cudaMemcpyHostToDevice, stream_.get()));
    // The host buffer may be reused as soon as this returns.
    synchronize();
  }
  template <class T>
  void download(T* host, const T* src, size_t n) {
    if (n) FLIPSWEEP_CUDA_CHECK(cudaMemcpyAsync(host, src, n * sizeof(T), cudaMemcpyDeviceToHost, stream_.get()));
    synchronize();
  }
  template <class T>
  void copy(T* dst, const T* src, size_t n) {
    if (n) FLIPSWEEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyDeviceToDevice, stream_.get()));
  }
  template <class Body>
  void launch(int64_t count, const Body& body) {
    cuda::launch(stream_.get(), count, body);
  }
  void synchronize() { FLIPSWEEP_CUDA_CHECK(cudaStreamSynchronize(stream_.get())); }

  size_t free_bytes() const {
    size_t free = 0, total = 0;
    FLIPSWEEP_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    return free;
  }
  // Raw images stay resident when they take at most a quarter of what is free at the start.
  size_t dataset_budget_bytes() const { return free_bytes() / 4; }

  std::string name() const { return "cuda"; }
  std::string description() const {
    return "cuda:" + std::to_string(device_) + " " + device_name_ + ", cuDNN " + std::to_string(cudnnGetVersion()) +
           (tf32_ ? ", TF32 in dense layers" : ", strict FP32");
  }

  // Clean-weight convolution over g.batch images: cuDNN with an algorithm that computes each
  // output as a sum of products (implicit GEMM or GEMM). Winograd and FFT transforms mix inputs
  // across positions, so one Inf activation would turn its neighbours into NaN, unlike PyTorch's
  // and our CPU backend's direct sums. Asymmetric padding, which the legacy API cannot express,
  // runs our direct kernel instead.
  void conv(const kernels::Conv2dGeometry& g, const float* x, const float* w, float* y) {
    const int64_t cudnn_h = (g.in_h + 2 * g.pad_top - g.dilation_h * (g.kernel_h - 1) - 1) / g.stride_h + 1;
    const int64_t cudnn_w = (g.in_w + 2 * g.pad_left - g.dilation_w * (g.kernel_w - 1) - 1) / g.stride_w + 1;
    if (cudnn_h != g.out_h || cudnn_w != g.out_w) {
      kernels::DirectConvBody body;
      body.x = x;
      body.w = w;
      body.y = y;
      body.g = g;
      launch(g.batch * g.out_channels * g.out_h * g.out_w, body);
      return;
    }
    const int64_t per_image = std::max(g.in_channels * g.in_h * g.in_w, g.out_channels * g.out_h * g.out_w);
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(g.batch, kMaxElementsPerCall / per_image));
    for (int64_t first = 0; first < g.batch; first += chunk) {
      const int64_t n = std::min(chunk, g.batch - first);
      ConvPlan& p = conv_plan(g, n);
      const float alpha = 1.0f, beta = 0.0f;
      FLIPSWEEP_CUDNN_CHECK(cudnnConvolutionForward(cudnn_.get(), &alpha, p.x.get(), x + first * g.in_channels * g.in_h * g.in_w,
                                                    p.w.get(), w, p.conv.get(), p.algorithm, workspace_.get(),
                                                    workspace_.bytes(), &beta, p.y.get(),
                                                    y + first * g.out_channels * g.out_h * g.out_w));
    }
  }

  // Row-major y[rows, m] = x[rows, k] · w^T (w [m, k]) or x · w (w [k, m]). cuBLAS is
  // column-major, so it computes y^T = w^T · x^T with the operands swapped.
  void gemm(int64_t rows, int64_t k, int64_t m, bool weight_transposed, const float* x, const float* w, float* y) {
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(rows, kMaxElementsPerCall / std::max(k, m)));
    const float alpha = 1.0f, beta = 0.0f;
    for (int64_t first = 0; first < rows; first += chunk) {
      const int64_t n = std::min(chunk, rows - first);
      FLIPSWEEP_CUBLAS_CHECK(cublasSgemm(cublas_.get(), weight_transposed ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N,
                                         static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), &alpha, w,
                                         static_cast<int>(weight_transposed ? k : m), x + first * k, static_cast<int>(k),
                                         &beta, y + first * m, static_cast<int>(m)));
    }
  }

 private:
  struct ConvPlan {
    TensorDescriptor4d x, y;
    FilterDescriptor4d w;
    ConvolutionDescriptor2d conv;
    cudnnConvolutionFwdAlgo_t algorithm = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  };

  using LayerKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

  static LayerKey layer_key(const kernels::Conv2dGeometry& g) {
    return std::make_tuple(g.in_channels, g.in_h, g.in_w, g.out_channels, g.kernel_h, g.kernel_w,
                           g.stride_h * 1000 + g.stride_w, g.pad_top * 1000 + g.pad_left,
                           g.dilation_h * 1000 + g.dilation_w, g.group);
  }

  ConvPlan& conv_plan(const kernels::Conv2dGeometry& g, int64_t images) {
    const auto key = std::make_tuple(images, layer_key(g));
    auto found = conv_plans_.find(key);
    if (found != conv_plans_.end()) return found->second;
    ConvPlan p = describe(g, images);
    // One algorithm per layer, whatever the number of images in a call, so that a trial's bits do
    // not depend on how many trials share its calls: chosen once at a fixed reference batch.
    const auto layer = layer_key(g);
    auto algorithm = layer_algorithms_.find(layer);
    if (algorithm == layer_algorithms_.end()) {
      ConvPlan reference = describe(g, kAlgorithmReferenceImages);
      algorithm = layer_algorithms_.emplace(layer, choose_algorithm(reference)).first;
    }
    p.algorithm = algorithm->second;
    size_t bytes = 0;
    if (cudnnGetConvolutionForwardWorkspaceSize(cudnn_.get(), p.x.get(), p.w.get(), p.conv.get(), p.y.get(), p.algorithm,
                                                &bytes) != CUDNN_STATUS_SUCCESS) {
      p.algorithm = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;  // needs no workspace
      bytes = 0;
    }
    if (bytes > workspace_.bytes()) {
      synchronize();  // convolutions in flight may still use the old workspace
      workspace_ = DeviceBuffer<uint8_t>(bytes);
    }
    return conv_plans_.emplace(key, std::move(p)).first->second;
  }

  ConvPlan describe(const kernels::Conv2dGeometry& g, int64_t images) const {
    ConvPlan p;
    auto as_int = [](int64_t v) { return static_cast<int>(v); };
    p.x = TensorDescriptor4d::create(as_int(images), as_int(g.in_channels), as_int(g.in_h), as_int(g.in_w));
    p.y = TensorDescriptor4d::create(as_int(images), as_int(g.out_channels), as_int(g.out_h), as_int(g.out_w));
    p.w = FilterDescriptor4d::create(as_int(g.out_channels), as_int(g.in_channels / g.group), as_int(g.kernel_h),
                                     as_int(g.kernel_w));
    Convolution2dParams params;
    params.pad_h = as_int(g.pad_top);
    params.pad_w = as_int(g.pad_left);
    params.stride_h = as_int(g.stride_h);
    params.stride_w = as_int(g.stride_w);
    params.dilation_h = as_int(g.dilation_h);
    params.dilation_w = as_int(g.dilation_w);
    params.groups = as_int(g.group);
    params.math = tf32_ ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
    p.conv = ConvolutionDescriptor2d::create(params);
    return p;
  }

  // The fastest sum-of-products algorithm cuDNN's heuristics offer within the workspace cap.
  cudnnConvolutionFwdAlgo_t choose_algorithm(const ConvPlan& p) const {
    cudnnConvolutionFwdAlgoPerf_t candidates[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0;
    FLIPSWEEP_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cudnn_.get(), p.x.get(), p.w.get(), p.conv.get(), p.y.get(),
                                                                 CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, candidates));
    for (int i = 0; i < returned; ++i) {
      const auto algo = candidates[i].algo;
      const bool sum_of_products = algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM ||
                                   algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
                                   algo == CUDNN_CONVOLUTION_FWD_ALGO_GEMM;
      if (candidates[i].status != CUDNN_STATUS_SUCCESS || !sum_of_products) continue;
      size_t bytes = 0;
      if (cudnnGetConvolutionForwardWorkspaceSize(cudnn_.get(), p.x.get(), p.w.get(), p.conv.get(), p.y.get(), algo, &bytes) !=
              CUDNN_STATUS_SUCCESS ||
          bytes > kWorkspaceCapBytes)
        continue;
      return algo;
    }
    return CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;  // needs no workspace
  }

  int device_;
  bool tf32_;
  std::string device_name_;
  CudaStream stream_;
  CudnnHandle cudnn_;
  CublasHandle cublas_;
  DeviceBuffer<uint8_t> workspace_;
  std::map<std::tuple<int64_t, LayerKey>, ConvPlan> conv_plans_;  // descriptors per (images, layer)
  std::map<LayerKey, cudnnConvolutionFwdAlgo_t> layer_algorithms_;
};

std::string gib(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return text;
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const Model& model, const BackendOptions& options) {
  const int devices = device_count();
  if (devices == 0) throw Error("no CUDA device found (--backend cuda); use --backend cpu or auto");
  if (options.device < 0 || options.device >= devices)
    throw Error("--device " + std::to_string(options.device) + ": this machine has " + std::to_string(devices) +
                " CUDA device(s), 0 to " + std::to_string(devices - 1));
  auto runtime = std::make_unique<CudaRuntime>(options.device, options.tf32);

  // Memory plan: the clean weights, the raw dataset (up to a quarter of free memory), cuDNN's
  // workspace (at most kWorkspaceCapBytes) and a reserve for the libraries and the block's
  // correction lists, then per trial in flight the activations of one batch at their peak.
  const batched::ModelPlan plan(model);
  double weight_bytes = 0;
  for (size_t id = 0; id < model.graph.values.size(); ++id)
    if (!plan.readers_of(static_cast<int>(id)).empty())
      weight_bytes += 4.0 * static_cast<double>(element_count(model.graph.values[id].shape));
  const double free = static_cast<double>(runtime->free_bytes());
  const double per_trial = 4.0 * static_cast<double>(options.batch_size) * static_cast<double>(plan.peak_floats_per_image());
  const double budget =
      0.70 * free - weight_bytes - static_cast<double>(kWorkspaceCapBytes) - (512.0 * 1024 * 1024);
  if (per_trial > budget)
    throw Error(model.path + ": one trial of " + std::to_string(options.batch_size) + " images needs " + gib(per_trial) +
                " of activations (and " + gib(weight_bytes) + " of weights); the device has " + gib(free) +
                " free. Lower batch_size.");
  int trials = options.trials_in_flight;
  if (trials <= 0) trials = static_cast<int>(std::min(1024.0, std::max(1.0, budget / per_trial)));
  if (trials * per_trial > budget)
    throw Error(model.path + ": " + std::to_string(trials) + " trials in flight × " + std::to_string(options.batch_size) +
                " images need " + gib(trials * per_trial) + " of activations; the device has " + gib(free) +
                " free. Lower trials_in_flight or batch_size.");
  return std::make_unique<batched::PlanBackend<CudaRuntime>>(model, options, std::move(runtime), trials);
}

void register_cuda_backend() {
  CudaBackendHooks hooks;
  hooks.device_count = &device_count;
  hooks.make = &make_cuda_backend;
  register_cuda_backend_hooks(hooks);
}

}  // namespace flipsweep::cuda
