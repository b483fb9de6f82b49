#include "flipsweep/util/yaml_config.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace flipsweep {

YAML::Node load_yaml_mapping(const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    // yaml-cpp does not say why; opening the file again does.
    std::string reason = "unreadable";
    if (std::FILE* f = std::fopen(file.c_str(), "r")) std::fclose(f);
    else reason = std::strerror(errno);
    throw Error(file + ": cannot open config file: " + reason);
  } catch (const YAML::Exception& e) {
    throw Error(file + ": invalid YAML: " + e.what());
  }
  if (!root.IsMap()) throw Error(file + ": the config must be a YAML mapping");
  return root;
}

void require_known_keys(const YAML::Node& map, const std::vector<std::string>& known, const std::string& file,
                        const std::string& prefix) {
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) {
      const std::string where = prefix.empty() ? std::string("the config") : "field '" + prefix.substr(0, prefix.size() - 1) + "'";
      throw Error(file + ": " + where + " has a key that is " + (kv.first.IsSequence() ? "a list" : kv.first.IsMap() ? "a mapping" : "empty") +
                  ", expected a field name");
    }
    const std::string key = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw Error(file + ": unknown field '" + prefix + key + "'");
  }
}

namespace {

data::Preprocess read_preprocess(const YAML::Node& node, const std::string& file) {
  data::Preprocess p;
  if (!node) return p;
  if (!node.IsMap()) throw Error(file + ": field 'dataset.preprocess' must be a mapping");
  require_known_keys(node, {"mean", "std", "pad", "pad_value", "resize", "channels"}, file, "dataset.preprocess.");
  if (node["mean"]) p.mean = yaml_value<std::vector<float>>(node["mean"], file, "dataset.preprocess.mean");
  if (node["std"]) p.std = yaml_value<std::vector<float>>(node["std"], file, "dataset.preprocess.std");
  if (node["pad"]) p.pad = yaml_value<int64_t>(node["pad"], file, "dataset.preprocess.pad");
  if (node["pad_value"]) p.pad_value = yaml_value<int64_t>(node["pad_value"], file, "dataset.preprocess.pad_value");
  if (node["resize"]) {
    auto hw = yaml_value<std::vector<int64_t>>(node["resize"], file, "dataset.preprocess.resize");
    if (hw.size() != 2) throw Error(file + ": field 'dataset.preprocess.resize' must be [height, width]");
    p.resize_height = hw[0];
    p.resize_width = hw[1];
  }
  if (node["channels"]) p.channels = yaml_value<int64_t>(node["channels"], file, "dataset.preprocess.channels");
  return p;
}

}  // namespace

std::string resolve_config_path(const std::string& path, const std::string& file) {
  namespace fsys = std::filesystem;
  const fsys::path p(path);
  if (path.empty() || p.is_absolute()) return path;
  const fsys::path base = fsys::path(file).parent_path();
  const fsys::path beside = (base / p).lexically_normal();
  std::error_code error;
  if (!fsys::exists(beside, error) && fsys::exists(p, error)) return path;
  return beside.string();
}

data::DatasetSpec read_dataset_config(const YAML::Node& d, const std::string& file) {
  if (!d) throw Error(file + ": field 'dataset' is required");
  const auto resolved = [&](data::DatasetSpec spec) {
    for (std::string& path : spec.paths) path = resolve_config_path(path, file);
    return spec;
  };
  // parse_dataset_spec's errors name the spec; the file and field are added here.
  const auto parse_spec = [&](const YAML::Node& node, const std::string& field) {
    const std::string text = yaml_value<std::string>(node, file, field);
    try {
      return data::parse_dataset_spec(text);
    } catch (const Error& e) {
      throw Error(file + ": field '" + field + "': " + e.what());
    }
  };
  if (d.IsScalar()) return resolved(parse_spec(d, "dataset"));
  if (!d.IsMap()) throw Error(file + ": field 'dataset' must be a string or a mapping");
  require_known_keys(d, {"spec", "format", "paths", "limit", "preprocess"}, file, "dataset.");
  data::DatasetSpec spec;
  if (d["spec"]) {
    spec = parse_spec(d["spec"], "dataset.spec");
  } else {
    if (!d["format"] || !d["paths"]) throw Error(file + ": field 'dataset' needs 'spec' or 'format' and 'paths'");
    spec.format = yaml_value<std::string>(d["format"], file, "dataset.format");
    spec.paths = yaml_value<std::vector<std::string>>(d["paths"], file, "dataset.paths");
  }
  if (d["limit"]) spec.limit = yaml_value<int64_t>(d["limit"], file, "dataset.limit");
  spec.preprocess = read_preprocess(d["preprocess"], file);
  // Format, file count and limit are checked now, naming the field, not when the files are opened.
  try {
    data::check_dataset_spec(spec);
  } catch (const Error& e) {
    const std::string message = e.what();
    const char* field = message.rfind("unknown dataset format", 0) == 0 ? "dataset.format"
                        : message.rfind("dataset limit", 0) == 0        ? "dataset.limit"
                                                                        : "dataset.paths";
    throw Error(file + ": field '" + field + "': " + message);
  }
  return resolved(spec);
}

std::unique_ptr<data::ImageDataset> open_configured_dataset(const data::DatasetSpec& spec, const std::string& file) {
  try {
    return data::open_dataset(spec);
  } catch (const Error& e) {
    // open_dataset says "<dataset> (<format>): preprocess: <field> ..." for a value that does not fit.
    const std::string message = e.what();
    const std::string marker = ": preprocess: ";
    const size_t at = message.find(marker);
    if (at == std::string::npos) throw;
    const std::string rest = message.substr(at + marker.size());
    const size_t end = rest.find_first_of(" [");
    const std::string field = rest.substr(0, end);
    for (const char* known : {"mean", "std", "pad", "pad_value", "resize", "channels"})
      if (field == known)
        throw Error(file + ": field 'dataset.preprocess." + field + "'" +
                    (end == std::string::npos ? "" : rest.substr(end)) + " (dataset " + message.substr(0, at) + ")");
    throw;
  }
}

}  // namespace flipsweep
