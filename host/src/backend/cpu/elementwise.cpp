// Element-wise steps and Concat straight on blocked activations, so that a squeeze-and-excitation
// gate (x * sigmoid(...) with a per-channel scale), a residual Add whose shortcut comes later, an
// activation that could not be fused into a conv, or a channel Concat (DenseNet, SqueezeNet, U-Net
// skips) needs no reorder to NCHW and back. Each output element is the same single operation the
// reference kernel performs, so results are identical.
#include <cstring>

#include "flipsweep/core/pointwise.h"
#include "flipsweep/error.h"
#include "internal.h"

namespace flipsweep::cpu {

namespace {

template <class F>
void binary_pass(const BinaryBlockedArgs& a, F op) {
  const int64_t block = a.block, channels = a.shape[1], blocks = channel_blocks(channels, a.block),
                spatial = a.shape[2] * a.shape[3];
  for (int64_t n = 0; n < a.shape[0]; ++n)
    for (int64_t cb = 0; cb < blocks; ++cb) {
      const int64_t base = (n * blocks + cb) * spatial * block;
      const float* x = a.blocked + base;
      float* y = a.out + base;
      if (a.other_is_blocked) {
        const float* z = a.other + base;
        for (int64_t i = 0; i < spatial * block; ++i) y[i] = a.blocked_first ? op(x[i], z[i]) : op(z[i], x[i]);
        continue;
      }
      // Per-channel (and per-image) operand, plain: one value per lane.
      // Padding lanes of the last block (channels not a whole number of blocks) read 0; the
      // executor zeroes them afterwards anyway.
      const float* lane_values = a.other + n * a.other_image_stride;
      float per_lane[16];
      for (int64_t l = 0; l < block; ++l)
        per_lane[l] = cb * block + l < channels ? lane_values[(cb * block + l) * a.other_channel_stride] : 0.0f;
      for (int64_t p = 0; p < spatial; ++p)
        for (int64_t l = 0; l < block; ++l) {
          const float v = per_lane[l];
          const float u = x[p * block + l];
          y[p * block + l] = a.blocked_first ? op(u, v) : op(v, u);
        }
    }
}

}  // namespace

void binary_blocked(OpType op, const BinaryBlockedArgs& args) {
  switch (op) {
    case OpType::Add: binary_pass(args, [](float u, float v) { return u + v; }); return;
    case OpType::Sub: binary_pass(args, [](float u, float v) { return u - v; }); return;
    case OpType::Mul: binary_pass(args, [](float u, float v) { return u * v; }); return;
    case OpType::Div: binary_pass(args, [](float u, float v) { return u / v; }); return;
    default: throw Error(std::string("internal: ") + op_type_name(op) + " is not a blocked binary step");
  }
}

void pointwise_blocked(const core::PointwiseStep& step, const float* x, float* y, int64_t count) {
  if (step.op == core::PointwiseOp::Sigmoid || step.op == core::PointwiseOp::MulSigmoid) {
    sigmoid_many(x, y, count, step.op == core::PointwiseOp::MulSigmoid);
    return;
  }
  for (int64_t i = 0; i < count; ++i) y[i] = core::apply_pointwise(step, x[i]);
}

void concat_channels_blocked(const std::vector<const float*>& inputs, const std::vector<int64_t>& channels,
                             int64_t images, int64_t spatial, float* y) {
  int64_t out_channels = 0;
  for (int64_t c : channels) out_channels += c;
  for (int64_t n = 0; n < images; ++n) {
    float* out = y + n * out_channels * spatial;
    for (size_t k = 0; k < inputs.size(); ++k) {
      // Per image a blocked tensor is its channel blocks one after another, so a channel concat
      // of whole blocks is one copy per input.
      const int64_t floats = channels[k] * spatial;
      const float* in = inputs[k] + n * floats;
      if (in != out) std::memcpy(out, in, static_cast<size_t>(floats) * sizeof(float));  // else written in place
      out += floats;
    }
  }
}

}  // namespace flipsweep::cpu
