#pragma once
// One family of error checks for the CUDA runtime, cuDNN and cuBLAS:
//   FLIPSWEEP_{CUDA,CUDNN,CUBLAS}_CHECK(call)  throws flipsweep::Error (setup and run paths)
//   FLIPSWEEP_{CUDA,CUDNN,CUBLAS}_OK(call)     true on success; never throws, says nothing
//                                              (availability probes)
//   FLIPSWEEP_{CUDA,CUDNN,CUBLAS}_WARN(call)   true on success; never throws, reports a failure on
//                                              stderr (destructors and other cleanup)
// Messages record the failing call, file and line and the library's own error name and text.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "flipsweep/error.h"

namespace flipsweep::cuda {

std::string describe_cuda_failure(cudaError_t status, const char* call, const char* file, int line);
std::string describe_cudnn_failure(cudnnStatus_t status, const char* call, const char* file, int line);
std::string describe_cublas_failure(cublasStatus_t status, const char* call, const char* file, int line);

// The WARN forms: true on success, else the message goes to stderr; never throw. The CUDA form
// stays silent for cudaErrorCudartUnloading (cleanup racing process exit is not a failure).
bool check_nothrow(cudaError_t status, const char* call, const char* file, int line) noexcept;
bool check_nothrow(cudnnStatus_t status, const char* call, const char* file, int line) noexcept;
bool check_nothrow(cublasStatus_t status, const char* call, const char* file, int line) noexcept;

}  // namespace flipsweep::cuda

#define FLIPSWEEP_LIBRARY_CHECK_(status_type, success, describe, call)                                \
  do {                                                                                                \
    const status_type flipsweep_status_ = (call);                                                     \
    if (flipsweep_status_ != (success))                                                               \
      throw ::flipsweep::Error(::flipsweep::cuda::describe(flipsweep_status_, #call, __FILE__, __LINE__)); \
  } while (0)

#define FLIPSWEEP_CUDA_CHECK(call) FLIPSWEEP_LIBRARY_CHECK_(cudaError_t, cudaSuccess, describe_cuda_failure, call)
#define FLIPSWEEP_CUDNN_CHECK(call) \
  FLIPSWEEP_LIBRARY_CHECK_(cudnnStatus_t, CUDNN_STATUS_SUCCESS, describe_cudnn_failure, call)
#define FLIPSWEEP_CUBLAS_CHECK(call) \
  FLIPSWEEP_LIBRARY_CHECK_(cublasStatus_t, CUBLAS_STATUS_SUCCESS, describe_cublas_failure, call)

#define FLIPSWEEP_CUDA_OK(call) ((call) == cudaSuccess)
#define FLIPSWEEP_CUDNN_OK(call) ((call) == CUDNN_STATUS_SUCCESS)
#define FLIPSWEEP_CUBLAS_OK(call) ((call) == CUBLAS_STATUS_SUCCESS)

#define FLIPSWEEP_CUDA_WARN(call) ::flipsweep::cuda::check_nothrow((call), #call, __FILE__, __LINE__)
#define FLIPSWEEP_CUDNN_WARN(call) \
  ::flipsweep::cuda::check_nothrow((call), #call, __FILE__, __LINE__)
#define FLIPSWEEP_CUBLAS_WARN(call) \
  ::flipsweep::cuda::check_nothrow((call), #call, __FILE__, __LINE__)
