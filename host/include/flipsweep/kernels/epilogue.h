#pragma once
// The epilogue of a conv/gemm output, in place, one element per index: the CUDA twin of the CPU
// backend's fused epilogue. For y [T·B, C, spatial] (spatial = 1 after a Gemm, C = its M):
//   v = y[i]; if (has_alpha) v = v·alpha; if (bias) v = v + bias[c];
//   if (bn) v = v·bn_scale[c] + bn_shift[c]; if (residual) v = v + residual[r];
//   y[i] = apply_pointwise(activation, v)
// with every per-channel array read at t·(its trial stride) + c and the residual at
// t·residual_trial_stride + r (r = i mod per_trial). Each step rounds like the separate reference
// op it replaces (Gemm's alpha·product + C with beta·C prepared on the host, Conv's + bias,
// BatchNormalization's x·a + b, Add's u + v, then the activation), so results are bit for bit.
#include <cstdint>

#include "flipsweep/core/batch_norm.h"
#include "flipsweep/core/float_ops.h"
#include "flipsweep/core/host_device.h"
#include "flipsweep/core/pointwise.h"

namespace flipsweep::kernels {

struct EpilogueBody {
  float* y = nullptr;
  int64_t per_trial = 0;  // B·C·spatial
  int64_t channels = 0;   // C
  int64_t spatial = 1;    // product of the dims after C (1 for Gemm)
  bool has_alpha = false;
  float alpha = 1.0f;
  const float* bias = nullptr;  // [C] (per trial: T·C with bias_trial_stride = C)
  int64_t bias_trial_stride = 0;
  const float* bn_scale = nullptr;  // [C], a = γ·(1/√(var+ε)); nullptr: no BatchNorm
  const float* bn_shift = nullptr;  // [C], b = β − mean·a
  int64_t bn_trial_stride = 0;
  const float* residual = nullptr;  // same layout as y (trial stride 0 when shared)
  int64_t residual_trial_stride = 0;
  core::PointwiseStep activation;  // Identity when none

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const int64_t t = i / per_trial;
    const int64_t r = i - t * per_trial;
    const int64_t c = (r / spatial) % channels;
    float v = y[i];
    if (has_alpha) v = v * alpha;
    if (bias) v = v + bias[t * bias_trial_stride + c];
    if (bn_scale) v = core::mul_rn(v, bn_scale[t * bn_trial_stride + c]) + bn_shift[t * bn_trial_stride + c];
    if (residual) v = v + residual[t * residual_trial_stride + r];
    y[i] = core::apply_pointwise(activation, v);
  }
};

// BatchNormalization's per-channel a and b (bn_scale, bn_shift above): the shared routine in
// core/batch_norm.h, which the reference kernel and the CPU backend use too.
using core::fold_batch_norm;

}  // namespace flipsweep::kernels
