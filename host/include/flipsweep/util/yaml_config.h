#pragma once
// Reading YAML config files with errors that name the file and the field (`dataset.preprocess.std`),
// shared by `flipsweep eval --config` and campaign configs.
#include <yaml-cpp/yaml.h>

#include <string>
#include <type_traits>
#include <vector>

#include "flipsweep/data/dataset.h"
#include "flipsweep/error.h"

namespace flipsweep {

// Loads a YAML mapping; Error for a missing file, invalid YAML or a non-mapping root.
YAML::Node load_yaml_mapping(const std::string& file);

namespace detail {
template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};

template <typename T>
const char* expected_kind() {
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_unsigned_v<T>) return "a non-negative integer";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else return "a string";
}
}  // namespace detail

// The value of `field`; an Error naming the file, the field (the element, `ber[1]`, in a list),
// the value given and what was expected.
template <typename T>
T yaml_value(const YAML::Node& node, const std::string& file, const std::string& field) {
  if constexpr (detail::IsVector<T>::value) {
    if (!node.IsSequence()) throw Error(file + ": field '" + field + "' must be a list");
    T values;
    for (size_t i = 0; i < node.size(); ++i)
      values.push_back(yaml_value<typename T::value_type>(node[i], file, field + "[" + std::to_string(i) + "]"));
    return values;
  } else {
    try {
      return node.as<T>();
    } catch (const YAML::Exception&) {
      const std::string given = node.IsScalar()     ? "'" + node.Scalar() + "'"
                                : node.IsSequence() ? "a list"
                                : node.IsMap()      ? "a mapping"
                                                    : "nothing (null)";
      throw Error(file + ": field '" + field + "' has an invalid value " + given + " (expected " +
                  detail::expected_kind<T>() + ")");
    }
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

// data::open_dataset for a spec read from `file`: a preprocessing value that does not fit the
// images is blamed on its field (`dataset.preprocess.mean`), naming the dataset too.
std::unique_ptr<data::ImageDataset> open_configured_dataset(const data::DatasetSpec& spec, const std::string& file);

}  // namespace flipsweep
