#pragma once
// 2-D pooling kernel bodies of the trial-batched activation pass; they match
// host/src/ops/reference_pool.cpp bit for bit. Input [T·B, C, H, W] read as trial t at
// x + t·x_trial_stride (0 when the input is shared by all trials, B·C·H·W when it holds T copies);
// output [T·B, C, OH, OW] contiguous.
#include <cstdint>

#include "flipsweep/core/float_ops.h"
#include "flipsweep/core/host_device.h"
#include "flipsweep/error.h"
#include "flipsweep/graph/op_params.h"
#include "flipsweep/ops/shapes.h"

namespace flipsweep::kernels {

enum class PoolKind : int { Max, Average };

// One output element per index i < T·planes_per_trial·out_h·out_w (planes_per_trial = B·C).
// Geometry from pool_geometry() (ceil_mode already resolved into out_h/out_w); a 1-D pool is the
// 2-D one with in_h = out_h = kernel_h = 1 and no padding along H.
struct Pool2dBody {
  const float* x = nullptr;
  int64_t x_trial_stride = 0;
  float* y = nullptr;
  int64_t planes_per_trial = 0;  // B·C
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  PoolKind kind = PoolKind::Max;
  bool count_include_pad = false;  // Average only

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const int64_t out_plane = out_h * out_w;
    const int64_t plane_index = i / out_plane;  // t·planes_per_trial + plane
    const int64_t t = plane_index / planes_per_trial;
    const int64_t plane = plane_index - t * planes_per_trial;
    const int64_t o = i - plane_index * out_plane;
    const int64_t oh = o / out_w, ow = o - (o / out_w) * out_w;
    const float* in = x + t * x_trial_stride + plane * in_h * in_w;
    const int64_t start_h = oh * stride_h - pad_top, start_w = ow * stride_w - pad_left;
    y[i] = kind == PoolKind::Max ? max_window(in, start_h, start_w) : average_window(in, start_h, start_w);
  }

  // Padding counts as -inf and is never selected; the first NaN in the window wins (PyTorch's
  // `v > max || isnan(v)`), exactly as reference max_pool.
  FLIPSWEEP_HD float max_window(const float* in, int64_t start_h, int64_t start_w) const {
    float best = -core::infinity_f();
    for (int64_t kh = 0; kh < kernel_h; ++kh) {
      const int64_t h = start_h + kh * dilation_h;
      if (h < 0 || h >= in_h) continue;
      for (int64_t kw = 0; kw < kernel_w; ++kw) {
        const int64_t w = start_w + kw * dilation_w;
        if (w < 0 || w >= in_w) continue;
        const float v = in[h * in_w + w];
        if (v != v) return v;
        if (v > best) best = v;
      }
    }
    return best;
  }

  // Sum of the taps inside the input in (kh, kw) order, divided by the number of taps inside the
  // input, or with count_include_pad inside the padded input (a ceil_mode window hanging past the
  // end padding is not charged for that part), exactly as reference average_pool.
  FLIPSWEEP_HD float average_window(const float* in, int64_t start_h, int64_t start_w) const {
    float sum = 0.0f;
    int64_t taps_in_input = 0, taps_in_padded_input = 0;
    for (int64_t kh = 0; kh < kernel_h; ++kh) {
      const int64_t h = start_h + kh * dilation_h;
      if (h < -pad_top || h >= in_h + pad_bottom) continue;
      for (int64_t kw = 0; kw < kernel_w; ++kw) {
        const int64_t w = start_w + kw * dilation_w;
        if (w < -pad_left || w >= in_w + pad_right) continue;
        ++taps_in_padded_input;
        if (h >= 0 && h < in_h && w >= 0 && w < in_w) {
          sum += in[h * in_w + w];
          ++taps_in_input;
        }
      }
    }
    return sum / static_cast<float>(count_include_pad ? taps_in_padded_input : taps_in_input);
  }
};

// One output element per (t, n, c): the plane's values summed in order, divided by its size.
// i < T·planes_per_trial; output [T·B, C, 1, 1].
struct GlobalAveragePoolBody {
  const float* x = nullptr;
  int64_t x_trial_stride = 0;
  float* y = nullptr;
  int64_t planes_per_trial = 0;  // B·C
  int64_t plane_size = 0;        // H·W (any spatial rank)

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const int64_t t = i / planes_per_trial;
    const float* in = x + t * x_trial_stride + (i - t * planes_per_trial) * plane_size;
    float sum = 0.0f;
    for (int64_t k = 0; k < plane_size; ++k) sum += in[k];
    y[i] = sum / static_cast<float>(plane_size);
  }
};

// ReduceMean over the trailing axes of one trial's tensor (x.mean((2, 3)) on [B, C, H, W]): plane i
// of T·planes_per_trial, summed in double in order and divided once, as the reference kernel does.
struct ReduceMeanPlanesBody {
  const float* x = nullptr;
  int64_t x_trial_stride = 0;
  float* y = nullptr;
  int64_t planes_per_trial = 0;
  int64_t plane_size = 0;

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const int64_t t = i / planes_per_trial;
    const float* in = x + t * x_trial_stride + (i - t * planes_per_trial) * plane_size;
    // Only additions and one division: IEEE round-to-nearest under g++ and nvcc alike.
    double sum = 0.0;
    for (int64_t k = 0; k < plane_size; ++k) sum += static_cast<double>(in[k]);
    y[i] = static_cast<float>(sum / static_cast<double>(plane_size));
  }
};

// Host helper: the geometry fields of a Pool2dBody for MaxPool/AveragePool with `p` on one
// trial's input shape [B, C, H, W] or [B, C, W]; pointers and trial stride stay the caller's.
inline Pool2dBody make_pool2d_body(PoolKind kind, const PoolParams& p, const Shape& x) {
  const SpatialGeometry g = pool_geometry(p, x);
  if (g.input.size() != 1 && g.input.size() != 2)
    throw Error("pool kernel body: only 1-D and 2-D pools, got input " + shape_to_string(x));
  const size_t w = g.input.size() - 1;  // the width axis; height is the one before, if any
  Pool2dBody body;
  body.kind = kind;
  body.count_include_pad = p.count_include_pad;
  body.planes_per_trial = x[0] * x[1];
  body.in_w = g.input[w];
  body.out_w = g.output[w];
  body.kernel_w = g.kernel[w];
  body.stride_w = g.strides[w];
  body.dilation_w = g.dilations[w];
  body.pad_left = g.pads_begin[w];
  body.pad_right = g.pads_end[w];
  body.in_h = body.out_h = 1;
  if (w == 1) {
    body.in_h = g.input[0];
    body.out_h = g.output[0];
    body.kernel_h = g.kernel[0];
    body.stride_h = g.strides[0];
    body.dilation_h = g.dilations[0];
    body.pad_top = g.pads_begin[0];
    body.pad_bottom = g.pads_end[0];
  }
  return body;
}

}  // namespace flipsweep::kernels
