// Fault campaigns end to end on the golden ResNet20 and real Fashion-MNIST images: result files,
// resume after an interruption giving the same results, faults.csv replayed independently giving
// the recorded accuracy, common random numbers across SAFs, and config errors before any work.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "flipsweep/backend/backend.h"
#include "flipsweep/backend/backend_factory.h"
#include "flipsweep/campaign/campaign.h"
#include "flipsweep/campaign/results.h"
#include "flipsweep/core/bit_ops.h"
#include "flipsweep/error.h"
#include "flipsweep/faults/fault_injector.h"
#include "flipsweep/faults/targets.h"
#include "flipsweep/eval/evaluate.h"
#include "flipsweep/model/weight_preparation.h"
#include "campaign_support.h"
#include "test_support.h"

namespace flipsweep {
namespace {

namespace fsys = std::filesystem;

using namespace campaign_testing;

TEST(Campaign, WritesResultsAndResumesToTheSameNumbers) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh installs it)";
  const std::string dir = scratch_dir("resume");
  CampaignConfig config = load_campaign_config(write_config(dir, ""));

  run_campaign(config, quiet(dir + "/full"));
  for (const char* file : {"config.yaml", "clean.csv", "trials.csv", "summary.csv", "summary.md"})
    EXPECT_TRUE(fsys::exists(dir + "/full/" + file)) << file;
  const auto full = comparable_rows(dir + "/full/trials.csv");
  ASSERT_EQ(full.size(), 2u * 2u * 3u);
  EXPECT_NE(read_text(dir + "/full/summary.md").find("| Q2.5 | none |"), std::string::npos);
  EXPECT_EQ(read_trials_csv(dir + "/full/trials.csv").front().config, "plain/fp32");

  // An interrupted run: fewer trials, then the last row cut in half as a kill would leave it.
  CampaignConfig partial = config;
  partial.trials = 2;
  run_campaign(partial, quiet(dir + "/resumed"));
  {
    std::string text = read_text(dir + "/resumed/trials.csv");
    std::ofstream(dir + "/resumed/trials.csv", std::ios::trunc) << text.substr(0, text.size() - 20);
  }
  EXPECT_THROW(run_campaign(config, quiet(dir + "/resumed")), Error) << "existing results need --resume";
  run_campaign(config, quiet(dir + "/resumed", true));
  EXPECT_EQ(comparable_rows(dir + "/resumed/trials.csv"), full);
  EXPECT_EQ(read_text(dir + "/resumed/summary.csv"), read_text(dir + "/full/summary.csv"));

  // `flipsweep report` rebuilds the summaries from the CSVs alone.
  const std::string summary = read_text(dir + "/full/summary.csv");
  const std::string table = read_text(dir + "/full/summary.md");
  fsys::remove(dir + "/full/summary.csv");
  fsys::remove(dir + "/full/summary.md");
  EXPECT_EQ(report_campaign(dir + "/full"), table);
  EXPECT_EQ(read_text(dir + "/full/summary.csv"), summary);
  if (std::system(FLIPSWEEP_PYTHON " -c 'import matplotlib' > /dev/null 2>&1") == 0) {
    EXPECT_TRUE(fsys::exists(dir + "/full/accuracy_vs_ber.png"));
    EXPECT_TRUE(fsys::exists(dir + "/full/accuracy_vs_ber.svg"));
  }
}

// clean.csv without the backend column (the one field allowed to differ between backends).
std::string clean_without_backend(const std::string& path) {
  auto records = read_clean_csv(path);
  for (auto& r : records) r.backend.clear();
  return clean_csv(records);
}

// Trials run in blocks of T slots, the dataset read once per block: the rows must not depend on T.
// Several formats and BERs with blocks that straddle BER boundaries; at BER 1e-3 fp32 exponent
// bits flip and the logits go Inf/NaN. Then a run cut short with T = 8 is resumed with T = 3.
TEST(Campaign, TrialsInFlightDoNotChangeResults) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string dir = scratch_dir("trials_in_flight");
  const std::string path = dir + "/campaign.yaml";
  {
    std::ofstream out(path);
    out << "name: blocks\nseed: 5\ntrials: 3\nber: [1.0e-5, 1.0e-4, 1.0e-3]\nformats: [fp32, fp16, q2.5]\n"
        << "models:\n  - {name: none, path: " << testing::source_path("models/fashion-mnist/resnet20_none.onnx") << "}\n"
        << "dataset:\n  spec: fashion-mnist-test\n  limit: 24\n  preprocess: {mean: [0.2860], std: [0.3530]}\n"
        << "batch_size: 16\nthreads: 2\nbackend: cpu\ntrials_in_flight: 3\n";
  }
  CampaignConfig config = load_campaign_config(path);
  EXPECT_EQ(config.backend, BackendKind::Cpu);
  EXPECT_EQ(config.trials_in_flight, 3);
  std::map<int, std::vector<std::string>> rows;
  for (int t : {1, 3, 8}) {
    CampaignConfig c = config;
    c.trials_in_flight = t;
    const std::string out = dir + "/t" + std::to_string(t);
    run_campaign(c, quiet(out, false, true));
    rows[t] = comparable_rows(out + "/trials.csv");
    EXPECT_NE(read_text(out + "/config.yaml").find("trials_in_flight: " + std::to_string(t)), std::string::npos);
    EXPECT_NE(read_text(out + "/config.yaml").find("backend: cpu"), std::string::npos);
    const auto clean = read_clean_csv(out + "/clean.csv");
    ASSERT_EQ(clean.size(), 3u);
    EXPECT_EQ(clean[0].backend.rfind("cpu (oneDNN, ", 0), 0u) << clean[0].backend;
  }
  ASSERT_EQ(rows[1].size(), 3u * 3u * 3u);
  EXPECT_EQ(rows[3], rows[1]);
  EXPECT_EQ(rows[8], rows[1]);
  EXPECT_EQ(clean_without_backend(dir + "/t3/clean.csv"), clean_without_backend(dir + "/t1/clean.csv"));
  EXPECT_EQ(clean_without_backend(dir + "/t8/clean.csv"), clean_without_backend(dir + "/t1/clean.csv"));
  EXPECT_EQ(read_text(dir + "/t8/faults.csv"), read_text(dir + "/t1/faults.csv"));
  EXPECT_EQ(read_text(dir + "/t3/summary.csv"), read_text(dir + "/t1/summary.csv"));
  // Rows are written in campaign order whatever the block size.
  const auto ordered = read_trials_csv(dir + "/t8/trials.csv");
  for (size_t i = 1; i < ordered.size(); ++i) {
    if (ordered[i].config != ordered[i - 1].config) continue;
    EXPECT_TRUE(ordered[i].ber > ordered[i - 1].ber ||
                (ordered[i].ber == ordered[i - 1].ber && ordered[i].trial == ordered[i - 1].trial + 1))
        << "row " << i;
  }
  // The faults reached Inf/NaN somewhere, and not everywhere.
  int collapsed = 0, healthy = 0;
  for (const auto& r : ordered) (r.all_nan || r.nonfinite > 0 ? collapsed : healthy)++;
  EXPECT_GT(collapsed, 0);
  EXPECT_GT(healthy, 0);

  // Cut short with T = 8, resumed with T = 3 (and the backend named differently): the same rows.
  CampaignConfig partial = config;
  partial.trials = 2;
  partial.trials_in_flight = 8;
  partial.backend = BackendKind::Auto;
  run_campaign(partial, quiet(dir + "/resumed"));
  {
    std::string text = read_text(dir + "/resumed/trials.csv");
    std::ofstream(dir + "/resumed/trials.csv", std::ios::trunc) << text.substr(0, text.size() - 20);
  }
  run_campaign(config, quiet(dir + "/resumed", true));
  EXPECT_EQ(comparable_rows(dir + "/resumed/trials.csv"), rows[1]);
  EXPECT_EQ(read_text(dir + "/resumed/summary.csv"), read_text(dir + "/t1/summary.csv"));
  EXPECT_NE(read_text(dir + "/resumed/config.yaml").find("trials_in_flight: 3"), std::string::npos);
}

// Shortcuts (a trial whose effective weights are the clean ones, or the same trial's at an
// earlier BER, reuses that result; the layers before a trial's first changed one come from the
// clean computation its block shares) change no column but `seconds` and `shortcut`. BERs from 1e-7,
// where most trials have no fault or no new one, on the tanh model in three formats with blocks of
// 3, and stuck-at faults, where a stuck cell that already holds its value changes nothing, with
// blocks of 8 (which span BERs: a trial repeats one of its own block, whose result comes later).
TEST(Campaign, ShortcutsDoNotChangeResults) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string dir = scratch_dir("shortcuts");
  std::map<std::string, int> taken;  // "clean", "same-as-ber", "clean-prefix", "none"
  int stuck_without_change = 0;      // stuck-at trials with faults that took the clean shortcut
  for (const char* faults : {"bit-flip", "stuck-at"}) {
    const std::string path = dir + "/" + faults + ".yaml";
    {
      std::ofstream out(path);
      out << "name: shortcuts\nseed: 11\ntrials: 4\nber: [1.0e-7, 3.0e-7, 1.0e-6, 1.0e-5, 1.0e-4]\n"
          << "formats: [fp32, fp16, q2.5]\nmodels:\n  - {name: tanh, saf: tanh, path: "
          << testing::source_path("models/fashion-mnist/resnet20_tanh.onnx") << "}\n"
          << "dataset:\n  spec: fashion-mnist-test\n  limit: 32\n  preprocess: {mean: [0.2860], std: [0.3530]}\n"
          << "faults: {model: " << faults << "}\nbatch_size: 32\nthreads: 2\nbackend: cpu\n"
          << "trials_in_flight: " << (std::string(faults) == "bit-flip" ? 3 : 8) << "\n";
    }
    CampaignConfig config = load_campaign_config(path);
    EXPECT_TRUE(config.shortcuts);
    run_campaign(config, quiet(dir + "/" + faults + "-on", false, true));
    config.shortcuts = false;
    run_campaign(config, quiet(dir + "/" + faults + "-off", false, true));
    EXPECT_NE(read_text(dir + "/" + faults + "-off/config.yaml").find("shortcuts: false"), std::string::npos);

    const auto on = read_trials_csv(dir + "/" + faults + "-on/trials.csv");
    const auto off = read_trials_csv(dir + "/" + faults + "-off/trials.csv");
    ASSERT_EQ(on.size(), 3u * 5u * 4u);
    ASSERT_EQ(on.size(), off.size());
    for (size_t i = 0; i < on.size(); ++i) {
      SCOPED_TRACE(std::string(faults) + " " + on[i].config + " BER " + format_number(on[i].ber) + " trial " +
                   std::to_string(on[i].trial) + " shortcut " + on[i].shortcut);
      EXPECT_EQ(off[i].shortcut, "none");
      TrialRecord a = on[i], b = off[i];
      a.seconds = b.seconds = 0;
      a.shortcut = b.shortcut = "none";
      EXPECT_EQ(trials_csv_row(a), trials_csv_row(b));
      const std::string kind = on[i].shortcut.substr(0, on[i].shortcut.find(':'));
      ++taken[kind];
      if (kind == "same-as-ber") {
        // It names an earlier BER of the same trial, which ran its pass (perhaps from a shared
        // clean prefix).
        const double ber = std::strtod(on[i].shortcut.c_str() + 12, nullptr);
        EXPECT_LT(ber, on[i].ber);
        bool found = false;
        for (const auto& r : on)
          found = found || (r.config == on[i].config && r.trial == on[i].trial && r.ber == ber &&
                            (r.shortcut == "none" || r.shortcut.rfind("clean-prefix:", 0) == 0));
        EXPECT_TRUE(found);
      }
      if (kind == "clean") {
        EXPECT_EQ(on[i].sdc, 0.0);
      }
      if (kind == "clean-prefix" || kind == "all-nan") {
        // Its pass skipped layers: those before one with a fault, or after all became NaN.
        EXPECT_GT(on[i].flips, 0);
      }
      if (kind == "clean" && std::string(faults) == "stuck-at" && on[i].flips > 0) ++stuck_without_change;
    }
    EXPECT_EQ(read_text(dir + "/" + faults + "-on/summary.csv"), read_text(dir + "/" + faults + "-off/summary.csv"));
    EXPECT_EQ(read_text(dir + "/" + faults + "-on/faults.csv"), read_text(dir + "/" + faults + "-off/faults.csv"));
  }
  EXPECT_GT(taken["clean"], 0);
  EXPECT_GT(taken["same-as-ber"], 0);
  EXPECT_GT(taken["clean-prefix"], 0);
  EXPECT_GT(taken["none"], 0);
  EXPECT_GT(stuck_without_change, 0) << "no stuck-at trial whose stuck cells all matched";
  EXPECT_LE(taken.size(), 5u);  // and perhaps all-nan
}

// The CUDA backend's trial-batched plan (shared clean weights, sparse per-trial corrections,
// exact recomputation where a difference is not finite), executed by the host runtime, against the
// CPU backend: every trial's top-1 within 0.1 point and all_nan identical, over every SAF (five
// trained models plus hardtanh applied by flipsweep), fp32/fp16/q2.5, and fp32 exponent-bit faults
// that turn weights and activations into Inf and NaN.
TEST(Campaign, TrialBatchedPlanAgreesWithTheCpuBackend) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string dir = scratch_dir("plan_vs_cpu");
  const std::string models = testing::source_path("models/fashion-mnist/");
  for (const char* bits : {"all", "exponent"}) {
    const std::string path = dir + "/" + bits + ".yaml";
    {
      std::ofstream out(path);
      out << "name: plan\nseed: 9\ntrials: 2\n"
          << (std::string(bits) == "all" ? "ber: [1.0e-4]\nformats: [fp32, fp16, q2.5]\n"
                                         : "ber: [2.0e-5]\nformats: [fp32]\n")
          << "models:\n"
          << "  - {name: none, path: " << models << "resnet20_none.onnx}\n"
          << "  - {name: tanh, path: " << models << "resnet20_tanh.onnx, saf: tanh}\n"
          << "  - {name: tanh0.5, path: " << models << "resnet20_tanh0.5.onnx, saf: tanh0.5}\n"
          << "  - {name: softsign, path: " << models << "resnet20_softsign.onnx, saf: softsign}\n"
          << "  - {name: arctan, path: " << models << "resnet20_arctan.onnx, saf: arctan}\n"
          << "  - {name: hardtanh, path: " << models << "resnet20_none.onnx, saf: hardtanh, apply_saf: true}\n"
          << "dataset:\n  spec: fashion-mnist-test\n  limit: 48\n  preprocess: {mean: [0.2860], std: [0.3530]}\n"
          << "targets: {bits: " << bits << "}\nbatch_size: 48\nthreads: 2\ntrials_in_flight: 4\n";
    }
    CampaignConfig config = load_campaign_config(path);
    config.backend = BackendKind::Cpu;
    run_campaign(config, quiet(dir + "/cpu-" + bits));
    config.backend = BackendKind::HostPlan;
    run_campaign(config, quiet(dir + "/plan-" + bits));
    const auto cpu = read_trials_csv(dir + "/cpu-" + bits + "/trials.csv");
    const auto plan = read_trials_csv(dir + "/plan-" + bits + "/trials.csv");
    ASSERT_EQ(cpu.size(), plan.size());
    ASSERT_GE(cpu.size(), 12u);
    int collapsed = 0, changed = 0;
    for (size_t i = 0; i < cpu.size(); ++i) {
      SCOPED_TRACE(cpu[i].config + " BER " + format_number(cpu[i].ber) + " trial " + std::to_string(cpu[i].trial));
      ASSERT_EQ(plan[i].config, cpu[i].config);
      EXPECT_LE(std::fabs(plan[i].top1 - cpu[i].top1), 0.1);
      EXPECT_EQ(plan[i].all_nan, cpu[i].all_nan);
      EXPECT_EQ(plan[i].flips, cpu[i].flips);
      EXPECT_EQ(plan[i].nonfinite, cpu[i].nonfinite);
      collapsed += plan[i].all_nan || plan[i].top1 < 20.0;
      changed += plan[i].sdc > 0;
    }
    // The campaign really reached the paths it is meant to check.
    EXPECT_GT(changed, 0) << bits;
    if (std::string(bits) == "exponent") {
      EXPECT_GT(collapsed, 0) << "no trial overflowed to Inf/NaN";
    }
    const auto clean = read_clean_csv(dir + "/plan-" + std::string(bits) + "/clean.csv");
    EXPECT_EQ(clean.at(0).backend.rfind("host-plan", 0), 0u) << clean.at(0).backend;
  }
}

TEST(CampaignResults, CleanCsvKeepsTheBackendAndReadsOldFiles) {
  const std::string dir = scratch_dir("clean_csv");
  std::vector<CleanRecord> records{{"m/fp32", "fp32", "none", 90.0, 99.0, 100, "cpu (oneDNN, 2 threads)"},
                                   {"m/fp16", "fp16", "none", 89.5, 99.0, 100, "say \"hi\""}};
  const std::string text = clean_csv(records);
  EXPECT_NE(text.find(",\"cpu (oneDNN, 2 threads)\"\n"), std::string::npos) << text;
  write_file_atomically(dir + "/clean.csv", text);
  const auto back = read_clean_csv(dir + "/clean.csv");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].backend, "cpu (oneDNN, 2 threads)");
  EXPECT_EQ(back[1].backend, "say \"hi\"");
  EXPECT_EQ(back[1].top1, 89.5);
  write_file_atomically(dir + "/old.csv", "config,format,saf,top1,top5,images\nm/fp32,fp32,none,90.0000,99.0000,100\n");
  const auto old = read_clean_csv(dir + "/old.csv");
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].images, 100);
  EXPECT_EQ(old[0].backend, "");
}

// Applies faults.csv to the fp32 parameters by flipping bits of the stored words, without the
// injector, and evaluates with the reference kernels: the accuracy must be the recorded one.
TEST(Campaign, FaultsCsvReplayedIndependentlyGivesTheRecordedAccuracy) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string dir = scratch_dir("replay");
  CampaignConfig config = load_campaign_config(write_config(dir, ""));
  config.formats = {core::StorageFormat::fp32()};
  config.bers = {1e-4};
  run_campaign(config, quiet(dir + "/out", false, true));

  std::map<int64_t, std::vector<std::tuple<std::string, int64_t, int>>> faults_by_trial;
  std::ifstream in(dir + "/out/faults.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "config,ber,trial,tensor,element,bit,kind");
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string field; std::getline(ss, field, ',');) f.push_back(field);
    ASSERT_EQ(f.size(), 7u);
    EXPECT_EQ(f[6], "flip");
    faults_by_trial[std::stoll(f[2])].emplace_back(f[3], std::stoll(f[4]), std::stoi(f[5]));
  }
  ASSERT_EQ(faults_by_trial.size(), 3u);

  Model model = load_onnx_model(config.models[0].path);
  auto dataset = data::open_dataset(config.dataset);
  BackendOptions options;
  options.batch_size = 16;
  auto backend = make_cpu_backend(model, options, 1, CpuKernels::Reference);
  EvalOptions eval;
  eval.batch_size = 16;
  eval.progress = false;
  const auto recorded = read_trials_csv(dir + "/out/trials.csv");
  for (const auto& [trial, faults] : faults_by_trial) {
    Model faulted = model;
    for (const auto& [tensor, element, bit] : faults) {
      float& w = faulted.stored[static_cast<size_t>(faulted.graph.find_value(tensor))].data[static_cast<size_t>(element)];
      w = core::bits_to_float(core::float_to_bits(w) ^ (1u << bit));
    }
    backend->load_weights(0, WeightPreparation(faulted).prepare_clean());
    const EvalResult r = evaluate(*backend, 0, *dataset, config.dataset.preprocess, eval);
    const auto it = std::find_if(recorded.begin(), recorded.end(), [&](const TrialRecord& t) { return t.trial == trial; });
    ASSERT_NE(it, recorded.end());
    EXPECT_NEAR(r.top1_percent(), it->top1, 1e-3) << "trial " << trial;
    EXPECT_EQ(static_cast<int64_t>(faults.size()), it->flips);
  }
}

TEST(Campaign, SafModelsSeeTheSameFaults) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string dir = scratch_dir("common_random_numbers");
  const std::string models = "  - {name: plain, path: " + testing::source_path("tests/golden/resnet20_cifar/model.onnx") +
                             "}\n  - {name: tanh, saf: tanh, path: " +
                             testing::source_path("tests/golden/resnet20_tanh_saf/model.onnx") + "}\n";
  CampaignConfig config = load_campaign_config(write_config(dir, "", models));
  config.formats = {core::StorageFormat::fp16()};
  config.trials = 2;
  run_campaign(config, quiet(dir + "/out", false, true));
  std::map<std::string, std::vector<std::string>> by_config;
  std::ifstream in(dir + "/out/faults.csv");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    const size_t comma = line.find(',');
    const std::string config_name = line.substr(0, line.find('/'));
    by_config[config_name].push_back(line.substr(comma));
  }
  ASSERT_EQ(by_config.size(), 2u);
  EXPECT_FALSE(by_config["plain"].empty());
  EXPECT_EQ(by_config["plain"], by_config["tanh"]);
  // A model with an SAF in its graph must declare it; refused before any work.
  CampaignConfig undeclared = load_campaign_config(
      write_config(dir, "", "  - {name: t, path: " + testing::source_path("tests/golden/resnet20_tanh_saf/model.onnx") + "}\n"));
  EXPECT_THROW(run_campaign(undeclared, quiet(dir + "/undeclared")), Error);
  EXPECT_FALSE(fsys::exists(dir + "/undeclared/trials.csv"));
}

TEST(Campaign, ConfigSafIsAppliedOnRead) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string dir = scratch_dir("apply_saf");
  // Tanh applied by flipsweep to the plain model's weights changes its clean accuracy (the model
  // was not trained with it), proving the transform sits on the read path.
  const std::string models = "  - {name: plain, path: " + testing::source_path("tests/golden/resnet20_cifar/model.onnx") +
                             "}\n  - {name: forced, saf: hardtanh, apply_saf: true, path: " +
                             testing::source_path("tests/golden/resnet20_cifar/model.onnx") + "}\n";
  CampaignConfig config = load_campaign_config(write_config(dir, "", models));
  config.formats = {core::StorageFormat::fp32()};
  config.trials = 1;
  config.bers = {1e-7};
  run_campaign(config, quiet(dir + "/out"));
  const auto clean = read_clean_csv(dir + "/out/clean.csv");
  ASSERT_EQ(clean.size(), 2u);
  EXPECT_EQ(clean[1].saf, "hardtanh");
  // Golden weights are small, so hardtanh barely changes them; the check is that it runs and
  // that a declared-but-absent SAF without apply_saf is refused.
  CampaignConfig claimed = load_campaign_config(
      write_config(dir, "", "  - {name: x, saf: tanh, path: " + testing::source_path("tests/golden/resnet20_cifar/model.onnx") + "}\n"));
  EXPECT_THROW(run_campaign(claimed, quiet(dir + "/claimed")), Error);
  EXPECT_FALSE(fsys::exists(dir + "/claimed/trials.csv"));
}

void expect_config_error(const std::string& extra, const std::string& fragment) {
  const std::string dir = scratch_dir("bad_config");
  try {
    CampaignConfig c = load_campaign_config(write_config(dir, extra));
    run_campaign(c, quiet(dir + "/out"));
    ADD_FAILURE() << "expected an error for: " << extra;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fsys::exists(dir + "/out/trials.csv")) << "no work may start on a bad config";
}

// Single-flip campaigns (seed 002's TensorFI2 kind): no BER, one row per trial and format at "BER"
// 0, and in faults.csv exactly one flip per trial, on a selected bit of that format's word.
TEST(Campaign, SingleFlipCampaignsFlipOneBitPerTrial) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string dir = scratch_dir("single_flip");
  const std::string path = dir + "/single.yaml";
  {
    std::ofstream out(path);
    out << "name: single\nseed: 5\ntrials: 12\nformats: [fp32, fp16]\nmodels:\n  - {name: plain, path: "
        << testing::source_path("tests/golden/resnet20_cifar/model.onnx") << "}\n"
        << "dataset:\n  spec: fashion-mnist-test\n  limit: 16\n  preprocess: {pad: 2, channels: 3}\n"
        << "targets: {bits: exponent}\nfaults: {model: single-flip}\nbatch_size: 16\nthreads: 2\n";
  }
  CampaignConfig config = load_campaign_config(path);
  ASSERT_EQ(config.bers, std::vector<double>{0.0});
  run_campaign(config, quiet(dir + "/out", false, true));
  const auto rows = read_trials_csv(dir + "/out/trials.csv");
  ASSERT_EQ(rows.size(), 2u * 12u);
  for (const auto& r : rows) EXPECT_EQ(r.ber, 0.0);
  std::ifstream faults(dir + "/out/faults.csv");
  std::string line;
  std::getline(faults, line);
  EXPECT_EQ(line, "config,ber,trial,tensor,element,bit,kind");
  std::map<std::string, int> per_trial;
  while (std::getline(faults, line)) {
    std::vector<std::string> fields;
    std::stringstream split(line);
    for (std::string field; std::getline(split, field, ',');) fields.push_back(field);
    ASSERT_EQ(fields.size(), 7u) << line;
    per_trial[fields[0] + "/" + fields[2]]++;
    const int bit = std::stoi(fields[5]);
    if (fields[0] == "plain/fp32") EXPECT_TRUE(bit >= 23 && bit <= 30) << line;
    else EXPECT_TRUE(bit >= 10 && bit <= 14) << line;
    EXPECT_EQ(fields[6], "flip");
  }
  EXPECT_EQ(per_trial.size(), 2u * 12u);
  for (const auto& [trial, count] : per_trial) EXPECT_EQ(count, 1) << trial;
  EXPECT_NE(read_text(dir + "/out/config.yaml").find("single-flip"), std::string::npos);

  // python/fault_map.py, a second implementation written from docs/CAMPAIGNS.md, draws the same
  // flip in every trial, and notices one that is not where the documentation puts it.
  const std::string check = std::string(FLIPSWEEP_PYTHON " ") + testing::source_path("python/fault_map.py") +
                            " --check " + dir + "/out " + testing::source_path("tests/golden/resnet20_cifar/model.onnx");
  EXPECT_EQ(std::system((check + " > " + dir + "/check.log 2>&1").c_str()), 0) << read_text(dir + "/check.log");
  std::string recorded = read_text(dir + "/out/faults.csv");
  const size_t second_line = recorded.find('\n', recorded.find('\n') + 1) + 1;
  const size_t bit_field = recorded.rfind(',', recorded.find(",flip", second_line) - 1) + 1;
  recorded[bit_field] = recorded[bit_field] == '2' ? '3' : '2';  // bits 23..30: another exponent bit
  std::ofstream(dir + "/out/faults.csv", std::ios::trunc) << recorded;
  EXPECT_NE(std::system((check + " > " + dir + "/check.log 2>&1").c_str()), 0) << read_text(dir + "/check.log");
}

// A layer-bit campaign visits every (target tensor, selected bit) cell in the documented order,
// one flip per trial, and python/plot_profile.py turns it into profile.csv (one row per cell, the
// drop being clean top-1 minus the trial's) and a heat map.
TEST(Campaign, LayerBitCampaignsProfileEveryLayerAndBit) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string model_path = testing::source_path("tests/golden/resnet20_cifar/model.onnx");
  const Model model = load_onnx_model(model_path);
  const std::vector<int> targets = select_fault_targets(model, TargetSpec{});
  const std::vector<int> bits = parse_bit_selection("exponent", core::StorageFormat::fp32());  // 23 … 30
  const size_t cells = targets.size() * bits.size();
  const std::string dir = scratch_dir("layer_bit");
  const std::string path = dir + "/profile.yaml";
  {
    std::ofstream out(path);
    out << "name: profile\nseed: 9\ntrials: " << cells << "\nformats: [fp32]\nmodels:\n  - {name: plain, path: "
        << model_path << "}\n"
        << "dataset:\n  spec: fashion-mnist-test\n  limit: 8\n  preprocess: {pad: 2, channels: 3}\n"
        << "targets: {bits: exponent}\nfaults: {model: layer-bit}\nbatch_size: 8\nthreads: 2\n";
  }
  run_campaign(load_campaign_config(path), quiet(dir + "/out", false, true));
  std::ifstream faults(dir + "/out/faults.csv");
  std::string line;
  std::getline(faults, line);
  size_t rows = 0;
  while (std::getline(faults, line)) {
    std::vector<std::string> f;
    std::stringstream split(line);
    for (std::string field; std::getline(split, field, ',');) f.push_back(field);
    ASSERT_EQ(f.size(), 7u) << line;
    const size_t trial = std::stoul(f[2]);
    EXPECT_EQ(f[3], model.graph.values[static_cast<size_t>(targets[(trial / bits.size()) % targets.size()])].name)
        << line;
    EXPECT_EQ(std::stoi(f[5]), bits[trial % bits.size()]) << line;
    ++rows;
  }
  EXPECT_EQ(rows, cells);
  const std::string check = std::string(FLIPSWEEP_PYTHON " ") + testing::source_path("python/fault_map.py") +
                            " --check " + dir + "/out " + model_path + " > " + dir + "/check.log 2>&1";
  EXPECT_EQ(std::system(check.c_str()), 0) << read_text(dir + "/check.log");
  const int plotted = std::system((std::string(FLIPSWEEP_PYTHON " ") + testing::source_path("python/plot_profile.py") +
                                   " " + dir + "/out > " + dir + "/plot.log 2>&1")
                                      .c_str());
  ASSERT_EQ(plotted, 0) << read_text(dir + "/plot.log");
  EXPECT_TRUE(fsys::exists(dir + "/out/profile_plain_fp32.png"));
  const double clean = read_clean_csv(dir + "/out/clean.csv").at(0).top1;
  std::map<std::pair<std::string, int>, double> drop_of;  // from trials.csv and faults.csv, by hand
  for (const TrialRecord& r : read_trials_csv(dir + "/out/trials.csv")) {
    const size_t t = static_cast<size_t>(r.trial);
    const std::string tensor = model.graph.values[static_cast<size_t>(targets[(t / bits.size()) % targets.size()])].name;
    drop_of[{tensor, bits[t % bits.size()]}] = clean - r.top1;
  }
  std::ifstream profile(dir + "/out/profile.csv");
  std::getline(profile, line);
  EXPECT_EQ(line, "config,tensor,bit,trials,mean_drop,collapsed_share");
  size_t profile_rows = 0;
  while (std::getline(profile, line)) {
    std::vector<std::string> f;
    std::stringstream split(line);
    for (std::string field; std::getline(split, field, ',');) f.push_back(field);
    ASSERT_EQ(f.size(), 6u) << line;
    EXPECT_EQ(f[3], "1") << line;
    EXPECT_NEAR(std::stod(f[4]), drop_of.at({f[1], std::stoi(f[2])}), 1e-3) << line;
    ++profile_rows;
  }
  EXPECT_EQ(profile_rows, cells);
}

TEST(Campaign, BadConfigValuesFailBeforeAnyWork) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  // write_config already sets ber/formats; later keys in YAML would be duplicates, so each case
  // replaces a whole config.
  auto with = [](const std::string& key, const std::string& value) { return key + ": " + value + "\n"; };
  expect_config_error(with("targets", "{include: [layer9.*]}"), "layer9.*");
  expect_config_error(with("targets", "{bits: exponent}"), "q2.5");
  expect_config_error(with("faults", "{model: cosmic-ray}"), "cosmic-ray");
  expect_config_error(with("frobnicate", "1"), "frobnicate");
  expect_config_error(with("faults", "{model: exact, tensor: nosuch.weight, bit: 3}"), "nosuch.weight");
  expect_config_error(with("faults", "{model: single-flip}"), "single-flip faults");  // the config has BERs
  expect_config_error(with("trials_in_flight", "-1"), "trials_in_flight");
  expect_config_error(with("device", "-1"), "device");
  expect_config_error(with("backend", "gpu"), "auto, cpu, cuda, host-plan");

  const std::string dir = scratch_dir("bad_values");
  CampaignConfig c = load_campaign_config(write_config(dir, ""));
  c.bers = {2.0};
  EXPECT_THROW(validate_campaign_config(c), Error);
  c.bers = {-1e-5};
  EXPECT_THROW(validate_campaign_config(c), Error);
  c.bers = {1e-5};
  c.trials = 0;
  EXPECT_THROW(validate_campaign_config(c), Error);
  EXPECT_THROW(core::StorageFormat::parse("fp12"), Error);
}

TEST(CampaignResults, TrialsCsvRecordsTheShortcutAndReadsOldFiles) {
  const std::string dir = scratch_dir("trials_csv");
  EXPECT_EQ(trials_csv_header().substr(trials_csv_header().rfind(',') + 1), "images");
  TrialRecord r;
  r.config = "m/fp32";
  r.format = "fp32";
  r.saf = "none";
  r.ber = 1e-6;
  r.shortcut = "same-as-ber:1e-07";
  r.images = 200;
  write_file_atomically(dir + "/trials.csv", trials_csv_header() + "\n" + trials_csv_row(r) + "\n");
  auto back = read_trials_csv(dir + "/trials.csv");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].shortcut, "same-as-ber:1e-07");
  EXPECT_EQ(back[0].flips_per_tensor, "");
  EXPECT_EQ(back[0].images, 200);
  // Files from before the images column.
  write_file_atomically(dir + "/v2.csv",
                        "config,format,saf,ber,trial,top1,top5,sdc,flips,nonfinite,all_nan,seconds,flips_per_tensor,"
                        "shortcut\nm/fp32,fp32,none,1e-05,0,90.0000,99.0000,1.0000,2,0,0,0.010,w:2,clean\n");
  back = read_trials_csv(dir + "/v2.csv");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].shortcut, "clean");
  EXPECT_EQ(back[0].images, -1);
  write_file_atomically(dir + "/old.csv",
                        "config,format,saf,ber,trial,top1,top5,sdc,flips,nonfinite,all_nan,seconds,flips_per_tensor\n"
                        "m/fp32,fp32,none,1e-05,0,90.0000,99.0000,1.0000,2,0,0,0.010,w:2\n"
                        "m/fp32,fp32,none,1e-05,1,91.0000,99.0000,0.0000,0,0,0,0.010,\n");
  back = read_trials_csv(dir + "/old.csv");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].shortcut, "none");
  EXPECT_EQ(back[0].flips_per_tensor, "w:2");
  EXPECT_EQ(back[1].shortcut, "none");
  EXPECT_EQ(back[1].top1, 91.0);
  write_file_atomically(dir + "/bad.csv", trials_csv_header() + "\nm/fp32,fp32,none,1e-05,0,90,99,1,2,0,0,0.01,w:2,maybe,48\n");
  write_file_atomically(dir + "/negative.csv", trials_csv_header() + "\nm/fp32,fp32,none,1e-05,0,90,99,1,2,0,0,0.01,w:2,none,-4\n");
  EXPECT_THROW(read_trials_csv(dir + "/negative.csv"), Error);
  EXPECT_THROW(read_trials_csv(dir + "/bad.csv"), Error);
  r.shortcut = "clean-prefix:/layer3/layer3.1/conv1/Conv";
  write_file_atomically(dir + "/prefix.csv", trials_csv_header() + "\n" + trials_csv_row(r) + "\n");
  EXPECT_EQ(read_trials_csv(dir + "/prefix.csv").at(0).shortcut, r.shortcut);
  write_file_atomically(dir + "/empty_prefix.csv",
                        trials_csv_header() + "\nm/fp32,fp32,none,1e-05,0,90,99,1,2,0,0,0.01,w:2,clean-prefix:,48\n");
  EXPECT_THROW(read_trials_csv(dir + "/empty_prefix.csv"), Error);
}

TEST(CampaignResults, SummaryStatistics) {
  std::vector<TrialRecord> trials;
  for (double top1 : {10.0, 20.0, 30.0, 40.0}) {
    TrialRecord r;
    r.config = "m/fp32";
    r.format = "fp32";
    r.saf = "none";
    r.ber = 1e-5;
    r.top1 = top1;
    r.flips = 2;
    trials.push_back(r);
  }
  auto points = summarize(trials, {{"m/fp32", "fp32", "none", 90.0, 99.0, 100, "cpu"}});
  ASSERT_EQ(points.size(), 1u);
  const auto& p = points[0];
  EXPECT_DOUBLE_EQ(p.mean, 25.0);
  EXPECT_NEAR(p.std, 12.909944, 1e-6);               // sample standard deviation
  EXPECT_NEAR(p.ci95, 3.182 * 12.909944 / 2.0, 1e-3);  // t(0.975, 3) · s / √n
  EXPECT_DOUBLE_EQ(p.median, 25.0);
  EXPECT_DOUBLE_EQ(p.min, 10.0);
  EXPECT_DOUBLE_EQ(p.max, 40.0);
  EXPECT_DOUBLE_EQ(p.clean_top1, 90.0);
  EXPECT_NE(summary_markdown("t", points).find("| FP32 | none | 90.00 | 25.00 ± 12.91 |"), std::string::npos)
      << summary_markdown("t", points);
  EXPECT_EQ(format_number(1e-5), "1e-05");
  EXPECT_EQ(format_number(0.25), "0.25");
}

}  // namespace
}  // namespace flipsweep
