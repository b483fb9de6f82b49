#pragma once
// Helpers shared by the campaign tests: scratch folders, a small campaign config on the golden
// ResNet20 and real Fashion-MNIST images, and trials.csv rows in a comparable form.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "flipsweep/campaign/campaign.h"
#include "flipsweep/campaign/results.h"
#include "test_support.h"

namespace flipsweep::campaign_testing {

inline bool have_fashion_mnist() {
  return std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
}

// An empty folder under the build tree.
inline std::string scratch_dir(const std::string& name) {
  const std::string dir = testing::binary_path("campaign_test/" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The golden ResNet20 (3×32×32) reads Fashion-MNIST padded by 2 and replicated to 3 channels.
inline std::string write_config(const std::string& dir, const std::string& extra, const std::string& models = "") {
  const std::string path = dir + "/campaign.yaml";
  std::ofstream out(path);
  out << "name: test\nseed: 3\ntrials: 3\nber: [1.0e-5, 1.0e-4]\nformats: [fp32, q2.5]\n"
      << "models:\n"
      << (models.empty() ? "  - {name: plain, path: " + testing::source_path("tests/golden/resnet20_cifar/model.onnx") + "}\n"
                         : models)
      << "dataset:\n  spec: fashion-mnist-test\n  limit: 48\n  preprocess: {pad: 2, channels: 3}\n"
      << "batch_size: 16\nthreads: 2\n"
      << extra;
  return path;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// trials.csv rows without the timing and shortcut columns, sorted: what must match between runs
// (a resumed run has no results of the first run's BERs in memory, so it takes fewer shortcuts).
inline std::vector<std::string> comparable_rows(const std::string& path) {
  std::vector<std::string> rows;
  for (auto r : read_trials_csv(path)) {
    r.seconds = 0;
    r.shortcut = "none";
    rows.push_back(trials_csv_row(r));
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

inline CampaignOptions quiet(const std::string& out, bool resume = false, bool save_faults = false) {
  CampaignOptions o;
  o.out_dir = out;
  o.resume = resume;
  o.save_faults = save_faults;
  o.progress = false;
  return o;
}

}  // namespace flipsweep::campaign_testing
