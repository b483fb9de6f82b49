#include "flipsweep/model/weight_transform.h"

#include "flipsweep/error.h"

namespace flipsweep {

void check_saf_name(const std::string& saf) {
  for (const char* known : {"none", "tanh", "tanh0.5", "softsign", "arctan", "hardtanh"})
    if (saf == known) return;
  throw Error("unknown SAF '" + saf + "' (none, tanh, tanh0.5, softsign, arctan, hardtanh)");
}

namespace {

int add_value(Model& model, const std::string& name, ValueKind kind, const Shape& shape) {
  if (model.graph.value_ids.count(name)) throw Error(model.path + ": value '" + name + "' already exists");
  const int id = static_cast<int>(model.graph.values.size());
  model.graph.values.push_back(Value{name, kind, shape});
  model.graph.value_ids[name] = id;
  model.stored.emplace_back();
  return id;
}

int add_weight_node(Model& model, OpType op, OpParams params, std::vector<int> inputs, const std::string& name) {
  const Shape shape = model.graph.values[static_cast<size_t>(inputs[0])].shape;
  const int out = add_value(model, name, ValueKind::Prepared, shape);
  Node node;
  node.name = name;
  node.op = op;
  node.params = std::move(params);
  node.inputs = std::move(inputs);
  node.outputs = {out};
  model.graph.weight_nodes.push_back(std::move(node));
  return out;
}

}  // namespace

void apply_weight_saf(Model& model, const std::string& saf, const std::vector<int>& parameters) {
  check_saf_name(saf);
  if (saf == "none") return;
  for (int id : parameters) {
    const std::string base = "saf/" + model.graph.values[static_cast<size_t>(id)].name;
    int out;
    if (saf == "tanh") {
      out = add_weight_node(model, OpType::Tanh, {}, {id}, base);
    } else if (saf == "tanh0.5") {
      const int half = add_value(model, base + "/c", ValueKind::Constant, {});
      model.stored[static_cast<size_t>(half)] = Tensor(Shape{}, {0.5f});
      const int scaled = add_weight_node(model, OpType::Mul, {}, {id, half}, base + "/scaled");
      out = add_weight_node(model, OpType::Tanh, {}, {scaled}, base);
    } else if (saf == "softsign") {
      out = add_weight_node(model, OpType::Softsign, {}, {id}, base);
    } else if (saf == "arctan") {
      out = add_weight_node(model, OpType::Atan, {}, {id}, base);
    } else {
      ClipParams clip;
      clip.min = -1.0f;
      clip.max = 1.0f;
      out = add_weight_node(model, OpType::Clip, clip, {id}, base);
    }
    for (Node& node : model.graph.activation_nodes)
      for (int& in : node.inputs)
        if (in == id) in = out;
  }
}

bool has_weight_transform(const Model& model, const std::vector<int>& parameters) {
  for (const Node& node : model.graph.weight_nodes)
    for (int in : node.inputs)
      for (int id : parameters)
        if (in == id) return true;
  return false;
}

}  // namespace flipsweep
