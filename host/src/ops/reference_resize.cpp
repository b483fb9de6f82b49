// Reference Resize (opset 13 semantics): nearest and n-linear, every coordinate transformation and
// nearest rounding mode. Coordinates are computed in fp32 from the ONNX formulas.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "flipsweep/ops/shapes.h"
#include "internal.h"

namespace flipsweep::reference::detail {

namespace {

// The source coordinate of output index `out_index` along one axis (ONNX Resize formulas).
// `resized_length` is the un-floored in_size * scale when scales were given (the ONNX reference
// divides by it for align_corners, see test_resize_downsample_scales_linear_align_corners), else
// out_size.
float source_coordinate(CoordinateTransform transform, int64_t out_index, int64_t in_size, int64_t out_size,
                        float scale, float resized_length) {
  const float x = static_cast<float>(out_index);
  switch (transform) {
    case CoordinateTransform::HalfPixel:
      return (x + 0.5f) / scale - 0.5f;
    case CoordinateTransform::PytorchHalfPixel:
      return out_size > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case CoordinateTransform::AlignCorners:
      return out_size > 1 ? x * static_cast<float>(in_size - 1) / (resized_length - 1.0f) : 0.0f;
    case CoordinateTransform::Asymmetric:
      return x / scale;
    case CoordinateTransform::TfHalfPixelForNn:
      return (x + 0.5f) / scale;
  }
  return 0.0f;
}

int64_t nearest_index(NearestRounding rounding, float coordinate, int64_t in_size) {
  float rounded = 0.0f;
  const float below = std::floor(coordinate);
  const bool exactly_half = coordinate - below == 0.5f;
  switch (rounding) {
    case NearestRounding::RoundPreferFloor:
      rounded = exactly_half ? below : std::round(coordinate);
      break;
    case NearestRounding::RoundPreferCeil:
      rounded = exactly_half ? below + 1.0f : std::round(coordinate);
      break;
    case NearestRounding::Floor:
      rounded = below;
      break;
    case NearestRounding::Ceil:
      rounded = std::ceil(coordinate);
      break;
  }
  return std::clamp<int64_t>(static_cast<int64_t>(rounded), 0, in_size - 1);
}

// How one output index along one axis reads the input: a single source index (nearest, or an axis
// that is not resized) or two neighbours blended with weights that sum to 1.
struct AxisTap {
  int64_t first = 0;
  int64_t second = 0;
  float first_weight = 1.0f;
  float second_weight = 0.0f;
  bool blended = false;
};

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
    float coordinate = source_coordinate(p.coordinate_transform, o, in_size, out_size, scale, resized_length);
    if (p.mode == ResizeMode::Nearest) {
      tap.first = nearest_index(p.nearest_rounding, coordinate, in_size);
      continue;
    }
    // Left of the first sample PyTorch clamps the coordinate to 0; the ONNX formula's edge padding
    // gives the same value, and the clamp keeps PyTorch's pairing of neighbours.
    coordinate = std::max(coordinate, 0.0f);
    const float below = std::floor(coordinate);
    const int64_t lower = std::min<int64_t>(static_cast<int64_t>(below), in_size - 1);
    tap.blended = true;
    tap.first = lower;
    tap.second = std::min<int64_t>(lower + 1, in_size - 1);
    tap.second_weight = coordinate - below;
    tap.first_weight = 1.0f - tap.second_weight;
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
  for (size_t axis = 0; axis < rank; ++axis) {
    const int64_t in_size = x.shape[axis];
    const int64_t out_size = y.shape[axis];
    // With sizes, opset 13 defines the scale as output / input.
    const float scale = p.scales.empty() ? static_cast<float>(out_size) / static_cast<float>(in_size) : p.scales[axis];
    plan.taps.push_back(axis_taps(p, axis, in_size, out_size, scale));
  }
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
