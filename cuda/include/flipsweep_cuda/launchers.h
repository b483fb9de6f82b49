#pragma once
// Plain host functions that run a kernel body (flipsweep/kernels/*.h) on the GPU: `count` indices,
// one per thread, on `stream`, asynchronously (errors at launch throw flipsweep::Error through
// FLIPSWEEP_CUDA_CHECK; errors during the kernel surface at the next synchronising call). Pointers in
// the body must be device pointers. Defined in cuda/src/kernels_*.cu with launch_body()
// (launch.cuh), so callers compile with the ordinary C++ compiler. The host twin of each is
// kernels::host_launch(count, body).
#include <cuda_runtime.h>

#include <cstdint>

#include "flipsweep/kernels/concat.h"
#include "flipsweep/kernels/direct_conv.h"
#include "flipsweep/kernels/elementwise.h"
#include "flipsweep/kernels/epilogue.h"
#include "flipsweep/kernels/pooling.h"
#include "flipsweep/kernels/preprocess.h"
#include "flipsweep/kernels/resize.h"
#include "flipsweep/kernels/scoring.h"
#include "flipsweep/kernels/strided_copy.h"

namespace flipsweep::cuda {

// kernels_elementwise.cu
void launch(cudaStream_t stream, int64_t count, const kernels::UnaryBody& body);
void launch(cudaStream_t stream, int64_t count, const kernels::BinaryBody& body);
// kernels_pooling.cu
void launch(cudaStream_t stream, int64_t count, const kernels::Pool2dBody& body);
void launch(cudaStream_t stream, int64_t count, const kernels::GlobalAveragePoolBody& body);
void launch(cudaStream_t stream, int64_t count, const kernels::ReduceMeanPlanesBody& body);
// kernels_strided_copy.cu
void launch(cudaStream_t stream, int64_t count, const kernels::StridedCopyBody& body);
// kernels_concat.cu
void launch(cudaStream_t stream, int64_t count, const kernels::ConcatBody& body);
// kernels_resize.cu
void launch(cudaStream_t stream, int64_t count, const kernels::ResizeBody& body);
// kernels_preprocess.cu
void launch(cudaStream_t stream, int64_t count, const kernels::PreprocessBody& body);
// kernels_direct_conv.cu
void launch(cudaStream_t stream, int64_t count, const kernels::DirectConvBody& body);
void launch(cudaStream_t stream, int64_t count, const kernels::DirectConvTransposeBody& body);
void launch(cudaStream_t stream, int64_t count, const kernels::DirectGemmBody& body);
// kernels_epilogue.cu
void launch(cudaStream_t stream, int64_t count, const kernels::EpilogueBody& body);
// kernels_scoring.cu
void launch(cudaStream_t stream, int64_t count, const kernels::ScoreRowsBody& body);

}  // namespace flipsweep::cuda
