#pragma once
// Which parameters a campaign faults. Each parameter has a role found from the graph (the op and
// input slot that finally reads it, through any weight-preparation chain such as an SAF), so
// "conv and linear weights" means the same thing for every exported model.
#include <string>
#include <vector>

#include "flipsweep/graph/graph.h"

namespace flipsweep {

enum class ParameterRole {
  ConvWeight,       // input 1 of Conv / ConvTranspose
  LinearWeight,     // input 1 of Gemm / MatMul
  Bias,             // input 2 of Conv / ConvTranspose / Gemm
  BatchNormAffine,  // BatchNormalization scale and bias
  BatchNormStats,   // BatchNormalization running mean and variance
  Other,
};

const char* parameter_role_name(ParameterRole role);

// The role of every parameter, by value id (entries for non-parameters are Other).
std::vector<ParameterRole> parameter_roles(const Model& model);

struct TargetSpec {
  std::vector<ParameterRole> roles{ParameterRole::ConvWeight, ParameterRole::LinearWeight};
  // Glob patterns ('*' matches any run of characters, '?' one character) on parameter names.
  // A non-empty `include` list replaces the role selection; `exclude` removes from either.
  std::vector<std::string> include;
  std::vector<std::string> exclude;
};

// Parameter value ids to fault, in model order. Throws Error when the selection is empty or an
// include/exclude pattern matches no parameter (a typo must not silently fault nothing).
std::vector<int> select_fault_targets(const Model& model, const TargetSpec& spec);

bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace flipsweep
