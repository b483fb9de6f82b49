#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "flipsweep/campaign/campaign.h"
#include "flipsweep/campaign/campaign_folder.h"
#include "flipsweep/campaign/results.h"
#include "flipsweep/model/weight_transform.h"
#include "flipsweep/util/yaml_config.h"

namespace flipsweep {

namespace {

ParameterRole parse_role(const std::string& text, const std::string& where) {
  for (ParameterRole role : {ParameterRole::ConvWeight, ParameterRole::LinearWeight, ParameterRole::Bias,
                             ParameterRole::BatchNormAffine, ParameterRole::BatchNormStats, ParameterRole::Other})
    if (text == parameter_role_name(role)) return role;
  throw Error(where + ": unknown role '" + text +
              "' (conv-weight, linear-weight, bias, batchnorm-affine, batchnorm-stats, other)");
}

// Names end up in CSV fields and folder names.
void check_label(const std::string& label, const std::string& where) {
  if (label.empty()) throw Error(where + ": must not be empty");
  for (char c : label)
    if (c == ',' || c == '\n' || c == '"' || c == '/' || c == ' ')
      throw Error(where + ": '" + label + "' must not contain commas, quotes, slashes or spaces");
}

}  // namespace

CampaignConfig load_campaign_config(const std::string& path, ConfigUse use) {
  YAML::Node root = load_yaml_mapping(path);
  require_known_keys(root,
                     {"name", "task", "seed", "trials", "ber", "formats", "models", "dataset", "targets", "faults",
                      "batch_size", "threads", "backend", "device", "tf32", "trials_in_flight", "shortcuts", "shard",
                      "fault_maps", "save_faults"},
                     path, "");
  CampaignConfig c;
  c.source = path;
  c.name = root["name"] ? yaml_value<std::string>(root["name"], path, "name")
                        : std::filesystem::path(path).stem().string();
  check_label(c.name, path + ": field 'name'");
  if (root["task"]) {
    const std::string task = yaml_value<std::string>(root["task"], path, "task");
    if (task == "segmentation") c.task = Task::Segmentation;
    else if (task != "classification")
      throw Error(path + ": field 'task': '" + task + "' is not classification or segmentation");
  }
  if (root["seed"]) c.seed = yaml_value<uint64_t>(root["seed"], path, "seed");
  if (root["trials"]) c.trials = yaml_value<int64_t>(root["trials"], path, "trials");
  if (root["batch_size"]) c.batch_size = yaml_value<int64_t>(root["batch_size"], path, "batch_size");
  if (root["threads"]) c.threads = yaml_value<int>(root["threads"], path, "threads");
  if (root["backend"]) {
    try {
      c.backend = parse_backend_kind(yaml_value<std::string>(root["backend"], path, "backend"));
    } catch (const Error& e) {
      throw Error(path + ": field 'backend': " + e.what());
    }
  }
  if (root["device"]) c.device = yaml_value<int>(root["device"], path, "device");
  if (root["tf32"]) c.tf32 = yaml_value<bool>(root["tf32"], path, "tf32");
  if (root["trials_in_flight"]) c.trials_in_flight = yaml_value<int>(root["trials_in_flight"], path, "trials_in_flight");
  if (root["shortcuts"]) c.shortcuts = yaml_value<bool>(root["shortcuts"], path, "shortcuts");
  if (root["fault_maps"]) c.fault_maps = yaml_value<std::string>(root["fault_maps"], path, "fault_maps");
  if (root["save_faults"]) c.save_faults = yaml_value<bool>(root["save_faults"], path, "save_faults");
  if (root["shard"]) {
    try {
      parse_shard(yaml_value<std::string>(root["shard"], path, "shard"), &c.shard_index, &c.shard_count);
    } catch (const Error& e) {
      throw Error(path + ": field 'shard': " + e.what());
    }
  }
  if (root["ber"]) {
    c.bers = root["ber"].IsSequence() ? yaml_value<std::vector<double>>(root["ber"], path, "ber")
                                      : std::vector<double>{yaml_value<double>(root["ber"], path, "ber")};
  }

  if (!root["formats"]) throw Error(path + ": field 'formats' is required (e.g. [fp32, fp16, q2.5])");
  for (const auto& f : yaml_value<std::vector<std::string>>(root["formats"], path, "formats")) {
    try {
      c.formats.push_back(core::StorageFormat::parse(f));
    } catch (const Error& e) {
      throw Error(path + ": field 'formats': " + e.what());
    }
  }

  const YAML::Node models = root["models"];
  if (!models || !models.IsSequence() || models.size() == 0)
    throw Error(path + ": field 'models' must be a list of {name, path, saf}");
  for (size_t i = 0; i < models.size(); ++i) {
    const std::string field = "models[" + std::to_string(i) + "]";
    const YAML::Node m = models[i];
    if (!m.IsMap()) throw Error(path + ": field '" + field + "' must be a mapping");
    require_known_keys(m, {"name", "path", "saf", "apply_saf", "sha256"}, path, field + ".");
    CampaignModel model;
    if (!m["path"]) throw Error(path + ": field '" + field + ".path' is required");
    model.path = yaml_value<std::string>(m["path"], path, field + ".path");
    // Relative to the config file's folder (or, found only there, the working directory).
    model.path = resolve_config_path(model.path, path);
    std::error_code not_checked;  // e.g. a file name too long: an Error, not a filesystem_error
    if (use == ConfigUse::Run && !std::filesystem::exists(model.path, not_checked))
      throw Error(path + ": field '" + field + ".path': model file '" + model.path + "' " +
                  (not_checked ? "cannot be checked: " + not_checked.message() : std::string("does not exist")));
    if (m["sha256"]) model.content_sha256 = yaml_value<std::string>(m["sha256"], path, field + ".sha256");
    if (m["saf"]) model.saf = yaml_value<std::string>(m["saf"], path, field + ".saf");
    try {
      check_saf_name(model.saf);
    } catch (const Error& e) {
      throw Error(path + ": field '" + field + ".saf': " + e.what());
    }
    if (m["apply_saf"]) model.apply_saf = yaml_value<bool>(m["apply_saf"], path, field + ".apply_saf");
    model.name = m["name"] ? yaml_value<std::string>(m["name"], path, field + ".name") : model.saf;
    check_label(model.name, path + ": field '" + field + ".name'");
    c.models.push_back(model);
  }

  {
    // The recorded facts about the data (config.yaml of an output folder) are not dataset
    // settings: they are taken out before the dataset section is read.
    const YAML::Node dataset = root["dataset"];
    if (dataset && dataset.IsMap() && (dataset["images"] || dataset["fingerprint"])) {
      if (dataset["images"]) c.dataset_images = yaml_value<int64_t>(dataset["images"], path, "dataset.images");
      if (dataset["fingerprint"])
        c.dataset_fingerprint = yaml_value<std::string>(dataset["fingerprint"], path, "dataset.fingerprint");
      YAML::Node settings = YAML::Clone(dataset);
      settings.remove("images");
      settings.remove("fingerprint");
      c.dataset = read_dataset_config(settings, path);
    } else {
      c.dataset = read_dataset_config(dataset, path);
    }
  }

  if (const YAML::Node t = root["targets"]) {
    if (!t.IsMap()) throw Error(path + ": field 'targets' must be a mapping");
    require_known_keys(t, {"roles", "include", "exclude", "bits"}, path, "targets.");
    if (t["roles"]) {
      c.targets.roles.clear();
      for (const auto& r : yaml_value<std::vector<std::string>>(t["roles"], path, "targets.roles"))
        c.targets.roles.push_back(parse_role(r, path + ": field 'targets.roles'"));
    }
    if (t["include"]) c.targets.include = yaml_value<std::vector<std::string>>(t["include"], path, "targets.include");
    if (t["exclude"]) c.targets.exclude = yaml_value<std::vector<std::string>>(t["exclude"], path, "targets.exclude");
    if (t["bits"]) c.bits = yaml_value<std::string>(t["bits"], path, "targets.bits");
  }

  if (const YAML::Node f = root["faults"]) {
    if (!f.IsMap()) throw Error(path + ": field 'faults' must be a mapping");
    require_known_keys(f, {"model", "tensor", "bit", "count"}, path, "faults.");
    const std::string kind = f["model"] ? yaml_value<std::string>(f["model"], path, "faults.model") : "bit-flip";
    if (kind == "bit-flip") c.faults.model = FaultModel::BitFlip;
    else if (kind == "stuck-at") c.faults.model = FaultModel::StuckAt;
    else if (kind == "exact") c.faults.model = FaultModel::ExactFlips;
    else if (kind == "single-flip") c.faults.model = FaultModel::SingleFlip;
    else if (kind == "layer-bit") c.faults.model = FaultModel::LayerBit;
    else throw Error(path + ": field 'faults.model': unknown fault model '" + kind +
                     "' (bit-flip, stuck-at, exact, single-flip, layer-bit)");
    if (c.faults.model == FaultModel::ExactFlips) {
      if (!f["tensor"] || !f["bit"]) throw Error(path + ": field 'faults': exact faults need 'tensor' and 'bit'");
      c.faults.exact_tensor = yaml_value<std::string>(f["tensor"], path, "faults.tensor");
      c.faults.exact_bit = yaml_value<int>(f["bit"], path, "faults.bit");
      if (f["count"]) c.faults.exact_count = yaml_value<int64_t>(f["count"], path, "faults.count");
    } else if (f["tensor"] || f["bit"] || f["count"]) {
      throw Error(path + ": field 'faults': 'tensor', 'bit' and 'count' apply to model: exact only");
    }
  }
  // Exact, single-flip and layer-bit faults have no rate: one "BER" column value, 0, names the point.
  const bool one_flip = c.faults.model == FaultModel::SingleFlip || c.faults.model == FaultModel::LayerBit;
  if (one_flip && !c.bers.empty() && c.bers != std::vector<double>{0.0})
    throw Error(path + ": field 'ber': " + fault_model_name(c.faults.model) +
                " faults (one flip per trial) have no bit error rate; leave 'ber' out");
  if ((c.faults.model == FaultModel::ExactFlips || one_flip) && c.bers.empty()) c.bers = {0.0};
  validate_campaign_config(c);
  return c;
}

void validate_campaign_config(const CampaignConfig& c) {
  const std::string& where = c.source;
  if (c.bers.empty()) throw Error(where + ": field 'ber' is required (a number or a list)");
  std::set<double> seen;
  for (double b : c.bers) {
    if (!(b >= 0.0 && b <= 1.0)) throw Error(where + ": field 'ber': " + format_number(b) + " is outside [0, 1]");
    if (!seen.insert(b).second) throw Error(where + ": field 'ber': " + format_number(b) + " is listed twice");
  }
  if (c.trials < 1) throw Error(where + ": field 'trials' must be at least 1, got " + std::to_string(c.trials));
  if (c.trials > (int64_t{1} << 32)) throw Error(where + ": field 'trials' is too large");
  if (c.batch_size < 1) throw Error(where + ": field 'batch_size' must be at least 1");
  if (c.threads < 0) throw Error(where + ": field 'threads' must be 0 (all cores) or more");
  if (c.device < 0) throw Error(where + ": field 'device' must be 0 or more, got " + std::to_string(c.device));
  if (c.trials_in_flight < 0)
    throw Error(where + ": field 'trials_in_flight' must be 0 (the backend's default) or more, got " +
                std::to_string(c.trials_in_flight));
  if (c.formats.empty()) throw Error(where + ": field 'formats' must list at least one storage format");
  std::set<std::string> names;
  for (const auto& m : c.models)
    if (!names.insert(m.name).second)
      throw Error(where + ": field 'models': the name '" + m.name + "' is used twice (set distinct 'name's)");
  for (const auto& f : c.formats) {
    try {
      (void)parse_bit_selection(c.bits, f);
    } catch (const Error& e) {
      throw Error(where + ": field 'targets.bits': " + e.what());
    }
  }
}

std::string campaign_config_yaml(const CampaignConfig& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << c.name;
  if (c.task == Task::Segmentation) out << YAML::Key << "task" << YAML::Value << "segmentation";
  out << YAML::Key << "seed" << YAML::Value << c.seed;
  out << YAML::Key << "trials" << YAML::Value << c.trials;
  out << YAML::Key << "ber" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (double b : c.bers) out << format_number(b);
  out << YAML::EndSeq;
  out << YAML::Key << "formats" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const auto& f : c.formats) out << f.name();
  out << YAML::EndSeq;
  out << YAML::Key << "models" << YAML::Value << YAML::BeginSeq;
  for (const auto& m : c.models) {
    out << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << m.name << YAML::Key << "path"
        << YAML::Value << m.path << YAML::Key << "saf" << YAML::Value << m.saf << YAML::Key << "apply_saf"
        << YAML::Value << m.apply_saf;
    if (!m.content_sha256.empty()) out << YAML::Key << "sha256" << YAML::Value << m.content_sha256;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "dataset" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "format" << YAML::Value << c.dataset.format;
  out << YAML::Key << "paths" << YAML::Value << YAML::Flow << c.dataset.paths;
  out << YAML::Key << "limit" << YAML::Value << c.dataset.limit;
  out << YAML::Key << "preprocess" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "mean" << YAML::Value << YAML::Flow << c.dataset.preprocess.mean;
  out << YAML::Key << "std" << YAML::Value << YAML::Flow << c.dataset.preprocess.std;
  out << YAML::Key << "pad" << YAML::Value << c.dataset.preprocess.pad;
  out << YAML::Key << "pad_value" << YAML::Value << c.dataset.preprocess.pad_value;
  out << YAML::Key << "resize" << YAML::Value << YAML::Flow << YAML::BeginSeq << c.dataset.preprocess.resize_height
      << c.dataset.preprocess.resize_width << YAML::EndSeq;
  out << YAML::Key << "channels" << YAML::Value << c.dataset.preprocess.channels;
  out << YAML::EndMap;
  if (c.dataset_images >= 0) out << YAML::Key << "images" << YAML::Value << c.dataset_images;
  if (!c.dataset_fingerprint.empty()) out << YAML::Key << "fingerprint" << YAML::Value << c.dataset_fingerprint;
  out << YAML::EndMap;
  out << YAML::Key << "targets" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "roles" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (auto r : c.targets.roles) out << parameter_role_name(r);
  out << YAML::EndSeq;
  out << YAML::Key << "include" << YAML::Value << YAML::Flow << c.targets.include;
  out << YAML::Key << "exclude" << YAML::Value << YAML::Flow << c.targets.exclude;
  out << YAML::Key << "bits" << YAML::Value << c.bits;
  out << YAML::EndMap;
  if (!c.fault_maps.empty()) out << YAML::Key << "fault_maps" << YAML::Value << c.fault_maps;
  out << YAML::Key << "save_faults" << YAML::Value << c.save_faults;
  out << YAML::Key << "faults" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "model" << YAML::Value << fault_model_name(c.faults.model);
  if (c.faults.model == FaultModel::ExactFlips)
    out << YAML::Key << "tensor" << YAML::Value << c.faults.exact_tensor << YAML::Key << "bit" << YAML::Value
        << c.faults.exact_bit << YAML::Key << "count" << YAML::Value << c.faults.exact_count;
  out << YAML::EndMap;
  if (c.shard_count > 1) out << YAML::Key << "shard" << YAML::Value << shard_name(c.shard_index, c.shard_count);
  out << YAML::Key << "batch_size" << YAML::Value << c.batch_size;
  out << YAML::Key << "threads" << YAML::Value << c.threads;
  out << YAML::Key << "backend" << YAML::Value << backend_kind_name(c.backend);
  out << YAML::Key << "device" << YAML::Value << c.device;
  out << YAML::Key << "tf32" << YAML::Value << c.tf32;
  out << YAML::Key << "trials_in_flight" << YAML::Value << c.trials_in_flight;
  out << YAML::Key << "shortcuts" << YAML::Value << c.shortcuts;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}


}  // namespace flipsweep
