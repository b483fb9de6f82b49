// Reference MaxPool, AveragePool and GlobalAveragePool for 1 to 3 spatial dimensions.
#include <cmath>
#include <cstddef>
#include <limits>

#include "flipsweep/ops/shapes.h"
#include "internal.h"

namespace flipsweep::reference::detail {

namespace {

Geometry3 pool_geometry3(const PoolParams& p, const Shape& x) { return to_three_dims(pool_geometry(p, x)); }

// Visits every window of every (image, channel) plane: `reduce(in_plane, window_start)` returns
// the output value of the window whose first tap sits at `window_start` (may be negative: padding).
template <class Reduce>
void for_each_window(const Tensor& x, Tensor& y, const Geometry3& g, Reduce reduce) {
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t input_plane = g.input[0] * g.input[1] * g.input[2];
  const int64_t output_plane = g.output[0] * g.output[1] * g.output[2];
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* in = x.ptr() + plane * input_plane;
    float* out = y.ptr() + plane * output_plane;
    for (int64_t od = 0; od < g.output[0]; ++od)
      for (int64_t oh = 0; oh < g.output[1]; ++oh)
        for (int64_t ow = 0; ow < g.output[2]; ++ow) {
          const int64_t start[3] = {od * g.stride[0] - g.pad_begin[0], oh * g.stride[1] - g.pad_begin[1],
                                    ow * g.stride[2] - g.pad_begin[2]};
          out[(od * g.output[1] + oh) * g.output[2] + ow] = reduce(in, start);
        }
  }
}

bool inside(int64_t position, int64_t begin, int64_t end) { return position >= begin && position < end; }

}  // namespace

void max_pool(const PoolParams& p, const Tensor& x, Tensor& y) {
  const Geometry3 g = pool_geometry3(p, x.shape);
  // Padding counts as -inf and is never selected. A NaN anywhere in the window wins, as in
  // torch.max_pool2d (its comparison is `v > max || isnan(v)`), so a NaN is never hidden.
  for_each_window(x, y, g, [&g](const float* in, const int64_t* start) {
    float best = -std::numeric_limits<float>::infinity();
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t d = start[0] + kd * g.dilation[0];
      if (!inside(d, 0, g.input[0])) continue;
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        const int64_t h = start[1] + kh * g.dilation[1];
        if (!inside(h, 0, g.input[1])) continue;
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t w = start[2] + kw * g.dilation[2];
          if (!inside(w, 0, g.input[2])) continue;
          const float v = in[(d * g.input[1] + h) * g.input[2] + w];
          if (v > best || std::isnan(v)) {
            best = v;
            if (std::isnan(v)) return best;
          }
        }
      }
    }
    return best;
  });
}

void average_pool(const PoolParams& p, const Tensor& x, Tensor& y) {
  const Geometry3 g = pool_geometry3(p, x.shape);
  const bool count_include_pad = p.count_include_pad;
  // The divisor counts taps inside the input, or with count_include_pad taps inside the padded
  // input. Either way a ceil_mode window hanging past the end padding is not charged for the part
  // outside it (PyTorch and the ONNX conformance cases agree on this).
  for_each_window(x, y, g, [&g, count_include_pad](const float* in, const int64_t* start) {
    float sum = 0.0f;
    int64_t taps_in_input = 0;
    int64_t taps_in_padded_input = 0;
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t d = start[0] + kd * g.dilation[0];
      if (!inside(d, -g.pad_begin[0], g.input[0] + g.pad_end[0])) continue;
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        const int64_t h = start[1] + kh * g.dilation[1];
        if (!inside(h, -g.pad_begin[1], g.input[1] + g.pad_end[1])) continue;
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t w = start[2] + kw * g.dilation[2];
          if (!inside(w, -g.pad_begin[2], g.input[2] + g.pad_end[2])) continue;
          ++taps_in_padded_input;
          if (inside(d, 0, g.input[0]) && inside(h, 0, g.input[1]) && inside(w, 0, g.input[2])) {
            sum += in[(d * g.input[1] + h) * g.input[2] + w];
            ++taps_in_input;
          }
        }
      }
    }
    const int64_t divisor = count_include_pad ? taps_in_padded_input : taps_in_input;
    return sum / static_cast<float>(divisor);
  });
}

void global_average_pool(const Tensor& x, Tensor& y) {
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t plane_size = planes == 0 ? 0 : x.size() / planes;
#pragma omp parallel for schedule(static) if (x.size() > (1 << 16))
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* in = x.ptr() + plane * plane_size;
    float sum = 0.0f;
    for (int64_t i = 0; i < plane_size; ++i) sum += in[i];
    y.data[static_cast<size_t>(plane)] = sum / static_cast<float>(plane_size);
  }
}

}  // namespace flipsweep::reference::detail
