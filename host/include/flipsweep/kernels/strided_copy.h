#pragma once
// Transpose and Slice in the trial-batched activation pass: a strided view (ops/shapes.h
// StridedView) of one trial's batch [B, ...], read element by element as the reference kernels do.
#include <cstdint>

#include "flipsweep/core/host_device.h"
#include "flipsweep/error.h"
#include "flipsweep/ops/shapes.h"

namespace flipsweep::kernels {

// i < T·per_trial: output element i - t·per_trial of trial t reads
// x[t·x_trial_stride + offset + Σ_d coordinate_d·strides[d]], coordinates row-major over `shape`.
struct StridedCopyBody {
  static constexpr int kMaxRank = 6;
  const float* x = nullptr;
  int64_t x_trial_stride = 0;
  float* y = nullptr;
  int64_t per_trial = 0;
  int rank = 0;
  int64_t offset = 0;
  int64_t shape[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const int64_t t = i / per_trial;
    int64_t rest = i - t * per_trial;
    int64_t source = offset;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t coordinate = rest % shape[d];
      rest /= shape[d];
      source += coordinate * strides[d];
    }
    y[i] = x[t * x_trial_stride + source];
  }
};

// Host helper: the body's geometry from the view of one trial's batch; pointers stay the caller's.
inline StridedCopyBody make_strided_copy_body(const StridedView& view) {
  if (view.shape.size() > static_cast<size_t>(StridedCopyBody::kMaxRank))
    throw Error("strided copy of rank " + std::to_string(view.shape.size()) + " (at most " +
                std::to_string(StridedCopyBody::kMaxRank) + ")");
  StridedCopyBody body;
  body.rank = static_cast<int>(view.shape.size());
  body.offset = view.offset;
  body.per_trial = 1;
  for (size_t d = 0; d < view.shape.size(); ++d) {
    body.shape[d] = view.shape[d];
    body.strides[d] = view.strides[d];
    body.per_trial *= view.shape[d];
  }
  return body;
}

}  // namespace flipsweep::kernels
