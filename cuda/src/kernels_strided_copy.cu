// GPU launcher of the strided-copy kernel body (Transpose, Slice: flipsweep/kernels/strided_copy.h);
// see flipsweep_cuda/launchers.h.
#include "flipsweep_cuda/launch.cuh"
#include "flipsweep_cuda/launchers.h"

namespace flipsweep::cuda {

void launch(cudaStream_t stream, int64_t count, const kernels::StridedCopyBody& body) { launch_body(stream, count, body); }

}  // namespace flipsweep::cuda
