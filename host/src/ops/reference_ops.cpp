// Entry point of the reference kernels: input checks, output shapes, dispatch; plus the layout ops
// (Flatten, Reshape, Concat) and the prediction helpers argmax / in_top_k.
#include "flipsweep/ops/reference_ops.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "flipsweep/error.h"
#include "flipsweep/ops/shapes.h"
#include "internal.h"

namespace flipsweep::reference {

namespace {

const Tensor& required(const std::vector<const Tensor*>& inputs, size_t index, OpType op) {
  if (index >= inputs.size() || inputs[index] == nullptr)
    throw Error(std::string(op_type_name(op)) + ": required input " + std::to_string(index) + " is missing");
  return *inputs[index];
}

const Tensor* optional(const std::vector<const Tensor*>& inputs, size_t index) {
  return index < inputs.size() ? inputs[index] : nullptr;
}

void concat(const ConcatParams& p, const std::vector<const Tensor*>& inputs, Tensor& y) {
  const int64_t rank = y.rank();
  const int64_t axis = p.axis < 0 ? p.axis + rank : p.axis;
  // Each input contributes one contiguous chunk per index of the axes before `axis`.
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= y.dim(i);
  int64_t after_axis = 1;
  for (int64_t i = axis + 1; i < rank; ++i) after_axis *= y.dim(i);
  const int64_t output_chunk = y.dim(axis) * after_axis;
  int64_t chunk_begin = 0;
  for (const Tensor* input : inputs) {
    const int64_t input_chunk = input->dim(axis) * after_axis;
    for (int64_t o = 0; o < outer; ++o) {
      const float* source = input->ptr() + o * input_chunk;
      std::copy(source, source + input_chunk, y.ptr() + o * output_chunk + chunk_begin);
    }
    chunk_begin += input_chunk;
  }
}

// Strict "ranks above" for in_top_k: NaN above every number, then larger value, then lower index.
bool ranks_above(float value, int64_t index, float other, int64_t other_index) {
  const bool value_nan = std::isnan(value);
  const bool other_nan = std::isnan(other);
  if (value_nan != other_nan) return value_nan;
  if (!value_nan && value != other) return value > other;
  return index < other_index;
}

}  // namespace

void run_op(OpType op, const OpParams& params, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) {
  std::vector<Shape> shapes;
  std::vector<bool> present;
  for (const Tensor* t : inputs) {
    present.push_back(t != nullptr);
    shapes.push_back(t ? t->shape : Shape{});
  }
  std::vector<Shape> output_shapes = infer_output_shapes(op, params, shapes, present);
  outputs.resize(output_shapes.size());
  for (size_t i = 0; i < output_shapes.size(); ++i) {
    outputs[i].shape = output_shapes[i];
    outputs[i].data.assign(static_cast<size_t>(element_count(output_shapes[i])), 0.0f);
  }
  Tensor& y = outputs[0];

  switch (op) {
    case OpType::Conv:
      detail::conv(params_as<ConvParams>(params, op), required(inputs, 0, op), required(inputs, 1, op),
                   optional(inputs, 2), y);
      return;
    case OpType::ConvTranspose:
      detail::conv_transpose(params_as<ConvParams>(params, op), required(inputs, 0, op), required(inputs, 1, op),
                             optional(inputs, 2), y);
      return;
    case OpType::BatchNormalization:
      detail::batch_norm(params_as<BatchNormParams>(params, op), required(inputs, 0, op), required(inputs, 1, op),
                         required(inputs, 2, op), required(inputs, 3, op), required(inputs, 4, op), y);
      return;
    case OpType::Relu:
    case OpType::LeakyRelu:
    case OpType::Clip:
    case OpType::Sigmoid:
    case OpType::HardSigmoid:
    case OpType::Tanh:
    case OpType::Softsign:
    case OpType::Atan:
    case OpType::Identity:
      detail::unary(op, params, required(inputs, 0, op), y);
      return;
    case OpType::Add:
    case OpType::Sub:
    case OpType::Mul:
    case OpType::Div:
      detail::binary(op, required(inputs, 0, op), required(inputs, 1, op), y);
      return;
    case OpType::MaxPool:
      detail::max_pool(params_as<PoolParams>(params, op), required(inputs, 0, op), y);
      return;
    case OpType::AveragePool:
      detail::average_pool(params_as<PoolParams>(params, op), required(inputs, 0, op), y);
      return;
    case OpType::GlobalAveragePool:
      detail::global_average_pool(required(inputs, 0, op), y);
      return;
    case OpType::Flatten:
    case OpType::Reshape:
      // Row-major data is unchanged; only the shape differs.
      y.data = required(inputs, 0, op).data;
      return;
    case OpType::Gemm:
      detail::gemm(params_as<GemmParams>(params, op), required(inputs, 0, op), required(inputs, 1, op),
                   optional(inputs, 2), y);
      return;
    case OpType::MatMul:
      detail::matmul(required(inputs, 0, op), required(inputs, 1, op), y);
      return;
    case OpType::Concat:
      concat(params_as<ConcatParams>(params, op), inputs, y);
      return;
    case OpType::Resize:
      detail::resize(params_as<ResizeParams>(params, op), required(inputs, 0, op), y);
      return;
    case OpType::Constant:
      break;
  }
  throw Error(std::string("the reference kernels cannot run ") + op_type_name(op));
}

int64_t argmax(const float* logits, int64_t count) {
  if (count < 1) throw Error("argmax of an empty set of logits");
  int64_t best = 0;
  for (int64_t i = 0; i < count; ++i) {
    if (std::isnan(logits[i])) return i;
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

bool in_top_k(const float* logits, int64_t count, int64_t label, int64_t k) {
  if (label < 0 || label >= count)
    throw Error("label " + std::to_string(label) + " is outside the " + std::to_string(count) + " logits");
  const float label_value = logits[label];
  int64_t ranked_above = 0;
  for (int64_t i = 0; i < count && ranked_above < k; ++i)
    if (i != label && ranks_above(logits[i], i, label_value, label)) ++ranked_above;
  return ranked_above < k;
}

}  // namespace flipsweep::reference
