#pragma once
// Per-coordinate resampling math shared by the reference kernels, the host preprocessing and the
// CUDA kernel bodies, so all of them compute the same source indices and weights bit for bit:
//   - ONNX Resize (opset 13): source coordinate per CoordinateTransform, nearest rounding, and the
//     linear tap with PyTorch's pairing of neighbours (used by reference_resize.cpp, ResizeBody);
//   - PyTorch's upsample_bilinear2d taps (align_corners=False, no scale factor) used by the
//     torchvision-style preprocessing (data/preprocess.cpp, PreprocessBody).
#include <cmath>
#include <cstdint>

#include "flipsweep/core/float_ops.h"
#include "flipsweep/core/host_device.h"
#include "flipsweep/graph/op_params.h"

namespace flipsweep::core {

// The source coordinate of output index `out_index` along one axis (ONNX Resize formulas).
// `resized_length` is the un-floored in_size * scale when scales were given (the ONNX reference
// divides by it for align_corners, see test_resize_downsample_scales_linear_align_corners), else
// out_size.
FLIPSWEEP_HD float resize_source_coordinate(CoordinateTransform transform, int64_t out_index, int64_t in_size,
                                            int64_t out_size, float scale, float resized_length) {
  const float x = static_cast<float>(out_index);
  switch (transform) {
    case CoordinateTransform::HalfPixel:
      return (x + 0.5f) / scale - 0.5f;
    case CoordinateTransform::PytorchHalfPixel:
      return out_size > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case CoordinateTransform::AlignCorners:
      return out_size > 1 ? mul_rn(x, static_cast<float>(in_size - 1)) / (resized_length - 1.0f) : 0.0f;
    case CoordinateTransform::Asymmetric:
      return x / scale;
    case CoordinateTransform::TfHalfPixelForNn:
      return (x + 0.5f) / scale;
  }
  return 0.0f;
}

// Nearest source index for `coordinate`, clamped into [0, in_size).
FLIPSWEEP_HD int64_t resize_nearest_index(NearestRounding rounding, float coordinate, int64_t in_size) {
  float rounded = 0.0f;
  const float below = ::floorf(coordinate);
  const bool exactly_half = coordinate - below == 0.5f;
  switch (rounding) {
    case NearestRounding::RoundPreferFloor:
      rounded = exactly_half ? below : ::roundf(coordinate);
      break;
    case NearestRounding::RoundPreferCeil:
      rounded = exactly_half ? below + 1.0f : ::roundf(coordinate);
      break;
    case NearestRounding::Floor:
      rounded = below;
      break;
    case NearestRounding::Ceil:
      rounded = ::ceilf(coordinate);
      break;
  }
  return min_i64(max_i64(static_cast<int64_t>(rounded), 0), in_size - 1);
}

// How one output index along one axis reads the input: a single source index (nearest, or an axis
// that is not resized) or two neighbours blended with weights that sum to 1.
struct ResizeAxisTap {
  int64_t first = 0;
  int64_t second = 0;
  float first_weight = 1.0f;
  float second_weight = 0.0f;
  bool blended = false;
};

// The tap of output index `o` along a resized (or linearly blended) axis; pass-through axes (batch
// and channel when their size is kept) are the caller's business. `scale` is the axis scale
// (given, or out/in in fp32 when sizes were given); `resized_length` as for
// resize_source_coordinate.
FLIPSWEEP_HD ResizeAxisTap resize_axis_tap(ResizeMode mode, CoordinateTransform transform, NearestRounding rounding,
                                           int64_t o, int64_t in_size, int64_t out_size, float scale,
                                           float resized_length) {
  ResizeAxisTap tap;
  float coordinate = resize_source_coordinate(transform, o, in_size, out_size, scale, resized_length);
  if (mode == ResizeMode::Nearest) {
    tap.first = resize_nearest_index(rounding, coordinate, in_size);
    return tap;
  }
  // Left of the first sample PyTorch clamps the coordinate to 0; the ONNX formula's edge padding
  // gives the same value, and the clamp keeps PyTorch's pairing of neighbours.
  coordinate = max_f(coordinate, 0.0f);
  const float below = ::floorf(coordinate);
  const int64_t lower = min_i64(static_cast<int64_t>(below), in_size - 1);
  tap.blended = true;
  tap.first = lower;
  tap.second = min_i64(lower + 1, in_size - 1);
  tap.second_weight = coordinate - below;
  tap.first_weight = 1.0f - tap.second_weight;
  return tap;
}

// Source positions and weights for one output coordinate of a bilinear resize.
struct LinearTap {
  int64_t index0;
  int64_t index1;
  float weight0;
  float weight1;
};

// PyTorch's upsample_bilinear2d (CPU, align_corners=False, no explicit scale factor):
// scale = in/out in float; source = scale * (dst + 0.5) - 0.5, clamped at 0; the second tap is
// the next pixel except at the last one. Equal sizes take PyTorch's identity shortcut.
FLIPSWEEP_HD LinearTap pytorch_bilinear_tap(int64_t input_size, int64_t output_size, int64_t dst) {
  if (input_size == output_size) return LinearTap{dst, dst, 1.0f, 0.0f};
  const float scale = static_cast<float>(input_size) / static_cast<float>(output_size);
  float source = mul_rn(scale, static_cast<float>(dst) + 0.5f) - 0.5f;
  if (source < 0.0f) source = 0.0f;
  LinearTap tap;
  tap.index0 = min_i64(static_cast<int64_t>(::floorf(source)), input_size - 1);
  tap.weight1 = min_f(max_f(source - static_cast<float>(tap.index0), 0.0f), 1.0f);
  tap.index1 = tap.index0 + (tap.index0 < input_size - 1 ? 1 : 0);
  tap.weight0 = 1.0f - tap.weight1;
  return tap;
}

}  // namespace flipsweep::core
