#pragma once
// Preprocessing as a kernel body: raw uint8 images → normalised fp32 network inputs, bit for bit
// data::preprocess_batch (host/src/data/preprocess.cpp): gray → 3 channels, pad with pad_value,
// pixel / 255, PyTorch's bilinear resize (taps from core::pytorch_bilinear_tap, which
// preprocess.cpp uses too), then (x − mean[c]) / std[c], the same fp32 operations in the same order.
#include <cstdint>

#include "flipsweep/core/float_ops.h"
#include "flipsweep/core/host_device.h"
#include "flipsweep/core/resize_math.h"
#include "flipsweep/data/preprocess.h"
#include "flipsweep/error.h"

namespace flipsweep::kernels {

// Input [B, in_channels, in_h, in_w] uint8; output [B, channels, out_h, out_w] fp32; one output
// value per index i < B·channels·out_h·out_w. Images are the same for every trial, so there is no
// trial stride. Per-channel mean/stddev hold up to kMaxChannels values (RGB and gray need at most 3;
// make_preprocess_body refuses more when mean or std is given).
struct PreprocessBody {
  static constexpr int kMaxChannels = 4;
  const uint8_t* pixels = nullptr;
  float* y = nullptr;
  int64_t in_channels = 0, in_h = 0, in_w = 0;
  int64_t channels = 0, out_h = 0, out_w = 0;  // output format (channels 3 with in_channels 1: gray → RGB)
  int64_t pad = 0;
  uint8_t pad_value = 0;
  bool resize = false;  // false: out_h = in_h + 2·pad, out_w = in_w + 2·pad
  bool has_mean = false, has_std = false;
  float mean[kMaxChannels] = {0, 0, 0, 0};
  float stddev[kMaxChannels] = {1, 1, 1, 1};

  // Pixel (py, px) of the padded uint8 plane of (n, c) as pixel / 255.
  FLIPSWEEP_HD float padded_unit(const uint8_t* plane, int64_t py, int64_t px) const {
    const int64_t sy = py - pad, sx = px - pad;
    const bool inside = sy >= 0 && sy < in_h && sx >= 0 && sx < in_w;
    return static_cast<float>(inside ? plane[sy * in_w + sx] : pad_value) / 255.0f;
  }

  FLIPSWEEP_HD float normalize(float value, int64_t c) const {
    if (has_mean) value = value - mean[c];
    if (has_std) value = value / stddev[c];
    return value;
  }

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const int64_t out_plane = out_h * out_w;
    const int64_t plane_index = i / out_plane;  // n·channels + c
    const int64_t n = plane_index / channels;
    const int64_t c = plane_index - n * channels;
    const int64_t o = i - plane_index * out_plane;
    const int64_t oy = o / out_w, ox = o - (o / out_w) * out_w;
    const int64_t source_channel = in_channels == 1 ? 0 : c;
    const uint8_t* plane = pixels + (n * in_channels + source_channel) * in_h * in_w;
    if (!resize) {
      y[i] = normalize(padded_unit(plane, oy, ox), c);
      return;
    }
    const int64_t padded_h = in_h + 2 * pad, padded_w = in_w + 2 * pad;
    const core::LinearTap row = core::pytorch_bilinear_tap(padded_h, out_h, oy);
    const core::LinearTap col = core::pytorch_bilinear_tap(padded_w, out_w, ox);
    const float top = core::mul_rn(padded_unit(plane, row.index0, col.index0), col.weight0) +
                      core::mul_rn(padded_unit(plane, row.index0, col.index1), col.weight1);
    const float bottom = core::mul_rn(padded_unit(plane, row.index1, col.index0), col.weight0) +
                         core::mul_rn(padded_unit(plane, row.index1, col.index1), col.weight1);
    const float blended = core::mul_rn(top, row.weight0) + core::mul_rn(bottom, row.weight1);
    y[i] = normalize(blended, c);
  }
};

// Host helper: a PreprocessBody for images of format `in` under `p` (validated by
// data::preprocessed_format, which throws on bad settings). Pointers stay the caller's.
inline PreprocessBody make_preprocess_body(data::ImageFormat in, const data::Preprocess& p) {
  const data::ImageFormat out = data::preprocessed_format(in, p);
  if ((!p.mean.empty() || !p.std.empty()) && out.channels > PreprocessBody::kMaxChannels)
    throw Error("preprocess kernel body: per-channel mean/std for " + std::to_string(out.channels) +
                " channels, at most " + std::to_string(PreprocessBody::kMaxChannels) + " supported");
  PreprocessBody body;
  body.in_channels = in.channels;
  body.in_h = in.height;
  body.in_w = in.width;
  body.channels = out.channels;
  body.out_h = out.height;
  body.out_w = out.width;
  body.pad = p.pad;
  body.pad_value = static_cast<uint8_t>(p.pad_value);
  body.resize = p.resize_height > 0;
  body.has_mean = !p.mean.empty();
  body.has_std = !p.std.empty();
  for (size_t c = 0; c < p.mean.size(); ++c) body.mean[c] = p.mean[c];
  for (size_t c = 0; c < p.std.size(); ++c) body.stddev[c] = p.std[c];
  return body;
}

}  // namespace flipsweep::kernels
