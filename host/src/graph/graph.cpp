#include "flipsweep/graph/graph.h"

#include "flipsweep/error.h"

namespace flipsweep {

const char* value_kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::Input: return "input";
    case ValueKind::Parameter: return "parameter";
    case ValueKind::Constant: return "constant";
    case ValueKind::Prepared: return "prepared";
    case ValueKind::Activation: return "activation";
  }
  return "?";
}

int Graph::find_value(const std::string& name) const {
  auto it = value_ids.find(name);
  return it == value_ids.end() ? -1 : it->second;
}

const Tensor& Model::parameter(const std::string& name) const {
  int id = graph.find_value(name);
  if (id < 0 || graph.values[static_cast<size_t>(id)].kind != ValueKind::Parameter)
    throw Error(path + ": no parameter named '" + name + "'");
  return stored[static_cast<size_t>(id)];
}

int64_t Model::parameter_count() const {
  int64_t total = 0;
  for (int id : graph.parameters) total += stored[static_cast<size_t>(id)].size();
  return total;
}

}  // namespace flipsweep
