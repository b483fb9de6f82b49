#pragma once
// GPU launchers for the fault-correction bodies (flipsweep/kernels/corrections.h); see launchers.h
// for the convention. Defined in cuda/src/kernels_corrections.cu.
#include <cuda_runtime.h>

#include <cstdint>

#include "flipsweep/kernels/corrections.h"

namespace flipsweep::cuda {

void launch(cudaStream_t stream, int64_t count, const kernels::DecodeCorrectionsBody& body);
void launch(cudaStream_t stream, int64_t count, const kernels::ConvCorrectionBody& body);
void launch(cudaStream_t stream, int64_t count, const kernels::ConvTransposeCorrectionBody& body);
void launch(cudaStream_t stream, int64_t count, const kernels::GemmCorrectionBody& body);
void launch(cudaStream_t stream, int64_t count, const kernels::BroadcastBody& body);
void launch(cudaStream_t stream, int64_t count, const kernels::ScatterCorrectionsBody& body);

}  // namespace flipsweep::cuda
