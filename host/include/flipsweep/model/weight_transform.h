#pragma once
// Saturated activation functions on weights (seed 001), applied on read: τ(Ŵ) where Ŵ are the
// decoded, possibly faulted, stored weights. A model exported with τ in its graph already has
// these nodes in weight preparation; apply_weight_saf() adds them for a model whose graph does
// not (a campaign config's `apply_saf: true`).
#include <string>
#include <vector>

#include "flipsweep/graph/graph.h"

namespace flipsweep {

// "none", "tanh", "tanh0.5" (tanh(0.5·x)), "softsign", "arctan", "hardtanh". Error otherwise.
void check_saf_name(const std::string& saf);

// Inserts τ between each listed parameter and the activation nodes that read it. The parameters
// stay the fault targets; the activation pass reads τ(parameter).
void apply_weight_saf(Model& model, const std::string& saf, const std::vector<int>& parameters);

// True when any listed parameter reaches the activation pass through weight-preparation nodes.
bool has_weight_transform(const Model& model, const std::vector<int>& parameters);

}  // namespace flipsweep
