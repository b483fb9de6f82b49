#pragma once
// One scalar step of a point-wise computation, as data: the activation ops of the activation pass
// and the weight transforms of weight preparation (an SAF such as tanh(0.5·W) is the program
// [MulConst 0.5, Tanh]). Host and CUDA code evaluate the same PointwiseStep through
// apply_pointwise(), so a faulted weight's effective value has the same bits on every backend.
#include "flipsweep/core/host_device.h"
#include "flipsweep/core/unary_ops.h"

namespace flipsweep::core {

enum class PointwiseOp : int {
  Identity,
  Relu,
  LeakyRelu,    // a = alpha
  Clip,         // a = min, b = max (NaN propagates)
  Sigmoid,
  HardSigmoid,  // a = alpha, b = beta
  Tanh,
  Softsign,
  Atan,
  AddConst,     // x + a
  SubConst,     // x - a
  ConstSub,     // a - x
  MulConst,     // x * a
  DivConst,     // x / a
  ConstDiv,     // a / x
  HardSwish,    // x * hard_sigmoid(x; 1/6, 1/2)
  MulSigmoid,   // x * sigmoid(x): SiLU as exporters write it, Mul(x, Sigmoid(x))
  MulHardSigmoid,  // x * hard_sigmoid(x; a, b): hardswish before opset 14
};

struct PointwiseStep {
  PointwiseOp op = PointwiseOp::Identity;
  float a = 0.0f;
  float b = 0.0f;
};

FLIPSWEEP_HD float apply_pointwise(const PointwiseStep& step, float x) {
  switch (step.op) {
    case PointwiseOp::Identity: return x;
    case PointwiseOp::Relu: return relu(x);
    case PointwiseOp::LeakyRelu: return leaky_relu(x, step.a);
    case PointwiseOp::Clip: return clamp_nan(x, step.a, step.b);
    case PointwiseOp::Sigmoid: return sigmoid(x);
    case PointwiseOp::HardSigmoid: return hard_sigmoid(x, step.a, step.b);
    case PointwiseOp::Tanh: return tanh(x);
    case PointwiseOp::Softsign: return softsign(x);
    case PointwiseOp::Atan: return atan(x);
    case PointwiseOp::AddConst: return x + step.a;
    case PointwiseOp::SubConst: return x - step.a;
    case PointwiseOp::ConstSub: return step.a - x;
    case PointwiseOp::MulConst: return x * step.a;
    case PointwiseOp::DivConst: return x / step.a;
    case PointwiseOp::ConstDiv: return step.a / x;
    case PointwiseOp::HardSwish: return hard_swish(x);
    case PointwiseOp::MulSigmoid: return detail::mul_rn(x, sigmoid(x));
    case PointwiseOp::MulHardSigmoid: return detail::mul_rn(x, hard_sigmoid(x, step.a, step.b));
  }
  return x;
}

// A short chain of steps (a parameter's weight transform). Longer chains are not expressed this
// way; callers fall back to values computed on the host.
struct PointwiseProgram {
  static constexpr int kMaxSteps = 6;
  PointwiseStep steps[kMaxSteps];
  int count = 0;
};

FLIPSWEEP_HD float apply_pointwise(const PointwiseProgram& program, float x) {
  for (int i = 0; i < program.count; ++i) x = apply_pointwise(program.steps[i], x);
  return x;
}

}  // namespace flipsweep::core
