#pragma once
// The CUDA backend: the trial-batched plan (flipsweep/batched/plan_backend.h) on a GPU, with
// cuDNN convolutions and cuBLAS GEMMs for the shared dense passes and our kernel bodies for
// everything else. Strict FP32 unless BackendOptions::tf32.
#include <memory>

#include "flipsweep/backend/backend.h"

namespace flipsweep::cuda {

// Makes `--backend cuda|auto` reach this backend (backend_factory.h). Call once at start-up.
void register_cuda_backend();

// Picks trials in flight from free device memory when options.trials_in_flight is 0; a model
// whose single trial does not fit fails with the sizes.
std::unique_ptr<Backend> make_cuda_backend(const Model& model, const BackendOptions& options);

}  // namespace flipsweep::cuda
