#pragma once
// The one CUDA kernel template: runs a kernel body (see flipsweep/kernels/host_launch.h) one index
// per thread, grid-stride, on a stream. Op families instantiate it for their bodies in their own
// .cu files and expose plain launcher functions (flipsweep_cuda/launchers.h), so host code that
// launches bodies compiles with the ordinary C++ compiler.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "flipsweep_cuda/cuda_check.h"

namespace flipsweep::cuda {

template <class Body>
__global__ void run_body_kernel(Body body, int64_t count) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) body(i);
}

template <class Body>
void launch_body(cudaStream_t stream, int64_t count, const Body& body) {
  if (count <= 0) return;
  constexpr int kThreads = 256;
  // Enough blocks to fill any current GPU many times over; the grid-stride loop covers the rest.
  const int64_t blocks = std::min<int64_t>((count + kThreads - 1) / kThreads, int64_t{1} << 20);
  run_body_kernel<Body><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(body, count);
  FLIPSWEEP_CUDA_CHECK(cudaGetLastError());
}

}  // namespace flipsweep::cuda
