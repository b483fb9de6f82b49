#pragma once
// Concat kernel body of the trial-batched activation pass. Every tensor is viewed per image as
// outer × axis × inner (outer: product of the dims between the batch axis and the concat axis,
// inner: product of the dims after it); the output is [T·B, ...] contiguous, trial-major.
#include <cstdint>
#include <vector>

#include "flipsweep/core/host_device.h"
#include "flipsweep/error.h"

namespace flipsweep::kernels {

// One input: trial t, image n at data + t·trial_stride + n·outer·extent·inner (trial_stride 0 when
// shared by all trials, B·outer·extent·inner when it holds T copies).
struct ConcatInput {
  const float* data = nullptr;
  int64_t trial_stride = 0;
  int64_t extent = 0;  // size along the concat axis
};

// Concat along an axis >= 1 (the batch axis is never concatenated: it carries the trials).
// i < T·batch·outer·axis_extent·inner; axis_extent = Σ inputs[j].extent.
struct ConcatBody {
  // DenseNet concatenates up to 25 (DenseNet-121) or 49 (-201) feature maps; 64 inputs keep the
  // body's parameters (24 bytes each) well under CUDA's 4 KiB kernel-argument limit.
  static constexpr int kMaxInputs = 64;
  ConcatInput inputs[kMaxInputs];
  int input_count = 0;
  float* y = nullptr;
  int64_t batch = 0;  // B, images per trial
  int64_t outer = 1;
  int64_t axis_extent = 0;
  int64_t inner = 1;

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const int64_t inner_index = i % inner;
    int64_t rest = i / inner;
    int64_t a = rest % axis_extent;
    rest /= axis_extent;
    const int64_t o = rest % outer;
    rest /= outer;
    const int64_t n = rest % batch;
    const int64_t t = rest / batch;
    int j = 0;
    while (j + 1 < input_count && a >= inputs[j].extent) {
      a -= inputs[j].extent;
      ++j;
    }
    const ConcatInput& in = inputs[j];
    y[i] = in.data[t * in.trial_stride + ((n * outer + o) * in.extent + a) * inner + inner_index];
  }
};

// Host helper: shapes of a ConcatBody from one trial's input shapes (batch first) and the axis
// (negative counts from the end, must resolve to >= 1). Sets batch/outer/inner/extents and the
// output extent; data pointers and trial strides stay the caller's.
inline ConcatBody make_concat_body(const std::vector<std::vector<int64_t>>& input_shapes, int64_t axis) {
  if (input_shapes.empty() || static_cast<int>(input_shapes.size()) > ConcatBody::kMaxInputs)
    throw Error("concat kernel body: " + std::to_string(input_shapes.size()) + " inputs, supports 1 to " +
                std::to_string(ConcatBody::kMaxInputs));
  const int64_t rank = static_cast<int64_t>(input_shapes[0].size());
  if (axis < 0) axis += rank;
  if (axis < 1 || axis >= rank)
    throw Error("concat kernel body: axis " + std::to_string(axis) + " must be a non-batch axis of rank " +
                std::to_string(rank));
  ConcatBody body;
  const std::vector<int64_t>& first = input_shapes[0];
  body.batch = first[0];
  for (int64_t k = 1; k < axis; ++k) body.outer *= first[static_cast<size_t>(k)];
  for (int64_t k = axis + 1; k < rank; ++k) body.inner *= first[static_cast<size_t>(k)];
  body.input_count = static_cast<int>(input_shapes.size());
  for (size_t j = 0; j < input_shapes.size(); ++j) {
    body.inputs[j].extent = input_shapes[j][static_cast<size_t>(axis)];
    body.axis_extent += body.inputs[j].extent;
  }
  return body;
}

}  // namespace flipsweep::kernels
