// The fused epilogue behind a oneDNN convolution: BatchNormalization, residual Add and the
// activations (Relu, Clip, Sigmoid, SiLU, hardswish, ...) while the conv output is still in cache. Written here rather than as oneDNN
// post-ops because oneDNN's ReLU maps NaN to 0 (see conv.cpp).
#include "flipsweep/core/pointwise.h"
#include "flipsweep/core/unary_ops.h"
#include "internal.h"

namespace flipsweep::cpu {

namespace {

// y = relu?( x * scale[c] + shift[c] + residual ), in the order PyTorch evaluates the separate
// ops, on whatever layout the conv wrote (plain: block 1). Specialised per combination so the
// lane loop vectorises.
template <bool kBatchNorm, bool kResidual, bool kRelu, int kBlock>
void epilogue_pass(float* y, const float* residual, const float* scale, const float* shift, int64_t images,
                   int64_t channels, int64_t spatial, int64_t block) {
  const int64_t lanes_per_block = kBlock > 0 ? kBlock : block;
  const int64_t blocks = channel_blocks(channels, lanes_per_block);
  for (int64_t n = 0; n < images; ++n)
    for (int64_t cb = 0; cb < blocks; ++cb) {
      const int64_t base = (n * blocks + cb) * spatial * lanes_per_block;
      float* row = y + base;
      const float* res = kResidual ? residual + base : nullptr;
      const float* a = scale + cb * lanes_per_block;
      const float* b = shift + cb * lanes_per_block;
      for (int64_t p = 0; p < spatial; ++p) {
        float* v = row + p * lanes_per_block;
        const float* r = kResidual ? res + p * lanes_per_block : nullptr;
        for (int64_t l = 0; l < lanes_per_block; ++l) {
          float x = v[l];
          if (kBatchNorm) x = x * a[l] + b[l];
          if (kResidual) x = x + r[l];
          if (kRelu) x = core::relu(x);
          v[l] = x;
        }
      }
    }
}

template <int kBlock>
void epilogue_dispatch(bool bn, bool residual, bool relu, float* y, const float* res, const float* a, const float* b,
                       int64_t images, int64_t channels, int64_t spatial, int64_t block) {
  const int code = (bn ? 4 : 0) | (residual ? 2 : 0) | (relu ? 1 : 0);
  switch (code) {
    case 1: epilogue_pass<false, false, true, kBlock>(y, res, a, b, images, channels, spatial, block); break;
    case 2: epilogue_pass<false, true, false, kBlock>(y, res, a, b, images, channels, spatial, block); break;
    case 3: epilogue_pass<false, true, true, kBlock>(y, res, a, b, images, channels, spatial, block); break;
    case 4: epilogue_pass<true, false, false, kBlock>(y, res, a, b, images, channels, spatial, block); break;
    case 5: epilogue_pass<true, false, true, kBlock>(y, res, a, b, images, channels, spatial, block); break;
    case 6: epilogue_pass<true, true, false, kBlock>(y, res, a, b, images, channels, spatial, block); break;
    case 7: epilogue_pass<true, true, true, kBlock>(y, res, a, b, images, channels, spatial, block); break;
    default: break;
  }
}

// Any other activation chain: after BatchNorm/Add (vectorised above), one point-wise pass over
// the whole output, which is still in cache. The layout does not matter to a point-wise op (padding
// lanes are computed too and zeroed by the executor afterwards).
void activation_pass(const std::vector<core::PointwiseStep>& activations, float* y, int64_t count) {
  if (activations.size() == 1) {
    // The common single activations get a loop of their own (no dispatch per element).
    const core::PointwiseStep step = activations[0];
    switch (step.op) {
      case core::PointwiseOp::Clip:
        for (int64_t i = 0; i < count; ++i) y[i] = core::clamp_nan(y[i], step.a, step.b);
        return;
      case core::PointwiseOp::MulSigmoid: sigmoid_many(y, y, count, true); return;
      case core::PointwiseOp::Sigmoid: sigmoid_many(y, y, count, false); return;
      case core::PointwiseOp::HardSigmoid:
        for (int64_t i = 0; i < count; ++i) y[i] = core::hard_sigmoid(y[i], step.a, step.b);
        return;
      case core::PointwiseOp::MulHardSigmoid:
        for (int64_t i = 0; i < count; ++i) y[i] = core::detail::mul_rn(y[i], core::hard_sigmoid(y[i], step.a, step.b));
        return;
      default: break;
    }
  }
  for (int64_t i = 0; i < count; ++i) {
    float x = y[i];
    for (const core::PointwiseStep& step : activations) x = core::apply_pointwise(step, x);
    y[i] = x;
  }
}

}  // namespace

void run_epilogue(bool batch_norm, const std::vector<core::PointwiseStep>& activations, const float* scale,
                  const float* shift, float* y, const float* residual, const Shape& s, int block) {
  const int64_t spatial = s[2] * s[3];
  const bool has_residual = residual != nullptr;
  const bool relu_only = activations.size() == 1 && activations[0].op == core::PointwiseOp::Relu;
  // scale and shift cover the padding lanes of a blocked output (slots.cpp pads them with 0).
  if (batch_norm || has_residual || relu_only) {
    if (block == 16)
      epilogue_dispatch<16>(batch_norm, has_residual, relu_only, y, residual, scale, shift, s[0], s[1], spatial, 16);
    else if (block == 8)
      epilogue_dispatch<8>(batch_norm, has_residual, relu_only, y, residual, scale, shift, s[0], s[1], spatial, 8);
    else
      epilogue_dispatch<1>(batch_norm, has_residual, relu_only, y, residual, scale, shift, s[0], s[1], spatial, 1);
  }
  if (!activations.empty() && !relu_only)
    activation_pass(activations, y, s[0] * channel_blocks(s[1], block) * block * spatial);
}

}  // namespace flipsweep::cpu
