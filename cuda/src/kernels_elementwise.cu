// GPU launchers of the elementwise kernel bodies (flipsweep/kernels/elementwise.h); see flipsweep_cuda/launchers.h.
#include "flipsweep_cuda/launch.cuh"
#include "flipsweep_cuda/launchers.h"

namespace flipsweep::cuda {

void launch(cudaStream_t stream, int64_t count, const kernels::UnaryBody& body) { launch_body(stream, count, body); }
void launch(cudaStream_t stream, int64_t count, const kernels::BinaryBody& body) { launch_body(stream, count, body); }

}  // namespace flipsweep::cuda
