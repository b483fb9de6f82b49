#include "flipsweep/graph/op_params.h"

namespace flipsweep {

namespace {

struct OpTypeName {
  OpType op;
  const char* onnx_name;
};

// The ONNX op_type strings, which are also the names flipsweep prints.
constexpr OpTypeName kOpTypeNames[] = {
    {OpType::Conv, "Conv"},
    {OpType::ConvTranspose, "ConvTranspose"},
    {OpType::BatchNormalization, "BatchNormalization"},
    {OpType::Relu, "Relu"},
    {OpType::LeakyRelu, "LeakyRelu"},
    {OpType::Clip, "Clip"},
    {OpType::Sigmoid, "Sigmoid"},
    {OpType::HardSigmoid, "HardSigmoid"},
    {OpType::Tanh, "Tanh"},
    {OpType::Softsign, "Softsign"},
    {OpType::Atan, "Atan"},
    {OpType::Add, "Add"},
    {OpType::Sub, "Sub"},
    {OpType::Mul, "Mul"},
    {OpType::Div, "Div"},
    {OpType::MaxPool, "MaxPool"},
    {OpType::AveragePool, "AveragePool"},
    {OpType::GlobalAveragePool, "GlobalAveragePool"},
    {OpType::Flatten, "Flatten"},
    {OpType::Reshape, "Reshape"},
    {OpType::Gemm, "Gemm"},
    {OpType::MatMul, "MatMul"},
    {OpType::Concat, "Concat"},
    {OpType::Resize, "Resize"},
    {OpType::Pad, "Pad"},
    {OpType::Identity, "Identity"},
    {OpType::Constant, "Constant"},
    {OpType::HardSwish, "HardSwish"},
    {OpType::Softmax, "Softmax"},
    {OpType::ReduceMean, "ReduceMean"},
    {OpType::Transpose, "Transpose"},
    {OpType::Dropout, "Dropout"},
    {OpType::Slice, "Slice"},
};

}  // namespace

const char* op_type_name(OpType op) {
  for (const OpTypeName& entry : kOpTypeNames)
    if (entry.op == op) return entry.onnx_name;
  return "<unknown op>";
}

bool op_type_from_name(const std::string& name, OpType* op) {
  for (const OpTypeName& entry : kOpTypeNames) {
    if (name == entry.onnx_name) {
      if (op) *op = entry.op;
      return true;
    }
  }
  return false;
}

std::vector<OpType> supported_op_types() {
  std::vector<OpType> ops;
  for (const OpTypeName& entry : kOpTypeNames) ops.push_back(entry.op);
  return ops;
}

bool is_elementwise_unary(OpType op) {
  switch (op) {
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
      return true;
    default:
      return false;
  }
}

}  // namespace flipsweep
