#pragma once
#include <vector>

#include "flipsweep/graph/graph.h"

namespace flipsweep {

// Shapes of all values for runtime inputs of the given shapes (one per graph input). Parameter,
// constant and prepared shapes come from the model. Errors name the node.
std::vector<Shape> infer_shapes(const Model& model, const std::vector<Shape>& input_shapes);

// Convenience: every runtime input keeps its load-time shape except dim 0, set to `batch`.
std::vector<Shape> infer_shapes_for_batch(const Model& model, int64_t batch);

}  // namespace flipsweep
