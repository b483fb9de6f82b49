#pragma once
// Sigmoid and SiLU over arrays for the fast CPU backend (host/src/backend/cpu/vector_sigmoid.cpp).
#include <cstdint>

namespace flipsweep::cpu {

// y[i] = core::sigmoid(x[i]), or x[i] * core::sigmoid(x[i]) with `times_x` (SiLU), bit for bit,
// in AVX-512 or AVX2 lanes when the CPU has them; y may be x. `lanes` limits the instruction set
// (tests compare each path with the scalar function).
enum class SigmoidLanes { Best, Avx2, Scalar };
void sigmoid_many(const float* x, float* y, int64_t count, bool times_x, SigmoidLanes lanes = SigmoidLanes::Best);

}  // namespace flipsweep::cpu
