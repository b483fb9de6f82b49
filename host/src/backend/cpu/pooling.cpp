// Pooling (and nearest or linear Resize) straight on blocked conv outputs, so a pool between convolutions (a
// ResNet's stem, VGG, SqueezeNet) or a U-Net's upsampling needs no reorder to NCHW and back. Every lane does what
// the reference kernel does for its channel, in the same order: identical results.
#include <algorithm>
#include <cmath>
#include <limits>

#include "flipsweep/ops/reference_ops.h"
#include "flipsweep/ops/shapes.h"
#include "internal.h"

namespace flipsweep::cpu {

void global_average_pool_blocked(const float* x, const Shape& s, int block_size, const Shape& y_shape, Tensor& y) {
  y.shape = y_shape;
  y.data.resize(static_cast<size_t>(element_count(y.shape)));
  const int64_t channels = s[1], block = block_size, blocks = channel_blocks(channels, block_size),
                spatial = s[2] * s[3];
  // Positions outer, lanes inner (the loop vectorises): each lane still adds its channel's values
  // in position order, as the reference kernel does.
  float sum[16];
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t cb = 0; cb < blocks; ++cb) {
      const float* base = x + (n * blocks + cb) * spatial * block;
      std::fill(sum, sum + block, 0.0f);
      for (int64_t p = 0; p < spatial; ++p)
        for (int64_t l = 0; l < block; ++l) sum[l] += base[p * block + l];
      const int64_t lanes = std::min(block, channels - cb * block);
      for (int64_t l = 0; l < lanes; ++l)
        y.data[static_cast<size_t>(n * channels + cb * block + l)] = sum[l] / static_cast<float>(spatial);
    }
}

namespace {

bool inside(int64_t position, int64_t begin, int64_t end) { return position >= begin && position < end; }

// Visits every output position of every (image, channel block) of a 2-D pool: `reduce(in, h0, w0,
// out)` writes the block's lanes of the window whose first tap sits at (h0, w0).
template <int kBlock, class Reduce>
void for_each_blocked_window(const float* x, float* y, const Shape& x_shape, const SpatialGeometry& g,
                             Reduce reduce) {
  const int64_t blocks = channel_blocks(x_shape[1], kBlock);
  const int64_t in_plane = g.input[0] * g.input[1] * kBlock, out_plane = g.output[0] * g.output[1] * kBlock;
  for (int64_t nb = 0; nb < x_shape[0] * blocks; ++nb) {
    const float* in = x + nb * in_plane;
    float* out = y + nb * out_plane;
    for (int64_t oh = 0; oh < g.output[0]; ++oh)
      for (int64_t ow = 0; ow < g.output[1]; ++ow)
        reduce(in, oh * g.strides[0] - g.pads_begin[0], ow * g.strides[1] - g.pads_begin[1],
               out + (oh * g.output[1] + ow) * kBlock);
  }
}

template <int kBlock>
void max_pool_blocked_impl(const float* x, float* y, const Shape& x_shape, const SpatialGeometry& g) {
  for_each_blocked_window<kBlock>(x, y, x_shape, g, [&g](const float* in, int64_t h0, int64_t w0, float* out) {
    float best[kBlock];
    for (int l = 0; l < kBlock; ++l) best[l] = -std::numeric_limits<float>::infinity();
    for (int64_t kh = 0; kh < g.kernel[0]; ++kh) {
      const int64_t h = h0 + kh * g.dilations[0];
      if (!inside(h, 0, g.input[0])) continue;
      for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
        const int64_t w = w0 + kw * g.dilations[1];
        if (!inside(w, 0, g.input[1])) continue;
        const float* v = in + (h * g.input[1] + w) * kBlock;
        // As the reference: a NaN wins and, once taken, stays (nothing compares above it).
        for (int l = 0; l < kBlock; ++l)
          if (v[l] > best[l] || std::isnan(v[l])) best[l] = std::isnan(best[l]) ? best[l] : v[l];
      }
    }
    for (int l = 0; l < kBlock; ++l) out[l] = best[l];
  });
}

template <int kBlock>
void average_pool_blocked_impl(const float* x, float* y, const Shape& x_shape, const SpatialGeometry& g,
                               bool count_include_pad) {
  for_each_blocked_window<kBlock>(x, y, x_shape, g, [&](const float* in, int64_t h0, int64_t w0, float* out) {
    float sum[kBlock] = {};
    int64_t taps_in_input = 0, taps_in_padded_input = 0;
    for (int64_t kh = 0; kh < g.kernel[0]; ++kh) {
      const int64_t h = h0 + kh * g.dilations[0];
      if (!inside(h, -g.pads_begin[0], g.input[0] + g.pads_end[0])) continue;
      for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
        const int64_t w = w0 + kw * g.dilations[1];
        if (!inside(w, -g.pads_begin[1], g.input[1] + g.pads_end[1])) continue;
        ++taps_in_padded_input;
        if (!inside(h, 0, g.input[0]) || !inside(w, 0, g.input[1])) continue;
        ++taps_in_input;
        const float* v = in + (h * g.input[1] + w) * kBlock;
        for (int l = 0; l < kBlock; ++l) sum[l] += v[l];
      }
    }
    const float divisor = static_cast<float>(count_include_pad ? taps_in_padded_input : taps_in_input);
    for (int l = 0; l < kBlock; ++l) out[l] = sum[l] / divisor;
  });
}

}  // namespace

void pool_blocked(bool is_max, const PoolParams& p, const float* x, const Shape& x_shape, int block, float* y) {
  const SpatialGeometry g = pool_geometry(p, x_shape);
  if (is_max) {
    if (block == 16) max_pool_blocked_impl<16>(x, y, x_shape, g);
    else max_pool_blocked_impl<8>(x, y, x_shape, g);
  } else {
    if (block == 16) average_pool_blocked_impl<16>(x, y, x_shape, g, p.count_include_pad);
    else average_pool_blocked_impl<8>(x, y, x_shape, g, p.count_include_pad);
  }
}

void resize_blocked(const ResizeParams& p, const float* x, const Shape& x_shape, const Shape& y_shape, int block,
                    float* y) {
  const int64_t planes = x_shape[0] * channel_blocks(x_shape[1], block);
  const int64_t in_plane = x_shape[2] * x_shape[3] * block, out_plane = y_shape[2] * y_shape[3] * block;
  if (p.mode == ResizeMode::Linear && x_shape == y_shape) {
    bool identity_scales = true;
    for (float s : p.scales) identity_scales = identity_scales && s == 1.0f;
    if (identity_scales) {  // the reference kernel copies, as PyTorch does
      std::copy(x, x + planes * in_plane, y);
      return;
    }
  }
  const std::vector<core::ResizeAxisTap> rows = reference::resize_axis_taps(p, x_shape, y_shape, 2);
  const std::vector<core::ResizeAxisTap> columns = reference::resize_axis_taps(p, x_shape, y_shape, 3);
  const int64_t in_width = x_shape[3];
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* in = x + plane * in_plane;
    for (int64_t oh = 0; oh < y_shape[2]; ++oh) {
      const core::ResizeAxisTap& r = rows[static_cast<size_t>(oh)];
      for (int64_t ow = 0; ow < y_shape[3]; ++ow) {
        const core::ResizeAxisTap& c = columns[static_cast<size_t>(ow)];
        float* out = y + plane * out_plane + (oh * y_shape[3] + ow) * block;
        const float* a = in + (r.first * in_width + c.first) * block;
        if (!r.blended && !c.blended) {  // nearest, or a linear tap on one sample
          std::copy(a, a + block, out);
          continue;
        }
        // The reference kernel's nesting and order, lane by lane:
        // h0 * (w0 * x00 + w1 * x01) + h1 * (w0 * x10 + w1 * x11), without the blends a tap lacks.
        const float* b = in + (r.first * in_width + c.second) * block;
        const float* d = in + (r.second * in_width + c.first) * block;
        const float* e = in + (r.second * in_width + c.second) * block;
        for (int64_t l = 0; l < block; ++l) {
          const float top = c.blended ? c.first_weight * a[l] + c.second_weight * b[l] : a[l];
          if (!r.blended) {
            out[l] = top;
            continue;
          }
          const float bottom = c.blended ? c.first_weight * d[l] + c.second_weight * e[l] : d[l];
          out[l] = r.first_weight * top + r.second_weight * bottom;
        }
      }
    }
  }
}

}  // namespace flipsweep::cpu
