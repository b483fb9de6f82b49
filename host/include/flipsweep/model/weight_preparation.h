#pragma once
// Weight preparation: stored parameters → (faults, applied by the caller) → weight-only nodes
// such as an SAF (tanh of a conv weight) → the effective tensors the activation pass reads.
//
// A Monte Carlo trial changes a handful of parameter elements. propagate() recomputes only the
// prepared elements that depend on them when every node on the way is point-wise (element i of
// the output depends on element i of the input alone: unary ops, and binary ops with a scalar or
// same-shape constant operand, such as tanh(0.5·W) exported as Mul then Tanh). Any other node
// on the path is recomputed whole. Cost per trial: O(changed elements) for SAF models.
#include <cstdint>
#include <vector>

#include "flipsweep/graph/graph.h"
#include "flipsweep/model/weight_set.h"

namespace flipsweep {

class WeightPreparation {
 public:
  explicit WeightPreparation(const Model& model);

  // Stored parameters and constants, then every weight-preparation node.
  WeightSet prepare_clean() const;

  // The caller has written new values into some parameter elements of `weights` (listed in
  // `parameter_changes`). Recomputes what depends on them and returns every change, parameter
  // and prepared, so a backend can patch its own copy of the effective weights.
  WeightChanges propagate(WeightSet& weights, const WeightChanges& parameter_changes) const;

  // Value ids the activation pass reads from a WeightSet.
  const std::vector<int>& activation_weight_ids() const { return activation_weight_ids_; }

 private:
  void run_node_whole(size_t node_index, WeightSet& weights) const;

  const Model& model_;
  std::vector<bool> pointwise_;  // per weight node
  std::vector<int> activation_weight_ids_;
};

// y = f(a, b) for a point-wise node (b unused for unary ops). Shared by the element patch and the
// whole-tensor path so they can never disagree.
float evaluate_pointwise(const Node& node, float a, float b);

}  // namespace flipsweep
