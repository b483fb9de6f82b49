#include <cstdio>

#include "flipsweep_cuda/cuda_check.h"
#include "flipsweep_cuda/device.h"

namespace flipsweep::cuda {

std::string describe_cuda_failure(cudaError_t status, const char* call, const char* file, int line) {
  return std::string("CUDA error ") + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ") in " + call +
         " at " + file + ":" + std::to_string(line);
}

int device_count() {
  int count = 0;
  if (!FLIPSWEEP_CUDA_OK(cudaGetDeviceCount(&count))) {
    (void)cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return count;
}

std::vector<std::string> describe_devices() {
  std::vector<std::string> out;
  for (int d = 0; d < device_count(); ++d) {
    cudaDeviceProp prop{};
    FLIPSWEEP_CUDA_CHECK(cudaGetDeviceProperties(&prop, d));
    char memory[32];
    std::snprintf(memory, sizeof memory, "%.1f GiB", static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    out.push_back(std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
                  memory + ")");
  }
  return out;
}

}  // namespace flipsweep::cuda
