// Entry point of the reference kernels: input checks, output shapes, dispatch; plus the layout ops
// (Flatten, Reshape, Concat, Pad) and the prediction helpers argmax / in_top_k.
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

// Pad: per axis, the input index each output index reads (-1: the constant). Negative pads crop
// first; reflect and edge then mirror / repeat the cropped range (shapes.cpp checked it fits).
std::vector<int64_t> pad_source_indices(PadMode mode, int64_t input, int64_t begin, int64_t end) {
  const int64_t first = std::max<int64_t>(0, -begin);
  const int64_t kept = input - first - std::max<int64_t>(0, -end);
  const int64_t lead = std::max<int64_t>(0, begin);
  const int64_t output = kept + lead + std::max<int64_t>(0, end);
  std::vector<int64_t> source(static_cast<size_t>(output));
  for (int64_t o = 0; o < output; ++o) {
    int64_t j = o - lead;  // position in the cropped range
    if (j < 0 || j >= kept) {
      switch (mode) {
        case PadMode::Constant: j = -1; break;
        case PadMode::Edge: j = j < 0 ? 0 : kept - 1; break;
        case PadMode::Reflect: j = j < 0 ? -j : 2 * (kept - 1) - j; break;
      }
    }
    source[static_cast<size_t>(o)] = j < 0 ? -1 : first + j;
  }
  return source;
}

void pad(const PadParams& p, const Tensor& x, Tensor& y) {
  const size_t rank = x.shape.size();
  if (rank == 0) {
    y.data = x.data;
    return;
  }
  const ResolvedPads pads = resolve_pad_axes(p, rank);
  std::vector<std::vector<int64_t>> source(rank);
  for (size_t a = 0; a < rank; ++a)
    source[a] = pad_source_indices(p.mode, x.shape[a], pads.begin[a], pads.end[a]);
  std::vector<int64_t> input_stride(rank, 1);
  for (size_t a = rank - 1; a > 0; --a) input_stride[a - 1] = input_stride[a] * x.shape[a];
  // Walk the output in row-major order; `offset[a]` is the input offset of axes < a, or -1 once
  // one of them reads the constant.
  std::vector<int64_t> index(rank, 0);
  std::vector<int64_t> offset(rank + 1, 0);
  const int64_t count = element_count(y.shape);
  for (int64_t i = 0; i < count; ++i) {
    for (size_t a = 0; a < rank; ++a) {
      const int64_t s = source[a][static_cast<size_t>(index[a])];
      offset[a + 1] = offset[a] < 0 || s < 0 ? -1 : offset[a] + s * input_stride[a];
    }
    y.data[static_cast<size_t>(i)] = offset[rank] < 0 ? p.value : x.data[static_cast<size_t>(offset[rank])];
    for (size_t a = rank; a-- > 0;) {
      if (++index[a] < y.shape[a]) break;
      index[a] = 0;
    }
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
    case OpType::HardSwish:
    case OpType::Identity:
      detail::unary(op, params, required(inputs, 0, op), y);
      return;
    case OpType::Dropout:  // inference
      y.data = required(inputs, 0, op).data;
      return;
    case OpType::Softmax:
      detail::softmax(params_as<SoftmaxParams>(params, op), required(inputs, 0, op), y);
      return;
    case OpType::ReduceMean:
      detail::reduce_mean(params_as<ReduceParams>(params, op), required(inputs, 0, op), y);
      return;
    case OpType::Transpose:
      detail::transpose(params_as<TransposeParams>(params, op), required(inputs, 0, op), y);
      return;
    case OpType::Slice:
      detail::slice(params_as<SliceParams>(params, op), required(inputs, 0, op), y);
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
    case OpType::Pad:
      pad(params_as<PadParams>(params, op), required(inputs, 0, op), y);
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
