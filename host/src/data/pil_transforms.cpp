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

// Output coordinate xx's taps [*first, *first + *count) in the input, as Pillow's
// precompute_coeffs finds them for the bilinear filter (support 1, widened by the downscale
// factor: antialiasing). Both ends grow with xx.
void tap_range(int in_size, int out_size, int xx, double* center, int* first, int* count) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double support = std::max(scale, 1.0);
  *center = (xx + 0.5) * scale;
  const int xmin = std::max(0, static_cast<int>(*center - support + 0.5));  // truncation, as Pillow's (int) cast
  const int xmax = std::min(in_size, static_cast<int>(*center + support + 0.5));
  *first = xmin;
  *count = xmax - xmin;
}

// The weights of output coordinates [begin, begin + outputs) only (a crop's window).
ResampleWeights resample_weights(int in_size, int out_size, int begin, int outputs) {
  const double filter_scale = std::max(static_cast<double>(in_size) / out_size, 1.0);
  const double inverse_scale = 1.0 / filter_scale;
  ResampleWeights w;
  w.kernel_size = static_cast<int>(std::ceil(filter_scale)) * 2 + 1;
  w.first.resize(static_cast<size_t>(outputs));
  w.count.resize(static_cast<size_t>(outputs));
  w.weights.assign(static_cast<size_t>(outputs) * static_cast<size_t>(w.kernel_size), 0);
  std::vector<double> k(static_cast<size_t>(w.kernel_size));
  for (int i = 0; i < outputs; ++i) {
    double center = 0.0;
    int xmin = 0, taps = 0;
    tap_range(in_size, out_size, begin + i, &center, &xmin, &taps);
    double total = 0.0;
    for (int x = 0; x < taps; ++x) {
      double distance = (x + xmin - center + 0.5) * inverse_scale;
      if (distance < 0.0) distance = -distance;
      const double weight = distance < 1.0 ? 1.0 - distance : 0.0;
      k[static_cast<size_t>(x)] = weight;
      total += weight;
    }
    for (int x = 0; x < taps; ++x)
      if (total != 0.0) k[static_cast<size_t>(x)] /= total;
    int* fixed = &w.weights[static_cast<size_t>(i) * static_cast<size_t>(w.kernel_size)];
    for (int x = 0; x < taps; ++x) {
      const double v = k[static_cast<size_t>(x)] * (1 << kPrecisionBits);
      fixed[x] = static_cast<int>(k[static_cast<size_t>(x)] < 0 ? -0.5 + v : 0.5 + v);
    }
    w.first[static_cast<size_t>(i)] = xmin;
    w.count[static_cast<size_t>(i)] = taps;
  }
  return w;
}

inline uint8_t clip8(int value) {
  const int shifted = value >> kPrecisionBits;  // arithmetic shift, as Pillow's lookup index
  return static_cast<uint8_t>(std::clamp(shifted, 0, 255));
}

bool simd_resampling = true;  // use_simd_resampling(false) in tests: the plain loops below

// The AVX2 passes split Pillow's 22-bit weights into 11-bit halves, k = hi·2^11 + lo, so that
// _mm256_madd_epi16 (16-bit products, added in pairs into 32 bits) multiplies two taps at once:
// Σ k·p = 2^11·Σ hi·p + Σ lo·p, exact integer sums, Pillow's values bit for bit in any order.
constexpr int kHalfBits = 11;
constexpr int kHalfMask = (1 << kHalfBits) - 1;

// Whether every weight splits into halves that fit in int16 (always true for the bilinear
// filter, whose normalized weights are in [0, 2^22]).
bool splits_into_halves(const ResampleWeights& w) {
  return std::all_of(w.weights.begin(), w.weights.end(), [](int k) { return k >= 0 && (k >> kHalfBits) <= 32767; });
}

// Per output, its taps in pairs (x, x + 1), each pair's two low halves packed into one int32
// (tap x in the low 16 bits) and the two high halves into another; a missing x + 1 weighs 0.
struct TapPairs {
  std::vector<int> pairs;              // per output: ceil(count / 2)
  std::vector<int32_t> low, high;      // per output, max_pairs entries
  int max_pairs = 0;
};

TapPairs tap_pairs(const ResampleWeights& w) {
  TapPairs t;
  const size_t outputs = w.first.size();
  for (int count : w.count) t.max_pairs = std::max(t.max_pairs, (count + 1) / 2);
  t.pairs.resize(outputs);
  t.low.assign(outputs * static_cast<size_t>(t.max_pairs), 0);
  t.high.assign(outputs * static_cast<size_t>(t.max_pairs), 0);
  for (size_t xx = 0; xx < outputs; ++xx) {
    const int count = w.count[xx];
    const int* k = &w.weights[xx * static_cast<size_t>(w.kernel_size)];
    t.pairs[xx] = (count + 1) / 2;
    for (int p = 0; p < t.pairs[xx]; ++p) {
      const int k0 = k[2 * p], k1 = 2 * p + 1 < count ? k[2 * p + 1] : 0;
      const size_t at = xx * static_cast<size_t>(t.max_pairs) + static_cast<size_t>(p);
      t.low[at] = static_cast<int32_t>(static_cast<uint32_t>(k0 & kHalfMask) |
                                       (static_cast<uint32_t>(k1 & kHalfMask) << 16));
      t.high[at] = static_cast<int32_t>(static_cast<uint32_t>(k0 >> kHalfBits) |
                                        (static_cast<uint32_t>(k1 >> kHalfBits) << 16));
    }
  }
  return t;
}

// 8 bytes from `p`, or those of them before `end` (and zeros) near the end of the buffer.
__attribute__((target("avx2"))) inline __m128i load_8_bytes(const uint8_t* p, const uint8_t* end) {
  if (end - p >= 8) return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  uint8_t bounce[8] = {};
  std::memcpy(bounce, p, static_cast<size_t>(end - p));
  return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(bounce));
}

// The three-channel horizontal pass, two rows at a time (one per 128-bit half): a tap pair's
// 6 bytes (pixels x and x + 1) become 16-bit lanes R_x R_x+1 G_x G_x+1 B_x B_x+1 0 0, so one
// madd per half-weight gives the R, G, B sums of two taps. `end` is the end of the readable
// buffer (loads of 8 bytes must not pass it).
__attribute__((target("avx2"))) void resample_rgb_rows_avx2(const uint8_t* in, size_t in_stride, int rows,
                                                             const uint8_t* end, const ResampleWeights& w,
                                                             uint8_t* out) {
  const TapPairs taps = tap_pairs(w);
  const int out_width = static_cast<int>(w.first.size());
  const size_t out_stride = static_cast<size_t>(out_width) * 3;
  const __m256i order = _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1,  //
                                         0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
  const __m256i rounding = _mm256_set1_epi32(1 << (kPrecisionBits - 1));
  for (int y = 0; y < rows; y += 2) {
    const bool pair = y + 1 < rows;
    const uint8_t* row0 = in + static_cast<size_t>(y) * in_stride;
    const uint8_t* row1 = pair ? row0 + in_stride : row0;
    uint8_t* target0 = out + static_cast<size_t>(y) * out_stride;
    uint8_t* target1 = target0 + out_stride;
    for (int xx = 0; xx < out_width; ++xx) {
      const size_t offset = static_cast<size_t>(w.first[static_cast<size_t>(xx)]) * 3;
      const int32_t* low = &taps.low[static_cast<size_t>(xx) * static_cast<size_t>(taps.max_pairs)];
      const int32_t* high = &taps.high[static_cast<size_t>(xx) * static_cast<size_t>(taps.max_pairs)];
      __m256i low_sums = _mm256_setzero_si256(), high_sums = _mm256_setzero_si256();
      for (int p = 0; p < taps.pairs[static_cast<size_t>(xx)]; ++p) {
        const __m128i a = load_8_bytes(row0 + offset + 6 * static_cast<size_t>(p), end);
        const __m128i b = load_8_bytes(row1 + offset + 6 * static_cast<size_t>(p), end);
        const __m256i pixels = _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1), order);
        low_sums = _mm256_add_epi32(low_sums, _mm256_madd_epi16(pixels, _mm256_set1_epi32(low[p])));
        high_sums = _mm256_add_epi32(high_sums, _mm256_madd_epi16(pixels, _mm256_set1_epi32(high[p])));
      }
      const __m256i sums =
          _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(high_sums, kHalfBits), low_sums), rounding);
      // Pillow's clip8: the arithmetic shift, then saturation to 0..255 (packus twice).
      const __m256i shifted = _mm256_srai_epi32(sums, kPrecisionBits);
      const __m256i bytes = _mm256_packus_epi16(_mm256_packus_epi32(shifted, shifted), _mm256_setzero_si256());
      const uint32_t rgb0 = static_cast<uint32_t>(_mm256_cvtsi256_si32(bytes));
      const uint32_t rgb1 = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm256_extracti128_si256(bytes, 1)));
      std::memcpy(target0 + 3 * static_cast<size_t>(xx), &rgb0, 3);
      if (pair) std::memcpy(target1 + 3 * static_cast<size_t>(xx), &rgb1, 3);
    }
  }
}

// Pillow's horizontal pass: `rows` rows of `in` (stride in_stride bytes, `in_width` pixels of
// `channels` interleaved bytes) into rows of w.first.size() output pixels.
void resample_rows_horizontally(const uint8_t* in, size_t in_stride, int in_width, int channels, int rows,
                                const ResampleWeights& w, uint8_t* out) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (channels == 3 && avx2 && simd_resampling && rows > 0 && splits_into_halves(w)) {
    const uint8_t* end = in + static_cast<size_t>(rows - 1) * in_stride + static_cast<size_t>(in_width) * 3;
    resample_rgb_rows_avx2(in, in_stride, rows, end, w, out);
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

// Pillow's vertical pass with AVX2: 16 bytes of an output row at a time, their sums in two
// registers over all taps (32-bit products of a byte and a 22-bit weight, exact).
__attribute__((target("avx2"))) void resample_columns_vertically_avx2(const uint8_t* in, size_t in_stride,
                                                                       size_t row_bytes, const ResampleWeights& w,
                                                                       uint8_t* out) {
  const __m256i rounding = _mm256_set1_epi32(1 << (kPrecisionBits - 1));
  const size_t vector_bytes = row_bytes / 16 * 16;
  for (size_t yy = 0; yy < w.first.size(); ++yy) {
    const int count = w.count[yy];
    const int* k = &w.weights[yy * static_cast<size_t>(w.kernel_size)];
    const uint8_t* rows = in + static_cast<size_t>(w.first[yy]) * in_stride;
    uint8_t* target = out + yy * row_bytes;
    for (size_t i = 0; i < vector_bytes; i += 16) {
      __m256i sums0 = rounding, sums1 = rounding;
      for (int y = 0; y < count; ++y) {
        const uint8_t* source = rows + static_cast<size_t>(y) * in_stride + i;
        const __m256i weight = _mm256_set1_epi32(k[y]);
        const __m256i low = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(source)));
        const __m256i high = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(source + 8)));
        sums0 = _mm256_add_epi32(sums0, _mm256_mullo_epi32(low, weight));
        sums1 = _mm256_add_epi32(sums1, _mm256_mullo_epi32(high, weight));
      }
      // Shift, saturate to 16 then 8 bits (Pillow's clip8); packus works within 128-bit halves,
      // so the 64-bit quarters are put back in order in between.
      const __m256i words = _mm256_permute4x64_epi64(
          _mm256_packus_epi32(_mm256_srai_epi32(sums0, kPrecisionBits), _mm256_srai_epi32(sums1, kPrecisionBits)),
          0xD8);
      const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(target + i), bytes);
    }
    for (size_t i = vector_bytes; i < row_bytes; ++i) {
      int sum = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < count; ++y) sum += rows[static_cast<size_t>(y) * in_stride + i] * k[y];
      target[i] = clip8(sum);
    }
  }
}

// Pillow's vertical pass: every output row is a weighted sum of whole input rows (`row_bytes`
// bytes each, `in_stride` apart), so the sums run along the row (contiguous, vectorizable) for
// each tap in turn; integer adds in the same order per value as Pillow's loop: identical results.
void resample_columns_vertically(const uint8_t* in, size_t in_stride, size_t row_bytes, const ResampleWeights& w,
                                 uint8_t* out) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2 && simd_resampling) {
    resample_columns_vertically_avx2(in, in_stride, row_bytes, w, out);
    return;
  }
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

namespace {

// The weights of the output window [left, left + width) × [top, top + height) of a resize of
// an in_width × in_height image to out_width × out_height; `None` for a side that keeps its size.
struct WindowWeights {
  bool horizontal = false, vertical = false;
  ResampleWeights wx, wy;
};

void check_window(int out_width, int out_height, int left, int top, int width, int height) {
  if (out_width <= 0 || out_height <= 0) throw Error("pil_resize_bilinear: empty output size");
  if (left < 0 || top < 0 || width <= 0 || height <= 0 || left + width > out_width || top + height > out_height)
    throw Error("pil_resize_bilinear_window: window outside the output");
}

WindowWeights window_weights(int in_width, int in_height, int out_width, int out_height, int left, int top, int width,
                             int height) {
  check_window(out_width, out_height, left, top, width, height);
  WindowWeights w;
  w.horizontal = out_width != in_width;
  w.vertical = out_height != in_height;
  if (w.horizontal) w.wx = resample_weights(in_width, out_width, left, width);
  if (w.vertical) w.wy = resample_weights(in_height, out_height, top, height);
  return w;
}

// [first, last) of the input coordinates that outputs [window_first, window_first + window_size)
// along one side read: from the first output's first tap to the last output's last (both ends
// grow with the output), or the window itself on a side that keeps its size.
void source_span(int in_size, int out_size, int window_first, int window_size, int* first, int* last) {
  if (in_size == out_size) {
    *first = window_first;
    *last = window_first + window_size;
    return;
  }
  double center = 0.0;
  int count = 0, last_first = 0;
  tap_range(in_size, out_size, window_first, &center, first, &count);
  tap_range(in_size, out_size, window_first + window_size - 1, &center, &last_first, &count);
  *last = last_first + count;
}

}  // namespace

void use_simd_resampling(bool enabled) { simd_resampling = enabled; }

void resize_source_window(int in_width, int in_height, int out_width, int out_height, int left, int top, int width,
                          int height, int* source_left, int* source_top, int* source_width, int* source_height) {
  check_window(out_width, out_height, left, top, width, height);
  int x0 = 0, x1 = 0, y0 = 0, y1 = 0;
  source_span(in_width, out_width, left, width, &x0, &x1);
  source_span(in_height, out_height, top, height, &y0, &y1);
  *source_left = x0;
  *source_top = y0;
  *source_width = x1 - x0;
  *source_height = y1 - y0;
}

void pil_resize_bilinear_window(const InterleavedImage& region, int region_left, int region_top, int in_width,
                                int in_height, int out_width, int out_height, int left, int top, int width, int height,
                                InterleavedImage& out) {
  WindowWeights w = window_weights(in_width, in_height, out_width, out_height, left, top, width, height);
  // From image coordinates to the region's; the region must hold every pixel the window reads.
  int x0 = 0, x1 = 0, y0 = 0, y1 = 0;
  source_span(in_width, out_width, left, width, &x0, &x1);
  source_span(in_height, out_height, top, height, &y0, &y1);
  if (x0 < region_left || y0 < region_top || x1 > region_left + region.width || y1 > region_top + region.height)
    throw Error("pil_resize_bilinear_window: the decoded region does not hold the pixels the window reads");
  for (int& first : w.wx.first) first -= region_left;
  for (int& first : w.wy.first) first -= region_top;
  left -= region_left;
  top -= region_top;

  const int channels = region.channels;
  const size_t in_stride = static_cast<size_t>(region.width) * static_cast<size_t>(channels);
  const size_t row_bytes = static_cast<size_t>(width) * static_cast<size_t>(channels);
  out.width = width;
  out.height = height;
  out.channels = channels;
  out.pixels.resize(row_bytes * static_cast<size_t>(height));  // keeps a reused image's capacity
  // Both passes compute only what the window needs (each output value is independent of the
  // others), and the horizontal pass only the rows the vertical pass reads, as Pillow does.
  if (!w.horizontal && !w.vertical) {
    for (int y = 0; y < height; ++y)
      std::copy_n(region.pixels.data() + static_cast<size_t>(top + y) * in_stride + static_cast<size_t>(left) * channels,
                  row_bytes, out.pixels.data() + static_cast<size_t>(y) * row_bytes);
    return;
  }
  if (!w.horizontal) {
    resample_columns_vertically(region.pixels.data() + static_cast<size_t>(left) * channels, in_stride, row_bytes, w.wy,
                                out.pixels.data());
    return;
  }
  if (!w.vertical) {
    resample_rows_horizontally(region.pixels.data() + static_cast<size_t>(top) * in_stride, in_stride, region.width,
                               channels, height, w.wx, out.pixels.data());
    return;
  }
  const int row_first = y0 - region_top, row_last = y1 - region_top;
  for (int& first : w.wy.first) first -= row_first;
  // Reused by the thread's next image (no new pages to fault in, no zero fill).
  thread_local std::vector<uint8_t> temp;
  temp.resize(row_bytes * static_cast<size_t>(row_last - row_first));
  resample_rows_horizontally(region.pixels.data() + static_cast<size_t>(row_first) * in_stride, in_stride, region.width,
                             channels, row_last - row_first, w.wx, temp.data());
  resample_columns_vertically(temp.data(), row_bytes, row_bytes, w.wy, out.pixels.data());
}

void pil_resize_bilinear_window(const InterleavedImage& in, int out_width, int out_height, int left, int top,
                                int width, int height, InterleavedImage& out) {
  pil_resize_bilinear_window(in, 0, 0, in.width, in.height, out_width, out_height, left, top, width, height, out);
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

namespace {

__attribute__((target("ssse3"))) inline __m128i gather_bytes(__m128i a, __m128i m, __m128i z, __m128i from_a,
                                                              __m128i from_m, __m128i from_z) {
  return _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, from_a), _mm_shuffle_epi8(m, from_m)),
                      _mm_shuffle_epi8(z, from_z));
}

// RGB RGB ... → RRR..., GGG..., BBB...: 16 pixels (48 bytes, three loads) at a time, each plane
// gathered by three byte shuffles. Returns how many pixels it wrote (a multiple of 16).
__attribute__((target("ssse3"))) int split_rgb_ssse3(const uint8_t* rgb, int pixels, uint8_t* r, uint8_t* g,
                                                      uint8_t* b) {
  // For each plane, the bytes it takes from the first, second and third 16 input bytes.
  const __m128i r0 = _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i r1 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14, -1, -1, -1, -1, -1);
  const __m128i r2 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 1, 4, 7, 10, 13);
  const __m128i g0 = _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i g1 = _mm_setr_epi8(-1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1);
  const __m128i g2 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14);
  const __m128i b0 = _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i b1 = _mm_setr_epi8(-1, -1, -1, -1, -1, 1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1);
  const __m128i b2 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15);
  int x = 0;
  for (; x + 16 <= pixels; x += 16) {
    const uint8_t* p = rgb + 3 * static_cast<size_t>(x);
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i m = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
    const __m128i z = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(r + x), gather_bytes(a, m, z, r0, r1, r2));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(g + x), gather_bytes(a, m, z, g0, g1, g2));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(b + x), gather_bytes(a, m, z, b0, b1, b2));
  }
  return x;
}

}  // namespace

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
    static const bool ssse3 = __builtin_cpu_supports("ssse3");
    for (int y = 0; y < crop_height; ++y) {
      const uint8_t* row =
          in.pixels.data() + (static_cast<size_t>(y + top - pad_top) * in.width + (left - pad_left)) * channels;
      const size_t at = static_cast<size_t>(y) * static_cast<size_t>(crop_width);
      int x = 0;
      if (channels == 3 && ssse3 && simd_resampling) x = split_rgb_ssse3(row, crop_width, out + at, out + plane + at, out + 2 * plane + at);
      for (int c = 0; c < channels; ++c) {
        uint8_t* target = out + c * plane + at;
        for (int i = x; i < crop_width; ++i) target[i] = row[i * channels + c];
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
