#pragma once
// Integer storage formats: fixed point Qm.n (seed 001's Q2.5) and symmetric int8 with an fp32
// scale (seed 002). Encoding = scale, saturate, round half to even; decoding = signed integer
// times a scale, exact for the fixed-point widths allowed here (at most 16 bits).
//
// Conventions chosen here, because the fault model needs every rule stated:
//  * NaN encodes as 0 in both formats. An integer format cannot hold NaN, and a clean trained
//    weight is never NaN, so the choice only matters for deliberately odd inputs.
//  * ±inf and out-of-range values saturate to the largest code of that sign.
//  * Saturation happens before rounding, so a value just above the top code (Q2.5: 3.984375,
//    half an LSB above 3.96875) saturates instead of rounding to a code that does not exist.
#include <cstdint>

#include "flipsweep/core/bit_ops.h"
#include "flipsweep/core/host_device.h"

namespace flipsweep::core {

// How a signed fixed-point word stores its sign. Two's complement has one zero and one more
// negative code (Q2.5: −4); sign-magnitude is symmetric and has two zeros (+0 and −0).
enum class SignEncoding { TwosComplement, SignMagnitude };

// 2^exponent for exponent in [−126, 127], built from bits so that no <cmath> call is needed on
// the device.
FLIPSWEEP_HD float power_of_two(int exponent) { return bits_to_float(static_cast<uint32_t>(127 + exponent) << 23); }

// Nearest integer with ties to even, for |x| < 2^23. Works on the magnitude so that the result
// does not depend on the FPU rounding mode (rintf would).
FLIPSWEEP_HD int32_t round_half_to_even(float x) {
  const float magnitude = x < 0.0f ? -x : x;
  int32_t whole = static_cast<int32_t>(magnitude);               // truncation: floor of the magnitude
  const float fraction = magnitude - static_cast<float>(whole);  // exact for |x| < 2^23
  if (fraction > 0.5f || (fraction == 0.5f && (whole & 1))) ++whole;
  return x < 0.0f ? -whole : whole;
}

// NaN → 0, otherwise clamp to [lowest_code, highest_code] and round half to even.
FLIPSWEEP_HD int32_t saturate_and_round(float scaled, int32_t lowest_code, int32_t highest_code) {
  if (scaled != scaled) return 0;
  if (scaled >= static_cast<float>(highest_code)) return highest_code;
  if (scaled <= static_cast<float>(lowest_code)) return lowest_code;
  return round_half_to_even(scaled);
}

// ---------------------------------------------------------------------------------------------
// Fixed point Qm.n: 1 sign bit, m integer bits, n fraction bits; value = code / 2^n.
// Callers keep 2 ≤ 1 + m + n ≤ 16 (StorageFormat::parse enforces it).

FLIPSWEEP_HD int fixed_point_bits(int int_bits, int frac_bits) { return 1 + int_bits + frac_bits; }

// Largest code: 2^(m+n) − 1 in both encodings (Q2.5: 127, i.e. 3.96875).
FLIPSWEEP_HD int32_t fixed_point_highest_code(int int_bits, int frac_bits) {
  return (int32_t{1} << (int_bits + frac_bits)) - 1;
}

// Most negative code: −2^(m+n) in two's complement (Q2.5: −4), −(2^(m+n) − 1) in sign-magnitude.
FLIPSWEEP_HD int32_t fixed_point_lowest_code(int int_bits, int frac_bits, SignEncoding sign_encoding) {
  const int32_t highest = fixed_point_highest_code(int_bits, frac_bits);
  return sign_encoding == SignEncoding::TwosComplement ? -highest - 1 : -highest;
}

FLIPSWEEP_HD uint32_t encode_fixed_point(float value, int int_bits, int frac_bits, SignEncoding sign_encoding) {
  // Multiplying by 2^n is exact (or overflows to inf, which saturates anyway).
  const int32_t code = saturate_and_round(value * power_of_two(frac_bits),
                                          fixed_point_lowest_code(int_bits, frac_bits, sign_encoding),
                                          fixed_point_highest_code(int_bits, frac_bits));
  const int total_bits = fixed_point_bits(int_bits, frac_bits);
  if (sign_encoding == SignEncoding::TwosComplement) return static_cast<uint32_t>(code) & low_bits_mask(total_bits);
  // A value that rounds to zero is stored as +0, whatever its sign.
  const uint32_t sign_bit = code < 0 ? uint32_t{1} << (total_bits - 1) : 0u;
  return sign_bit | static_cast<uint32_t>(code < 0 ? -code : code);
}

// Every word decodes, including the ones encode never produces after a flip: two's complement's
// most negative code and sign-magnitude's −0 (decoded as −0.0f, which compares equal to +0).
FLIPSWEEP_HD float decode_fixed_point(uint32_t word, int int_bits, int frac_bits, SignEncoding sign_encoding) {
  const int total_bits = fixed_point_bits(int_bits, frac_bits);
  const uint32_t sign_bit = uint32_t{1} << (total_bits - 1);
  const uint32_t stored = word & low_bits_mask(total_bits);
  const float lsb = power_of_two(-frac_bits);
  if (sign_encoding == SignEncoding::TwosComplement) {
    const int32_t code = (stored & sign_bit) ? static_cast<int32_t>(stored) - static_cast<int32_t>(sign_bit << 1)
                                             : static_cast<int32_t>(stored);
    return static_cast<float>(code) * lsb;
  }
  const float magnitude = static_cast<float>(stored & (sign_bit - 1u)) * lsb;
  return (stored & sign_bit) ? -magnitude : magnitude;
}

// ---------------------------------------------------------------------------------------------
// Symmetric int8: value = code · scale. Encoding uses the symmetric range [−127, 127] so that
// +w and −w get mirrored codes; decoding accepts all 256 patterns as two's complement, because a
// flip can produce 0x80 (−128). The fp32 scale lives outside the faulted memory.

FLIPSWEEP_HD uint32_t encode_int8_symmetric(float value, float scale) {
  // Division, not multiplication by 1/scale, so that code·scale round-trips exactly.
  return static_cast<uint32_t>(saturate_and_round(value / scale, -127, 127)) & 0xFFu;
}

FLIPSWEEP_HD float decode_int8_symmetric(uint32_t word, float scale) {
  const int32_t stored = static_cast<int32_t>(word & 0xFFu);
  const int32_t code = stored >= 128 ? stored - 256 : stored;
  return static_cast<float>(code) * scale;
}

// scale = max|w| / 127 over the finite values. NaN and ±inf are skipped: one of them would make
// the scale itself non-finite and every decoded weight NaN or zero. A scale of 0 (an all-zero
// tensor, or a maximum so small that the division underflows) becomes 1, so the format stays
// well defined: zeros encode as code 0 with any scale.
FLIPSWEEP_HD float symmetric_int8_scale(const float* values, int64_t count) {
  float max_magnitude = 0.0f;
  for (int64_t i = 0; i < count; ++i) {
    const float magnitude = values[i] < 0.0f ? -values[i] : values[i];
    // NaN fails both comparisons; +inf fails the second.
    if (magnitude > max_magnitude && magnitude <= 3.40282347e38f) max_magnitude = magnitude;
  }
  const float scale = max_magnitude / 127.0f;
  return scale > 0.0f ? scale : 1.0f;
}

// One scale per output channel of a weight laid out with the output channel first, as PyTorch
// stores Conv (O, I, kH, kW) and Linear (O, I) weights: channel c is the contiguous block
// weights[c·elements_per_channel, (c+1)·elements_per_channel).
FLIPSWEEP_HD void symmetric_int8_channel_scales(const float* weights, int64_t output_channels,
                                                int64_t elements_per_channel, float* scales) {
  for (int64_t channel = 0; channel < output_channels; ++channel)
    scales[channel] = symmetric_int8_scale(weights + channel * elements_per_channel, elements_per_channel);
}

}  // namespace flipsweep::core
