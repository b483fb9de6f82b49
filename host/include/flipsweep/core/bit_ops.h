#pragma once
// Bit-level helpers shared by the storage formats and the fault injectors of both backends.
//
// Faults act on stored words: a uint32_t of which a format uses the low bits() bits, bit 0 being
// the least significant. Keeping flips and stuck-at faults as named one-liners means a CPU
// reference and a CUDA kernel cannot disagree about bit numbering.
#include <cstdint>

#include "flipsweep/core/host_device.h"

namespace flipsweep::core {

// Type punning through memcpy is the only portable spelling in C++17 (std::bit_cast is C++20);
// on the device the intrinsics compile to a register move.
FLIPSWEEP_HD uint32_t float_to_bits(float value) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(value);
#else
  uint32_t bits;
  __builtin_memcpy(&bits, &value, sizeof bits);
  return bits;
#endif
}

FLIPSWEEP_HD float bits_to_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float value;
  __builtin_memcpy(&value, &bits, sizeof value);
  return value;
#endif
}

// A mask of the low `bit_count` bits; bit_count may be 32 (a plain shift by 32 is undefined).
FLIPSWEEP_HD uint32_t low_bits_mask(int bit_count) {
  return bit_count >= 32 ? 0xFFFFFFFFu : (uint32_t{1} << bit_count) - 1u;
}

// A transient upset: the stored bit inverts.
FLIPSWEEP_HD uint32_t flip_bit(uint32_t word, int bit) { return word ^ (uint32_t{1} << bit); }

// A permanent fault: the stored bit reads `stuck_value` whatever was written.
FLIPSWEEP_HD uint32_t stuck_at(uint32_t word, int bit, bool stuck_value) {
  const uint32_t bit_mask = uint32_t{1} << bit;
  return stuck_value ? (word | bit_mask) : (word & ~bit_mask);
}

}  // namespace flipsweep::core
