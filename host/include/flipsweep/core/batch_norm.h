#pragma once
// Inference BatchNormalization folded into one multiply-add per element, y = x·a + b, with
//   a = (1/√(var+ε))·γ,   b = β − mean·a,
// in exactly the order PyTorch's CPU kernel computes it. The one definition serves the reference
// kernel, the CPU backend's fused epilogue, the trial-batched plans' per-trial epilogue
// parameters (host and CUDA) and the kernel-body tests, so they cannot drift apart. A negative
// (faulted) variance gives √(<0) = NaN and so a NaN channel, as in PyTorch.
#include <cmath>
#include <cstdint>

#include "flipsweep/core/float_ops.h"
#include "flipsweep/core/host_device.h"

namespace flipsweep::core {

struct BatchNormFold {
  float a = 1.0f;  // multiplier
  float b = 0.0f;  // offset
};

// One channel. The product mean·a is formed with mul_rn so that nvcc cannot fuse the subtraction
// into an FMA (see float_ops.h); on the host it is the plain product.
FLIPSWEEP_HD BatchNormFold fold_batch_norm_channel(float gamma, float beta, float mean, float var, float epsilon) {
  const float inverse_std = 1.0f / ::sqrtf(var + epsilon);
  BatchNormFold f;
  f.a = mul_rn(inverse_std, gamma);
  f.b = beta - mul_rn(mean, f.a);
  return f;
}

// `channels` channels: a[c], b[c] from γ (scale), β (bias), mean and var.
FLIPSWEEP_HD void fold_batch_norm(const float* scale, const float* bias, const float* mean, const float* var,
                                  float epsilon, int64_t channels, float* a, float* b) {
  for (int64_t c = 0; c < channels; ++c) {
    const BatchNormFold f = fold_batch_norm_channel(scale[c], bias[c], mean[c], var[c], epsilon);
    a[c] = f.a;
    b[c] = f.b;
  }
}

}  // namespace flipsweep::core
