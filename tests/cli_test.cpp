// The flipsweep binary end to end: commands succeed on good input, and bad input (missing model,
// bad config field, bad dataset) ends with a one-line error naming the file and a non-zero exit.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "flipsweep/campaign/results.h"
#include "test_support.h"

namespace flipsweep {
namespace {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

CommandResult run_command(const std::string& command_line) {
  const std::string command = command_line + " 2>&1";
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Runs the binary with `arguments`, in `directory` when one is given.
CommandResult run_flipsweep(const std::string& arguments, const std::string& directory = "") {
  return run_command((directory.empty() ? "" : "cd '" + directory + "' && ") + testing::binary_path("flipsweep") + " " +
                     arguments);
}

const std::string kGoldenModel = testing::source_path("tests/golden/resnet20_cifar/model.onnx");

const std::string kFashionModel = testing::source_path("models/fashion-mnist/resnet20_none.onnx");

void write_big_endian(std::ofstream& out, uint32_t v) {
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                         static_cast<char>(v)};
  out.write(bytes, 4);
}

// A small uncompressed IDX dataset (count 28×28 gray images) in `dir`: images.idx, labels.idx.
void write_tiny_idx(const std::string& dir, uint32_t count) {
  std::filesystem::create_directories(dir);
  std::ofstream images(dir + "/images.idx", std::ios::binary), labels(dir + "/labels.idx", std::ios::binary);
  write_big_endian(images, 0x00000803);
  for (uint32_t d : {count, 28u, 28u}) write_big_endian(images, d);
  write_big_endian(labels, 0x00000801);
  write_big_endian(labels, count);
  for (uint32_t i = 0; i < count * 28 * 28; ++i) images.put(static_cast<char>((i * 37) % 251));
  for (uint32_t i = 0; i < count; ++i) labels.put(static_cast<char>(i % 10));
}

// A fresh folder under the build tree holding a 20-image IDX dataset and a campaign config
// (campaign.yaml, `limit: 8`) on the committed Fashion-MNIST model; `extra` lines are appended.
std::string write_tiny_campaign(const std::string& name, const std::string& extra = "",
                                const std::string& model_path = kFashionModel, const std::string& data_dir = "") {
  const std::string dir = testing::binary_path("cli_test/" + name);
  std::filesystem::remove_all(dir);
  write_tiny_idx(dir, 20);
  const std::string data = data_dir.empty() ? dir : data_dir;
  std::ofstream out(dir + "/campaign.yaml");
  out << "name: tiny\nseed: 1\ntrials: 2\nber: [0.0]\nformats: [fp32]\n"
      << "models:\n  - {name: none, path: " << model_path << ", saf: none}\n"
      << "dataset:\n  format: idx\n  paths: [" << data << "/images.idx, " << data << "/labels.idx]\n  limit: 8\n"
      << "batch_size: 8\nthreads: 2\n"
      << extra;
  return dir;
}

TEST(Cli, HelpWorksForEveryCommand) {
  for (const char* args : {"--help", "eval --help", "inspect --help"}) {
    CommandResult r = run_flipsweep(args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << args;
  }
  const CommandResult eval_help = run_flipsweep("eval --help");
  EXPECT_NE(eval_help.output.find("cifar100-coarse:FILE"), std::string::npos) << eval_help.output;
  EXPECT_NE(eval_help.output.find("kernels"), std::string::npos) << eval_help.output;
}

TEST(Cli, InspectListsGraphAndParameters) {
  CommandResult r = run_flipsweep("inspect " + kGoldenModel);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("BatchNormalization"), std::string::npos);
  EXPECT_NE(r.output.find("layer3.2.bn2.running_var"), std::string::npos);
  EXPECT_NE(r.output.find("1<=|w|<2"), std::string::npos);
  EXPECT_NE(r.output.find("parameters: 107 tensors"), std::string::npos) << r.output.substr(0, 500);
}

// `inspect --plan`: ResNet20's 21 convolutions (stem, 18 in the blocks, 2 shortcut projections,
// each with its BatchNorm, residual Add and ReLU fused), the pool and the classifier's Gemm (a
// oneDNN matmul), each with a fast kernel; only the Flatten is a reference step.
TEST(Cli, InspectPlanShowsTheFastCpuSteps) {
  CommandResult r = run_flipsweep("inspect --plan --batch 16 " + kGoldenModel);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(batch 16)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("steps per kind: conv 21 gemm 1 pool 1 reference 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/conv1/Conv"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("reference implementation"), std::string::npos) << r.output;
  EXPECT_NE(run_flipsweep("inspect --plan --batch 0 " + kGoldenModel).exit_code, 0);
}

TEST(Cli, EvalRunsOnFashionMnist) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh installs it)";
  // The golden ResNet20 takes 3×32×32: pad 28×28 by 2 and replicate gray to 3 channels.
  CommandResult r = run_flipsweep("eval --model " + kGoldenModel +
                                  " --dataset fashion-mnist-test --limit 200 --pad 2 --channels 3 --no-progress");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("top-1"), std::string::npos);
  EXPECT_NE(r.output.find("/200)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("images/s"), std::string::npos);
}

TEST(Cli, MissingModelIsAClearError) {
  CommandResult r = run_flipsweep("eval --model /nonexistent/m.onnx --dataset fashion-mnist-test");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/m.onnx"), std::string::npos) << r.output;
}

TEST(Cli, WrongInputShapeNamesBothSides) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  CommandResult r = run_flipsweep("eval --model " + kGoldenModel + " --dataset fashion-mnist-test");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("[1,3,32,32]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[1,1,28,28]"), std::string::npos) << r.output;
}

TEST(Cli, BadConfigFieldNamesFileAndField) {
  const std::string path = testing::binary_path("cli_test_bad.yaml");
  {
    std::ofstream out(path);
    out << "model: " << kGoldenModel << "\ndataset:\n  spec: fashion-mnist-test\n  preprocess:\n    stdev: [0.5]\n";
  }
  CommandResult r = run_flipsweep("eval --config " + path);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("cli_test_bad.yaml"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("dataset.preprocess.stdev"), std::string::npos) << r.output;

  {
    std::ofstream out(path);
    out << "model: " << kGoldenModel << "\ndataset: fashion-mnist-test\nbatch_size: many\n";
  }
  r = run_flipsweep("eval --config " + path);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("batch_size"), std::string::npos) << r.output;
}

TEST(Cli, RunRejectsBadConfigsAndOverrides) {
  CommandResult r = run_flipsweep("run /nonexistent/campaign.yaml");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/campaign.yaml"), std::string::npos) << r.output;
  r = run_flipsweep("run " + testing::source_path("configs/demo.yaml") + " --ber 2 --out " + testing::binary_path("cli_bad_ber"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--ber: 2 is outside [0, 1]"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(testing::binary_path("cli_bad_ber/trials.csv")));
  r = run_flipsweep("run --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--resume"), std::string::npos);
}

TEST(Cli, BadCommandLineValuesAreErrors) {
  CommandResult r = run_flipsweep("eval --model " + kGoldenModel + " --dataset fashion-mnist-test --batch-size 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("batch size"), std::string::npos) << r.output;
  r = run_flipsweep("eval --model " + kGoldenModel + " --dataset nosuchformat:/tmp/x");
  EXPECT_NE(r.exit_code, 0);
  r = run_flipsweep("eval --model " + kGoldenModel + " --dataset fashion-mnist-test --resize 32by32");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--resize"), std::string::npos) << r.output;
}

TEST(Cli, BackendIsChosenByName) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string eval = "eval --model " + kGoldenModel + " --dataset fashion-mnist-test --limit 32 --pad 2 --channels 3 --no-progress";
  // No GPU here (and this binary may be built without CUDA): one clear line, exit status 1.
  CommandResult r = run_flipsweep(eval + " --backend cuda");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("CUDA"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  // auto falls back to the CPU and says why.
  r = run_flipsweep(eval + " --backend auto");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  if (r.output.find("backend  cuda") == std::string::npos) {
    EXPECT_NE(r.output.find("using the CPU"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("backend  cpu (oneDNN, "), std::string::npos) << r.output;
  }
  EXPECT_NE(r.output.find("/32)"), std::string::npos) << r.output;
  r = run_flipsweep(eval + " --backend cpu --kernels reference");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("backend  cpu-reference ("), std::string::npos) << r.output;
}

TEST(Cli, BadBackendValuesAreRefused) {
  // None of these needs the dataset: the flags are checked before the config is read.
  const std::string demo = testing::source_path("configs/demo.yaml");
  CommandResult r = run_flipsweep("run " + demo + " --backend bogus --out " + testing::binary_path("cli_bad_backend"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("auto, cpu, cuda, host-plan"), std::string::npos) << r.output;
  r = run_flipsweep("run " + demo + " --trials-in-flight -1 --out " + testing::binary_path("cli_bad_backend"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--trials-in-flight"), std::string::npos) << r.output;
  r = run_flipsweep("run " + demo + " --device -1 --out " + testing::binary_path("cli_bad_backend"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--device"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(testing::binary_path("cli_bad_backend/trials.csv")));
  r = run_flipsweep("eval --model " + kGoldenModel + " --dataset fashion-mnist-test --backend bogus");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("auto, cpu, cuda, host-plan"), std::string::npos) << r.output;
  r = run_flipsweep("run --help");
  EXPECT_NE(r.output.find("--trials-in-flight"), std::string::npos);
  EXPECT_NE(r.output.find("--tf32"), std::string::npos);
}

TEST(Cli, LimitZeroMeansAllImagesAndTrialsMustBePositive) {
  const std::string dir = write_tiny_campaign("limits");
  const std::string run = "run " + dir + "/campaign.yaml --no-progress --out " + dir + "/out";
  CommandResult r = run_flipsweep(run + " --trials 0");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--trials must be at least 1, got 0"), std::string::npos) << r.output;
  r = run_flipsweep(run + " --trials -2");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--trials must be at least 1, got -2"), std::string::npos) << r.output;
  r = run_flipsweep(run + " --limit -3");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--limit must be 0 (all images) or more"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/out/trials.csv"));

  // The config says limit: 8; --limit 0 means every image, for run and eval alike.
  r = run_flipsweep(run + " --limit 0 --trials 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("× 1 trials on 20 images"), std::string::npos) << r.output;
  r = run_flipsweep("run " + dir + "/campaign.yaml --no-progress --out " + dir + "/out8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("× 2 trials on 8 images"), std::string::npos) << r.output;

  {
    std::ofstream out(dir + "/eval.yaml");
    out << "model: " << kFashionModel << "\ndataset:\n  format: idx\n  paths: [" << dir << "/images.idx, " << dir
        << "/labels.idx]\n  limit: 8\n";
  }
  r = run_flipsweep("eval --config " + dir + "/eval.yaml --no-progress");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(8 images)"), std::string::npos) << r.output;
  r = run_flipsweep("eval --config " + dir + "/eval.yaml --no-progress --limit 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(20 images)"), std::string::npos) << r.output;
  r = run_flipsweep("eval --config " + dir + "/eval.yaml --no-progress --limit -1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--limit must be 0 (all images) or more"), std::string::npos) << r.output;

  for (const char* help : {"run --help", "eval --help"}) {
    r = run_flipsweep(help);
    EXPECT_NE(r.output.find("0 = all images"), std::string::npos) << help << "\n" << r.output;
  }
  r = run_flipsweep("run --help");
  EXPECT_NE(r.output.find("at least 1"), std::string::npos) << r.output;
}

TEST(Cli, OutputFolderFailuresNameThePathAndTheReason) {
  const std::string dir = write_tiny_campaign("io_errors");
  const std::string run = "run " + dir + "/campaign.yaml --no-progress --out ";
  // A folder that cannot be created: its parent is a file.
  std::ofstream(dir + "/plain_file") << "x";
  CommandResult r = run_flipsweep(run + dir + "/plain_file/out");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(dir + "/plain_file/out"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Not a directory"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  // A file that cannot be written: config.yaml's temporary is a folder.
  std::filesystem::create_directories(dir + "/out/config.yaml.tmp");
  r = run_flipsweep(run + dir + "/out");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(dir + "/out/config.yaml.tmp"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Is a directory"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  // A config that cannot be read says why.
  r = run_flipsweep("run " + dir + "/no_such.yaml");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("No such file or directory"), std::string::npos) << r.output;
}

TEST(Cli, ConfigPathsAreRelativeToTheConfigFile) {
  // model and dataset named relative to the config's folder, run from another folder.
  const std::string dir = write_tiny_campaign("relative", "", "model.onnx", ".");
  std::filesystem::copy_file(kFashionModel, dir + "/model.onnx");
  {
    std::string text;
    std::ifstream in(dir + "/campaign.yaml");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    for (const std::string name : {"./images.idx", "./labels.idx"}) text.replace(text.find(name), name.size(), name.substr(2));
    std::ofstream(dir + "/campaign.yaml") << text;
    std::ofstream(dir + "/eval.yaml") << "model: model.onnx\ndataset: idx:images.idx,labels.idx\n";
  }
  const std::string elsewhere = testing::binary_path("cli_test");
  CommandResult r = run_flipsweep("run relative/campaign.yaml --no-progress --out relative/out", elsewhere);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("on 8 images"), std::string::npos) << r.output;
  r = run_flipsweep("eval --config ../cli_test/relative/eval.yaml --no-progress", testing::binary_path("tests"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(20 images)"), std::string::npos) << r.output;
  // A path found only relative to the working directory is still taken from there.
  std::filesystem::create_directories(dir + "/sub");
  std::filesystem::copy_file(dir + "/campaign.yaml", dir + "/sub/campaign.yaml");
  r = run_flipsweep("run sub/campaign.yaml --no-progress --out out2", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Neither: the error names the path beside the config.
  std::filesystem::remove(dir + "/model.onnx");
  r = run_flipsweep("run relative/campaign.yaml --no-progress --out relative/out3", elsewhere);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("relative/model.onnx"), std::string::npos) << r.output;

  // The committed configs run from the repository root and from any other folder.
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string configs = std::filesystem::relative(testing::source_path("configs"), elsewhere).string();
  r = run_flipsweep("eval --config " + configs + "/demo_eval.yaml --limit 8 --no-progress", elsewhere);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_flipsweep("eval --config configs/demo_eval.yaml --limit 8 --no-progress", testing::source_path(""));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::filesystem::remove_all(elsewhere + "/demo_elsewhere");
  r = run_flipsweep("run " + configs + "/demo.yaml --trials 1 --ber 0 --limit 8 --no-progress --out " + elsewhere +
                        "/demo_elsewhere",
                    elsewhere);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

TEST(Cli, InterruptedCampaignSaysHowToResume) {
  const std::string dir = write_tiny_campaign("interrupt");
  {
    std::string text;
    std::ifstream in(dir + "/campaign.yaml");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    text.replace(text.find("trials: 2"), 9, "trials: 100000");
    text.replace(text.find("ber: [0.0]"), 10, "ber: [1.0e-3]");
    std::ofstream(dir + "/campaign.yaml") << text;
  }
  const std::string out = dir + "/out";
  // Ctrl-C once at least 40 trials are recorded: the block in progress is finished, then it stops.
  const std::string script = testing::binary_path("flipsweep") + " run " + dir + "/campaign.yaml --no-progress --out " +
                             out + " > " + dir + "/log 2>&1 & pid=$!; for i in $(seq 1500); do n=$(cat " + out +
                             "/trials.csv 2>/dev/null | wc -l); [ \"$n\" -ge 41 ] && break; sleep 0.02; done; "
                             "kill -INT $pid; wait $pid; echo \"exit=$?\"; cat " + dir + "/log";
  CommandResult r = run_command("bash -c '" + script + "'");
  EXPECT_NE(r.output.find("exit=130"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("interrupted: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("error"), std::string::npos) << r.output;
  // What is written is intact: whole rows only.
  std::ifstream in(out + "/trials.csv");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const auto rows = read_trials_csv(out + "/trials.csv");
  EXPECT_GE(rows.size(), 40u);
  EXPECT_NE(r.output.find(fmt::format("interrupted: {} of 100000 trials recorded", rows.size())), std::string::npos)
      << r.output;
  // Resumed (over the first 40 trials only, to stay short): it says how many were done.
  r = run_flipsweep("run " + dir + "/campaign.yaml --no-progress --out " + out + " --resume --trials 40");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming: 40 of 40 trials already done"), std::string::npos) << r.output;
}

TEST(Cli, CampaignAtBerZeroOnlySaysWhyThereIsNoPlot) {
  const std::string dir = write_tiny_campaign("ber_zero");
  CommandResult r = run_flipsweep("run " + dir + "/campaign.yaml --no-progress --out " + dir + "/out");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  if (std::system("/usr/bin/python3 -c 'import matplotlib' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "matplotlib is not installed";
  EXPECT_EQ(r.output.find("matplotlib"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("every BER in"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("no plot made"), std::string::npos) << r.output;
}

TEST(Cli, ErrorMessagesNameTheFlagFieldAndValue) {
  const std::string dir = write_tiny_campaign("messages");
  const auto run_with = [&](const std::string& from, const std::string& to, const std::string& flags = "") {
    std::string text;
    {
      std::ifstream in(dir + "/campaign.yaml");
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    text.replace(text.find(from), from.size(), to);
    std::ofstream(dir + "/changed.yaml") << text;
    return run_flipsweep("run " + dir + "/changed.yaml --no-progress --out " + dir + "/out " + flags);
  };
  CommandResult r = run_with("ber: [0.0]", "ber: [0.0]", "--ber 2");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--ber: 2 is outside [0, 1]"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("changed.yaml"), std::string::npos) << r.output;
  r = run_with("ber: [0.0]", "ber: [1e-4, abc]");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("field 'ber[1]' has an invalid value 'abc' (expected a number)"), std::string::npos) << r.output;
  r = run_with("threads: 2", "threads: lots");
  EXPECT_NE(r.output.find("field 'threads' has an invalid value 'lots'"), std::string::npos) << r.output;
  r = run_with("threads: 2", "threads: 2\ntargets: {bits: 40}");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("changed.yaml: field 'targets.bits': bits '40'"), std::string::npos) << r.output;
  r = run_with("limit: 8", "limit: 8\n  preprocess: {mean: [0.1, 0.2, 0.3]}");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("changed.yaml: field 'dataset.preprocess.mean' has 3 values"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/out/trials.csv"));
}

}  // namespace
}  // namespace flipsweep
