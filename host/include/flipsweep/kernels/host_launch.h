#pragma once
// Runs a kernel body on the host over the same index space the CUDA launcher gives it.
//
// Every custom kernel of the CUDA backend is a *body*: a small struct of pointers and sizes with
// `FLIPSWEEP_HD void operator()(int64_t i) const` that computes output element (or work item) i
// and writes nowhere another index writes. On the GPU, cuda/include/flipsweep_cuda/launch.cuh runs
// it one index per thread; here, host_launch runs it over the same indices with OpenMP. Tests and
// the host executor of the trial-batched plan use this, so CI checks the very code the GPU runs.
#include <cstdint>

namespace flipsweep::kernels {

template <class Body>
void host_launch(int64_t count, const Body& body) {
  // Starting a thread team costs more than a few thousand cheap indices.
#pragma omp parallel for schedule(static) if (count >= 4096)
  for (int64_t i = 0; i < count; ++i) body(i);
}

}  // namespace flipsweep::kernels
