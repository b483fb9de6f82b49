// Campaigns that grow and split: fault maps that do not depend on the BER list, --resume that
// extends a campaign and refuses one that would change recorded rows, shards and their merge
// (equal to an unsharded run), and reports that say when a folder is partial.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "campaign_support.h"
#include "flipsweep/campaign/campaign.h"
#include "flipsweep/campaign/campaign_folder.h"
#include "flipsweep/campaign/results.h"
#include "flipsweep/campaign/slurm.h"
#include "flipsweep/error.h"
#include "test_support.h"

namespace flipsweep {
namespace {

namespace fsys = std::filesystem;
using namespace campaign_testing;

// The rows (without seconds and shortcut) and faults.csv lines of one BER.
std::vector<std::string> rows_at(const std::string& folder, double ber) {
  std::vector<std::string> rows;
  for (auto r : read_trials_csv(folder + "/trials.csv")) {
    if (r.ber != ber) continue;
    r.seconds = 0;
    r.shortcut = "none";
    rows.push_back(trials_csv_row(r));
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::vector<std::string> fault_lines_at(const std::string& folder, const std::string& ber_text) {
  std::vector<std::string> lines;
  std::istringstream in(read_text(folder + "/faults.csv"));
  std::string line;
  while (std::getline(in, line))
    if (line.find("," + ber_text + ",") != std::string::npos) lines.push_back(line);
  return lines;
}

// trials.csv as written, with the seconds column blanked (the one column that may differ).
// Rows without seconds, and without what a pass skipped (clean-prefix, all-nan), which depends on
// which trials share a block and an image tile (the clean and same-as-ber shortcuts do not: a
// trial's BERs stay in one shard).
std::string rows_without_seconds(const std::string& path) {
  std::string text = trials_csv_header() + "\n";
  for (auto r : read_trials_csv(path)) {
    r.seconds = 0;
    if (r.shortcut != "clean" && r.shortcut.rfind("same-as-ber:", 0) != 0) r.shortcut = "none";
    text += trials_csv_row(r) + "\n";
  }
  return text;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CampaignCluster, FaultMapsDoNotDependOnTheBerList) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh installs it)";
  const std::string dir = scratch_dir("ber_list");
  CampaignConfig config = load_campaign_config(write_config(dir, ""));
  config.formats = {core::StorageFormat::fp32()};
  config.bers = {1e-5, 1e-4};
  run_campaign(config, quiet(dir + "/a", false, true));
  config.bers = {3e-6, 1e-4, 3e-4};  // a different largest BER: the old scheme changed every map
  run_campaign(config, quiet(dir + "/b", false, true));
  const auto a = rows_at(dir + "/a", 1e-4), b = rows_at(dir + "/b", 1e-4);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a, b);
  const auto faults_a = fault_lines_at(dir + "/a", "0.0001"), faults_b = fault_lines_at(dir + "/b", "0.0001");
  EXPECT_GT(faults_a.size(), 30u);  // ~58 flips per trial at 1e-4 on the golden ResNet20
  EXPECT_EQ(faults_a, faults_b);
}

// docs/CAMPAIGNS.md ("Fault maps, exactly") is enough to reproduce every fault: python/fault_map.py
// is a second implementation written from it, and must give faults.csv line for line. Sparse
// rates (inversion), 1e-3 on large tensors (BTRS), dense stuck-at cells at 0.3 (the complement
// sampler), fp32/q2.5/fp16 words and an exponent-only bit selection.
TEST(CampaignCluster, FaultMapsAreReproducibleFromTheDocumentation) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  if (std::system(FLIPSWEEP_PYTHON " -c 'import onnx, yaml' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-onnx and python3-yaml are needed (scripts/install-deps.sh installs them)";
  const std::string dir = scratch_dir("fault_map_docs");
  const std::string model = testing::source_path("tests/golden/resnet20_cifar/model.onnx");
  const std::string script = testing::source_path("python/fault_map.py");
  CampaignConfig flips = load_campaign_config(write_config(dir, ""));
  flips.seed = 123456789012ull;  // both seed words matter
  flips.trials = 2;
  flips.bers = {1e-5, 1e-3};
  flips.dataset.limit = 16;
  run_campaign(flips, quiet(dir + "/flips", false, true));
  EXPECT_EQ(std::system((std::string(FLIPSWEEP_PYTHON " ") + script + " --check " + dir + "/flips " + model).c_str()), 0);

  CampaignConfig stuck = flips;
  stuck.formats = {core::StorageFormat::fp16()};
  stuck.bers = {3e-4, 0.3};
  stuck.targets.include = {"conv1.weight", "layer1.0.conv1.weight"};
  stuck.bits = "exponent";
  stuck.faults.model = FaultModel::StuckAt;
  run_campaign(stuck, quiet(dir + "/stuck", false, true));
  EXPECT_EQ(std::system((std::string(FLIPSWEEP_PYTHON " ") + script + " --check " + dir + "/stuck " + model).c_str()), 0);
}

TEST(CampaignCluster, ResumeAddsBersTrialsAndFormatsAndMatchesOneRun) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string dir = scratch_dir("resume_extend");
  const CampaignConfig full = load_campaign_config(write_config(dir, ""));  // fp32, q2.5 × 1e-5, 1e-4 × 3 trials
  run_campaign(full, quiet(dir + "/one-run"));

  CampaignConfig small = full;
  small.formats = {core::StorageFormat::fp32()};
  small.bers = {1e-4};
  small.trials = 2;
  run_campaign(small, quiet(dir + "/grown"));
  EXPECT_EQ(read_trials_csv(dir + "/grown/trials.csv").size(), 2u);
  // "Add 1e-5 to the curve": only that BER's trials run; config.yaml lists both BERs after.
  CampaignConfig add_ber = small;
  add_ber.bers = {1e-5};
  run_campaign(add_ber, quiet(dir + "/grown", true));
  EXPECT_EQ(read_trials_csv(dir + "/grown/trials.csv").size(), 4u);
  const CampaignConfig after_ber = load_campaign_config(dir + "/grown/config.yaml", ConfigUse::Recorded);
  EXPECT_EQ(after_ber.bers, (std::vector<double>{1e-5, 1e-4}));
  EXPECT_EQ(after_ber.trials, 2);
  // More trials and another format.
  run_campaign(full, quiet(dir + "/grown", true));
  EXPECT_EQ(comparable_rows(dir + "/grown/trials.csv"), comparable_rows(dir + "/one-run/trials.csv"));
  EXPECT_EQ(read_text(dir + "/grown/summary.csv"), read_text(dir + "/one-run/summary.csv"));
  EXPECT_EQ(read_clean_csv(dir + "/grown/clean.csv").size(), 2u);
  const CampaignConfig recorded = load_campaign_config(dir + "/grown/config.yaml", ConfigUse::Recorded);
  EXPECT_EQ(recorded.trials, 3);
  EXPECT_EQ(recorded.formats.size(), 2u);
  EXPECT_EQ(recorded.dataset_images, 48);
  EXPECT_EQ(recorded.models.front().content_sha256.size(), 64u);
  for (const TrialRecord& r : read_trials_csv(dir + "/grown/trials.csv")) EXPECT_EQ(r.images, 48);

  // A resume with fewer BERs runs nothing new and keeps describing every recorded row.
  CampaignConfig fewer = full;
  fewer.bers = {1e-4};
  run_campaign(fewer, quiet(dir + "/grown", true));
  EXPECT_EQ(load_campaign_config(dir + "/grown/config.yaml", ConfigUse::Recorded).bers, (std::vector<double>{1e-5, 1e-4}));
  EXPECT_EQ(read_text(dir + "/grown/summary.csv"), read_text(dir + "/one-run/summary.csv"));
}

TEST(CampaignCluster, ResumeRefusesWhatWouldChangeRecordedRows) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string dir = scratch_dir("resume_refuse");
  fsys::copy_file(testing::source_path("tests/golden/resnet20_cifar/model.onnx"), dir + "/model.onnx");
  const std::string models = "  - {name: plain, path: " + dir + "/model.onnx}\n";
  CampaignConfig config = load_campaign_config(write_config(dir, "", models));
  config.formats = {core::StorageFormat::fp32()};
  config.bers = {1e-4};
  config.trials = 2;
  run_campaign(config, quiet(dir + "/out"));
  const std::string rows = read_text(dir + "/out/trials.csv");
  const std::string recorded_yaml = read_text(dir + "/out/config.yaml");

  const auto refused = [&](CampaignConfig changed, const std::string& expected) {
    const std::string message = error_of([&] { run_campaign(changed, quiet(dir + "/out", true)); });
    EXPECT_NE(message.find("cannot resume"), std::string::npos) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << "expected '" << expected << "' in: " << message;
    EXPECT_EQ(read_text(dir + "/out/trials.csv"), rows) << "a refused resume must not touch the rows";
    EXPECT_EQ(read_text(dir + "/out/config.yaml"), recorded_yaml) << "nor config.yaml";
  };
  CampaignConfig changed = config;
  changed.seed = 4;
  refused(changed, "seed: recorded 3, now 4");
  changed = config;
  changed.dataset.limit = 40;
  refused(changed, "dataset.limit: recorded 48, now 40");
  changed = config;
  changed.bits = "sign";
  refused(changed, "targets.bits: recorded all, now sign");
  changed = config;
  changed.targets.exclude = {"fc.*"};
  refused(changed, "targets.exclude");
  changed = config;
  changed.faults.model = FaultModel::StuckAt;
  refused(changed, "faults: recorded bit-flip, now stuck-at");
  changed = config;
  changed.dataset.preprocess.mean = {0.5f, 0.5f, 0.5f};
  refused(changed, "dataset.preprocess");
  changed = config;
  changed.models.front().saf = "tanh";
  changed.models.front().apply_saf = true;
  refused(changed, "model 'plain' saf: recorded none, now tanh");

  {
    // Turning --save-faults on (or off) on resume would leave faults.csv covering some trials only.
    const std::string message = error_of([&] { run_campaign(config, quiet(dir + "/out", true, true)); });
    EXPECT_NE(message.find("faults.csv (--save-faults): recorded off, now on"), std::string::npos) << message;
    EXPECT_EQ(read_text(dir + "/out/trials.csv"), rows);
  }

  // The model file rewritten with other content (a doc_string appended: still a valid model).
  {
    std::ofstream append(dir + "/model.onnx", std::ios::app | std::ios::binary);
    append << std::string("\x32\x05other", 7);
  }
  refused(config, "model 'plain' file content (sha256)");

  // Moved, not changed: the same content at another path resumes (and adds a trial).
  fsys::copy_file(testing::source_path("tests/golden/resnet20_cifar/model.onnx"), dir + "/moved.onnx");
  CampaignConfig moved = config;
  moved.models.front().path = dir + "/moved.onnx";
  moved.trials = 3;
  run_campaign(moved, quiet(dir + "/out", true));
  EXPECT_EQ(read_trials_csv(dir + "/out/trials.csv").size(), 3u);

  // A folder written with the old fault maps (no fault_maps line) is another campaign.
  {
    std::string yaml = read_text(dir + "/out/config.yaml");
    yaml.erase(yaml.find("fault_maps: dyadic-bands-1\n"), std::string("fault_maps: dyadic-bands-1\n").size());
    std::ofstream(dir + "/out/config.yaml") << yaml;
    const std::string message = error_of([&] { run_campaign(moved, quiet(dir + "/out", true)); });
    EXPECT_NE(message.find("fault maps: recorded an older scheme (no fault_maps line), now dyadic-bands-1"),
              std::string::npos)
        << message;
  }

  // A row scored on another number of images is refused even without config.yaml.
  fsys::remove(dir + "/out/config.yaml");
  CampaignConfig fewer_images = moved;
  fewer_images.dataset.limit = 32;
  const std::string message = error_of([&] { run_campaign(fewer_images, quiet(dir + "/out", true)); });
  EXPECT_NE(message.find("scored on 48 images, this run would score 32"), std::string::npos) << message;
}

TEST(CampaignCluster, ShardsMergeIntoTheUnshardedRun) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string dir = scratch_dir("shards");
  CampaignConfig config = load_campaign_config(write_config(dir, ""));
  config.trials = 5;
  run_campaign(config, quiet(dir + "/whole", false, true));

  std::vector<std::string> shard_folders;
  for (int i = 0; i < 3; ++i) {
    CampaignConfig shard = config;
    shard.shard_index = i;
    shard.shard_count = 3;
    const std::string folder = dir + "/shard-" + std::to_string(i + 1);
    run_campaign(shard, quiet(folder, false, true));
    for (const TrialRecord& r : read_trials_csv(folder + "/trials.csv")) EXPECT_EQ(r.trial % 3, i);
    // Every shard has a piece of every (configuration, BER) point.
    std::set<std::pair<std::string, double>> points;
    for (const TrialRecord& r : read_trials_csv(folder + "/trials.csv")) points.insert({r.config, r.ber});
    EXPECT_EQ(points.size(), 4u);
    shard_folders.push_back(folder);
  }
  EXPECT_NE(read_text(shard_folders[1] + "/summary.md").find("shard 2/3"), std::string::npos);

  merge_campaign_shards(dir + "/merged", {shard_folders[2], shard_folders[0], shard_folders[1]});
  EXPECT_EQ(rows_without_seconds(dir + "/merged/trials.csv"), rows_without_seconds(dir + "/whole/trials.csv"));
  for (const char* file : {"faults.csv", "clean.csv", "summary.csv", "summary.md"})
    EXPECT_EQ(read_text(dir + "/merged/" + file), read_text(dir + "/whole/" + file)) << file;
  EXPECT_EQ(load_campaign_config(dir + "/merged/config.yaml", ConfigUse::Recorded).shard_count, 1);
  // Merging again (a requeued merge job) replaces the merged files.
  merge_campaign_shards(dir + "/merged", shard_folders);

  // What merge refuses, naming the folder or shard.
  EXPECT_NE(error_of([&] { merge_campaign_shards(dir + "/m1", {shard_folders[0], shard_folders[1]}); })
                .find("shard(s) [3/3] missing"),
            std::string::npos);
  EXPECT_NE(error_of([&] { merge_campaign_shards(dir + "/m2", {shard_folders[0], shard_folders[0], shard_folders[1]}); })
                .find("are both shard 1/3"),
            std::string::npos);
  EXPECT_NE(error_of([&] { merge_campaign_shards(dir + "/m3", {dir + "/whole"}); }).find("not a shard"), std::string::npos);
  EXPECT_NE(error_of([&] { merge_campaign_shards(dir + "/whole", shard_folders); }).find("not the result of a merge"),
            std::string::npos);
  {
    CampaignConfig other = config;
    other.seed = 9;
    other.shard_index = 2;
    other.shard_count = 3;
    run_campaign(other, quiet(dir + "/other-seed"));
    const std::string message =
        error_of([&] { merge_campaign_shards(dir + "/m4", {shard_folders[0], shard_folders[1], dir + "/other-seed"}); });
    EXPECT_NE(message.find("not a shard of the same campaign"), std::string::npos) << message;
    EXPECT_NE(message.find("seed: recorded 3, now 9"), std::string::npos) << message;
  }
  // An unfinished shard (its last row lost): merge names it, report says so.
  {
    const std::string text = read_text(shard_folders[1] + "/trials.csv");
    std::ofstream(shard_folders[1] + "/trials.csv", std::ios::trunc)
        << text.substr(0, text.rfind('\n', text.size() - 2) + 1);
  }
  const std::string message = error_of([&] { merge_campaign_shards(dir + "/m5", shard_folders); });
  EXPECT_NE(message.find(shard_folders[1] + ": shard 2/3 is unfinished: 7 of 8 trials recorded"), std::string::npos)
      << message;
  const std::string report = report_campaign(shard_folders[1]);
  EXPECT_NE(report.find("unfinished: 7 of 8 trials recorded"), std::string::npos) << report;
  EXPECT_NE(report.find("plain/q2.5 BER 0.0001: 1 of 2 trials"), std::string::npos) << report;
  EXPECT_FALSE(fsys::exists(dir + "/m5/trials.csv"));
}

TEST(CampaignCluster, OneTrialShowsNoSpread) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string dir = scratch_dir("one_trial");
  CampaignConfig config = load_campaign_config(write_config(dir, ""));
  config.trials = 1;
  config.formats = {core::StorageFormat::fp32()};
  run_campaign(config, quiet(dir + "/out"));
  const std::string table = read_text(dir + "/out/summary.md");
  EXPECT_EQ(table.find("±", table.find("|---")), std::string::npos) << table;  // no "± 0.00" in a cell
  EXPECT_NE(table.find("(1 trial)"), std::string::npos) << table;
  const std::string summary = read_text(dir + "/out/summary.csv");
  EXPECT_NE(summary.find(",1,"), std::string::npos);
  for (const PointSummary& p : summarize(read_trials_csv(dir + "/out/trials.csv"), read_clean_csv(dir + "/out/clean.csv")))
    EXPECT_TRUE(std::isnan(p.std) && std::isnan(p.ci95));
  // An incomplete campaign folder says so in its table.
  const std::string text = read_text(dir + "/out/trials.csv");
  std::ofstream(dir + "/out/trials.csv", std::ios::trunc) << text.substr(0, text.rfind('\n', text.size() - 2) + 1);
  EXPECT_NE(report_campaign(dir + "/out").find("unfinished: 1 of 2 trials recorded"), std::string::npos);
}

TEST(CampaignCluster, ShardSpecsAreChecked) {
  int index = -1, count = -1;
  parse_shard("2/4", &index, &count);
  EXPECT_EQ(index, 1);
  EXPECT_EQ(count, 4);
  for (const char* bad : {"0/4", "5/4", "2", "2/", "/4", "a/b", "2/4x", "-1/4", "1/0"})
    EXPECT_THROW(parse_shard(bad, &index, &count), Error) << bad;
  EXPECT_EQ(shard_name(1, 4), "2/4");
  // One shard is the campaign itself, and its merge job would find no shards to merge.
  SlurmOptions slurm;
  slurm.config_path = "unused.yaml";
  slurm.shards = 1;
  try {
    write_slurm_scripts(slurm);
    ADD_FAILURE() << "--shards 1 must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--shards must be at least 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace flipsweep
