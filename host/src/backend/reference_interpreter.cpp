#include "flipsweep/backend/reference_interpreter.h"

#include "flipsweep/error.h"
#include "flipsweep/ops/reference_ops.h"

namespace flipsweep {

std::vector<Tensor> run_reference_graph(const Model& model, const WeightSet& weights, const std::vector<Tensor>& inputs) {
  const Graph& g = model.graph;
  if (inputs.size() != g.inputs.size())
    throw Error(model.path + ": expected " + std::to_string(g.inputs.size()) + " inputs, got " + std::to_string(inputs.size()));
  std::vector<Tensor> activations(g.values.size());
  for (size_t i = 0; i < inputs.size(); ++i) activations[static_cast<size_t>(g.inputs[i])] = inputs[i];
  auto value = [&](int id) -> const Tensor& {
    ValueKind kind = g.values[static_cast<size_t>(id)].kind;
    return kind == ValueKind::Input || kind == ValueKind::Activation ? activations[static_cast<size_t>(id)]
                                                                      : weights.tensors[static_cast<size_t>(id)];
  };
  for (const Node& node : g.activation_nodes) {
    std::vector<const Tensor*> in;
    for (int id : node.inputs) in.push_back(id >= 0 ? &value(id) : nullptr);
    std::vector<Tensor> out;
    try {
      reference::run_op(node.op, node.params, in, out);
    } catch (const Error& e) {
      throw Error("node '" + node.name + "' (" + op_type_name(node.op) + "): " + e.what());
    }
    for (size_t k = 0; k < node.outputs.size(); ++k) activations[static_cast<size_t>(node.outputs[k])] = std::move(out.at(k));
  }
  std::vector<Tensor> outputs;
  for (int id : g.outputs) outputs.push_back(value(id));
  return outputs;
}

}  // namespace flipsweep
