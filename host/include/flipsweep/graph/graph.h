#pragma once
// A model as flipsweep sees it: named values (graph inputs, parameters, constants, prepared
// weights, activations) and nodes split into two phases.
//
//  * weight preparation: nodes whose inputs are all parameters, constants or prepared values
//    (for example Tanh applied to a conv weight by a model trained with a saturated activation
//    function). A Monte Carlo trial reruns this phase on faulted parameters.
//  * activation pass: nodes that depend on a graph input; run per image batch.
#include <string>
#include <unordered_map>
#include <vector>

#include "flipsweep/graph/op_params.h"
#include "flipsweep/tensor.h"

namespace flipsweep {

enum class ValueKind {
  Input,       // fed at run time (the images)
  Parameter,   // a float initializer: a fault target, named as PyTorch's state_dict names it
  Constant,    // fixed data from a Constant node; never faulted
  Prepared,    // output of a weight-preparation node
  Activation,  // depends on a graph input
};

const char* value_kind_name(ValueKind kind);

struct Value {
  std::string name;
  ValueKind kind = ValueKind::Activation;
  // Shape at load time. For Input/Activation values dim 0 is the batch and was set to 1 when
  // the model declared it symbolic; executors re-infer shapes for their batch size.
  Shape shape;
};

struct Node {
  std::string name;  // ONNX node name, or "<OpType>_<index>" when the model left it empty
  OpType op = OpType::Identity;
  OpParams params;
  std::vector<int> inputs;   // data inputs as value ids; -1 marks an absent optional input
  std::vector<int> outputs;  // value ids
};

struct Graph {
  std::vector<Value> values;
  std::vector<Node> weight_nodes;      // topological order
  std::vector<Node> activation_nodes;  // topological order
  std::vector<int> inputs;             // runtime inputs, ONNX order
  std::vector<int> outputs;            // graph outputs, ONNX order
  std::vector<int> parameters;         // parameter value ids, in model file order
  std::unordered_map<std::string, int> value_ids;

  int find_value(const std::string& name) const;  // -1 when absent
};

// A loaded model: the graph plus the stored data of its parameters and constants (indexed by
// value id; empty tensors for other kinds). Every parameter owns its storage: two parameters
// never alias, even where the exporter deduplicated identical tensors through Identity nodes.
struct Model {
  std::string path;
  int64_t opset = 0;
  Graph graph;
  std::vector<Tensor> stored;

  const Tensor& parameter(const std::string& name) const;
  int64_t parameter_count() const;  // total number of parameter elements
};

}  // namespace flipsweep
