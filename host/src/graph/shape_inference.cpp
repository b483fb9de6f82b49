#include "flipsweep/graph/shape_inference.h"

#include "flipsweep/error.h"
#include "flipsweep/ops/shapes.h"

namespace flipsweep {

namespace {

// Errors name the model file (when the model has one) and the node.
void infer_node(const Model& model, const Node& node, std::vector<Shape>& shapes) {
  const std::string where = (model.path.empty() ? std::string() : model.path + ": ") + "node '" + node.name + "' (" +
                            op_type_name(node.op) + ")";
  std::vector<Shape> input_shapes;
  std::vector<bool> present;
  for (int id : node.inputs) {
    present.push_back(id >= 0);
    input_shapes.push_back(id >= 0 ? shapes[static_cast<size_t>(id)] : Shape{});
  }
  std::vector<Shape> out;
  try {
    out = infer_output_shapes(node.op, node.params, input_shapes, present);
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  if (out.size() < node.outputs.size())
    throw Error(where + ": has " + std::to_string(node.outputs.size()) + " outputs but the op produces " +
                std::to_string(out.size()));
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    // Every inferred shape is bounded like the shapes in the file, so that no later size
    // computation (buffers, batch multiples, the next node's rule) can overflow.
    (void)checked_element_count(out[i], where + ": output '" + model.graph.values[static_cast<size_t>(node.outputs[i])].name + "'");
    shapes[static_cast<size_t>(node.outputs[i])] = out[i];
  }
}

}  // namespace

std::vector<Shape> infer_shapes(const Model& model, const std::vector<Shape>& input_shapes) {
  const Graph& g = model.graph;
  if (input_shapes.size() != g.inputs.size())
    throw Error(model.path + ": expected " + std::to_string(g.inputs.size()) + " input shapes, got " +
                std::to_string(input_shapes.size()));
  std::vector<Shape> shapes(g.values.size());
  for (size_t id = 0; id < g.values.size(); ++id) {
    ValueKind kind = g.values[id].kind;
    if (kind == ValueKind::Parameter || kind == ValueKind::Constant) shapes[id] = model.stored[id].shape;
  }
  for (size_t i = 0; i < g.inputs.size(); ++i) shapes[static_cast<size_t>(g.inputs[i])] = input_shapes[i];
  for (const Node& node : g.weight_nodes) infer_node(model, node, shapes);
  for (const Node& node : g.activation_nodes) infer_node(model, node, shapes);
  return shapes;
}

std::vector<Shape> infer_shapes_for_batch(const Model& model, int64_t batch) {
  std::vector<Shape> input_shapes;
  for (int id : model.graph.inputs) {
    Shape s = model.graph.values[static_cast<size_t>(id)].shape;
    if (!s.empty()) s[0] = batch;
    input_shapes.push_back(s);
  }
  return infer_shapes(model, input_shapes);
}

}  // namespace flipsweep
