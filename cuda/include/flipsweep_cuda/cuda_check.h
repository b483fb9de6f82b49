#pragma once
// One family of CUDA error checks: the throwing form for setup paths, the non-throwing form for
// destructors and availability probes. Both record the failing call, file and line.
#include <cuda_runtime.h>

#include <string>

#include "flipsweep/error.h"

namespace flipsweep::cuda {

std::string describe_cuda_failure(cudaError_t status, const char* call, const char* file, int line);

}  // namespace flipsweep::cuda

#define FLIPSWEEP_CUDA_CHECK(call)                                                                    \
  do {                                                                                                \
    cudaError_t flipsweep_status_ = (call);                                                           \
    if (flipsweep_status_ != cudaSuccess)                                                             \
      throw ::flipsweep::Error(::flipsweep::cuda::describe_cuda_failure(flipsweep_status_, #call, __FILE__, __LINE__)); \
  } while (0)

// Evaluates to true on success; never throws.
#define FLIPSWEEP_CUDA_OK(call) ((call) == cudaSuccess)
