// Reference Conv and ConvTranspose for 1 to 3 spatial dimensions, group (incl. depthwise),
// strides, dilations and asymmetric pads.
//
// Fault-simulation rules: every product is computed, even when an operand is zero, so a faulted
// Inf weight meets a zero activation as 0 * Inf = NaN, as in IEEE arithmetic and in PyTorch's
// im2col-based kernels. Zero padding is materialised as real zeros for the same reason: an Inf
// weight over the padded border also yields NaN. Sums are accumulated in fp32.
#include <algorithm>
#include <cstddef>

#include "flipsweep/ops/shapes.h"
#include "internal.h"

namespace flipsweep::reference::detail {

Geometry3 to_three_dims(const SpatialGeometry& g) {
  Geometry3 g3;
  const size_t dims = g.input.size();
  for (size_t i = 0; i < dims; ++i) {
    size_t axis = 3 - dims + i;
    g3.input[axis] = g.input[i];
    g3.output[axis] = g.output[i];
    g3.kernel[axis] = g.kernel[i];
    g3.stride[axis] = g.strides[i];
    g3.dilation[axis] = g.dilations[i];
    g3.pad_begin[axis] = g.pads_begin[i];
    g3.pad_end[axis] = g.pads_end[i];
  }
  return g3;
}

namespace {

// One image's channels copied into a zero-filled buffer with the conv's padding around them.
std::vector<float> pad_image(const float* image, int64_t channels, const Geometry3& g) {
  const int64_t depth = g.input[0] + g.pad_begin[0] + g.pad_end[0];
  const int64_t height = g.input[1] + g.pad_begin[1] + g.pad_end[1];
  const int64_t width = g.input[2] + g.pad_begin[2] + g.pad_end[2];
  std::vector<float> padded(static_cast<size_t>(channels * depth * height * width), 0.0f);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t d = 0; d < g.input[0]; ++d)
      for (int64_t h = 0; h < g.input[1]; ++h) {
        const float* source = image + ((c * g.input[0] + d) * g.input[1] + h) * g.input[2];
        float* target =
            padded.data() + ((c * depth + d + g.pad_begin[0]) * height + h + g.pad_begin[1]) * width + g.pad_begin[2];
        std::copy(source, source + g.input[2], target);
      }
  return padded;
}

}  // namespace

void conv(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  const Geometry3 g = to_three_dims(conv_geometry(p, x.shape, w.shape));
  const int64_t batch = x.dim(0);
  const int64_t in_channels = x.dim(1);
  const int64_t out_channels = w.dim(0);
  const int64_t in_per_group = in_channels / p.group;
  const int64_t out_per_group = out_channels / p.group;

  const int64_t padded_depth = g.input[0] + g.pad_begin[0] + g.pad_end[0];
  const int64_t padded_height = g.input[1] + g.pad_begin[1] + g.pad_end[1];
  const int64_t padded_width = g.input[2] + g.pad_begin[2] + g.pad_end[2];
  const int64_t padded_plane = padded_depth * padded_height * padded_width;
  const int64_t kernel_volume = g.kernel[0] * g.kernel[1] * g.kernel[2];
  const int64_t output_plane = g.output[0] * g.output[1] * g.output[2];
  const int64_t input_image = in_channels * g.input[0] * g.input[1] * g.input[2];

  for (int64_t n = 0; n < batch; ++n) {
    const std::vector<float> padded = pad_image(x.ptr() + n * input_image, in_channels, g);
#pragma omp parallel for schedule(dynamic)
    for (int64_t oc = 0; oc < out_channels; ++oc) {
      const int64_t group = oc / out_per_group;
      float* out = y.ptr() + (n * out_channels + oc) * output_plane;
      std::fill(out, out + output_plane, 0.0f);
      // Output plane accumulated tap by tap: the innermost loop runs along an output row, which
      // keeps it simple and vectorisable while every product is still formed.
      for (int64_t icg = 0; icg < in_per_group; ++icg) {
        const float* in_plane = padded.data() + (group * in_per_group + icg) * padded_plane;
        const float* taps = w.ptr() + (oc * in_per_group + icg) * kernel_volume;
        for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
          for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
            for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
              const float weight = taps[(kd * g.kernel[1] + kh) * g.kernel[2] + kw];
              for (int64_t od = 0; od < g.output[0]; ++od) {
                const int64_t id = od * g.stride[0] + kd * g.dilation[0];
                for (int64_t oh = 0; oh < g.output[1]; ++oh) {
                  const int64_t ih = oh * g.stride[1] + kh * g.dilation[1];
                  const float* in_row = in_plane + (id * padded_height + ih) * padded_width + kw * g.dilation[2];
                  float* out_row = out + (od * g.output[1] + oh) * g.output[2];
                  const int64_t stride_w = g.stride[2];
                  if (stride_w == 1) {
                    for (int64_t ow = 0; ow < g.output[2]; ++ow) out_row[ow] += weight * in_row[ow];
                  } else {
                    for (int64_t ow = 0; ow < g.output[2]; ++ow) out_row[ow] += weight * in_row[ow * stride_w];
                  }
                }
              }
            }
      }
      if (bias) {
        const float b = bias->data[static_cast<size_t>(oc)];
        for (int64_t i = 0; i < output_plane; ++i) out[i] += b;
      }
    }
  }
}

void conv_transpose(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  const Geometry3 g = to_three_dims(conv_transpose_geometry(p, x.shape, w.shape));
  const int64_t batch = x.dim(0);
  const int64_t in_channels = x.dim(1);
  const int64_t out_per_group = w.dim(1);
  const int64_t out_channels = out_per_group * p.group;
  const int64_t in_per_group = in_channels / p.group;
  const int64_t kernel_volume = g.kernel[0] * g.kernel[1] * g.kernel[2];
  const int64_t input_plane = g.input[0] * g.input[1] * g.input[2];
  const int64_t output_plane = g.output[0] * g.output[1] * g.output[2];

  // Scatter form of the definition: input position i and tap k contribute x[i] * w[k] to output
  // position i * stride + k * dilation - pad_begin, when that lies inside the output. Every output
  // channel is owned by one thread, so the scatter needs no synchronisation.
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t oc = 0; oc < out_channels; ++oc) {
      const int64_t group = oc / out_per_group;
      const int64_t oc_in_group = oc % out_per_group;
      float* out = y.ptr() + (n * out_channels + oc) * output_plane;
      std::fill(out, out + output_plane, 0.0f);
      for (int64_t icg = 0; icg < in_per_group; ++icg) {
        const int64_t ic = group * in_per_group + icg;
        const float* in = x.ptr() + (n * in_channels + ic) * input_plane;
        const float* taps = w.ptr() + (ic * out_per_group + oc_in_group) * kernel_volume;
        for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
          for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
            for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
              const float weight = taps[(kd * g.kernel[1] + kh) * g.kernel[2] + kw];
              for (int64_t id = 0; id < g.input[0]; ++id) {
                const int64_t od = id * g.stride[0] + kd * g.dilation[0] - g.pad_begin[0];
                if (od < 0 || od >= g.output[0]) continue;
                for (int64_t ih = 0; ih < g.input[1]; ++ih) {
                  const int64_t oh = ih * g.stride[1] + kh * g.dilation[1] - g.pad_begin[1];
                  if (oh < 0 || oh >= g.output[1]) continue;
                  for (int64_t iw = 0; iw < g.input[2]; ++iw) {
                    const int64_t ow = iw * g.stride[2] + kw * g.dilation[2] - g.pad_begin[2];
                    if (ow < 0 || ow >= g.output[2]) continue;
                    out[(od * g.output[1] + oh) * g.output[2] + ow] +=
                        in[(id * g.input[1] + ih) * g.input[2] + iw] * weight;
                  }
                }
              }
            }
      }
      if (bias) {
        const float b = bias->data[static_cast<size_t>(oc)];
        for (int64_t i = 0; i < output_plane; ++i) out[i] += b;
      }
    }
  }
}

}  // namespace flipsweep::reference::detail
