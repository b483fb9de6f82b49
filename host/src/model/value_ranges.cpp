#include "flipsweep/model/value_ranges.h"

#include <cmath>
#include <cstring>

namespace flipsweep {

bool one_flip_makes_nonfinite(uint32_t word, const core::StorageFormat& format) {
  int first = 0, width = 0;
  switch (format.kind) {
    case core::StorageKind::Fp32: first = 23, width = 8; break;
    case core::StorageKind::Fp16: first = 10, width = 5; break;
    case core::StorageKind::Bf16: first = 7, width = 8; break;
    default: return false;  // fixed point and int8 have no Inf or NaN
  }
  const uint32_t exponent = (word >> first) & ((1u << width) - 1u);
  const uint32_t zeros = ~exponent & ((1u << width) - 1u);
  return zeros != 0 && (zeros & (zeros - 1u)) == 0;  // exactly one zero bit
}

RangeProfile range_profile(const float* values, int64_t count) {
  RangeProfile p;
  p.count = count;
  const core::StorageFormat fp32 = core::StorageFormat::fp32(), fp16 = core::StorageFormat::fp16(),
                            bf16 = core::StorageFormat::bf16();
  for (int64_t i = 0; i < count; ++i) {
    const float v = values[i];
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    ++p.fp32_exponent[(bits >> 23) & 0xFFu];
    const float a = std::fabs(v);
    p.in_one_two += a >= 1.0f && a < 2.0f;
    p.nonfinite_in_one_flip_fp32 += one_flip_makes_nonfinite(core::encode(fp32, v, 1.0f), fp32);
    p.nonfinite_in_one_flip_fp16 += one_flip_makes_nonfinite(core::encode(fp16, v, 1.0f), fp16);
    p.nonfinite_in_one_flip_bf16 += one_flip_makes_nonfinite(core::encode(bf16, v, 1.0f), bf16);
  }
  return p;
}

}  // namespace flipsweep
