#pragma once
// Reading YAML config files with errors that name the file and the field (`dataset.preprocess.std`),
// shared by `flipsweep eval --config` and campaign configs.
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "flipsweep/data/dataset.h"
#include "flipsweep/error.h"

namespace flipsweep {

// Loads a YAML mapping; Error for a missing file, invalid YAML or a non-mapping root.
YAML::Node load_yaml_mapping(const std::string& file);

template <typename T>
T yaml_value(const YAML::Node& node, const std::string& file, const std::string& field) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw Error(file + ": field '" + field + "' has an invalid value");
  }
}

// Error naming the first key of `map` that is not in `known` (a typo must not be ignored).
void require_known_keys(const YAML::Node& map, const std::vector<std::string>& known, const std::string& file,
                        const std::string& prefix);

// A file path written in the config file `file`: absolute paths as they are; a relative path is
// relative to the config file's folder, or, when nothing exists there but it exists relative to the
// working directory, taken from there (configs written for the repository root keep working).
std::string resolve_config_path(const std::string& path, const std::string& file);

// `dataset:` as a compact string ("fashion-mnist-test") or a mapping with spec | format+paths,
// limit and preprocess. Relative dataset paths are resolved with resolve_config_path.
data::DatasetSpec read_dataset_config(const YAML::Node& node, const std::string& file);

}  // namespace flipsweep
