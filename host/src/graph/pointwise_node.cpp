#include "flipsweep/graph/pointwise_node.h"

namespace flipsweep {

bool pointwise_step_of(const Node& node, core::PointwiseStep* step) {
  switch (node.op) {
    case OpType::Relu: step->op = core::PointwiseOp::Relu; return true;
    case OpType::LeakyRelu:
      step->op = core::PointwiseOp::LeakyRelu;
      step->a = std::get<ActivationParams>(node.params).alpha;
      return true;
    case OpType::Clip: {
      const auto& p = std::get<ClipParams>(node.params);
      step->op = core::PointwiseOp::Clip;
      step->a = p.min;
      step->b = p.max;
      return true;
    }
    case OpType::Sigmoid: step->op = core::PointwiseOp::Sigmoid; return true;
    case OpType::HardSigmoid: {
      const auto& p = std::get<ActivationParams>(node.params);
      step->op = core::PointwiseOp::HardSigmoid;
      step->a = p.alpha;
      step->b = p.beta;
      return true;
    }
    case OpType::Tanh: step->op = core::PointwiseOp::Tanh; return true;
    case OpType::Softsign: step->op = core::PointwiseOp::Softsign; return true;
    case OpType::Atan: step->op = core::PointwiseOp::Atan; return true;
    case OpType::HardSwish: step->op = core::PointwiseOp::HardSwish; return true;
    default: return false;
  }
}

}  // namespace flipsweep
