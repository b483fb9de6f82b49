#include "flipsweep/data/pil_transforms.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "flipsweep/error.h"

namespace flipsweep::data {

InterleavedImage rgb_from_jpeg_cmyk(const InterleavedImage& cmyk) {
  if (cmyk.channels != 4) throw Error("rgb_from_jpeg_cmyk: expected 4 channels");
  InterleavedImage rgb{cmyk.width, cmyk.height, 3, {}};
  const size_t pixels = static_cast<size_t>(cmyk.width) * static_cast<size_t>(cmyk.height);
  rgb.pixels.resize(pixels * 3);
  // MULDIV255(a, b) = ((a·b + 128) + ((a·b + 128) >> 8)) >> 8, exact a·b/255 rounding for bytes.
  const auto muldiv255 = [](int a, int b) {
    const int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* in = &cmyk.pixels[4 * i];
    const int inverse_black = in[3];  // 255 − K, with K = 255 − stored K
    for (int c = 0; c < 3; ++c) {
      const int value = inverse_black - muldiv255(255 - in[c], inverse_black);
      rgb.pixels[3 * i + static_cast<size_t>(c)] = static_cast<uint8_t>(std::clamp(value, 0, 255));
    }
  }
  return rgb;
}

InterleavedImage rgb_from_gray(const InterleavedImage& gray) {
  if (gray.channels != 1) throw Error("rgb_from_gray: expected 1 channel");
  InterleavedImage rgb{gray.width, gray.height, 3, {}};
  rgb.pixels.resize(gray.pixels.size() * 3);
  for (size_t i = 0; i < gray.pixels.size(); ++i)
    rgb.pixels[3 * i] = rgb.pixels[3 * i + 1] = rgb.pixels[3 * i + 2] = gray.pixels[i];
  return rgb;
}

void resized_size_for_shorter_side(int width, int height, int shorter, int* out_width, int* out_height) {
  const int short_side = std::min(width, height), long_side = std::max(width, height);
  const int new_long = static_cast<int>(static_cast<double>(int64_t{shorter} * long_side) / short_side);
  if (width <= height) {
    *out_width = shorter;
    *out_height = new_long;
  } else {
    *out_width = new_long;
    *out_height = shorter;
  }
}

namespace {

// Pillow's fixed point: 32 bits − 8 for the pixel − 2 for the sign and headroom.
constexpr int kPrecisionBits = 32 - 8 - 2;

// One output coordinate's source window [first, first + count) and its fixed-point weights,
// as Pillow's precompute_coeffs + normalize_coeffs_8bpc compute them for the bilinear filter
// (support 1, widened by the downscale factor: antialiasing).
struct ResampleWeights {
  int kernel_size = 0;
  std::vector<int> first, count;
  std::vector<int> weights;  // kernel_size per output coordinate
};

ResampleWeights resample_weights(int in_size, int out_size) {
  const double in0 = 0.0, in1 = in_size;
  const double scale = (in1 - in0) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;
  ResampleWeights w;
  w.kernel_size = static_cast<int>(std::ceil(support)) * 2 + 1;
  w.first.resize(static_cast<size_t>(out_size));
  w.count.resize(static_cast<size_t>(out_size));
  w.weights.assign(static_cast<size_t>(out_size) * static_cast<size_t>(w.kernel_size), 0);
  std::vector<double> k(static_cast<size_t>(w.kernel_size));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double inverse_scale = 1.0 / filter_scale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation, as Pillow's (int) cast
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double total = 0.0;
    for (int x = 0; x < xmax; ++x) {
      double distance = (x + xmin - center + 0.5) * inverse_scale;
      if (distance < 0.0) distance = -distance;
      const double weight = distance < 1.0 ? 1.0 - distance : 0.0;
      k[static_cast<size_t>(x)] = weight;
      total += weight;
    }
    for (int x = 0; x < xmax; ++x)
      if (total != 0.0) k[static_cast<size_t>(x)] /= total;
    int* fixed = &w.weights[static_cast<size_t>(xx) * static_cast<size_t>(w.kernel_size)];
    for (int x = 0; x < xmax; ++x) {
      const double v = k[static_cast<size_t>(x)] * (1 << kPrecisionBits);
      fixed[x] = static_cast<int>(k[static_cast<size_t>(x)] < 0 ? -0.5 + v : 0.5 + v);
    }
    w.first[static_cast<size_t>(xx)] = xmin;
    w.count[static_cast<size_t>(xx)] = xmax;
  }
  return w;
}

inline uint8_t clip8(int value) {
  const int shifted = value >> kPrecisionBits;  // arithmetic shift, as Pillow's lookup index
  return static_cast<uint8_t>(std::clamp(shifted, 0, 255));
}

// The weights of output coordinates [first, first + count) only.
ResampleWeights slice(const ResampleWeights& w, int first, int count) {
  ResampleWeights part;
  part.kernel_size = w.kernel_size;
  part.first.assign(w.first.begin() + first, w.first.begin() + first + count);
  part.count.assign(w.count.begin() + first, w.count.begin() + first + count);
  part.weights.assign(w.weights.begin() + static_cast<ptrdiff_t>(first) * w.kernel_size,
                      w.weights.begin() + static_cast<ptrdiff_t>(first + count) * w.kernel_size);
  return part;
}

// The three-channel horizontal pass with the R, G, B sums of a pixel in one SSE4.1 register: a tap
// loads the pixel's 3 bytes and the next one (a fourth lane whose sum is dropped), so the last tap
// of a row's last pixel, where that byte may lie past the buffer, is added alone. Integer sums:
// the same values as the scalar loop, in any order.
__attribute__((target("sse4.1"))) void resample_rgb_rows_sse41(const uint8_t* in, size_t in_stride, int rows,
                                                                 int in_width, const ResampleWeights& w, uint8_t* out) {
  const int out_width = static_cast<int>(w.first.size());
  const size_t out_stride = static_cast<size_t>(out_width) * 3;
  for (int y = 0; y < rows; ++y) {
    const uint8_t* row = in + static_cast<size_t>(y) * in_stride;
    uint8_t* target = out + static_cast<size_t>(y) * out_stride;
    for (int xx = 0; xx < out_width; ++xx) {
      const int first = w.first[static_cast<size_t>(xx)], count = w.count[static_cast<size_t>(xx)];
      const int* k = &w.weights[static_cast<size_t>(xx) * static_cast<size_t>(w.kernel_size)];
      const uint8_t* source = row + static_cast<size_t>(first) * 3;
      // Taps whose pixel has a byte after it inside the row.
      const int wide = first + count < in_width ? count : count - 1;
      __m128i sums = _mm_set1_epi32(1 << (kPrecisionBits - 1));
      for (int x = 0; x < wide; ++x) {
        int32_t bytes;
        std::memcpy(&bytes, source + 3 * x, sizeof bytes);
        const __m128i pixel = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(bytes));
        sums = _mm_add_epi32(sums, _mm_mullo_epi32(pixel, _mm_set1_epi32(k[x])));
      }
      alignas(16) int32_t s[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(s), sums);
      for (int x = wide; x < count; ++x) {
        s[0] += source[3 * x] * k[x];
        s[1] += source[3 * x + 1] * k[x];
        s[2] += source[3 * x + 2] * k[x];
      }
      target[3 * xx] = clip8(s[0]);
      target[3 * xx + 1] = clip8(s[1]);
      target[3 * xx + 2] = clip8(s[2]);
    }
  }
}

// Pillow's horizontal pass: `rows` rows of `in` (stride in_stride bytes, `in_width` pixels of
// `channels` interleaved bytes) into rows of w.first.size() output pixels.
void resample_rows_horizontally(const uint8_t* in, size_t in_stride, int in_width, int channels, int rows,
                                const ResampleWeights& w, uint8_t* out) {
  static const bool sse41 = __builtin_cpu_supports("sse4.1");
  if (channels == 3 && sse41) {
    resample_rgb_rows_sse41(in, in_stride, rows, in_width, w, out);
    return;
  }
  const int out_width = static_cast<int>(w.first.size());
  const size_t out_stride = static_cast<size_t>(out_width) * static_cast<size_t>(channels);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* row = in + static_cast<size_t>(y) * in_stride;
    uint8_t* target = out + static_cast<size_t>(y) * out_stride;
    for (int xx = 0; xx < out_width; ++xx) {
      const int count = w.count[static_cast<size_t>(xx)];
      const int* k = &w.weights[static_cast<size_t>(xx) * static_cast<size_t>(w.kernel_size)];
      const uint8_t* source = row + static_cast<size_t>(w.first[static_cast<size_t>(xx)]) * channels;
      if (channels == 3) {  // the common case, with the three sums in registers
        int s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
        for (int x = 0; x < count; ++x) {
          s0 += source[3 * x] * k[x];
          s1 += source[3 * x + 1] * k[x];
          s2 += source[3 * x + 2] * k[x];
        }
        target[3 * xx] = clip8(s0);
        target[3 * xx + 1] = clip8(s1);
        target[3 * xx + 2] = clip8(s2);
      } else {
        for (int c = 0; c < channels; ++c) {
          int sum = 1 << (kPrecisionBits - 1);
          for (int x = 0; x < count; ++x) sum += source[channels * x + c] * k[x];
          target[channels * xx + c] = clip8(sum);
        }
      }
    }
  }
}

// Pillow's vertical pass: every output row is a weighted sum of whole input rows (`row_bytes`
// bytes each, `in_stride` apart), so the sums run along the row (contiguous, vectorizable) for
// each tap in turn; integer adds in the same order per value as Pillow's loop: identical results.
void resample_columns_vertically(const uint8_t* in, size_t in_stride, size_t row_bytes, const ResampleWeights& w,
                                 uint8_t* out) {
  std::vector<int> sums(row_bytes);
  for (size_t yy = 0; yy < w.first.size(); ++yy) {
    const int first = w.first[yy], count = w.count[yy];
    const int* k = &w.weights[yy * static_cast<size_t>(w.kernel_size)];
    std::fill(sums.begin(), sums.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < count; ++y) {
      const uint8_t* source = in + static_cast<size_t>(first + y) * in_stride;
      const int weight = k[y];
      for (size_t i = 0; i < row_bytes; ++i) sums[i] += source[i] * weight;
    }
    uint8_t* row = out + yy * row_bytes;
    for (size_t i = 0; i < row_bytes; ++i) row[i] = clip8(sums[i]);
  }
}

}  // namespace

void pil_resize_bilinear_window(const InterleavedImage& in, int out_width, int out_height, int left, int top,
                                int width, int height, InterleavedImage& out) {
  if (out_width <= 0 || out_height <= 0) throw Error("pil_resize_bilinear: empty output size");
  if (left < 0 || top < 0 || width <= 0 || height <= 0 || left + width > out_width || top + height > out_height)
    throw Error("pil_resize_bilinear_window: window outside the output");
  const int channels = in.channels;
  const size_t in_stride = static_cast<size_t>(in.width) * static_cast<size_t>(channels);
  const size_t row_bytes = static_cast<size_t>(width) * static_cast<size_t>(channels);
  out.width = width;
  out.height = height;
  out.channels = channels;
  out.pixels.resize(row_bytes * static_cast<size_t>(height));  // keeps a reused image's capacity
  const bool horizontal = out_width != in.width, vertical = out_height != in.height;
  // Both passes compute only what the window needs (each output value is independent of the
  // others), and the horizontal pass only the rows the vertical pass reads, as Pillow does.
  const ResampleWeights wx = slice(resample_weights(in.width, out_width), left, width);
  ResampleWeights wy = slice(resample_weights(in.height, out_height), top, height);
  if (!horizontal && !vertical) {
    for (int y = 0; y < height; ++y)
      std::copy_n(in.pixels.data() + static_cast<size_t>(top + y) * in_stride + static_cast<size_t>(left) * channels,
                  row_bytes, out.pixels.data() + static_cast<size_t>(y) * row_bytes);
    return;
  }
  if (!horizontal) {
    resample_columns_vertically(in.pixels.data() + static_cast<size_t>(left) * channels, in_stride, row_bytes, wy,
                                out.pixels.data());
    return;
  }
  if (!vertical) {
    resample_rows_horizontally(in.pixels.data() + static_cast<size_t>(top) * in_stride, in_stride, in.width, channels,
                               height, wx, out.pixels.data());
    return;
  }
  const int row_first = wy.first.front();
  const int row_last = wy.first.back() + wy.count.back();
  for (int& first : wy.first) first -= row_first;
  // Reused by the thread's next image (no new pages to fault in, no zero fill).
  thread_local std::vector<uint8_t> temp;
  temp.resize(row_bytes * static_cast<size_t>(row_last - row_first));
  resample_rows_horizontally(in.pixels.data() + static_cast<size_t>(row_first) * in_stride, in_stride, in.width,
                             channels, row_last - row_first, wx, temp.data());
  resample_columns_vertically(temp.data(), row_bytes, row_bytes, wy, out.pixels.data());
}

InterleavedImage pil_resize_bilinear_window(const InterleavedImage& in, int out_width, int out_height, int left,
                                            int top, int width, int height) {
  InterleavedImage out;
  pil_resize_bilinear_window(in, out_width, out_height, left, top, width, height, out);
  return out;
}

InterleavedImage pil_resize_bilinear(const InterleavedImage& in, int out_width, int out_height) {
  if (out_width == in.width && out_height == in.height) return in;  // Pillow returns a copy
  return pil_resize_bilinear_window(in, out_width, out_height, 0, 0, out_width, out_height);
}

int center_crop_offset(int size, int crop) {
  const int d = size - crop;
  const int floor_half = d / 2;
  if (d % 2 == 0) return floor_half;
  return floor_half % 2 == 0 ? floor_half : floor_half + 1;
}

void center_crop_to_chw(const InterleavedImage& in, int crop_width, int crop_height, uint8_t* out) {
  // torchvision pads an image smaller than the crop with zeros first: left/top get the floor of
  // half the shortfall, right/bottom the rest; a crop of exactly the padded size is the image.
  const int pad_left = crop_width > in.width ? (crop_width - in.width) / 2 : 0;
  const int pad_top = crop_height > in.height ? (crop_height - in.height) / 2 : 0;
  const int pad_right = crop_width > in.width ? (crop_width - in.width + 1) / 2 : 0;
  const int pad_bottom = crop_height > in.height ? (crop_height - in.height + 1) / 2 : 0;
  const int width = in.width + pad_left + pad_right, height = in.height + pad_top + pad_bottom;
  const int top = center_crop_offset(height, crop_height), left = center_crop_offset(width, crop_width);
  const int channels = in.channels;
  if (top >= pad_top && left >= pad_left && top - pad_top + crop_height <= in.height &&
      left - pad_left + crop_width <= in.width) {
    // The window lies inside the image (the usual case): no padding test per value.
    const size_t plane = static_cast<size_t>(crop_width) * static_cast<size_t>(crop_height);
    for (int y = 0; y < crop_height; ++y) {
      const uint8_t* row =
          in.pixels.data() + (static_cast<size_t>(y + top - pad_top) * in.width + (left - pad_left)) * channels;
      for (int c = 0; c < channels; ++c) {
        uint8_t* target = out + c * plane + static_cast<size_t>(y) * crop_width;
        for (int x = 0; x < crop_width; ++x) target[x] = row[x * channels + c];
      }
    }
    return;
  }
  for (int c = 0; c < channels; ++c)
    for (int y = 0; y < crop_height; ++y)
      for (int x = 0; x < crop_width; ++x) {
        const int source_y = y + top - pad_top, source_x = x + left - pad_left;
        const bool inside = source_y >= 0 && source_y < in.height && source_x >= 0 && source_x < in.width;
        out[(static_cast<size_t>(c) * crop_height + y) * crop_width + x] =
            inside ? in.pixels[(static_cast<size_t>(source_y) * in.width + source_x) * channels + c] : 0;
      }
}

}  // namespace flipsweep::data
