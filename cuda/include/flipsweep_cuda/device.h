#pragma once
#include <string>
#include <vector>

namespace flipsweep::cuda {

// Number of usable CUDA devices; 0 when there is no driver or no GPU (never throws).
int device_count();

// "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)" per device.
std::vector<std::string> describe_devices();

// Index of the largest logit per row with torch.argmax's rule (first NaN wins, else first max),
// computed on the device. The CPU twin is flipsweep::reference::argmax.
std::vector<int64_t> argmax_rows(const std::vector<float>& logits, int64_t rows, int64_t columns);

}  // namespace flipsweep::cuda
