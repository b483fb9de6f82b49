#include "flipsweep/graph/export_check.h"

#include <iostream>

namespace flipsweep {

namespace {

bool exporter_named(const std::string& name) { return name.rfind("onnx::", 0) == 0; }

}  // namespace

std::vector<std::string> plain_export_warnings(const Model& model) {
  std::vector<std::string> warnings;
  const Graph& g = model.graph;
  int renamed = 0;
  std::string example;
  for (int id : g.parameters) {
    const std::string& name = g.values[static_cast<size_t>(id)].name;
    if (!exporter_named(name)) continue;
    if (renamed++ == 0) example = name;
  }
  bool has_batch_norm = false;
  int convs = 0, convs_with_renamed_bias = 0;
  for (const std::vector<Node>* nodes : {&g.weight_nodes, &g.activation_nodes})
    for (const Node& n : *nodes) {
      has_batch_norm = has_batch_norm || n.op == OpType::BatchNormalization;
      if (n.op != OpType::Conv) continue;
      ++convs;
      if (n.inputs.size() > 2 && n.inputs[2] >= 0 && exporter_named(g.values[static_cast<size_t>(n.inputs[2])].name))
        ++convs_with_renamed_bias;
    }
  const std::string how = "export with python/export_onnx.py (its export() function takes any nn.Module; "
                          "README, \"Models from PyTorch\")";
  if (convs > 0 && !has_batch_norm && convs_with_renamed_bias > 0)
    warnings.push_back(model.path + ": looks like BatchNorm was folded into the convolutions (no BatchNormalization "
                                    "node, " + std::to_string(convs_with_renamed_bias) + " of " + std::to_string(convs) +
                       " conv biases named by the exporter), as torch.onnx.export does in eval mode: faults then "
                       "hit the folded weights (weight · γ/σ), not the ones the network stores; " + how);
  if (renamed > 0)
    warnings.push_back(model.path + ": " + std::to_string(renamed) + " parameter(s) have exporter-made names like '" +
                       example + "', so faults.csv and target patterns cannot use the state_dict's names; " + how);
  return warnings;
}

void warn_about_plain_export(const Model& model) {
  for (const std::string& w : plain_export_warnings(model)) std::cerr << "flipsweep: warning: " << w << "\n";
}

}  // namespace flipsweep
