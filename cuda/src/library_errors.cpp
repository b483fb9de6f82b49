// Error messages for cuDNN and cuBLAS failures (the CUDA runtime's is in device.cu), and the
// non-throwing reporter used by the *_WARN macros in cuda_check.h.
#include <cstdio>

#include "flipsweep_cuda/cuda_check.h"

namespace flipsweep::cuda {

namespace {
std::string where(const char* call, const char* file, int line) {
  return std::string(" in ") + call + " at " + file + ":" + std::to_string(line);
}
}  // namespace

std::string describe_cudnn_failure(cudnnStatus_t status, const char* call, const char* file, int line) {
  return std::string("cuDNN error ") + std::to_string(static_cast<int>(status)) + " (" + cudnnGetErrorString(status) +
         ")" + where(call, file, line);
}

std::string describe_cublas_failure(cublasStatus_t status, const char* call, const char* file, int line) {
  return std::string("cuBLAS error ") + cublasGetStatusName(status) + " (" + cublasGetStatusString(status) + ")" +
         where(call, file, line);
}

namespace {
template <class Status, class Describe>
bool report(Status status, Status success, Describe describe, const char* call, const char* file, int line) noexcept {
  if (status == success) return true;
  try {
    std::fprintf(stderr, "flipsweep: %s (during cleanup; not thrown)\n", describe(status, call, file, line).c_str());
  } catch (...) {
    std::fprintf(stderr, "flipsweep: %s failed at %s:%d (during cleanup; not thrown)\n", call, file, line);
  }
  return false;
}
}  // namespace

bool check_nothrow(cudaError_t status, const char* call, const char* file, int line) noexcept {
  if (status == cudaErrorCudartUnloading) return false;
  return report(status, cudaSuccess, describe_cuda_failure, call, file, line);
}

bool check_nothrow(cudnnStatus_t status, const char* call, const char* file, int line) noexcept {
  return report(status, CUDNN_STATUS_SUCCESS, describe_cudnn_failure, call, file, line);
}

bool check_nothrow(cublasStatus_t status, const char* call, const char* file, int line) noexcept {
  return report(status, CUBLAS_STATUS_SUCCESS, describe_cublas_failure, call, file, line);
}

}  // namespace flipsweep::cuda
