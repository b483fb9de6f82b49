// Reference Resize (opset 13 semantics): nearest and n-linear, every coordinate transformation and
// nearest rounding mode. Coordinates are computed in fp32 from the ONNX formulas.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "flipsweep/core/resize_math.h"
#include "flipsweep/ops/shapes.h"
#include "internal.h"

namespace flipsweep::reference::detail {

namespace {

// The per-axis coordinate math lives in core/resize_math.h, shared with the CUDA kernel body
// (kernels/resize.h), so both compute the same taps bit for bit.
using AxisTap = core::ResizeAxisTap;

std::vector<AxisTap> axis_taps(const ResizeParams& p, size_t axis, int64_t in_size, int64_t out_size, float scale) {
  std::vector<AxisTap> taps(static_cast<size_t>(out_size));
  // Batch and channel axes are never interpolated (their scale is 1); linear mode blends along
  // every other axis, including one that keeps its size, as PyTorch's upsample kernels do.
  const bool pass_through = axis < 2 && in_size == out_size;
  const float resized_length = p.scales.empty() ? static_cast<float>(out_size) : static_cast<float>(in_size) * scale;
  for (int64_t o = 0; o < out_size; ++o) {
    AxisTap& tap = taps[static_cast<size_t>(o)];
    if (pass_through) {
      tap.first = o;
      continue;
    }
    tap = core::resize_axis_tap(p.mode, p.coordinate_transform, p.nearest_rounding, o, in_size, out_size, scale,
                                resized_length);
  }
  return taps;
}

struct ResizePlan {
  std::vector<std::vector<AxisTap>> taps;  // per axis, per output index
  std::vector<int64_t> input_strides;
  const float* input = nullptr;
};

// Value at output multi-index `index` from axis `axis` on, given the input offset accumulated over
// the axes before it. Blending nests outer axes around inner ones, so 2-D linear is
// h0 * (w0 * x00 + w1 * x01) + h1 * (w0 * x10 + w1 * x11), PyTorch's bilinear order.
float interpolate(const ResizePlan& plan, const std::vector<int64_t>& index, size_t axis, int64_t offset) {
  if (axis == plan.taps.size()) return plan.input[offset];
  const AxisTap& tap = plan.taps[axis][static_cast<size_t>(index[axis])];
  const int64_t stride = plan.input_strides[axis];
  const float first = interpolate(plan, index, axis + 1, offset + tap.first * stride);
  if (!tap.blended) return first;
  const float second = interpolate(plan, index, axis + 1, offset + tap.second * stride);
  return tap.first_weight * first + tap.second_weight * second;
}

}  // namespace

}  // namespace flipsweep::reference::detail

namespace flipsweep::reference {

std::vector<core::ResizeAxisTap> resize_axis_taps(const ResizeParams& p, const Shape& x, const Shape& y, size_t axis) {
  const int64_t in_size = x[axis];
  const int64_t out_size = y[axis];
  // With sizes, opset 13 defines the scale as output / input.
  const float scale = p.scales.empty() ? static_cast<float>(out_size) / static_cast<float>(in_size) : p.scales[axis];
  return detail::axis_taps(p, axis, in_size, out_size, scale);
}

}  // namespace flipsweep::reference

namespace flipsweep::reference::detail {

void resize(const ResizeParams& p, const Tensor& x, Tensor& y) {
  const size_t rank = x.shape.size();
  if (x.shape == y.shape && p.mode == ResizeMode::Linear) {
    bool identity_scales = true;
    for (float s : p.scales) identity_scales = identity_scales && s == 1.0f;
    // PyTorch copies when nothing is resized instead of blending with zero weights.
    if (identity_scales) {
      y.data = x.data;
      return;
    }
  }
  ResizePlan plan;
  plan.input = x.ptr();
  plan.input_strides.assign(rank, 1);
  for (size_t axis = rank - 1; axis-- > 0;) plan.input_strides[axis] = plan.input_strides[axis + 1] * x.shape[axis + 1];
  for (size_t axis = 0; axis < rank; ++axis) plan.taps.push_back(resize_axis_taps(p, x.shape, y.shape, axis));
  const int64_t count = y.size();
  const int64_t inner = y.shape.back();
  const int64_t rows = inner == 0 ? 0 : count / inner;
#pragma omp parallel for schedule(static) if (count > (1 << 14))
  for (int64_t row = 0; row < rows; ++row) {
    std::vector<int64_t> index(rank, 0);
    int64_t rest = row;
    for (size_t axis = rank - 1; axis-- > 0;) {
      index[axis] = rest % y.shape[axis];
      rest /= y.shape[axis];
    }
    for (int64_t i = 0; i < inner; ++i) {
      index[rank - 1] = i;
      y.data[static_cast<size_t>(row * inner + i)] = interpolate(plan, index, 0, 0);
    }
  }
}

}  // namespace flipsweep::reference::detail
