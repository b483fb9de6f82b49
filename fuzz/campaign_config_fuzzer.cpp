// Campaign configs (flipsweep run CONFIG): the input is the YAML file. A config that loads is
// written back as a run writes it (config.yaml, campaign_config_yaml) and must load again to the
// same config; its dataset is opened and preprocessed when it names the fixtures of
// fuzz_support.h (write_config_fixtures), as a run does before any trial.
#include "flipsweep/campaign/campaign.h"
#include "flipsweep/util/yaml_config.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flipsweep::fuzz;
  write_config_fixtures();
  const std::string path = write_scratch_file("campaign.yaml", std::string_view(reinterpret_cast<const char*>(data), size));
  flipsweep::CampaignConfig config;
  bool loaded = false;
  expect_success_or_error({path}, [&] {
    config = flipsweep::load_campaign_config(path);
    loaded = true;
  });
  if (!loaded) return 0;

  // The resolved config, as written to the output folder, reads back as the same config.
  const std::string written = flipsweep::campaign_config_yaml(config);
  const std::string again_path = write_scratch_file("written.yaml", written);
  try {
    const std::string again = flipsweep::campaign_config_yaml(flipsweep::load_campaign_config(again_path));
    if (again != written) {
      std::fprintf(stderr, "fuzz: the written config reads back differently:\n%s\n---- read back as ----\n%s\n",
                   written.c_str(), again.c_str());
      std::abort();
    }
  } catch (const flipsweep::Error& error) {
    std::fprintf(stderr, "fuzz: the written config does not load again: %s\n%s\n", error.what(), written.c_str());
    std::abort();
  }

  if (names_only_fixtures(config.dataset)) {
    // Errors here name the config (a preprocessing field) or the dataset file at fault.
    expect_success_or_error({path, scratch_dir() + "/"}, [&] { open_and_preprocess(config.dataset, path); });
  }
  return 0;
}
