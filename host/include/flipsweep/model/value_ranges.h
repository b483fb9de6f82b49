#pragma once
// Where a tensor's values sit in the floating-point formats, and how many of its stored words one
// bit flip can turn into ±Inf or NaN (seed 002: values with 1 ≤ |x| < 2 have the fp32 exponent
// 0x7F, one flip of the exponent's MSB away from 0xFF). `flipsweep inspect --ranges` prints this
// per parameter.
#include <array>
#include <cstdint>

#include "flipsweep/core/storage_formats.h"

namespace flipsweep {

// True when flipping some single bit of the stored word (float formats) gives an exponent field
// of all ones (±Inf or NaN): the field has exactly one zero bit.
bool one_flip_makes_nonfinite(uint32_t word, const core::StorageFormat& format);

struct RangeProfile {
  int64_t count = 0;
  int64_t in_one_two = 0;                      // 1 ≤ |x| < 2
  std::array<int64_t, 256> fp32_exponent{};    // biased fp32 exponent field → values
  int64_t nonfinite_in_one_flip_fp32 = 0;      // words one flip turns into Inf/NaN, per format
  int64_t nonfinite_in_one_flip_fp16 = 0;
  int64_t nonfinite_in_one_flip_bf16 = 0;
};

RangeProfile range_profile(const float* values, int64_t count);

}  // namespace flipsweep
