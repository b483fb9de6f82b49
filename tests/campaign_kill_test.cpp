// Nothing lost when killed: the flipsweep binary is killed with SIGKILL at 24 exact points of a
// campaign (before config.yaml, after a clean pass, mid-trial, halfway through a row of trials.csv
// or a line of faults.csv, before the summary), resumed after each, and the result must equal an
// uninterrupted run's: the same rows (apart from seconds and shortcut), the same faults.csv — no
// trial twice, none half — and the same summary. A file that cannot grow (RLIMIT_FSIZE, as on a
// full disk) ends the run with one clear message and leaves every finished row intact.
//
// The kill points come from the FLIPSWEEP_KILL_AT=EVENT:N hook in campaign.cpp: the process
// raises SIGKILL itself, so every kill lands exactly where the test says, on any machine.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "campaign_support.h"
#include "flipsweep/campaign/results.h"
#include "test_support.h"

namespace flipsweep {
namespace {

namespace fsys = std::filesystem;
using namespace campaign_testing;

struct Outcome {
  int status = -1;  // as from waitpid
  std::string output;
};

// Runs `command` under bash, with stdout and stderr captured.
Outcome run_shell(const std::string& command) {
  Outcome outcome;
  FILE* pipe = popen(("bash -c '" + command + "' 2>&1").c_str(), "r");
  if (!pipe) return outcome;
  std::array<char, 4096> buffer{};
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) outcome.output.append(buffer.data(), n);
  outcome.status = pclose(pipe);
  return outcome;
}

// A shell reports a child killed by signal S as exit status 128 + S; a shell that exec'd the
// command leaves the signal itself in the status.
bool killed_by_sigkill(const Outcome& o) {
  return (WIFEXITED(o.status) && WEXITSTATUS(o.status) == 128 + SIGKILL) ||
         (WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGKILL);
}
bool succeeded(const Outcome& o) { return WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0; }
int exit_code(const Outcome& o) { return WIFEXITED(o.status) ? WEXITSTATUS(o.status) : -1; }

// trials.csv in file order without seconds and shortcut (a resumed run takes fewer shortcuts).
std::string rows_in_order(const std::string& path) {
  std::string text;
  for (auto r : read_trials_csv(path)) {
    r.seconds = 0;
    r.shortcut = "none";
    text += trials_csv_row(r) + "\n";
  }
  return text;
}

class CampaignKill : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh installs it)";
    // Each test its own folder: ctest runs the tests of this fixture in parallel processes.
    dir_ = scratch_dir(std::string("kill_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    // 2 formats × 2 BERs × 10 trials = 40 trials, in blocks of 4.
    config_ = write_config(dir_, "trials_in_flight: 4\n");
    std::string text = read_text(config_);
    text.replace(text.find("trials: 3"), 9, "trials: 10");
    std::ofstream(config_) << text;
    const Outcome whole = run(dir_ + "/whole", "", false);
    ASSERT_TRUE(succeeded(whole)) << whole.output;
  }

  Outcome run(const std::string& out, const std::string& kill_at, bool resume, const std::string& prefix = "") {
    std::string command = prefix;
    if (!kill_at.empty()) command += "FLIPSWEEP_KILL_AT=" + kill_at + " ";
    command += testing::binary_path("flipsweep") + " run " + config_ + " --no-progress --save-faults --out " + out;
    if (resume) command += " --resume";
    return run_shell(command);
  }

  std::string dir_, config_;
};

TEST_F(CampaignKill, KilledAtTwentyFourPointsAndResumedEqualsOneRun) {
  const std::string out = dir_ + "/killed";
  // Each entry kills one process; the next one resumes (and is itself killed at the next point).
  // Counts are per process: "inject:3" is the third trial injected by that run.
  const std::vector<std::string> points = {
      "config:1",      "clean:1",     "inject:1",    "row:1",      "row-half:1",  "faults-half:1",
      "inject:3",      "row-half:2",  "faults-half:7", "row:3",     "clean:2",     "inject:6",
      "faults-half:30", "row-half:4", "row:2",       "inject:2",    "faults-half:2", "row-half:1",
      "inject:4",      "row:1",       "faults-half:50", "row-half:3", "inject:1",  "summary:1"};
  ASSERT_GE(points.size(), 20u);
  bool first = true;
  for (const std::string& point : points) {
    const Outcome o = run(out, point, !first);
    first = false;
    ASSERT_TRUE(killed_by_sigkill(o)) << "the run was meant to die at " << point << "; it ended with status "
                                      << o.status << ":\n" << o.output;
    // Whatever a kill leaves behind is readable (a half-written last row is dropped on reading).
    if (fsys::exists(out + "/trials.csv")) {
      EXPECT_NO_THROW(read_trials_csv(out + "/trials.csv")) << point;
    }
  }
  const Outcome last = run(out, "", true);
  ASSERT_TRUE(succeeded(last)) << last.output;

  EXPECT_EQ(rows_in_order(out + "/trials.csv"), rows_in_order(dir_ + "/whole/trials.csv"));
  EXPECT_EQ(read_text(out + "/faults.csv"), read_text(dir_ + "/whole/faults.csv"));
  for (const char* file : {"clean.csv", "summary.csv", "summary.md", "config.yaml"})
    EXPECT_EQ(read_text(out + "/" + file), read_text(dir_ + "/whole/" + file)) << file;
}

TEST_F(CampaignKill, AFileThatCannotGrowEndsTheRunClearlyAndKeepsFinishedRows) {
  // RLIMIT_FSIZE stops every file at 6 KiB, as a full disk would; SIGXFSZ ignored, so the write
  // fails with EFBIG ("File too large") instead of killing the process.
  const std::string out = dir_ + "/full";
  const Outcome o = run(out, "", false, "trap \"\" XFSZ; ulimit -f 6; ");
  EXPECT_EQ(exit_code(o), 1) << o.output;
  EXPECT_NE(o.output.find("faults.csv: write failed: File too large"), std::string::npos) << o.output;
  EXPECT_EQ(o.output.find("internal error"), std::string::npos) << o.output;
  // Every complete row is one the uninterrupted run has too.
  const std::string whole = rows_in_order(dir_ + "/whole/trials.csv");
  const std::string kept = rows_in_order(out + "/trials.csv");
  EXPECT_EQ(whole.compare(0, kept.size(), kept), 0) << kept;
  // With room again, --resume finishes it to the same results.
  const Outcome resumed = run(out, "", true);
  ASSERT_TRUE(succeeded(resumed)) << resumed.output;
  EXPECT_EQ(rows_in_order(out + "/trials.csv"), whole);
  EXPECT_EQ(read_text(out + "/faults.csv"), read_text(dir_ + "/whole/faults.csv"));
  EXPECT_EQ(read_text(out + "/summary.csv"), read_text(dir_ + "/whole/summary.csv"));
}

}  // namespace
}  // namespace flipsweep
