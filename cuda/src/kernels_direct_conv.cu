// GPU launchers of the direct_conv kernel bodies (flipsweep/kernels/direct_conv.h); see flipsweep_cuda/launchers.h.
#include "flipsweep_cuda/launch.cuh"
#include "flipsweep_cuda/launchers.h"

namespace flipsweep::cuda {

void launch(cudaStream_t stream, int64_t count, const kernels::DirectConvBody& body) { launch_body(stream, count, body); }
void launch(cudaStream_t stream, int64_t count, const kernels::DirectConvTransposeBody& body) { launch_body(stream, count, body); }
void launch(cudaStream_t stream, int64_t count, const kernels::DirectGemmBody& body) { launch_body(stream, count, body); }

}  // namespace flipsweep::cuda
