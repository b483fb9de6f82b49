#pragma once
// Scalar element-wise functions with PyTorch's NaN/Inf semantics. One definition serves the
// activation pass, weight preparation (SAFs applied to weights) and, later, CUDA kernels.
//
// NaN rules (they decide what a collapsed model scores): ReLU, Clip and HardSigmoid propagate
// NaN like torch.clamp does; comparisons are written so that a NaN input reaches the output.
#include <cmath>

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

FLIPSWEEP_HD float sigmoid(float x) { return 1.0f / (1.0f + ::expf(-x)); }

FLIPSWEEP_HD float hard_sigmoid(float x, float alpha, float beta) { return clamp_nan(alpha * x + beta, 0.0f, 1.0f); }

FLIPSWEEP_HD float softsign(float x) { return x / (1.0f + ::fabsf(x)); }

// Saturated activation functions on weights must give the same bits on the host and the GPU
// (glibc's and CUDA's tanhf/atanf differ in the last bits).
// TRANSITIONAL: still the C library's functions; replaced by our own implementations next.
FLIPSWEEP_HD float tanh(float x) { return ::tanhf(x); }
FLIPSWEEP_HD float atan(float x) { return ::atanf(x); }

}  // namespace flipsweep::core
