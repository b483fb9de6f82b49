#pragma once
// Resize kernel body (4-D NCHW) of the trial-batched activation pass; bit for bit the reference
// (host/src/ops/reference_resize.cpp): both take their per-axis taps from core/resize_math.h.
#include <cstdint>

#include "flipsweep/core/float_ops.h"
#include "flipsweep/core/host_device.h"
#include "flipsweep/core/resize_math.h"
#include "flipsweep/error.h"
#include "flipsweep/graph/op_params.h"
#include "flipsweep/tensor.h"

namespace flipsweep::kernels {

// Input [T·B, C, in_h, in_w] (trial t at x + t·x_trial_stride), output [T·B, C, out_h, out_w];
// i < T·planes_per_trial·out_h·out_w. Batch and channel are never resized. Linear blends along H
// and W (also along one that keeps its size, as the reference and PyTorch do), in PyTorch's
// bilinear order h0·(w0·x00 + w1·x01) + h1·(w0·x10 + w1·x11). `copy` is the reference's shortcut
// for Linear with nothing resized (y = x, no blending with zero weights: 0·Inf would be NaN).
struct ResizeBody {
  const float* x = nullptr;
  int64_t x_trial_stride = 0;
  float* y = nullptr;
  int64_t planes_per_trial = 0;  // B·C
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  ResizeMode mode = ResizeMode::Nearest;
  CoordinateTransform transform = CoordinateTransform::HalfPixel;
  NearestRounding rounding = NearestRounding::RoundPreferFloor;
  float scale_h = 1.0f, scale_w = 1.0f;                  // given scale, or out/in in fp32 with sizes
  float resized_length_h = 0.0f, resized_length_w = 0.0f;  // in·scale with scales, else out size
  bool copy = false;

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const int64_t out_plane = out_h * out_w;
    const int64_t plane_index = i / out_plane;
    const int64_t t = plane_index / planes_per_trial;
    const int64_t plane = plane_index - t * planes_per_trial;
    const int64_t o = i - plane_index * out_plane;
    const int64_t oh = o / out_w, ow = o - (o / out_w) * out_w;
    const float* in = x + t * x_trial_stride + plane * in_h * in_w;
    if (copy) {
      y[i] = in[o];
      return;
    }
    const core::ResizeAxisTap th =
        core::resize_axis_tap(mode, transform, rounding, oh, in_h, out_h, scale_h, resized_length_h);
    const core::ResizeAxisTap tw =
        core::resize_axis_tap(mode, transform, rounding, ow, in_w, out_w, scale_w, resized_length_w);
    const float first = interpolate_row(in + th.first * in_w, tw);
    if (!th.blended) {
      y[i] = first;
      return;
    }
    const float second = interpolate_row(in + th.second * in_w, tw);
    y[i] = core::mul_rn(th.first_weight, first) + core::mul_rn(th.second_weight, second);
  }

  FLIPSWEEP_HD static float interpolate_row(const float* row, const core::ResizeAxisTap& tw) {
    if (!tw.blended) return row[tw.first];
    return core::mul_rn(tw.first_weight, row[tw.first]) + core::mul_rn(tw.second_weight, row[tw.second]);
  }
};

// Host helper: a ResizeBody's geometry and modes for `p` mapping one trial's x [B, C, H, W] to
// y [B, C, OH, OW] (y's shape from infer_output_shapes). Throws when the op is not a 4-D resize of
// H and W only. Pointers and trial stride stay the caller's.
inline ResizeBody make_resize_body(const ResizeParams& p, const Shape& x, const Shape& y) {
  if (x.size() != 4 || y.size() != 4 || x[0] != y[0] || x[1] != y[1])
    throw Error("resize kernel body: only 4-D NCHW resizing H and W, got " + shape_to_string(x) + " -> " +
                shape_to_string(y));
  ResizeBody body;
  body.mode = p.mode;
  body.transform = p.coordinate_transform;
  body.rounding = p.nearest_rounding;
  body.planes_per_trial = x[0] * x[1];
  body.in_h = x[2];
  body.in_w = x[3];
  body.out_h = y[2];
  body.out_w = y[3];
  // The same fp32 quantities the reference computes per axis.
  auto scale_of = [&](size_t axis) {
    return p.scales.empty() ? static_cast<float>(y[axis]) / static_cast<float>(x[axis]) : p.scales[axis];
  };
  body.scale_h = scale_of(2);
  body.scale_w = scale_of(3);
  body.resized_length_h = p.scales.empty() ? static_cast<float>(y[2]) : static_cast<float>(x[2]) * body.scale_h;
  body.resized_length_w = p.scales.empty() ? static_cast<float>(y[3]) : static_cast<float>(x[3]) * body.scale_w;
  if (x == y && p.mode == ResizeMode::Linear) {
    bool identity_scales = true;
    for (float s : p.scales) identity_scales = identity_scales && s == 1.0f;
    body.copy = identity_scales;
  }
  return body;
}

}  // namespace flipsweep::kernels
