#pragma once
// Scalar element-wise functions with PyTorch's NaN/Inf semantics. One definition serves the
// activation pass, weight preparation (SAFs applied to weights) and CUDA kernels, with the same
// bits on every backend (exp, tanh and atan are our own; see below).
//
// NaN rules (they decide what a collapsed model scores): ReLU, Clip and HardSigmoid propagate
// NaN like torch.clamp does; comparisons are written so that a NaN input reaches the output.
#include <cmath>
#include <cstdint>

#include "flipsweep/core/host_device.h"

namespace flipsweep::core {

FLIPSWEEP_HD float relu(float x) { return x > 0.0f || x != x ? x : 0.0f; }

FLIPSWEEP_HD float leaky_relu(float x, float alpha) { return x > 0.0f || x != x ? x : x * alpha; }

// torch.clamp(x, lo, hi): NaN stays NaN.
FLIPSWEEP_HD float clamp_nan(float x, float lo, float hi) {
  if (x != x) return x;
  if (x < lo) x = lo;
  if (x > hi) x = hi;
  return x;
}

namespace detail {

// Correctly rounded arithmetic that no compiler may fuse into an FMA. On the device the _rn
// intrinsics are never contracted, whatever --fmad says; g++ for x86-64 in ISO mode does not
// contract a*b+c (and the baseline ISA has no FMA).
#if defined(__CUDA_ARCH__)
FLIPSWEEP_HD double add_rn(double a, double b) { return __dadd_rn(a, b); }
FLIPSWEEP_HD double sub_rn(double a, double b) { return __dsub_rn(a, b); }
FLIPSWEEP_HD double mul_rn(double a, double b) { return __dmul_rn(a, b); }
FLIPSWEEP_HD double div_rn(double a, double b) { return __ddiv_rn(a, b); }
FLIPSWEEP_HD double sqrt_rn(double a) { return __dsqrt_rn(a); }
FLIPSWEEP_HD float add_rn(float a, float b) { return __fadd_rn(a, b); }
FLIPSWEEP_HD float mul_rn(float a, float b) { return __fmul_rn(a, b); }
FLIPSWEEP_HD float div_rn(float a, float b) { return __fdiv_rn(a, b); }
FLIPSWEEP_HD float double_to_float_rn(double a) { return __double2float_rn(a); }
FLIPSWEEP_HD double bits_to_double_hd(uint64_t bits) { return __longlong_as_double(static_cast<long long>(bits)); }
FLIPSWEEP_HD float bits_to_float_hd(uint32_t bits) { return __uint_as_float(bits); }
#else
FLIPSWEEP_HD double add_rn(double a, double b) { return a + b; }
FLIPSWEEP_HD double sub_rn(double a, double b) { return a - b; }
FLIPSWEEP_HD double mul_rn(double a, double b) { return a * b; }
FLIPSWEEP_HD double div_rn(double a, double b) { return a / b; }
FLIPSWEEP_HD double sqrt_rn(double a) { return __builtin_sqrt(a); }  // IEEE sqrt (sqrtsd)
FLIPSWEEP_HD float add_rn(float a, float b) { return a + b; }
FLIPSWEEP_HD float mul_rn(float a, float b) { return a * b; }
FLIPSWEEP_HD float div_rn(float a, float b) { return a / b; }
FLIPSWEEP_HD float double_to_float_rn(double a) { return static_cast<float>(a); }
FLIPSWEEP_HD double bits_to_double_hd(uint64_t bits) {
  double value;
  __builtin_memcpy(&value, &bits, sizeof value);
  return value;
}
FLIPSWEEP_HD float bits_to_float_hd(uint32_t bits) {
  float value;
  __builtin_memcpy(&value, &bits, sizeof value);
  return value;
}
#endif

// ln 2 = kLn2High + kLn2Low; kLn2High has 28 significant bits, so k * kLn2High is exact for
// |k| < 2^25 and y - k * kLn2High is exact near y (Sterbenz).
constexpr double kLn2High = 0x1.62e42fep-1;
constexpr double kLn2Low = 0x1.f473de6af278fp-30;
constexpr double kInvLn2 = 0x1.71547652b82fep+0;
constexpr double kPiOver2High = 0x1.921fb54442d18p+0;  // pi/2 rounded to double
constexpr double kPiOver2Low = 0x1.1a62633145c07p-54;   // pi/2 - kPiOver2High

// 2^k for -1022 <= k <= 1023, from the exponent bits.
FLIPSWEEP_HD double power_of_two_double(int k) {
  return bits_to_double_hd(static_cast<uint64_t>(k + 1023) << 52);
}

// Nearest integer to v (ties away from zero), |v| < 2^31; conversion truncates toward zero.
FLIPSWEEP_HD int round_to_int(double v) { return static_cast<int>(v < 0.0 ? v - 0.5 : v + 0.5); }

// e^r - 1 for |r| <= 0.35: Taylor series through r^14/14! (the rest is below 4e-19 relative),
// evaluated as r + r^2 * (1/2! + r * (1/3! + ...)). Coefficients are 1/n! rounded to double.
FLIPSWEEP_HD double expm1_reduced(double r) {
  double p = 0x1.93974a8c07c9dp-37;  // 1/14!
  p = add_rn(mul_rn(p, r), 0x1.6124613a86d09p-33);  // 1/13!
  p = add_rn(mul_rn(p, r), 0x1.1eed8eff8d898p-29);  // 1/12!
  p = add_rn(mul_rn(p, r), 0x1.ae64567f544e4p-26);  // 1/11!
  p = add_rn(mul_rn(p, r), 0x1.27e4fb7789f5cp-22);  // 1/10!
  p = add_rn(mul_rn(p, r), 0x1.71de3a556c734p-19);  // 1/9!
  p = add_rn(mul_rn(p, r), 0x1.a01a01a01a01ap-16);  // 1/8!
  p = add_rn(mul_rn(p, r), 0x1.a01a01a01a01ap-13);  // 1/7!
  p = add_rn(mul_rn(p, r), 0x1.6c16c16c16c17p-10);  // 1/6!
  p = add_rn(mul_rn(p, r), 0x1.1111111111111p-7);   // 1/5!
  p = add_rn(mul_rn(p, r), 0x1.5555555555555p-5);   // 1/4!
  p = add_rn(mul_rn(p, r), 0x1.5555555555555p-3);   // 1/3!
  p = add_rn(mul_rn(p, r), 0.5);                    // 1/2!
  return add_rn(r, mul_rn(mul_rn(r, r), p));
}

// y = k ln2 + r with |r| <= ln2/2 (plus a hair), for |y| < 2^25.
FLIPSWEEP_HD double reduce_by_ln2(double y, int& k) {
  k = round_to_int(mul_rn(y, kInvLn2));
  const double kd = static_cast<double>(k);
  return sub_rn(sub_rn(y, mul_rn(kd, kLn2High)), mul_rn(kd, kLn2Low));
}

// e^y for -1000 < y < 700 (callers keep k = round(y / ln2) inside the normal double range).
FLIPSWEEP_HD double exp_double(double y) {
  int k = 0;
  const double r = reduce_by_ln2(y, k);
  return mul_rn(add_rn(1.0, expm1_reduced(r)), power_of_two_double(k));
}

// e^y - 1 for -50 <= y <= 0, to a few ulps relative (no cancellation near 0).
FLIPSWEEP_HD double expm1_nonpositive(double y) {
  if (y >= -0.34) return expm1_reduced(y);
  int k = 0;
  const double r = reduce_by_ln2(y, k);
  const double scale = power_of_two_double(k);  // k <= 0, so scale - 1 is exact
  return add_rn(mul_rn(scale, expm1_reduced(r)), sub_rn(scale, 1.0));
}

// atan(b) for 0 <= b <= 1. Halving the angle, atan(b) = 2 atan(b / (1 + sqrt(1 + b^2))), at most
// three times brings b to <= tan(pi/32) < 0.1; then the alternating series through b^21/21
// (the rest is below 1e-20 relative). Coefficients are (-1)^n / (2n+1) rounded to double.
FLIPSWEEP_HD double atan_unit(double b) {
  int halvings = 0;
  while (b > 0.1) {
    b = div_rn(b, add_rn(1.0, sqrt_rn(add_rn(1.0, mul_rn(b, b)))));
    ++halvings;
  }
  const double b2 = mul_rn(b, b);
  double q = 0x1.8618618618618p-5;                   // 1/21
  q = add_rn(mul_rn(q, b2), -0x1.af286bca1af28p-5);  // -1/19
  q = add_rn(mul_rn(q, b2), 0x1.e1e1e1e1e1e1ep-5);   // 1/17
  q = add_rn(mul_rn(q, b2), -0x1.1111111111111p-4);  // -1/15
  q = add_rn(mul_rn(q, b2), 0x1.3b13b13b13b14p-4);   // 1/13
  q = add_rn(mul_rn(q, b2), -0x1.745d1745d1746p-4);  // -1/11
  q = add_rn(mul_rn(q, b2), 0x1.c71c71c71c71cp-4);   // 1/9
  q = add_rn(mul_rn(q, b2), -0x1.2492492492492p-3);  // -1/7
  q = add_rn(mul_rn(q, b2), 0x1.999999999999ap-3);   // 1/5
  q = add_rn(mul_rn(q, b2), -0x1.5555555555555p-2);  // -1/3
  double result = add_rn(b, mul_rn(mul_rn(b, b2), q));
  for (int i = 0; i < halvings; ++i) result = mul_rn(result, 2.0);
  return result;
}

}  // namespace detail

FLIPSWEEP_HD float hard_sigmoid(float x, float alpha, float beta) {
  return clamp_nan(detail::add_rn(detail::mul_rn(alpha, x), beta), 0.0f, 1.0f);
}

FLIPSWEEP_HD float softsign(float x) { return x / (1.0f + ::fabsf(x)); }

// ONNX HardSwish: x · max(0, min(1, x/6 + 1/2)) (alpha = 1/6, beta = 0.5); NaN stays NaN.
FLIPSWEEP_HD float hard_swish(float x) { return detail::mul_rn(x, hard_sigmoid(x, 1.0f / 6.0f, 0.5f)); }

// exp, tanh and atan are ours, not the C library's: glibc's and CUDA's differ in the last bits,
// and a saturated activation function (SAF) applied to a faulted weight must give the same bits
// on the host and the GPU. Each is computed in double with correctly rounded +, -, *, / and sqrt
// only (no libm, no FMA: see detail::add_rn), accurate to a few double ulps, and rounded once to
// float, so the result is the correctly rounded float except in rare near-halfway cases (and
// then one float ulp off). tests/saf_numerics_test.cpp measures it.

// e^x. Overflow gives +Inf, underflow 0 (through subnormals), NaN stays NaN.
FLIPSWEEP_HD float exp(float x) {
  if (x != x) return x;
  if (x > 100.0f) return detail::bits_to_float_hd(0x7F800000u);  // +Inf (e^88.73 already is)
  if (x < -110.0f) return 0.0f;                                     // below half the least subnormal
  return detail::double_to_float_rn(detail::exp_double(static_cast<double>(x)));
}

FLIPSWEEP_HD float sigmoid(float x) { return detail::div_rn(1.0f, detail::add_rn(1.0f, exp(-x))); }

// tanh(±0) = ±0, tanh(±Inf) = ±1; |x| >= 20 is ±1 (the float result is 1 from about 9.01 on).
FLIPSWEEP_HD float tanh(float x) {
  if (x != x || x == 0.0f) return x;
  const bool negative = x < 0.0f;
  const double a = negative ? -static_cast<double>(x) : static_cast<double>(x);
  if (a >= 20.0) return negative ? -1.0f : 1.0f;
  // tanh(a) = (1 - e^-2a) / (1 + e^-2a) = -t / (2 + t) with t = e^-2a - 1 in (-1, 0).
  const double t = detail::expm1_nonpositive(-2.0 * a);  // -2a: exact
  const double r = detail::div_rn(-t, detail::add_rn(2.0, t));
  return detail::double_to_float_rn(negative ? -r : r);
}

// atan(±0) = ±0, atan(±Inf) = ±(float)(pi/2).
FLIPSWEEP_HD float atan(float x) {
  if (x != x || x == 0.0f) return x;
  const bool negative = x < 0.0f;
  const double a = negative ? -static_cast<double>(x) : static_cast<double>(x);
  double r;
  if (a > 1.0) {
    // atan(a) = pi/2 - atan(1/a); 1/Inf = 0 gives pi/2.
    r = detail::add_rn(detail::sub_rn(detail::kPiOver2High, detail::atan_unit(detail::div_rn(1.0, a))),
                       detail::kPiOver2Low);
  } else {
    r = detail::atan_unit(a);
  }
  return detail::double_to_float_rn(negative ? -r : r);
}

}  // namespace flipsweep::core
