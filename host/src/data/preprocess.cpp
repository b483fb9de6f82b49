// Preprocessing with torchvision's arithmetic, step for step, in fp32: ToTensor divides by 255,
// F.interpolate(bilinear, align_corners=False) blends rows of horizontally blended pixels, and
// Normalize subtracts then divides. Matching the order of operations keeps our inputs bitwise
// equal to PyTorch's, so accuracy comparisons with the Python side are exact.
#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "flipsweep/core/resize_math.h"
#include "flipsweep/data/preprocess.h"
#include "flipsweep/error.h"

namespace flipsweep::data {
namespace {

// Taps of PyTorch's upsample_bilinear2d, one per output coordinate; the per-coordinate math is
// core::pytorch_bilinear_tap, shared with the CUDA preprocessing body (kernels/preprocess.h).
using core::LinearTap;

std::vector<LinearTap> bilinear_taps(int64_t input_size, int64_t output_size) {
  std::vector<LinearTap> taps(static_cast<size_t>(output_size));
  for (int64_t dst = 0; dst < output_size; ++dst)
    taps[static_cast<size_t>(dst)] = core::pytorch_bilinear_tap(input_size, output_size, dst);
  return taps;
}

std::string channel_count_text(int64_t n) { return std::to_string(n) + (n == 1 ? " channel" : " channels"); }

void check_per_channel(const std::vector<float>& values, const char* field, int64_t channels) {
  if (!values.empty() && static_cast<int64_t>(values.size()) != channels) {
    throw Error(std::string("preprocess: ") + field + " has " + std::to_string(values.size()) +
                " values but the output has " + channel_count_text(channels));
  }
  for (size_t c = 0; c < values.size(); ++c) {
    if (!std::isfinite(values[c])) {
      throw Error(std::string("preprocess: ") + field + "[" + std::to_string(c) + "] is not finite");
    }
  }
}

// (pixel / 255 - mean) / std for channel c; mean/std may be empty (identity).
struct Normalizer {
  const std::vector<float>& mean;
  const std::vector<float>& std;
  float operator()(float value, int64_t c) const {
    if (!mean.empty()) value = value - mean[static_cast<size_t>(c)];
    if (!std.empty()) value = value / std[static_cast<size_t>(c)];
    return value;
  }
};

}  // namespace

std::string to_string(const ImageFormat& format) {
  return std::to_string(format.channels) + "x" + std::to_string(format.height) + "x" + std::to_string(format.width);
}

ImageFormat preprocessed_format(ImageFormat in, const Preprocess& p) {
  if (in.channels <= 0 || in.height <= 0 || in.width <= 0) {
    throw Error("preprocess: input images have no pixels (" + to_string(in) + ")");
  }
  ImageFormat out = in;
  if (p.channels != 0 && p.channels != in.channels) {
    if (!(p.channels == 3 && in.channels == 1)) {
      throw Error("preprocess: cannot convert images with " + channel_count_text(in.channels) + " to " +
                  channel_count_text(p.channels) + " (only 1 -> 3, gray to RGB, is supported)");
    }
    out.channels = 3;
  }
  if (p.pad < 0) throw Error("preprocess: pad is " + std::to_string(p.pad) + ", must be >= 0");
  if (p.pad_value < 0 || p.pad_value > 255) {
    throw Error("preprocess: pad_value is " + std::to_string(p.pad_value) + ", must be a pixel value 0..255");
  }
  // The padded and the resized image are each held in memory per image: both are limited, and
  // checked before anything is computed from them.
  const auto check_size = [&](const std::string& step, int64_t height, int64_t width) {
    int64_t values = 0;
    if (height > kMaxImageValues || width > kMaxImageValues || __builtin_mul_overflow(height, width, &values) ||
        __builtin_mul_overflow(values, out.channels, &values) || values > kMaxImageValues) {
      throw Error("preprocess: " + step + " gives images of " + std::to_string(out.channels) + "x" +
                  std::to_string(height) + "x" + std::to_string(width) + ", more than 2^31 values per image");
    }
  };
  if (p.pad > kMaxImageValues)
    throw Error("preprocess: pad " + std::to_string(p.pad) + " gives images of more than 2^31 values per image");
  out.height = in.height + 2 * p.pad;
  out.width = in.width + 2 * p.pad;
  check_size("pad " + std::to_string(p.pad), out.height, out.width);
  if (p.resize_height < 0 || p.resize_width < 0 || (p.resize_height == 0) != (p.resize_width == 0)) {
    throw Error("preprocess: resize is " + std::to_string(p.resize_height) + "x" + std::to_string(p.resize_width) +
                ", both sides must be > 0 (or both 0 for no resize)");
  }
  if (p.resize_height > 0) {
    check_size("resize " + std::to_string(p.resize_height) + "x" + std::to_string(p.resize_width), p.resize_height,
               p.resize_width);
    out.height = p.resize_height;
    out.width = p.resize_width;
  }
  check_per_channel(p.mean, "mean", out.channels);
  check_per_channel(p.std, "std", out.channels);
  for (size_t c = 0; c < p.std.size(); ++c) {
    if (!(p.std[c] > 0.0f)) {
      throw Error("preprocess: std[" + std::to_string(c) + "] is " + std::to_string(p.std[c]) + ", must be > 0");
    }
  }
  return out;
}

void preprocess_batch(const uint8_t* pixels, int64_t count, ImageFormat in, const Preprocess& p, float* out) {
  const ImageFormat out_format = preprocessed_format(in, p);
  if (count < 0) throw Error("preprocess: negative image count " + std::to_string(count));
  const int64_t padded_height = in.height + 2 * p.pad;
  const int64_t padded_width = in.width + 2 * p.pad;
  const int64_t in_plane = in.height * in.width;
  const int64_t out_plane = out_format.height * out_format.width;
  const auto pad_value = static_cast<uint8_t>(p.pad_value);
  const Normalizer normalize{p.mean, p.std};
  const bool resize = p.resize_height > 0;

  // Pixel value -> normalized float, per output channel; the same float operations as computing
  // it inline, so the table changes speed, not results.
  std::vector<std::array<float, 256>> table(static_cast<size_t>(out_format.channels));
  for (int64_t c = 0; c < out_format.channels; ++c) {
    for (int v = 0; v < 256; ++v) {
      const float unit = static_cast<float>(v) / 255.0f;
      table[static_cast<size_t>(c)][static_cast<size_t>(v)] = resize ? unit : normalize(unit, c);
    }
  }
  const std::vector<LinearTap> row_taps = resize ? bilinear_taps(padded_height, out_format.height) : std::vector<LinearTap>{};
  const std::vector<LinearTap> column_taps = resize ? bilinear_taps(padded_width, out_format.width) : std::vector<LinearTap>{};

  // Starting a thread team costs more than preprocessing a handful of small images.
  const bool worth_threads = count * out_format.pixels_per_image() >= (int64_t{1} << 16);
#pragma omp parallel if (worth_threads)
  {
    // One padded float plane per thread, reused across images (only needed when resizing).
    std::vector<float> padded(resize ? static_cast<size_t>(padded_height * padded_width) : 0);
#pragma omp for collapse(2) schedule(static)
    for (int64_t n = 0; n < count; ++n) {
      for (int64_t c = 0; c < out_format.channels; ++c) {
        // Gray replicated to RGB reads input channel 0 for every output channel.
        const int64_t source_channel = in.channels == 1 ? 0 : c;
        const uint8_t* source = pixels + (n * in.channels + source_channel) * in_plane;
        float* destination = out + (n * out_format.channels + c) * out_plane;
        const std::array<float, 256>& lookup = table[static_cast<size_t>(c)];
        // Writes value(y, x) for each pixel of the padded plane, in row-major order.
        auto for_each_padded_pixel = [&](auto&& store) {
          for (int64_t y = 0; y < padded_height; ++y) {
            const int64_t sy = y - p.pad;
            for (int64_t x = 0; x < padded_width; ++x) {
              const int64_t sx = x - p.pad;
              const bool inside = sy >= 0 && sy < in.height && sx >= 0 && sx < in.width;
              store(y * padded_width + x, lookup[inside ? source[sy * in.width + sx] : pad_value]);
            }
          }
        };
        if (!resize) {
          for_each_padded_pixel([&](int64_t i, float value) { destination[i] = value; });
          continue;
        }
        for_each_padded_pixel([&](int64_t i, float value) { padded[static_cast<size_t>(i)] = value; });
        for (int64_t y = 0; y < out_format.height; ++y) {
          const LinearTap& row = row_taps[static_cast<size_t>(y)];
          const float* row0 = padded.data() + row.index0 * padded_width;
          const float* row1 = padded.data() + row.index1 * padded_width;
          for (int64_t x = 0; x < out_format.width; ++x) {
            const LinearTap& col = column_taps[static_cast<size_t>(x)];
            const float top = row0[col.index0] * col.weight0 + row0[col.index1] * col.weight1;
            const float bottom = row1[col.index0] * col.weight0 + row1[col.index1] * col.weight1;
            const float blended = top * row.weight0 + bottom * row.weight1;
            destination[y * out_format.width + x] = normalize(blended, c);
          }
        }
      }
    }
  }
}

}  // namespace flipsweep::data
