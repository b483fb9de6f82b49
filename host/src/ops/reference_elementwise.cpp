// Element-wise reference kernels: activations, broadcasting arithmetic, inference BatchNorm.
#include <cmath>
#include <cstddef>

#include "flipsweep/core/batch_norm.h"
#include "flipsweep/core/unary_ops.h"
#include "flipsweep/ops/shapes.h"
#include "internal.h"

namespace flipsweep::reference::detail {

namespace {

template <class Function>
void map_elements(const Tensor& x, Tensor& y, Function f) {
  const float* in = x.ptr();
  float* out = y.ptr();
  const int64_t count = x.size();
#pragma omp parallel for schedule(static) if (count > (1 << 16))
  for (int64_t i = 0; i < count; ++i) out[i] = f(in[i]);
}

// Element strides of `shape` as seen from a broadcast output of rank `rank`: a dimension of size 1
// (or one that `shape` lacks) has stride 0, so every output index along it reads the same element.
std::vector<int64_t> broadcast_strides(const Shape& shape, size_t rank) {
  std::vector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    size_t source_axis = shape.size() - 1 - i;
    size_t output_axis = rank - 1 - i;
    strides[output_axis] = shape[source_axis] == 1 ? 0 : stride;
    stride *= shape[source_axis];
  }
  return strides;
}

template <class Function>
void broadcast_elements(const Tensor& a, const Tensor& b, Tensor& y, Function f) {
  const float* pa = a.ptr();
  const float* pb = b.ptr();
  float* out = y.ptr();
  const int64_t count = y.size();
  if (a.shape == b.shape) {
    for (int64_t i = 0; i < count; ++i) out[i] = f(pa[i], pb[i]);
    return;
  }
  const size_t rank = y.shape.size();
  const std::vector<int64_t> stride_a = broadcast_strides(a.shape, rank);
  const std::vector<int64_t> stride_b = broadcast_strides(b.shape, rank);
  std::vector<int64_t> index(rank, 0);
  int64_t offset_a = 0, offset_b = 0;
  for (int64_t i = 0; i < count; ++i) {
    out[i] = f(pa[offset_a], pb[offset_b]);
    // Odometer increment of the output index, keeping both input offsets in step.
    for (size_t axis = rank; axis-- > 0;) {
      ++index[axis];
      offset_a += stride_a[axis];
      offset_b += stride_b[axis];
      if (index[axis] < y.shape[axis]) break;
      offset_a -= stride_a[axis] * index[axis];
      offset_b -= stride_b[axis] * index[axis];
      index[axis] = 0;
    }
  }
}

}  // namespace

void unary(OpType op, const OpParams& params, const Tensor& x, Tensor& y) {
  switch (op) {
    case OpType::Relu:
      map_elements(x, y, [](float v) { return core::relu(v); });
      return;
    case OpType::LeakyRelu: {
      const float alpha = params_as<ActivationParams>(params, op).alpha;
      map_elements(x, y, [alpha](float v) { return core::leaky_relu(v, alpha); });
      return;
    }
    case OpType::Clip: {
      const ClipParams& p = params_as<ClipParams>(params, op);
      map_elements(x, y, [&p](float v) { return core::clamp_nan(v, p.min, p.max); });
      return;
    }
    case OpType::Sigmoid:
      map_elements(x, y, [](float v) { return core::sigmoid(v); });
      return;
    case OpType::HardSigmoid: {
      const ActivationParams& p = params_as<ActivationParams>(params, op);
      map_elements(x, y, [&p](float v) { return core::hard_sigmoid(v, p.alpha, p.beta); });
      return;
    }
    case OpType::Tanh:
      map_elements(x, y, [](float v) { return core::tanh(v); });
      return;
    case OpType::Softsign:
      map_elements(x, y, [](float v) { return core::softsign(v); });
      return;
    case OpType::Atan:
      map_elements(x, y, [](float v) { return core::atan(v); });
      return;
    case OpType::HardSwish:
      map_elements(x, y, [](float v) { return core::hard_swish(v); });
      return;
    case OpType::Identity:
      y.data = x.data;
      return;
    default:
      throw Error(std::string(op_type_name(op)) + " is not an element-wise unary op");
  }
}

void binary(OpType op, const Tensor& a, const Tensor& b, Tensor& y) {
  switch (op) {
    case OpType::Add:
      broadcast_elements(a, b, y, [](float u, float v) { return u + v; });
      return;
    case OpType::Sub:
      broadcast_elements(a, b, y, [](float u, float v) { return u - v; });
      return;
    case OpType::Mul:
      broadcast_elements(a, b, y, [](float u, float v) { return u * v; });
      return;
    case OpType::Div:
      broadcast_elements(a, b, y, [](float u, float v) { return u / v; });
      return;
    default:
      throw Error(std::string(op_type_name(op)) + " is not a binary arithmetic op");
  }
}

void batch_norm(const BatchNormParams& p, const Tensor& x, const Tensor& scale, const Tensor& bias, const Tensor& mean,
                const Tensor& var, Tensor& y) {
  const int64_t batch = x.dim(0);
  const int64_t channels = x.dim(1);
  const int64_t inner = channels == 0 ? 0 : x.size() / (batch * channels);
  // PyTorch CPU folds the statistics into one multiply-add per element (core/batch_norm.h); a
  // faulted negative variance gives sqrt(<0) = NaN and so a NaN channel, as in PyTorch.
  std::vector<float> multiplier(static_cast<size_t>(channels));
  std::vector<float> offset(static_cast<size_t>(channels));
  core::fold_batch_norm(scale.ptr(), bias.ptr(), mean.ptr(), var.ptr(), p.epsilon, channels, multiplier.data(),
                        offset.data());
#pragma omp parallel for schedule(static) if (x.size() > (1 << 16))
  for (int64_t plane = 0; plane < batch * channels; ++plane) {
    const int64_t c = plane % channels;
    const float* in = x.ptr() + plane * inner;
    float* out = y.ptr() + plane * inner;
    for (int64_t i = 0; i < inner; ++i) out[i] = in[i] * multiplier[c] + offset[c];
  }
}

}  // namespace flipsweep::reference::detail
