// Row-wise argmax with torch.argmax's NaN rule. One thread block per row; each thread scans a
// strided slice, then a shared-memory reduction keeps the (value, index) pair that torch would.
#include <cuda_runtime.h>

#include "flipsweep_cuda/cuda_check.h"
#include "flipsweep_cuda/device.h"
#include "flipsweep_cuda/device_buffer.h"

namespace flipsweep::cuda {

namespace {

constexpr int kThreads = 128;

// True when candidate (v, i) beats the current best (b, j) under "first NaN, else first max".
__device__ bool beats(float v, int64_t i, float b, int64_t j) {
  const bool v_nan = v != v, b_nan = b != b;
  if (v_nan || b_nan) return v_nan && (!b_nan || i < j);
  return v > b || (v == b && i < j);
}

__global__ void argmax_rows_kernel(const float* logits, int64_t columns, int64_t* result) {
  __shared__ float best_value[kThreads];
  __shared__ int64_t best_index[kThreads];
  const float* row = logits + blockIdx.x * columns;
  float best = 0.0f;
  int64_t index = -1;
  for (int64_t c = threadIdx.x; c < columns; c += blockDim.x)
    if (index < 0 || beats(row[c], c, best, index)) {
      best = row[c];
      index = c;
    }
  best_value[threadIdx.x] = best;
  best_index[threadIdx.x] = index;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      const int other = threadIdx.x + stride;
      if (best_index[other] >= 0 &&
          (best_index[threadIdx.x] < 0 ||
           beats(best_value[other], best_index[other], best_value[threadIdx.x], best_index[threadIdx.x]))) {
        best_value[threadIdx.x] = best_value[other];
        best_index[threadIdx.x] = best_index[other];
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) result[blockIdx.x] = best_index[0];
}

}  // namespace

std::vector<int64_t> argmax_rows(const std::vector<float>& logits, int64_t rows, int64_t columns) {
  if (static_cast<int64_t>(logits.size()) != rows * columns) throw Error("argmax_rows: logits size mismatch");
  std::vector<int64_t> result(static_cast<size_t>(rows));
  if (rows == 0) return result;
  DeviceBuffer<float> device_logits(logits.size());
  DeviceBuffer<int64_t> device_result(result.size());
  FLIPSWEEP_CUDA_CHECK(cudaMemcpy(device_logits.get(), logits.data(), device_logits.bytes(), cudaMemcpyHostToDevice));
  argmax_rows_kernel<<<static_cast<unsigned>(rows), kThreads>>>(device_logits.get(), columns, device_result.get());
  FLIPSWEEP_CUDA_CHECK(cudaGetLastError());
  FLIPSWEEP_CUDA_CHECK(cudaMemcpy(result.data(), device_result.get(), device_result.bytes(), cudaMemcpyDeviceToHost));
  return result;
}

}  // namespace flipsweep::cuda
