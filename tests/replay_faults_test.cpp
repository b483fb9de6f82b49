// A small campaign's faults.csv replayed by an independent PyTorch checker
// (python/replay_faults.py): the checker rebuilds each model in PyTorch from the ONNX
// initializers, encodes the targets in the storage format with its own code, applies the
// recorded faults to the stored words and evaluates the same images; every trial's top-1 must
// equal the one in trials.csv. Skipped where torch/onnx/yaml or Fashion-MNIST are missing.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "flipsweep/campaign/campaign.h"
#include "flipsweep/campaign/results.h"
#include "test_support.h"

namespace flipsweep {
namespace {

namespace fsys = std::filesystem;

const char* const kFashionMnistImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";

bool python_has_torch_onnx_yaml() {
  const std::string command = std::string(FLIPSWEEP_PYTHON) + " -c 'import torch, onnx, yaml' >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(CampaignReplay, PyTorchReplayOfFaultsCsvGivesTheRecordedTop1) {
  if (!fsys::exists(kFashionMnistImages))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh installs it)";
  if (!python_has_torch_onnx_yaml())
    GTEST_SKIP() << FLIPSWEEP_PYTHON << " cannot import torch, onnx and yaml (python3-torch, python3-onnx, python3-yaml)";

  const std::string dir = testing::binary_path("replay_faults_test");
  fsys::remove_all(dir);
  fsys::create_directories(dir);
  const std::string config_path = dir + "/campaign.yaml";
  {
    std::ofstream out(config_path);
    out << "name: replay\nseed: 3\ntrials: 2\nber: [1.0e-4]\nformats: [fp32, fp16, q2.5]\n"
        << "models:\n"
        << "  - {name: plain, path: " << testing::source_path("tests/golden/resnet20_cifar/model.onnx") << "}\n"
        << "  - {name: tanh, saf: tanh, path: " << testing::source_path("tests/golden/resnet20_tanh_saf/model.onnx") << "}\n"
        << "dataset:\n  spec: fashion-mnist-test\n  limit: 48\n  preprocess: {pad: 2, channels: 3}\n"
        << "batch_size: 16\nthreads: 1\n";
  }
  CampaignOptions options;
  options.out_dir = dir + "/out";
  options.save_faults = true;
  options.progress = false;
  run_campaign(load_campaign_config(config_path), options);
  ASSERT_EQ(read_trials_csv(dir + "/out/trials.csv").size(), 2u * 3u * 2u);
  ASSERT_TRUE(fsys::exists(dir + "/out/faults.csv"));

  const std::string log = dir + "/replay.log";
  const std::string command = std::string(FLIPSWEEP_PYTHON) + " " + testing::source_path("python/replay_faults.py") + " " +
                              options.out_dir + " > " + log + " 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_NE(status, -1) << "could not run: " << command;
  ASSERT_TRUE(WIFEXITED(status)) << command << " did not exit normally\n" << read_text(log);
  EXPECT_EQ(WEXITSTATUS(status), 0) << command << "\n" << read_text(log);
}

}  // namespace
}  // namespace flipsweep
