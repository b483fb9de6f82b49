// CUDA kernels against their CPU twins. Without a GPU (or without the CUDA build) these skip and
// say so; CI machines have the toolkit but no device.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "flipsweep/ops/reference_ops.h"

#if defined(FLIPSWEEP_WITH_CUDA)
#include "flipsweep_cuda/device.h"
#endif

namespace flipsweep {
namespace {

TEST(CudaArgmax, MatchesTheCpuRuleIncludingNaN) {
#if !defined(FLIPSWEEP_WITH_CUDA)
  GTEST_SKIP() << "built without CUDA (FLIPSWEEP_CUDA=OFF or no nvcc)";
#else
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  const int64_t rows = 257, columns = 1000;
  std::vector<float> logits(static_cast<size_t>(rows * columns));
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (float& v : logits) v = normal(rng);
  // Rows with NaN (first NaN must win, even after +Inf), ties, and all-NaN.
  logits[5 * columns + 700] = NAN;
  logits[5 * columns + 900] = NAN;
  logits[5 * columns + 10] = INFINITY;
  logits[6 * columns + 3] = 50.0f;
  logits[6 * columns + 999] = 50.0f;
  for (int64_t c = 0; c < columns; ++c) logits[static_cast<size_t>(7 * columns + c)] = NAN;
  auto device = cuda::argmax_rows(logits, rows, columns);
  for (int64_t r = 0; r < rows; ++r)
    EXPECT_EQ(device[static_cast<size_t>(r)], reference::argmax(logits.data() + r * columns, columns)) << "row " << r;
#endif
}

}  // namespace
}  // namespace flipsweep
