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

namespace flipsweep {

// Everything the activation pass reads that does not depend on images, for one trial: indexed by
// value id; parameters, constants and prepared values are filled, other entries are empty.
struct WeightSet {
  std::vector<Tensor> tensors;
};

// Elements that changed in a WeightSet, per value.
struct ValueChange {
  int value = -1;
  bool all = false;               // the whole tensor changed
  std::vector<int64_t> elements;  // sorted, unique; ignored when `all`
  // Parameter changes made by a FaultInjector also carry each element's faulted stored word (and
  // its int8 scale), so a backend can decode and transform the word itself (the CUDA corrections
  // do). After FaultInjector::restore the values are clean again while the words still describe
  // the faults: a backend decides by comparing values with the clean ones. Empty otherwise.
  std::vector<uint32_t> words;
  std::vector<float> scales;
};
using WeightChanges = std::vector<ValueChange>;

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
