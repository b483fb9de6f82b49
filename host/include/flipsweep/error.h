#pragma once
// One exception type for every user-facing failure: bad model, bad dataset, bad config, bad
// command-line value. The message always names the file (or node, or field) and the problem,
// because the CLI prints it verbatim and exits non-zero.
#include <stdexcept>
#include <string>

namespace flipsweep {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace flipsweep
