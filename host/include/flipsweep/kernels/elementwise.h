#pragma once
// Element-wise kernel bodies of the trial-batched activation pass (see host_launch.h for what a
// body is, and the layout below).
//
// Layout of an activation buffer: T trials × B images, NCHW contiguous per image, trial-major:
// element ((t·B + n)·per_image + r). An operand shared by all trials (computed before the trials
// diverge) is read with trial stride 0; one holding T copies has trial stride B·per_image. A weight
// operand is either shared (trial stride 0) or per-trial (T copies, trial stride = its size).
#include <cstdint>
#include <vector>

#include "flipsweep/core/host_device.h"
#include "flipsweep/core/pointwise.h"
#include "flipsweep/error.h"

namespace flipsweep::kernels {

// y[i] = apply_pointwise(step, x[t·x_trial_stride + r]) over i < T·per_trial, where
// t = i / per_trial, r = i % per_trial and per_trial = B·per_image. In place (x == y with
// x_trial_stride == per_trial) is allowed.
struct UnaryBody {
  const float* x = nullptr;
  int64_t x_trial_stride = 0;
  float* y = nullptr;
  int64_t per_trial = 0;
  core::PointwiseStep step;

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const int64_t t = i / per_trial;
    const int64_t r = i - t * per_trial;
    y[i] = core::apply_pointwise(step, x[t * x_trial_stride + r]);
  }
};

enum class BinaryOp : int { Add, Sub, Mul, Div };

FLIPSWEEP_HD float apply_binary(BinaryOp op, float u, float v) {
  switch (op) {
    case BinaryOp::Add: return u + v;
    case BinaryOp::Sub: return u - v;
    case BinaryOp::Mul: return u * v;
    case BinaryOp::Div: return u / v;
  }
  return u;
}

// One input of a broadcasting binary op: element at per-trial output multi-index (d0..d_{rank-1})
// of trial t is data[t·trial_stride + Σ d_k·strides[k]]; strides are 0 on broadcast dimensions.
struct BinaryOperand {
  static constexpr int kMaxRank = 6;
  const float* data = nullptr;
  int64_t trial_stride = 0;
  int64_t strides[kMaxRank] = {0, 0, 0, 0, 0, 0};
};

// y = a op b (ONNX Add/Sub/Mul/Div, numpy broadcasting; u op v with u from A, as the reference).
// dims[0..rank) is the output shape of ONE trial (batch axis included when the output has one);
// the output is T copies of it, trial-major: i < T·per_trial, per_trial = Π dims.
struct BinaryBody {
  static constexpr int kMaxRank = BinaryOperand::kMaxRank;
  BinaryOp op = BinaryOp::Add;
  int rank = 0;
  int64_t dims[kMaxRank] = {1, 1, 1, 1, 1, 1};
  int64_t per_trial = 0;
  BinaryOperand a;
  BinaryOperand b;
  float* y = nullptr;

  FLIPSWEEP_HD void operator()(int64_t i) const {
    const int64_t t = i / per_trial;
    int64_t rest = i - t * per_trial;
    int64_t offset_a = t * a.trial_stride;
    int64_t offset_b = t * b.trial_stride;
    for (int axis = rank - 1; axis >= 0; --axis) {
      const int64_t index = rest % dims[axis];
      rest /= dims[axis];
      offset_a += index * a.strides[axis];
      offset_b += index * b.strides[axis];
    }
    y[i] = apply_binary(op, a.data[offset_a], b.data[offset_b]);
  }
};

// Host helpers -----------------------------------------------------------------------------------

// Fills `body.rank`, `body.dims`, `body.per_trial` from the per-trial output shape and the
// broadcast strides of both operands from their per-trial shapes (right-aligned, numpy rules: a
// dimension of size 1 or a missing one gets stride 0). Pointers and trial strides stay the caller's.
inline void set_binary_shapes(BinaryBody& body, const std::vector<int64_t>& output, const std::vector<int64_t>& a_shape,
                              const std::vector<int64_t>& b_shape) {
  const int rank = static_cast<int>(output.size());
  if (rank > BinaryBody::kMaxRank || a_shape.size() > output.size() || b_shape.size() > output.size())
    throw Error("binary kernel body: output rank " + std::to_string(rank) + " exceeds " +
                std::to_string(BinaryBody::kMaxRank) + " or an operand has a higher rank than the output");
  body.rank = rank;
  body.per_trial = 1;
  for (int k = 0; k < BinaryBody::kMaxRank; ++k) body.dims[k] = k < rank ? output[static_cast<size_t>(k)] : 1;
  for (int k = 0; k < rank; ++k) body.per_trial *= body.dims[k];
  auto fill = [&](BinaryOperand& operand, const std::vector<int64_t>& shape) {
    for (int64_t& s : operand.strides) s = 0;
    int64_t stride = 1;
    for (size_t j = 0; j < shape.size(); ++j) {
      const size_t source_axis = shape.size() - 1 - j;
      const size_t output_axis = output.size() - 1 - j;
      operand.strides[output_axis] = shape[source_axis] == 1 ? 0 : stride;
      stride *= shape[source_axis];
    }
  };
  fill(body.a, a_shape);
  fill(body.b, b_shape);
}

}  // namespace flipsweep::kernels
