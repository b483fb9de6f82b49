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
    char line[256];
    std::snprintf(line, sizeof line, "%s (sm_%d%d, %.1f GiB)", prop.name, prop.major, prop.minor,
                  static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    out.emplace_back(line);
  }
  return out;
}

}  // namespace flipsweep::cuda
