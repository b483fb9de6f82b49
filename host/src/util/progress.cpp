#include "flipsweep/util/progress.h"

#include <unistd.h>

#include <cstdio>

namespace flipsweep {

Progress::Progress(std::string label, int64_t total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled) {
  terminal_ = isatty(fileno(stderr)) != 0;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::advance(int64_t done_now) {
  done_ = done_now;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (terminal_) {
    if (now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    draw(false);
  } else {
    // Plain logs: a line at every quarter, never a flood.
    int percent = total_ > 0 ? static_cast<int>(100 * done_ / total_) : 100;
    if (percent / 25 > last_percent_logged_ / 25 && percent < 100) {
      last_percent_logged_ = percent;
      draw(false);
    }
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final_line) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = seconds > 0 ? static_cast<double>(done_) / seconds : 0.0;
  double left = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
  std::fprintf(stderr, "%s%s: %lld/%lld %s, %.1f %s/s, %.0f s elapsed", terminal_ ? "\r" : "", label_.c_str(),
               static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(), rate, unit_.c_str(), seconds);
  if (!final_line) std::fprintf(stderr, ", ~%.0f s left", left);
  std::fprintf(stderr, terminal_ && !final_line ? "   " : "\n");
  std::fflush(stderr);
}

}  // namespace flipsweep
