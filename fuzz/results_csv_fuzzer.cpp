// The CSV readers of --resume and `flipsweep report`: the input is trials.csv, the separator
// (fuzz_support.h, kFileSeparator), then clean.csv. Each is read (read_trials_csv,
// read_clean_csv); what reads back is summarised and rendered as report does.
#include "flipsweep/campaign/results.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flipsweep::fuzz;
  const std::vector<std::string_view> files = split_files(data, size, 2);
  const std::string trials_path = write_scratch_file("trials.csv", files[0]);
  const std::string clean_path = write_scratch_file("clean.csv", files.size() > 1 ? files[1] : std::string_view());
  std::vector<flipsweep::TrialRecord> trials;
  std::vector<flipsweep::CleanRecord> clean;
  expect_success_or_error({trials_path}, [&] { trials = flipsweep::read_trials_csv(trials_path); });
  expect_success_or_error({clean_path}, [&] { clean = flipsweep::read_clean_csv(clean_path); });
  expect_success_or_error({trials_path, clean_path}, [&] {
    const auto points = flipsweep::summarize(trials, clean);
    (void)flipsweep::summary_csv(points);
    (void)flipsweep::summary_markdown("fuzz", points);
  });
  return 0;
}
