#pragma once
// A one-line progress display on stderr for long runs: done/total, rate and time left. It
// redraws in place on a terminal and prints a few plain lines otherwise (CI logs).
#include <chrono>
#include <cstdint>
#include <string>

namespace flipsweep {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit, bool enabled = true);
  void advance(int64_t done_now);  // absolute count done so far
  void finish();

 private:
  void draw(bool final_line);

  std::string label_, unit_;
  int64_t total_ = 0, done_ = 0;
  bool enabled_ = true, terminal_ = false, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int last_percent_logged_ = -1;
};

}  // namespace flipsweep
