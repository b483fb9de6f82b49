// The core/ numerics compiled by nvcc and run on the device; see core_numerics_check.h.
#include <cuda_runtime.h>

#include <algorithm>

#include "flipsweep_cuda/core_numerics_check.h"
#include "flipsweep_cuda/cuda_check.h"
#include "flipsweep_cuda/device_buffer.h"

namespace flipsweep::cuda {

namespace {

__global__ void core_check_kernel(const float* inputs, uint32_t count, uint32_t* out) {
  const uint32_t stride = gridDim.x * blockDim.x;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
    core_check_element(inputs[i], i, out + static_cast<size_t>(i) * kCoreCheckColumns);
}

}  // namespace

std::vector<uint32_t> evaluate_safs_on_device(const std::vector<float>& inputs) {
  if (inputs.size() >= (size_t{1} << 32)) throw Error("evaluate_safs_on_device: at most 2^32 - 1 inputs");
  std::vector<uint32_t> result(inputs.size() * kCoreCheckColumns);
  if (inputs.empty()) return result;
  DeviceBuffer<float> device_inputs(inputs.size());
  DeviceBuffer<uint32_t> device_result(result.size());
  FLIPSWEEP_CUDA_CHECK(cudaMemcpy(device_inputs.get(), inputs.data(), device_inputs.bytes(), cudaMemcpyHostToDevice));
  constexpr int kThreads = 128;
  const size_t blocks = std::min<size_t>((inputs.size() + kThreads - 1) / kThreads, 65535);
  core_check_kernel<<<static_cast<unsigned>(blocks), kThreads>>>(device_inputs.get(), static_cast<uint32_t>(inputs.size()),
                                                                  device_result.get());
  FLIPSWEEP_CUDA_CHECK(cudaGetLastError());
  FLIPSWEEP_CUDA_CHECK(cudaMemcpy(result.data(), device_result.get(), device_result.bytes(), cudaMemcpyDeviceToHost));
  return result;
}

}  // namespace flipsweep::cuda
