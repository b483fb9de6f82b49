#pragma once
// Float arithmetic that gives the same bits under g++ and nvcc. nvcc contracts `a * b + c` into
// one fused multiply-add by default (--fmad=true), which rounds once instead of twice; the host
// build (x86-64 baseline, -std=c++17, no -ffp-contract=fast) never does. Kernel bodies and the
// shared numerics therefore form every product that is later added with mul_rn(), which CUDA
// never fuses (__fmul_rn), so host_launch and the GPU compute the same value. Division, addition
// and subtraction are IEEE round-to-nearest on both sides without help (no fast-math anywhere).
#include <cstdint>

#include "flipsweep/core/host_device.h"

namespace flipsweep::core {

FLIPSWEEP_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

// +Inf without <limits> (whose functions are host-only under nvcc without relaxed constexpr).
FLIPSWEEP_HD float infinity_f() {
#if defined(__CUDA_ARCH__)
  return __int_as_float(0x7f800000);
#else
  return __builtin_huge_valf();
#endif
}

// std::min / std::max semantics (first argument wins ties), usable in device code.
FLIPSWEEP_HD int64_t min_i64(int64_t a, int64_t b) { return b < a ? b : a; }
FLIPSWEEP_HD int64_t max_i64(int64_t a, int64_t b) { return a < b ? b : a; }
FLIPSWEEP_HD float min_f(float a, float b) { return b < a ? b : a; }
FLIPSWEEP_HD float max_f(float a, float b) { return a < b ? b : a; }

}  // namespace flipsweep::core
