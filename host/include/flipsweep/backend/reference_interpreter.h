#pragma once
// The plainest possible execution of a whole graph: weight preparation, then every activation
// node through its reference kernel, any number of inputs and outputs, any shapes. It defines
// what a model computes; the backends are tested against it and it runs ONNX's own conformance
// cases.
#include <vector>

#include "flipsweep/graph/graph.h"
#include "flipsweep/model/weight_preparation.h"

namespace flipsweep {

// `inputs` in graph-input order; returns the graph outputs in order.
std::vector<Tensor> run_reference_graph(const Model& model, const WeightSet& weights, const std::vector<Tensor>& inputs);

}  // namespace flipsweep
