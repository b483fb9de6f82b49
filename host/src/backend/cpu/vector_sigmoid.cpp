// Sigmoid and SiLU over arrays, in AVX-512 or AVX2 lanes: the same correctly rounded double
// operations as core::sigmoid (core/unary_ops.h: exp by ln 2 reduction and a degree-14 series),
// in the same order, so every lane gives core::sigmoid's bits. SiLU-heavy models (EfficientNet)
// spend most of their time here. A vector with a NaN or an input outside the range the series
// covers (where core::exp returns its saturated values) is done by the scalar function.
//
// No FMA may be formed from these products and sums (the build compiles this file with
// -ffp-contract=off); the intrinsics are plain IEEE add, sub, mul, div and conversions, which round
// like their scalar forms under the same MXCSR.
// GCC 12's AVX-512 conversion intrinsics start from _mm512_undefined_*() and warn about it
// (GCC bug 105593); nothing here reads an undefined lane.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

#include "flipsweep/core/unary_ops.h"
#include "internal.h"

namespace flipsweep::cpu {

namespace {

namespace d = core::detail;

// The series coefficients of detail::expm1_reduced, highest first.
constexpr double kSeries[12] = {
    0x1.6124613a86d09p-33, 0x1.1eed8eff8d898p-29, 0x1.ae64567f544e4p-26, 0x1.27e4fb7789f5cp-22,
    0x1.71de3a556c734p-19, 0x1.a01a01a01a01ap-16, 0x1.a01a01a01a01ap-13, 0x1.6c16c16c16c17p-10,
    0x1.1111111111111p-7,  0x1.5555555555555p-5,  0x1.5555555555555p-3,  0.5,
};
constexpr double kSeriesFirst = 0x1.93974a8c07c9dp-37;
constexpr int kSeriesRest = 12;  // entries of kSeries used after kSeriesFirst

// core::exp's fast range: inside it, exp_double is used as is.
constexpr float kLowestX = -110.0f, kHighestX = 100.0f;

float scalar(float x, bool times_x) {
  const float s = core::sigmoid(x);
  return times_x ? d::mul_rn(x, s) : s;
}

__attribute__((target("avx512f,avx512dq"))) void sigmoid_avx512(const float* x, float* y, int64_t count,
                                                                   bool times_x) {
  const __m512d inv_ln2 = _mm512_set1_pd(d::kInvLn2), ln2_high = _mm512_set1_pd(d::kLn2High),
                ln2_low = _mm512_set1_pd(d::kLn2Low), half = _mm512_set1_pd(0.5), one = _mm512_set1_pd(1.0),
                zero = _mm512_setzero_pd();
  const __m256 one_f = _mm256_set1_ps(1.0f), low = _mm256_set1_ps(kLowestX), high = _mm256_set1_ps(kHighestX);
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256 xf = _mm256_loadu_ps(x + i);
    const __m256 negated = _mm256_sub_ps(_mm256_setzero_ps(), xf);  // -x: exact (NaN excluded below)
    // All lanes ordered and inside [lowest, highest]; otherwise the scalar function.
    const int inside = _mm256_movemask_ps(_mm256_and_ps(_mm256_cmp_ps(negated, low, _CMP_GE_OQ),
                                                        _mm256_cmp_ps(negated, high, _CMP_LE_OQ)));
    if (inside != 0xFF) {
      for (int64_t j = i; j < i + 8; ++j) y[j] = scalar(x[j], times_x);
      continue;
    }
    const __m512d v = _mm512_cvtps_pd(negated);
    // k = round_to_int(v / ln 2): ties away from zero, then truncation.
    const __m512d scaled = _mm512_mul_pd(v, inv_ln2);
    const __mmask8 negative = _mm512_cmp_pd_mask(scaled, zero, _CMP_LT_OQ);
    const __m512d shifted = _mm512_mask_sub_pd(_mm512_add_pd(scaled, half), negative, scaled, half);
    const __m256i k = _mm512_cvttpd_epi32(shifted);
    const __m512d kd = _mm512_cvtepi32_pd(k);
    const __m512d r = _mm512_sub_pd(_mm512_sub_pd(v, _mm512_mul_pd(kd, ln2_high)), _mm512_mul_pd(kd, ln2_low));
    __m512d p = _mm512_set1_pd(kSeriesFirst);
    for (int c = 0; c < kSeriesRest; ++c) p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(kSeries[c]));
    const __m512d expm1 = _mm512_add_pd(r, _mm512_mul_pd(_mm512_mul_pd(r, r), p));
    const __m512i exponent = _mm512_slli_epi64(_mm512_add_epi64(_mm512_cvtepi32_epi64(k), _mm512_set1_epi64(1023)), 52);
    const __m512d e = _mm512_mul_pd(_mm512_add_pd(one, expm1), _mm512_castsi512_pd(exponent));
    const __m256 ef = _mm512_cvtpd_ps(e);
    __m256 s = _mm256_div_ps(one_f, _mm256_add_ps(one_f, ef));
    if (times_x) s = _mm256_mul_ps(xf, s);
    _mm256_storeu_ps(y + i, s);
  }
  for (; i < count; ++i) y[i] = scalar(x[i], times_x);
}

__attribute__((target("avx2"))) void sigmoid_avx2(const float* x, float* y, int64_t count, bool times_x) {
  const __m256d inv_ln2 = _mm256_set1_pd(d::kInvLn2), ln2_high = _mm256_set1_pd(d::kLn2High),
                ln2_low = _mm256_set1_pd(d::kLn2Low), half = _mm256_set1_pd(0.5), one = _mm256_set1_pd(1.0),
                zero = _mm256_setzero_pd();
  const __m128 one_f = _mm_set1_ps(1.0f), low = _mm_set1_ps(kLowestX), high = _mm_set1_ps(kHighestX);
  int64_t i = 0;
  for (; i + 4 <= count; i += 4) {
    const __m128 xf = _mm_loadu_ps(x + i);
    const __m128 negated = _mm_sub_ps(_mm_setzero_ps(), xf);
    const int inside =
        _mm_movemask_ps(_mm_and_ps(_mm_cmp_ps(negated, low, _CMP_GE_OQ), _mm_cmp_ps(negated, high, _CMP_LE_OQ)));
    if (inside != 0xF) {
      for (int64_t j = i; j < i + 4; ++j) y[j] = scalar(x[j], times_x);
      continue;
    }
    const __m256d v = _mm256_cvtps_pd(negated);
    const __m256d scaled = _mm256_mul_pd(v, inv_ln2);
    const __m256d negative = _mm256_cmp_pd(scaled, zero, _CMP_LT_OQ);
    const __m256d shifted = _mm256_blendv_pd(_mm256_add_pd(scaled, half), _mm256_sub_pd(scaled, half), negative);
    const __m128i k = _mm256_cvttpd_epi32(shifted);
    const __m256d kd = _mm256_cvtepi32_pd(k);
    const __m256d r = _mm256_sub_pd(_mm256_sub_pd(v, _mm256_mul_pd(kd, ln2_high)), _mm256_mul_pd(kd, ln2_low));
    __m256d p = _mm256_set1_pd(kSeriesFirst);
    for (int c = 0; c < kSeriesRest; ++c) p = _mm256_add_pd(_mm256_mul_pd(p, r), _mm256_set1_pd(kSeries[c]));
    const __m256d expm1 = _mm256_add_pd(r, _mm256_mul_pd(_mm256_mul_pd(r, r), p));
    const __m256i exponent = _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(k), _mm256_set1_epi64x(1023)), 52);
    const __m256d e = _mm256_mul_pd(_mm256_add_pd(one, expm1), _mm256_castsi256_pd(exponent));
    const __m128 ef = _mm256_cvtpd_ps(e);
    __m128 s = _mm_div_ps(one_f, _mm_add_ps(one_f, ef));
    if (times_x) s = _mm_mul_ps(xf, s);
    _mm_storeu_ps(y + i, s);
  }
  for (; i < count; ++i) y[i] = scalar(x[i], times_x);
}

enum class Lanes { Scalar, Avx2, Avx512 };

Lanes detect_lanes() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) return Lanes::Avx512;
  if (__builtin_cpu_supports("avx2")) return Lanes::Avx2;
  return Lanes::Scalar;
}

}  // namespace

void sigmoid_many(const float* x, float* y, int64_t count, bool times_x, SigmoidLanes lanes) {
  static const Lanes best = detect_lanes();
  Lanes use = best;
  if (lanes == SigmoidLanes::Scalar || (lanes == SigmoidLanes::Avx2 && best != Lanes::Scalar)) {
    use = lanes == SigmoidLanes::Scalar ? Lanes::Scalar : Lanes::Avx2;
  }
  switch (use) {
    case Lanes::Avx512: sigmoid_avx512(x, y, count, times_x); return;
    case Lanes::Avx2: sigmoid_avx2(x, y, count, times_x); return;
    case Lanes::Scalar:
      for (int64_t i = 0; i < count; ++i) y[i] = scalar(x[i], times_x);
      return;
  }
}

}  // namespace flipsweep::cpu
