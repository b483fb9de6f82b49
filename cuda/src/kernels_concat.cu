// GPU launchers of the concat kernel bodies (flipsweep/kernels/concat.h); see flipsweep_cuda/launchers.h.
#include "flipsweep_cuda/launch.cuh"
#include "flipsweep_cuda/launchers.h"

namespace flipsweep::cuda {

void launch(cudaStream_t stream, int64_t count, const kernels::ConcatBody& body) { launch_body(stream, count, body); }

}  // namespace flipsweep::cuda
