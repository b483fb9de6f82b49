// The PyTorch companion end to end, when python3-torch is installed (the install script installs
// it, so CI runs this): a few training steps on a small subset with an SAF, export, and
// flipsweep's accuracy on the exported model equal to PyTorch's on the full test set.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "flipsweep/backend/backend.h"
#include "flipsweep/eval/evaluate.h"
#include "flipsweep/graph/onnx_import.h"
#include "flipsweep/model/weight_preparation.h"
#include "test_support.h"

namespace flipsweep {
namespace {

TEST(Training, SmokeTrainExportAndRoundTripThroughFlipsweep) {
  if (std::system(FLIPSWEEP_PYTHON " -c 'import torch, onnx' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-torch is not installed (scripts/install-deps.sh installs it)";
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string dir = testing::binary_path("training_test");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string out = dir + "/smoke_softsign.onnx";
  const std::string command = std::string(FLIPSWEEP_PYTHON " ") + testing::source_path("python/train_fashion_mnist.py") +
                              " --saf softsign --epochs 1 --train-limit 1024 --threads 2 --out " + out + " > " + dir +
                              "/train.log 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << "failed: " << command << " (see " << dir << "/train.log)";

  std::ifstream json_file(out.substr(0, out.size() - 5) + ".json");
  ASSERT_TRUE(json_file.good());
  const nlohmann::json record = nlohmann::json::parse(json_file);
  const double torch_top1 = record["torch_top1_percent"].get<double>();
  // Eight SGD steps are a smoke test of the training loop, not of learning: check it ran on the
  // subset and stayed finite (an SAF that made training diverge would give NaN here).
  EXPECT_EQ(record["train_images"].get<int64_t>(), 1024);
  EXPECT_TRUE(std::isfinite(record["final_train_loss"].get<double>()));

  Model model = load_onnx_model(out);
  EXPECT_EQ(model.graph.weight_nodes.size(), 22u) << "Softsign on each conv and linear weight, as weight-only nodes";
  data::DatasetSpec spec = data::parse_dataset_spec("fashion-mnist-test");
  spec.preprocess.mean = {record["preprocessing"]["mean"].get<float>()};
  spec.preprocess.std = {record["preprocessing"]["std"].get<float>()};
  auto dataset = data::open_dataset(spec);
  BackendOptions options;
  options.batch_size = 256;
  auto backend = make_cpu_backend(model, options);
  backend->load_weights(0, WeightPreparation(model).prepare_clean());
  EvalOptions eval;
  eval.batch_size = 256;
  eval.progress = false;
  const EvalResult r = evaluate(*backend, 0, *dataset, spec.preprocess, eval);
  EXPECT_EQ(r.images, 10000);
  // The json rounds to 0.01 %, one image in 10,000.
  EXPECT_NEAR(r.top1_percent(), torch_top1, 0.005) << "flipsweep and PyTorch disagree on the exported model";
}

}  // namespace
}  // namespace flipsweep
