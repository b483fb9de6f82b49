#pragma once
// fp16 (IEEE 754 binary16) and bf16 storage, encoded exactly as PyTorch 1.13 converts a CPU
// tensor (`tensor.half()`, `tensor.bfloat16()`); tests/storage_formats_test.cpp checks every
// value of a golden file that PyTorch wrote (python/make_format_golden.py).
//
// Both encoders work on the bit pattern with integer arithmetic only, so they give the same
// result under g++ and nvcc, whatever the FPU's rounding or flush-to-zero settings; decoding is
// exact (every fp16 and bf16 value is an fp32 value).
#include <cstdint>

#include "flipsweep/core/bit_ops.h"
#include "flipsweep/core/host_device.h"

namespace flipsweep::core {

// fp32 → binary16, round to nearest, ties to even; overflow gives ±inf; fp16 subnormals are
// produced (no flush to zero). Any NaN becomes the quiet NaN 0x7E00 with the input's sign and
// no payload, as PyTorch's c10::detail::fp16_ieee_from_fp32_value does.
FLIPSWEEP_HD uint32_t encode_fp16(float value) {
  const uint32_t bits = float_to_bits(value);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t magnitude = bits & 0x7FFFFFFFu;

  if (magnitude > 0x7F800000u) return sign | 0x7E00u;  // NaN
  // 65520 (0x477FF000) is the midpoint between 65504, the largest finite fp16 (odd significand),
  // and 65536; ties go to the even neighbour, which is past the range, so 65520 and up give inf.
  if (magnitude >= 0x477FF000u) return sign | 0x7C00u;

  if (magnitude >= 0x38800000u) {  // |value| ≥ 2^-14: an fp16 normal
    const uint32_t round_to_even_bias = 0x0FFFu + ((magnitude >> 13) & 1u);
    // Rebias the exponent from 127 to 15 (subtract 112 << 23) and drop 13 significand bits; a
    // rounding carry out of the significand correctly bumps the exponent.
    return sign | (((magnitude + round_to_even_bias) >> 13) - (112u << 10));
  }

  // Below 2^-14 the result is an fp16 subnormal: an integer count of 2^-24 units.
  const uint32_t biased_exponent = magnitude >> 23;
  if (biased_exponent < 102) return sign;  // |value| < 2^-25 rounds to zero (2^-25 itself ties to 0 below)
  const uint32_t significand = (magnitude & 0x007FFFFFu) | 0x00800000u;  // value = significand · 2^(e−150)
  // In 2^-24 units the value is significand · 2^(e−126); e ≤ 112 makes the shift 14…24.
  const uint32_t shift = 126u - biased_exponent;
  uint32_t units = significand >> shift;
  const uint32_t remainder = significand & ((uint32_t{1} << shift) - 1u);
  const uint32_t half_unit = uint32_t{1} << (shift - 1u);
  if (remainder > half_unit || (remainder == half_unit && (units & 1u))) ++units;  // 0x400 here is the smallest normal, correctly
  return sign | units;
}

FLIPSWEEP_HD float decode_fp16(uint32_t word) {
  const uint32_t sign = (word & 0x8000u) << 16;
  const uint32_t exponent = (word >> 10) & 0x1Fu;
  const uint32_t fraction = word & 0x03FFu;
  if (exponent == 0x1Fu) return bits_to_float(sign | 0x7F800000u | (fraction << 13));  // inf, or NaN keeping its payload
  if (exponent != 0) return bits_to_float(sign | ((exponent + 112u) << 23) | (fraction << 13));
  // Zero or subnormal: fraction · 2^-24, exact in fp32 (at most 10 significant bits, far above
  // fp32's subnormal range, so flush-to-zero settings cannot touch it).
  const float magnitude = static_cast<float>(fraction) * 5.9604644775390625e-8f;  // 2^-24
  return bits_to_float(sign | float_to_bits(magnitude));
}

// fp32 → bf16, round to nearest, ties to even (overflow carries into ±inf naturally). Any NaN
// becomes 0xFFFF: that is what `tensor.bfloat16()` returns on PyTorch 1.13's vectorised (AVX2 /
// AVX-512) CPU path, which blends in an all-ones word for NaN lanes. The scalar c10::BFloat16
// constructor gives 0x7FC0 instead; both are quiet NaNs and no finite weight ever encodes to one.
FLIPSWEEP_HD uint32_t encode_bf16(float value) {
  const uint32_t bits = float_to_bits(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return 0xFFFFu;
  const uint32_t round_to_even_bias = 0x7FFFu + ((bits >> 16) & 1u);
  return (bits + round_to_even_bias) >> 16;
}

FLIPSWEEP_HD float decode_bf16(uint32_t word) { return bits_to_float((word & 0xFFFFu) << 16); }

}  // namespace flipsweep::core
