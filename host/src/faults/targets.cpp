#include "flipsweep/faults/targets.h"

#include <algorithm>

#include "flipsweep/error.h"

namespace flipsweep {

const char* parameter_role_name(ParameterRole role) {
  switch (role) {
    case ParameterRole::ConvWeight: return "conv-weight";
    case ParameterRole::LinearWeight: return "linear-weight";
    case ParameterRole::Bias: return "bias";
    case ParameterRole::BatchNormAffine: return "batchnorm-affine";
    case ParameterRole::BatchNormStats: return "batchnorm-stats";
    case ParameterRole::Other: return "other";
  }
  return "other";
}

namespace {

ParameterRole role_of_slot(OpType op, size_t slot) {
  switch (op) {
    case OpType::Conv:
    case OpType::ConvTranspose:
      return slot == 1 ? ParameterRole::ConvWeight : slot == 2 ? ParameterRole::Bias : ParameterRole::Other;
    case OpType::Gemm:
      return slot == 1 ? ParameterRole::LinearWeight : slot == 2 ? ParameterRole::Bias : ParameterRole::Other;
    case OpType::MatMul: return slot == 1 ? ParameterRole::LinearWeight : ParameterRole::Other;
    case OpType::BatchNormalization:
      return slot == 1 || slot == 2   ? ParameterRole::BatchNormAffine
             : slot == 3 || slot == 4 ? ParameterRole::BatchNormStats
                                      : ParameterRole::Other;
    default: return ParameterRole::Other;
  }
}

}  // namespace

std::vector<ParameterRole> parameter_roles(const Model& model) {
  const Graph& g = model.graph;
  // A prepared value inherits the role of its source parameter: walk weight nodes backwards from
  // their output to their first parameter-or-prepared input (the data operand of an SAF chain).
  std::vector<int> source(g.values.size(), -1);
  for (int id : g.parameters) source[static_cast<size_t>(id)] = id;
  for (const Node& n : g.weight_nodes)
    for (int in : n.inputs)
      if (in >= 0 && source[static_cast<size_t>(in)] >= 0) {
        source[static_cast<size_t>(n.outputs[0])] = source[static_cast<size_t>(in)];
        break;
      }
  std::vector<ParameterRole> roles(g.values.size(), ParameterRole::Other);
  for (const Node& n : g.activation_nodes)
    for (size_t slot = 0; slot < n.inputs.size(); ++slot) {
      const int in = n.inputs[slot];
      if (in < 0 || source[static_cast<size_t>(in)] < 0) continue;
      ParameterRole role = role_of_slot(n.op, slot);
      ParameterRole& current = roles[static_cast<size_t>(source[static_cast<size_t>(in)])];
      if (current == ParameterRole::Other) current = role;
    }
  return roles;
}

bool glob_match(const std::string& pattern, const std::string& text) {
  // Iterative matcher with backtracking to the last '*': linear in practice for name patterns.
  size_t p = 0, t = 0, star = std::string::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::vector<int> select_fault_targets(const Model& model, const TargetSpec& spec) {
  const Graph& g = model.graph;
  const auto roles = parameter_roles(model);
  auto name_of = [&](int id) -> const std::string& { return g.values[static_cast<size_t>(id)].name; };
  auto matches_any = [&](const std::vector<std::string>& patterns, int id) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return glob_match(p, name_of(id)); });
  };
  for (const auto* list : {&spec.include, &spec.exclude})
    for (const std::string& pattern : *list)
      if (std::none_of(g.parameters.begin(), g.parameters.end(), [&](int id) { return glob_match(pattern, name_of(id)); }))
        throw Error(model.path + ": target pattern '" + pattern + "' matches no parameter");
  std::vector<int> targets;
  for (int id : g.parameters) {
    const bool selected = spec.include.empty()
                              ? std::find(spec.roles.begin(), spec.roles.end(), roles[static_cast<size_t>(id)]) != spec.roles.end()
                              : matches_any(spec.include, id);
    if (selected && !matches_any(spec.exclude, id)) targets.push_back(id);
  }
  if (targets.empty()) throw Error(model.path + ": the fault targets select no parameter");
  return targets;
}

}  // namespace flipsweep
