// Segmentation campaigns (task: segmentation) end to end on Fashion-MNIST mosaics and a U-Net:
// per-trial pixel accuracy, mean and frequency-weighted IoU, error propagation (pixels predicted
// otherwise than by the fault-free model) and all-NaN pixels; class_iou.csv; BER 0 trials equal
// to the clean pass; resume and shards/merge giving the rows of one uninterrupted run; and the
// task checked against the dataset.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "campaign_support.h"
#include "flipsweep/campaign/campaign.h"
#include "flipsweep/campaign/campaign_folder.h"
#include "flipsweep/campaign/results.h"
#include "flipsweep/error.h"
#include "test_support.h"

namespace flipsweep {
namespace {

namespace fsys = std::filesystem;
using namespace campaign_testing;

// Mosaics (32×32, 12 test images) and a random-weight U-Net for them, made once per test.
struct SegmentationSetup {
  std::string dir, config;
};

SegmentationSetup make_setup(const std::string& name) {
  SegmentationSetup s;
  s.dir = scratch_dir(name);
  const std::string python = FLIPSWEEP_PYTHON " ";
  EXPECT_EQ(std::system((python + testing::source_path("datasets/make_fashion_mosaics.py") + " " + s.dir +
                         " --size 32 --train 8 --test 12 > /dev/null")
                            .c_str()),
            0);
  EXPECT_EQ(std::system((python + testing::source_path("python/export_onnx.py") + " --model unet --num-classes 11 --out " +
                         s.dir + "/unet.onnx > /dev/null")
                            .c_str()),
            0);
  s.config = s.dir + "/campaign.yaml";
  std::ofstream out(s.config);
  out << "name: seg\ntask: segmentation\nseed: 5\ntrials: 3\nber: [0.0, 1.0e-4, 1.0e-3]\nformats: [fp32, fp16]\n"
      << "models:\n  - {name: unet, path: " << s.dir << "/unet.onnx}\n"
      << "dataset:\n  format: tensor-cache\n  paths: [" << s.dir << "/mosaics-test.fswptc]\n"
      << "  preprocess: {mean: [0.1373], std: [0.2844]}\n"
      << "targets: {roles: [conv-weight, linear-weight]}\nbatch_size: 16\nthreads: 2\n";
  return s;
}

bool prerequisites() {
  return have_fashion_mnist() && std::system(FLIPSWEEP_PYTHON " -c 'import torch, onnx, numpy' > /dev/null 2>&1") == 0;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(read_text(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(SegmentationCampaign, RowsMetricsAndSideFiles) {
  if (!prerequisites()) GTEST_SKIP() << "dataset-fashion-mnist, python3-torch and python3-onnx are needed";
  const SegmentationSetup s = make_setup("segmentation_rows");
  const CampaignConfig config = load_campaign_config(s.config);
  run_campaign(config, quiet(s.dir + "/out", false, true));
  const std::vector<TrialRecord> rows = read_trials_csv(s.dir + "/out/trials.csv");
  ASSERT_EQ(rows.size(), 2u * 3u * 3u);
  EXPECT_EQ(lines_of(s.dir + "/out/trials.csv").front(), trials_csv_header(Task::Segmentation));
  const std::vector<CleanRecord> clean = read_clean_csv(s.dir + "/out/clean.csv");
  ASSERT_EQ(clean.size(), 2u);
  EXPECT_EQ(clean[0].task, Task::Segmentation);
  bool some_propagation = false;
  for (const TrialRecord& r : rows) {
    EXPECT_EQ(r.task, Task::Segmentation);
    EXPECT_EQ(r.images, 12);
    EXPECT_GE(r.pixel_accuracy, 0.0);
    EXPECT_LE(r.pixel_accuracy, 100.0);
    EXPECT_LE(r.mean_iou, 100.0);
    const CleanRecord& c = r.format == "fp32" ? clean[0] : clean[1];
    if (r.ber == 0.0) {
      // No fault: the clean pass's metrics, no pixel changed.
      EXPECT_EQ(r.pixel_accuracy, c.pixel_accuracy);
      EXPECT_EQ(r.mean_iou, c.mean_iou);
      EXPECT_EQ(r.fw_iou, c.fw_iou);
      EXPECT_EQ(r.sdc, 0.0);
      EXPECT_EQ(r.flips, 0);
    }
    if (r.ber == 1e-3) {
      EXPECT_GT(r.flips, 0);
    }
    some_propagation = some_propagation || r.sdc > 0.0;
  }
  EXPECT_TRUE(some_propagation) << "at BER 1e-3 some pixels must change";
  // class_iou.csv: one line per trial, 11 classes each.
  const std::vector<std::string> class_lines = lines_of(s.dir + "/out/class_iou.csv");
  ASSERT_EQ(class_lines.size(), 1u + rows.size());
  EXPECT_EQ(class_lines.front(), "config,ber,trial,class_iou");
  const std::string last = class_lines.back().substr(class_lines.back().rfind(',') + 1);
  EXPECT_EQ(std::count(last.begin(), last.end(), ';'), 10) << last;
  // Summaries and the table follow the metric.
  EXPECT_NE(read_text(s.dir + "/out/summary.md").find("Mean IoU (%) before faults and after"), std::string::npos);
  EXPECT_EQ(lines_of(s.dir + "/out/summary.csv").front().rfind("config,format,saf,ber,trials,clean_miou,miou_mean", 0), 0u);
  const auto points = summarize(rows, clean);
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[0].clean_top1, clean[0].mean_iou);
  EXPECT_NEAR(points[0].mean, clean[0].mean_iou, 1e-9);  // BER 0: every trial is the clean one

  // The clean metrics are what `flipsweep eval` reports for the model (checked against PyTorch in
  // segmentation_dataset_test.cpp).
  std::string output;
  {
    FILE* pipe = popen((testing::binary_path("flipsweep") + " eval --model " + s.dir + "/unet.onnx --dataset tensor-cache:" +
                        s.dir + "/mosaics-test.fswptc --mean 0.1373 --std 0.2844 --no-progress 2>&1")
                           .c_str(),
                       "r");
    char buffer[4096];
    size_t n;
    while (pipe && (n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
    if (pipe) pclose(pipe);
  }
  char expected[64];
  std::snprintf(expected, sizeof expected, "mean IoU        %.2f %%", clean[0].mean_iou);
  EXPECT_NE(output.find(expected), std::string::npos) << output << "\nexpected: " << expected;
}

TEST(SegmentationCampaign, ResumeAndShardsGiveTheRowsOfOneRun) {
  if (!prerequisites()) GTEST_SKIP() << "dataset-fashion-mnist, python3-torch and python3-onnx are needed";
  const SegmentationSetup s = make_setup("segmentation_shards");
  CampaignConfig config = load_campaign_config(s.config);
  config.bers = {0.0, 1e-3};  // the reference kernels that run this U-Net are slow (issue 8): keep it small
  config.trials = 2;
  run_campaign(config, quiet(s.dir + "/whole", false, true));

  CampaignConfig partial = config;
  partial.trials = 1;
  run_campaign(partial, quiet(s.dir + "/resumed", false, true));
  run_campaign(config, quiet(s.dir + "/resumed", true, true));
  EXPECT_EQ(comparable_rows(s.dir + "/resumed/trials.csv"), comparable_rows(s.dir + "/whole/trials.csv"));
  EXPECT_EQ(read_text(s.dir + "/resumed/summary.csv"), read_text(s.dir + "/whole/summary.csv"));

  std::vector<std::string> shards;
  for (int i = 0; i < 2; ++i) {
    CampaignConfig shard = config;
    shard.shard_index = i;
    shard.shard_count = 2;
    shards.push_back(s.dir + "/shard-" + std::to_string(i + 1));
    run_campaign(shard, quiet(shards.back(), false, true));
  }
  merge_campaign_shards(s.dir + "/merged", shards);
  for (const char* file : {"class_iou.csv", "faults.csv", "clean.csv", "summary.csv", "summary.md"})
    EXPECT_EQ(read_text(s.dir + "/merged/" + file), read_text(s.dir + "/whole/" + file)) << file;
  EXPECT_EQ(comparable_rows(s.dir + "/merged/trials.csv"), comparable_rows(s.dir + "/whole/trials.csv"));
}

TEST(SegmentationCampaign, TaskMustFitTheDataset) {
  if (!prerequisites()) GTEST_SKIP() << "dataset-fashion-mnist, python3-torch and python3-onnx are needed";
  const SegmentationSetup s = make_setup("segmentation_task");
  std::string text = read_text(s.config);
  text.replace(text.find("task: segmentation\n"), 19, "");
  std::ofstream(s.dir + "/classification.yaml") << text;
  CampaignConfig classification = load_campaign_config(s.dir + "/classification.yaml");
  try {
    run_campaign(classification, quiet(s.dir + "/c"));
    ADD_FAILURE() << "a dataset with masks needs task: segmentation";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds segmentation masks; set task: segmentation"), std::string::npos) << e.what();
  }
  CampaignConfig wrong = load_campaign_config(write_config(s.dir, "task: segmentation\n"));
  try {
    run_campaign(wrong, quiet(s.dir + "/w"));
    ADD_FAILURE() << "task: segmentation needs masks";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("segmentation needs a dataset with masks"), std::string::npos) << e.what();
  }
  std::ofstream(s.dir + "/bad.yaml") << "task: detection\n" << text;
  EXPECT_THROW(load_campaign_config(s.dir + "/bad.yaml"), Error);
  // A classifier on masks: its output is no per-pixel score map.
  std::string classifier = "task: segmentation\n" + text;  // (write_config above replaced s.config)
  classifier.replace(classifier.find(s.dir + "/unet.onnx"), (s.dir + "/unet.onnx").size(),
                     testing::source_path("models/fashion-mnist/resnet20_none.onnx"));
  std::ofstream(s.dir + "/classifier.yaml") << classifier;
  CampaignConfig mismatched = load_campaign_config(s.dir + "/classifier.yaml");
  mismatched.dataset.preprocess.resize_height = mismatched.dataset.preprocess.resize_width = 28;  // its input
  try {
    run_campaign(mismatched, quiet(s.dir + "/m"));
    ADD_FAILURE() << "a classifier cannot score masks";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("segmentation needs [1, classes (1..255), 32, 32]"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fsys::exists(s.dir + "/m/trials.csv")) << "refused before anything is written";
}

}  // namespace
}  // namespace flipsweep
