#include "flipsweep/model/weight_preparation.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "flipsweep/core/unary_ops.h"
#include "flipsweep/error.h"
#include "flipsweep/ops/reference_ops.h"

namespace flipsweep {

namespace {

bool is_binary_arithmetic(OpType op) {
  return op == OpType::Add || op == OpType::Sub || op == OpType::Mul || op == OpType::Div;
}

const Shape& shape_of(const Model& model, int id) { return model.graph.values[static_cast<size_t>(id)].shape; }

// Element i of the output depends on element i of each input (or on a single scalar) only.
bool node_is_pointwise(const Model& model, const Node& node) {
  if (is_elementwise_unary(node.op)) return true;
  if (!is_binary_arithmetic(node.op)) return false;
  const Shape& out = shape_of(model, node.outputs[0]);
  for (int id : node.inputs) {
    const Shape& s = shape_of(model, id);
    if (s != out && element_count(s) != 1) return false;
  }
  return true;
}

// Reads input `id` at output element `i`, broadcasting a one-element tensor.
float read_broadcast(const Tensor& t, int64_t i) { return t.size() == 1 ? t.data[0] : t.data[static_cast<size_t>(i)]; }

}  // namespace

float evaluate_pointwise(const Node& node, float a, float b) {
  switch (node.op) {
    case OpType::Identity: return a;
    case OpType::Relu: return core::relu(a);
    case OpType::LeakyRelu: return core::leaky_relu(a, std::get<ActivationParams>(node.params).alpha);
    case OpType::Clip: {
      const auto& p = std::get<ClipParams>(node.params);
      return core::clamp_nan(a, p.min, p.max);
    }
    case OpType::Sigmoid: return core::sigmoid(a);
    case OpType::HardSigmoid: {
      const auto& p = std::get<ActivationParams>(node.params);
      return core::hard_sigmoid(a, p.alpha, p.beta);
    }
    case OpType::Tanh: return core::tanh(a);
    case OpType::Softsign: return core::softsign(a);
    case OpType::Atan: return core::atan(a);
    case OpType::HardSwish: return core::hard_swish(a);
    case OpType::Add: return a + b;
    case OpType::Sub: return a - b;
    case OpType::Mul: return a * b;
    case OpType::Div: return a / b;
    default: throw Error(std::string("evaluate_pointwise: ") + op_type_name(node.op) + " is not point-wise");
  }
}

WeightPreparation::WeightPreparation(const Model& model) : model_(model) {
  for (const Node& node : model.graph.weight_nodes) pointwise_.push_back(node_is_pointwise(model, node));
  std::vector<bool> seen(model.graph.values.size(), false);
  for (const Node& node : model.graph.activation_nodes)
    for (int id : node.inputs) {
      if (id < 0 || seen[static_cast<size_t>(id)]) continue;
      ValueKind kind = model.graph.values[static_cast<size_t>(id)].kind;
      if (kind == ValueKind::Parameter || kind == ValueKind::Constant || kind == ValueKind::Prepared) {
        seen[static_cast<size_t>(id)] = true;
        activation_weight_ids_.push_back(id);
      }
    }
}

void WeightPreparation::run_node_whole(size_t node_index, WeightSet& weights) const {
  const Node& node = model_.graph.weight_nodes[node_index];
  Tensor& out = weights.tensors[static_cast<size_t>(node.outputs[0])];
  if (pointwise_[node_index]) {
    out = Tensor(shape_of(model_, node.outputs[0]));
    const Tensor& a = weights.tensors[static_cast<size_t>(node.inputs[0])];
    const Tensor* b = node.inputs.size() > 1 ? &weights.tensors[static_cast<size_t>(node.inputs[1])] : nullptr;
    for (int64_t i = 0; i < out.size(); ++i)
      out.data[static_cast<size_t>(i)] = evaluate_pointwise(node, read_broadcast(a, i), b ? read_broadcast(*b, i) : 0.0f);
    return;
  }
  std::vector<const Tensor*> inputs;
  for (int id : node.inputs) inputs.push_back(id >= 0 ? &weights.tensors[static_cast<size_t>(id)] : nullptr);
  std::vector<Tensor> outputs;
  try {
    reference::run_op(node.op, node.params, inputs, outputs);
  } catch (const Error& e) {
    throw Error("weight preparation, node '" + node.name + "': " + e.what());
  }
  out = std::move(outputs.at(0));
}

WeightSet WeightPreparation::prepare_clean() const {
  WeightSet weights;
  weights.tensors.resize(model_.graph.values.size());
  for (size_t id = 0; id < model_.graph.values.size(); ++id) {
    ValueKind kind = model_.graph.values[id].kind;
    if (kind == ValueKind::Parameter || kind == ValueKind::Constant) weights.tensors[id] = model_.stored[id];
  }
  for (size_t i = 0; i < model_.graph.weight_nodes.size(); ++i) run_node_whole(i, weights);
  return weights;
}

WeightChanges WeightPreparation::propagate(WeightSet& weights, const WeightChanges& parameter_changes) const {
  std::unordered_map<int, size_t> change_index;  // value id → position in `changes`
  WeightChanges changes;
  for (const ValueChange& c : parameter_changes) {
    change_index[c.value] = changes.size();
    changes.push_back(c);
  }
  for (size_t n = 0; n < model_.graph.weight_nodes.size(); ++n) {
    const Node& node = model_.graph.weight_nodes[n];
    bool any = false, any_all = false;
    std::vector<int64_t> elements;
    for (int id : node.inputs) {
      auto it = change_index.find(id);
      if (it == change_index.end()) continue;
      const ValueChange& c = changes[it->second];
      any = true;
      // A changed one-element operand that is broadcast touches every output element.
      if (c.all || (pointwise_[n] && weights.tensors[static_cast<size_t>(id)].size() == 1 &&
                    shape_of(model_, node.outputs[0]) != shape_of(model_, id)))
        any_all = true;
      else
        elements.insert(elements.end(), c.elements.begin(), c.elements.end());
    }
    if (!any) continue;
    ValueChange out_change;
    out_change.value = node.outputs[0];
    if (pointwise_[n] && !any_all) {
      std::sort(elements.begin(), elements.end());
      elements.erase(std::unique(elements.begin(), elements.end()), elements.end());
      Tensor& out = weights.tensors[static_cast<size_t>(node.outputs[0])];
      const Tensor& a = weights.tensors[static_cast<size_t>(node.inputs[0])];
      const Tensor* b = node.inputs.size() > 1 ? &weights.tensors[static_cast<size_t>(node.inputs[1])] : nullptr;
      for (int64_t i : elements)
        out.data[static_cast<size_t>(i)] = evaluate_pointwise(node, read_broadcast(a, i), b ? read_broadcast(*b, i) : 0.0f);
      out_change.elements = std::move(elements);
    } else {
      run_node_whole(n, weights);
      out_change.all = true;
    }
    change_index[out_change.value] = changes.size();
    changes.push_back(std::move(out_change));
  }
  return changes;
}

}  // namespace flipsweep
