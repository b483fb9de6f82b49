// Eval configs (flipsweep eval --config FILE): the input is the YAML file. The CLI reads it in
// host/src/cli/main.cpp (read_eval_config), not a library function; this target makes the same
// calls in the same order — load_yaml_mapping, require_known_keys, yaml_value per field,
// resolve_config_path, read_dataset_config — then, when the dataset names the fixtures of
// fuzz_support.h, opens and preprocesses it as eval does (open_configured_dataset).
// Keep it in step with read_eval_config.
#include "flipsweep/util/yaml_config.h"
#include "fuzz_support.h"

namespace {

struct EvalSettings {
  std::string model_path;
  flipsweep::data::DatasetSpec dataset;
  int64_t batch_size = 64;
  int threads = 0;
  int64_t tile = 0;
  std::string kernels = "fast";
  std::string backend = "auto";
  int device = 0;
  bool tf32 = false;
};

// As read_eval_config in host/src/cli/main.cpp.
EvalSettings read_eval_config(const std::string& file) {
  namespace fs = flipsweep;
  EvalSettings s;
  YAML::Node root = fs::load_yaml_mapping(file);
  fs::require_known_keys(root, {"model", "dataset", "batch_size", "threads", "tile", "kernels", "backend", "device", "tf32"},
                         file, "");
  if (!root["model"]) throw fs::Error(file + ": field 'model' is required");
  s.model_path = fs::resolve_config_path(fs::yaml_value<std::string>(root["model"], file, "model"), file);
  if (root["batch_size"]) s.batch_size = fs::yaml_value<int64_t>(root["batch_size"], file, "batch_size");
  if (root["threads"]) s.threads = fs::yaml_value<int>(root["threads"], file, "threads");
  if (root["tile"]) s.tile = fs::yaml_value<int64_t>(root["tile"], file, "tile");
  if (root["kernels"]) s.kernels = fs::yaml_value<std::string>(root["kernels"], file, "kernels");
  if (root["backend"]) s.backend = fs::yaml_value<std::string>(root["backend"], file, "backend");
  if (root["device"]) s.device = fs::yaml_value<int>(root["device"], file, "device");
  if (root["tf32"]) s.tf32 = fs::yaml_value<bool>(root["tf32"], file, "tf32");
  s.dataset = fs::read_dataset_config(root["dataset"], file);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flipsweep::fuzz;
  write_config_fixtures();
  const std::string path = write_scratch_file("eval.yaml", std::string_view(reinterpret_cast<const char*>(data), size));
  EvalSettings s;
  bool loaded = false;
  expect_success_or_error({path}, [&] {
    s = read_eval_config(path);
    loaded = true;
  });
  if (!loaded || !names_only_fixtures(s.dataset)) return 0;
  // Errors here name the config (a preprocessing field) or the dataset file at fault.
  expect_success_or_error({path, scratch_dir() + "/"}, [&] { open_and_preprocess(s.dataset, path); });
  return 0;
}
