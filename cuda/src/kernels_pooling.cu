// GPU launchers of the pooling kernel bodies (flipsweep/kernels/pooling.h); see flipsweep_cuda/launchers.h.
#include "flipsweep_cuda/launch.cuh"
#include "flipsweep_cuda/launchers.h"

namespace flipsweep::cuda {

void launch(cudaStream_t stream, int64_t count, const kernels::Pool2dBody& body) { launch_body(stream, count, body); }
void launch(cudaStream_t stream, int64_t count, const kernels::GlobalAveragePoolBody& body) { launch_body(stream, count, body); }
void launch(cudaStream_t stream, int64_t count, const kernels::ReduceMeanPlanesBody& body) { launch_body(stream, count, body); }

}  // namespace flipsweep::cuda
