#pragma once
// Direct convolution / Gemm kernel bodies of the trial-batched activation pass: one output element
// per index, fp32 accumulation in the reference's order, every product formed (0·Inf = NaN) except
// taps that fall on padding (Conv) or outside the input (ConvTranspose), which are skipped, as
// oneDNN does: an Inf weight over the zero border contributes nothing instead of Inf·0 = NaN. That
// is the one place these differ from the reference kernels (which multiply by materialised zero
// padding); everywhere else the results are bit for bit the reference's (adding the ±0 products of
// the padding never changes a sum that starts at +0).
//
// Operands: x trial t at x + t·x_trial_stride (0: shared by all trials); weights at
// w + t·w_trial_stride (0: shared; its element count: per-trial copies); bias likewise.
#include <cstdint>

#include "flipsweep/core/float_ops.h"
#include "flipsweep/core/host_device.h"
#include "flipsweep/error.h"
#include "flipsweep/graph/op_params.h"
#include "flipsweep/ops/shapes.h"

namespace flipsweep::kernels {

// Geometry of a 2-D conv (a 1-D one has in_h = out_h = kernel_h = 1 and no H padding).
struct Conv2dGeometry {
  int64_t batch = 0;  // B, images per trial
  int64_t in_channels = 0, in_h = 0, in_w = 0;
  int64_t out_channels = 0, out_h = 0, out_w = 0;
  int64_t group = 1;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;  // begin pads; end pads are implied by out_h/out_w

  // Output element i of [T·B, M, OH, OW] as (trial, image, channel, row, column).
  struct Output {
    int64_t t, n, m, oh, ow;
  };
  FLIPSWEEP_HD Output output(int64_t i) const {
    const int64_t ow = i % out_w;
    int64_t rest = i / out_w;
    const int64_t oh = rest % out_h;
    rest /= out_h;
    const int64_t m = rest % out_channels;
    rest /= out_channels;
    return Output{rest / batch, rest % batch, m, oh, ow};
  }
};

// Conv: y [T·B, M, OH, OW]; w [M, C/group, KH, KW]; bias [M] or nullptr.
// y = (Σ over (c in group, kh, kw) of w·x, skipping padded taps, from +0) + bias.
// i < T·B·M·OH·OW.
struct DirectConvBody {
  const float* x = nullptr;
  int64_t x_trial_stride = 0;
  const float* w = nullptr;
  int64_t w_trial_stride = 0;
  const float* bias = nullptr;
  int64_t bias_trial_stride = 0;
  float* y = nullptr;
  Conv2dGeometry g;

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const Conv2dGeometry::Output at = g.output(i);
    const int64_t t = at.t, n = at.n, m = at.m, oh = at.oh, ow = at.ow;
    const int64_t in_per_group = g.in_channels / g.group;
    const int64_t out_per_group = g.out_channels / g.group;
    const int64_t first_channel = (m / out_per_group) * in_per_group;
    const int64_t in_plane = g.in_h * g.in_w;
    const float* image = x + t * x_trial_stride + (n * g.in_channels + first_channel) * in_plane;
    const float* taps = w + t * w_trial_stride + m * in_per_group * g.kernel_h * g.kernel_w;
    float sum = 0.0f;
    for (int64_t c = 0; c < in_per_group; ++c) {
      const float* plane = image + c * in_plane;
      const float* kernel = taps + c * g.kernel_h * g.kernel_w;
      for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
        const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dilation_h;
        if (ih < 0 || ih >= g.in_h) continue;
        for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
          const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dilation_w;
          if (iw < 0 || iw >= g.in_w) continue;
          sum += core::mul_rn(kernel[kh * g.kernel_w + kw], plane[ih * g.in_w + iw]);
        }
      }
    }
    if (bias) sum += bias[t * bias_trial_stride + m];
    y[i] = sum;
  }
};

// ConvTranspose: x [T·B, C, H, W]; w [C, M/group, KH, KW]; y [T·B, M, OH, OW]; bias [M] or nullptr.
// Output (oh, ow) gathers x[ih, iw]·w[kh, kw] over (c in group, kh, kw) where
// oh = ih·stride_h + kh·dilation_h − pad_top (likewise for w), skipping taps with no such input
// position; then + bias. Output positions no tap reaches (output_padding, negative end pads) get
// bias only. Same order and products as the reference's scatter, so bit for bit.
struct DirectConvTransposeBody {
  const float* x = nullptr;
  int64_t x_trial_stride = 0;
  const float* w = nullptr;
  int64_t w_trial_stride = 0;
  const float* bias = nullptr;
  int64_t bias_trial_stride = 0;
  float* y = nullptr;
  Conv2dGeometry g;

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const Conv2dGeometry::Output at = g.output(i);
    const int64_t t = at.t, n = at.n, m = at.m, oh = at.oh, ow = at.ow;
    const int64_t in_per_group = g.in_channels / g.group;
    const int64_t out_per_group = g.out_channels / g.group;
    const int64_t group = m / out_per_group;
    const int64_t m_in_group = m - group * out_per_group;
    const int64_t in_plane = g.in_h * g.in_w;
    const int64_t kernel_size = g.kernel_h * g.kernel_w;
    const float* image = x + t * x_trial_stride + (n * g.in_channels + group * in_per_group) * in_plane;
    const float* weights = w + t * w_trial_stride;
    float sum = 0.0f;
    for (int64_t c = 0; c < in_per_group; ++c) {
      const float* plane = image + c * in_plane;
      const float* kernel = weights + ((group * in_per_group + c) * out_per_group + m_in_group) * kernel_size;
      for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
        const int64_t span_h = oh + g.pad_top - kh * g.dilation_h;
        if (span_h < 0 || span_h % g.stride_h != 0) continue;
        const int64_t ih = span_h / g.stride_h;
        if (ih >= g.in_h) continue;
        for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
          const int64_t span_w = ow + g.pad_left - kw * g.dilation_w;
          if (span_w < 0 || span_w % g.stride_w != 0) continue;
          const int64_t iw = span_w / g.stride_w;
          if (iw >= g.in_w) continue;
          sum += core::mul_rn(plane[ih * g.in_w + iw], kernel[kh * g.kernel_w + kw]);
        }
      }
    }
    if (bias) sum += bias[t * bias_trial_stride + m];
    y[i] = sum;
  }
};

// y[t, n, m] = Σ_k x[t, n, k]·w(m, k), k increasing from +0 (Gemm with trans_a = 0, the reference's
// order and products). w is [M, K] when trans_b, else [K, M]. alpha, beta·C and activations are
// the epilogue's (EpilogueBody). x: [T·B, K]; y: [T·B, M]; i < T·B·M.
struct DirectGemmBody {
  const float* x = nullptr;
  int64_t x_trial_stride = 0;  // 0 or B·K
  const float* w = nullptr;
  int64_t w_trial_stride = 0;  // 0 or K·M
  float* y = nullptr;
  int64_t rows = 0;            // B
  int64_t k = 0;
  int64_t m = 0;
  bool trans_b = false;

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const int64_t column = i % m;
    const int64_t row_index = i / m;  // t·rows + n
    const int64_t t = row_index / rows;
    const int64_t n = row_index - t * rows;
    const float* a = x + t * x_trial_stride + n * k;
    const float* b = w + t * w_trial_stride + (trans_b ? column * k : column);
    const int64_t b_step = trans_b ? 1 : m;
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) sum += core::mul_rn(a[j], b[j * b_step]);
    y[i] = sum;
  }
};

// Host helpers: the geometry of a 1-D or 2-D Conv / ConvTranspose with `p` on one trial's input
// x [B, C, (H,) W] and weights w, from conv_geometry() / conv_transpose_geometry().
inline Conv2dGeometry to_conv2d_geometry(const SpatialGeometry& sg, const Shape& x, int64_t out_channels,
                                         int64_t group) {
  if (sg.input.size() != 1 && sg.input.size() != 2)
    throw Error("conv kernel body: only 1-D and 2-D convolutions, got input " + shape_to_string(x));
  Conv2dGeometry g;
  g.batch = x[0];
  g.in_channels = x[1];
  g.out_channels = out_channels;
  g.group = group;
  const size_t wi = sg.input.size() - 1;
  g.in_w = sg.input[wi];
  g.out_w = sg.output[wi];
  g.kernel_w = sg.kernel[wi];
  g.stride_w = sg.strides[wi];
  g.dilation_w = sg.dilations[wi];
  g.pad_left = sg.pads_begin[wi];
  g.in_h = g.out_h = 1;
  if (wi == 1) {
    g.in_h = sg.input[0];
    g.out_h = sg.output[0];
    g.kernel_h = sg.kernel[0];
    g.stride_h = sg.strides[0];
    g.dilation_h = sg.dilations[0];
    g.pad_top = sg.pads_begin[0];
  }
  return g;
}

inline Conv2dGeometry conv2d_geometry(const ConvParams& p, const Shape& x, const Shape& w) {
  return to_conv2d_geometry(conv_geometry(p, x, w), x, w[0], p.group);
}

inline Conv2dGeometry conv_transpose2d_geometry(const ConvParams& p, const Shape& x, const Shape& w) {
  return to_conv2d_geometry(conv_transpose_geometry(p, x, w), x, w[1] * p.group, p.group);
}

}  // namespace flipsweep::kernels
