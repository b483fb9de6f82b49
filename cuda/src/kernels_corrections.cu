// Fault corrections on the GPU: the bodies of flipsweep/kernels/corrections.h, one index per thread.
#include "flipsweep_cuda/correction_launchers.h"
#include "flipsweep_cuda/launch.cuh"

namespace flipsweep::cuda {

void launch(cudaStream_t stream, int64_t count, const kernels::DecodeCorrectionsBody& body) { launch_body(stream, count, body); }
void launch(cudaStream_t stream, int64_t count, const kernels::ConvCorrectionBody& body) { launch_body(stream, count, body); }
void launch(cudaStream_t stream, int64_t count, const kernels::ConvTransposeCorrectionBody& body) {
  launch_body(stream, count, body);
}
void launch(cudaStream_t stream, int64_t count, const kernels::GemmCorrectionBody& body) { launch_body(stream, count, body); }
void launch(cudaStream_t stream, int64_t count, const kernels::BroadcastBody& body) { launch_body(stream, count, body); }
void launch(cudaStream_t stream, int64_t count, const kernels::ScatterCorrectionsBody& body) { launch_body(stream, count, body); }

}  // namespace flipsweep::cuda
