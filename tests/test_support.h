#pragma once
// Shared by the test suites: paths, ONNX-test-data style case directories (model.onnx +
// test_data_set_N/{input,output}_K.pb), and tensor comparison with NaN/Inf rules.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "flipsweep/graph/onnx_import.h"

namespace flipsweep::testing {

inline std::string source_path(const std::string& relative) { return std::string(FLIPSWEEP_SOURCE_DIR) + "/" + relative; }
inline std::string binary_path(const std::string& relative) { return std::string(FLIPSWEEP_BINARY_DIR) + "/" + relative; }

// A torchvision model with random weights, exported, and PyTorch's output for an input
// (python/make_golden.py zoo_<name>; see tests/golden/README.md), generated once under the build
// folder. "" when PyTorch/torchvision are not installed. Generated into a private folder and
// renamed into place, so tests running in parallel never read a half-written case.
inline std::string torchvision_case(const std::string& name) {
  namespace fs = std::filesystem;
  const std::string root = binary_path("golden");
  const std::string dir = root + "/zoo_" + name;
  if (fs::exists(dir + "/test_data_set_0/output_0.pb")) return dir;
  if (std::system(FLIPSWEEP_PYTHON " -c 'import torch, torchvision, onnx' > /dev/null 2>&1") != 0) return "";
  fs::create_directories(root);
  std::string scratch = root + "/.zoo-" + name + "-XXXXXX";
  if (::mkdtemp(scratch.data()) == nullptr) throw std::runtime_error("cannot create " + scratch);
  const std::string command = std::string(FLIPSWEEP_PYTHON " ") + source_path("python/make_golden.py") + " zoo_" + name +
                              " " + scratch + " > " + scratch + ".log 2>&1";
  const int status = std::system(command.c_str());
  if (status != 0) throw std::runtime_error("failed (see " + scratch + ".log): " + command);
  std::error_code ignored;
  fs::rename(scratch + "/zoo_" + name, dir, ignored);  // fails only when a parallel test got there first
  fs::remove_all(scratch, ignored);
  fs::remove(scratch + ".log", ignored);
  return dir;
}

// Reads test_data_set_`set`/input_*.pb or output_*.pb in index order.
inline std::vector<Tensor> load_case_tensors(const std::string& dir, const std::string& kind, int set = 0) {
  std::vector<Tensor> tensors;
  for (int i = 0;; ++i) {
    const std::string path = dir + "/test_data_set_" + std::to_string(set) + "/" + kind + "_" + std::to_string(i) + ".pb";
    if (!std::filesystem::exists(path)) break;
    tensors.push_back(load_tensor_proto_file(path));
  }
  return tensors;
}

// ‖a − b‖₂ / ‖b‖₂ over finite positions.
inline double relative_l2_error(const Tensor& a, const Tensor& b) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < b.data.size(); ++i) {
    if (!std::isfinite(b.data[i])) continue;
    double d = static_cast<double>(a.data[i]) - b.data[i];
    diff += d * d;
    norm += static_cast<double>(b.data[i]) * b.data[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

// Same shape; NaN exactly where expected is NaN; infinities with the same sign; finite values
// within atol + rtol·|expected|.
inline ::testing::AssertionResult tensors_match(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (actual.shape != expected.shape)
    return ::testing::AssertionFailure() << "shape " << shape_to_string(actual.shape) << " != expected "
                                         << shape_to_string(expected.shape);
  int reported = 0;
  int64_t bad = 0;
  std::ostringstream details;
  for (size_t i = 0; i < expected.data.size(); ++i) {
    const float a = actual.data[i], e = expected.data[i];
    bool ok;
    if (std::isnan(e)) ok = std::isnan(a);
    else if (std::isinf(e)) ok = a == e;
    else ok = std::isfinite(a) && std::fabs(static_cast<double>(a) - e) <= atol + rtol * std::fabs(static_cast<double>(e));
    if (!ok) {
      ++bad;
      if (reported++ < 5) details << "\n  [" << i << "] actual " << a << " expected " << e;
    }
  }
  if (bad) return ::testing::AssertionFailure() << bad << " of " << expected.data.size() << " values differ:" << details.str();
  return ::testing::AssertionSuccess();
}

}  // namespace flipsweep::testing
