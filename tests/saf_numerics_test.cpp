// Our own exp, tanh and atan (core/unary_ops.h): accuracy against the C library's double
// functions rounded to float, special values, the point-wise programs built on them, the users
// (weight preparation, reference kernels) and, with a GPU, identical bits on the device.
//
// Measured (x86-64, Debian glibc 2.36): exhaustively over all 2^32 float patterns (the
// 4,278,190,082 that are not NaN), core::tanh, core::atan and core::exp each equal
// (float)std::tanh/atan/exp((double)x) for 100% of inputs (max 0 ulp). The sampled test
// below (6.19 million patterns per function) finds the same; it requires >= 99.9% exact and
// never more than 1 ulp, which leaves room for the rare near-halfway case the double-precision
// evaluation may round the other way.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "flipsweep/backend/cpu_sigmoid.h"
#include "flipsweep/core/bit_ops.h"
#include "flipsweep/core/pointwise.h"
#include "flipsweep/core/unary_ops.h"
#include "flipsweep/graph/graph.h"
#include "flipsweep/model/weight_preparation.h"
#include "flipsweep/ops/reference_ops.h"

#if defined(FLIPSWEEP_WITH_CUDA)
#include "flipsweep_cuda/core_numerics_check.h"
#include "flipsweep_cuda/device.h"
#endif

namespace flipsweep {
namespace {

using core::bits_to_float;
using core::float_to_bits;

// Position of a float on the ordered line of floats (-0 and +0 both at 0), so that the
// difference of two positions is their distance in ulps.
int64_t ordered(float x) {
  const uint32_t bits = float_to_bits(x);
  return (bits & 0x80000000u) ? -static_cast<int64_t>(bits & 0x7FFFFFFFu) : static_cast<int64_t>(bits);
}

// Patterns that step a float by `steps` ulps in both directions around `center` (both signs of
// the center are the caller's business).
void add_neighbours(std::vector<float>& out, float center, int steps) {
  const int64_t middle = ordered(center);
  for (int64_t d = -steps; d <= steps; ++d) {
    const int64_t position = middle + d;
    const uint32_t bits = position < 0 ? (0x80000000u | static_cast<uint32_t>(-position)) : static_cast<uint32_t>(position);
    out.push_back(bits_to_float(bits));
  }
}

// A strided walk over all 2^32 patterns (every exponent, both signs), plus dense runs near 0,
// +-1, the tanh saturation point (float tanh reaches 1 at ~9.0109), exp's overflow edge
// (ln FLT_MAX ~ 88.7228), the edge of normal results (ln 2^-126 ~ -87.3365) and of subnormal
// results (ln 2^-149 ~ -103.279, and the rounding-to-zero edge ~ -103.972). NaNs are left out.
std::vector<float> accuracy_inputs() {
  std::vector<float> inputs;
  constexpr uint64_t kStride = 1021;  // prime: the low mantissa bits vary along the walk
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += kStride) inputs.push_back(bits_to_float(static_cast<uint32_t>(bits)));
  for (uint32_t bits = 0; bits < 100000; ++bits) {  // +-0 and the smallest subnormals
    inputs.push_back(bits_to_float(bits));
    inputs.push_back(bits_to_float(bits | 0x80000000u));
  }
  for (float center : {1.0f, 0.5f, 9.0109f, 88.7228f, 87.3365f, 103.279f, 103.972f, 0.34657f, 16777216.0f})
    for (float sign : {1.0f, -1.0f}) add_neighbours(inputs, sign * center, 50000);
  std::vector<float> finite_or_inf;
  finite_or_inf.reserve(inputs.size());
  for (float x : inputs)
    if (x == x) finite_or_inf.push_back(x);
  return finite_or_inf;
}

struct Accuracy {
  uint64_t total = 0;
  uint64_t exact = 0;
  int64_t max_ulps = 0;
  float worst_input = 0.0f;
};

template <class Ours, class Reference>
Accuracy measure(const std::vector<float>& inputs, Ours ours, Reference reference) {
  Accuracy accuracy;
  for (float x : inputs) {
    const float got = ours(x);
    const float want = reference(x);
    ++accuracy.total;
    if (float_to_bits(got) == float_to_bits(want)) {
      ++accuracy.exact;
      continue;
    }
    int64_t ulps = (got != got || want != want) ? std::numeric_limits<int64_t>::max() : ordered(got) - ordered(want);
    if (ulps < 0) ulps = -ulps;
    if (ulps > accuracy.max_ulps) {
      accuracy.max_ulps = ulps;
      accuracy.worst_input = x;
    }
  }
  return accuracy;
}

void expect_accurate(const char* name, const Accuracy& accuracy) {
  const double share = static_cast<double>(accuracy.exact) / static_cast<double>(accuracy.total);
  std::printf("%s: %llu inputs, %.7f%% exact, max %lld ulp\n", name, static_cast<unsigned long long>(accuracy.total),
              100.0 * share, static_cast<long long>(accuracy.max_ulps));
  EXPECT_LE(accuracy.max_ulps, 1) << name << " worst at x = " << accuracy.worst_input << " (bits 0x" << std::hex
                                  << float_to_bits(accuracy.worst_input) << ")";
  EXPECT_GE(share, 0.999) << name;
}

TEST(SafNumerics, TanhWithinOneUlpOfCorrectlyRounded) {
  const std::vector<float> inputs = accuracy_inputs();
  ASSERT_GT(inputs.size(), 4000000u);
  expect_accurate("tanh", measure(inputs, [](float x) { return core::tanh(x); },
                                  [](float x) { return static_cast<float>(std::tanh(static_cast<double>(x))); }));
}

TEST(SafNumerics, AtanWithinOneUlpOfCorrectlyRounded) {
  expect_accurate("atan", measure(accuracy_inputs(), [](float x) { return core::atan(x); },
                                  [](float x) { return static_cast<float>(std::atan(static_cast<double>(x))); }));
}

TEST(SafNumerics, ExpWithinOneUlpOfCorrectlyRounded) {
  expect_accurate("exp", measure(accuracy_inputs(), [](float x) { return core::exp(x); },
                                 [](float x) { return static_cast<float>(std::exp(static_cast<double>(x))); }));
}

// Same bits (so the sign of zero counts); any NaN matches any NaN.
::testing::AssertionResult same_bits(float got, float want) {
  if ((got != got && want != want) || float_to_bits(got) == float_to_bits(want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << got << " (0x" << std::hex << float_to_bits(got) << ") != " << want << " (0x"
                                       << float_to_bits(want) << ")";
}

TEST(SafNumerics, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float pi_over_2 = static_cast<float>(1.57079632679489661923);
  for (uint32_t nan_bits : {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0x7FFFFFFFu, 0xFFA5A5A5u}) {
    const float nan = bits_to_float(nan_bits);
    EXPECT_TRUE(std::isnan(core::tanh(nan)));
    EXPECT_TRUE(std::isnan(core::atan(nan)));
    EXPECT_TRUE(std::isnan(core::exp(nan)));
    EXPECT_TRUE(std::isnan(core::sigmoid(nan)));
  }
  EXPECT_TRUE(same_bits(core::tanh(0.0f), 0.0f));
  EXPECT_TRUE(same_bits(core::tanh(-0.0f), -0.0f));
  EXPECT_TRUE(same_bits(core::atan(0.0f), 0.0f));
  EXPECT_TRUE(same_bits(core::atan(-0.0f), -0.0f));
  EXPECT_TRUE(same_bits(core::tanh(inf), 1.0f));
  EXPECT_TRUE(same_bits(core::tanh(-inf), -1.0f));
  EXPECT_TRUE(same_bits(core::tanh(9.02f), 1.0f));
  EXPECT_TRUE(same_bits(core::tanh(-30.0f), -1.0f));
  EXPECT_TRUE(same_bits(core::atan(inf), pi_over_2));
  EXPECT_TRUE(same_bits(core::atan(-inf), -pi_over_2));
  EXPECT_TRUE(same_bits(core::atan(std::numeric_limits<float>::max()), pi_over_2));
  EXPECT_TRUE(same_bits(core::exp(0.0f), 1.0f));
  EXPECT_TRUE(same_bits(core::exp(-0.0f), 1.0f));
  EXPECT_TRUE(same_bits(core::exp(inf), inf));
  EXPECT_TRUE(same_bits(core::exp(-inf), 0.0f));
  EXPECT_TRUE(same_bits(core::exp(88.73f), inf));   // e^88.73 > FLT_MAX
  EXPECT_TRUE(same_bits(core::exp(1000.0f), inf));
  EXPECT_TRUE(same_bits(core::exp(-104.0f), 0.0f));  // below half the least subnormal
  EXPECT_TRUE(same_bits(core::exp(-1000.0f), 0.0f));
  EXPECT_TRUE(same_bits(core::exp(-103.0f), static_cast<float>(std::exp(-103.0))));  // a subnormal result
  EXPECT_GT(core::exp(-103.0f), 0.0f);
  EXPECT_LT(core::exp(-103.0f), std::numeric_limits<float>::min());
  EXPECT_TRUE(same_bits(core::exp(1.0f), static_cast<float>(2.71828182845904523536)));
  // Subnormal inputs are not flushed: tanh(x) = atan(x) = x there.
  for (uint32_t bits : {0x00000001u, 0x00000123u, 0x007FFFFFu, 0x80000001u, 0x807FFFFFu}) {
    const float x = bits_to_float(bits);
    EXPECT_TRUE(same_bits(core::tanh(x), x));
    EXPECT_TRUE(same_bits(core::atan(x), x));
    EXPECT_TRUE(same_bits(core::exp(x), 1.0f));
  }
  // Sigmoid is 1 / (1 + exp(-x)) in float.
  EXPECT_TRUE(same_bits(core::sigmoid(0.0f), 0.5f));
  EXPECT_TRUE(same_bits(core::sigmoid(inf), 1.0f));
  EXPECT_TRUE(same_bits(core::sigmoid(-inf), 0.0f));
  EXPECT_TRUE(same_bits(core::sigmoid(-100.0f), 1.0f / (1.0f + core::exp(100.0f))));
  EXPECT_TRUE(same_bits(core::sigmoid(-100.0f), 0.0f));
  EXPECT_TRUE(same_bits(core::sigmoid(-50.0f), static_cast<float>(1.0 / (1.0 + std::exp(50.0)))));
}

TEST(SafNumerics, SigmoidIsOneOverOnePlusOurExp) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> any_bits;
  for (int i = 0; i < 200000; ++i) {
    const float x = bits_to_float(any_bits(rng));
    ASSERT_TRUE(same_bits(core::sigmoid(x), 1.0f / (1.0f + core::exp(-x)))) << "x = " << x;
  }
}

// Inputs of every class: normals of all sizes, subnormals, +-0, +-Inf, NaN, around saturation.
std::vector<float> pattern_classes() {
  std::vector<float> inputs;
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> any_bits;
  for (int i = 0; i < 20000; ++i) inputs.push_back(bits_to_float(any_bits(rng)));  // every class, NaNs too
  std::uniform_real_distribution<float> weight(-3.0f, 3.0f);
  for (int i = 0; i < 20000; ++i) inputs.push_back(weight(rng));  // typical weights
  for (uint32_t bits : {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u, 0x7F800001u,
                        0x00000001u, 0x80000001u, 0x007FFFFFu, 0x807FFFFFu, 0x00800000u, 0x7F7FFFFFu, 0xFF7FFFFFu})
    inputs.push_back(bits_to_float(bits));
  for (float center : {1.0f, 9.0109f, 18.0218f, 88.7228f, 87.3365f, 103.279f, 103.972f})
    for (float sign : {1.0f, -1.0f}) add_neighbours(inputs, sign * center, 200);
  for (uint32_t bits = 1; bits < 2000; ++bits) inputs.push_back(bits_to_float(bits * 4099u));  // subnormals
  return inputs;
}

// The fast CPU backend's Sigmoid/SiLU lanes (AVX-512, AVX2) against core::sigmoid, bit for bit:
// every class of input, a million values where sigmoid is not saturated, the edges of the range the
// lanes cover, NaNs at scattered positions (their vector falls back to the scalar function), odd
// lengths (a scalar tail) and in place.
TEST(SafNumerics, VectorSigmoidGivesTheScalarBits) {
  std::vector<float> inputs = pattern_classes();
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> active(-30.0f, 30.0f);
  for (int i = 0; i < 1000000; ++i) inputs.push_back(active(rng));
  for (float edge : {100.0f, 110.0f, 88.7228f, 87.3365f})
    for (float sign : {1.0f, -1.0f}) add_neighbours(inputs, sign * edge, 64);
  std::uniform_int_distribution<size_t> position(0, inputs.size() - 1);
  for (int i = 0; i < 500; ++i) inputs[position(rng)] = bits_to_float(0x7FC00000u + static_cast<uint32_t>(i));
  inputs.push_back(1.5f);  // an odd length
  for (bool times_x : {false, true})
    for (cpu::SigmoidLanes lanes : {cpu::SigmoidLanes::Best, cpu::SigmoidLanes::Avx2, cpu::SigmoidLanes::Scalar}) {
      SCOPED_TRACE(std::string(times_x ? "SiLU" : "sigmoid") + " lanes " + std::to_string(static_cast<int>(lanes)));
      std::vector<float> out(inputs.size());
      cpu::sigmoid_many(inputs.data(), out.data(), static_cast<int64_t>(inputs.size()), times_x, lanes);
      std::vector<float> in_place = inputs;
      cpu::sigmoid_many(in_place.data(), in_place.data(), static_cast<int64_t>(in_place.size()), times_x, lanes);
      size_t wrong = 0;
      for (size_t i = 0; i < inputs.size(); ++i) {
        const float s = core::sigmoid(inputs[i]);
        const float expected = times_x ? inputs[i] * s : s;
        if (!same_bits(out[i], expected) || !same_bits(in_place[i], expected)) {
          if (++wrong <= 5) ADD_FAILURE() << "x = " << inputs[i] << ": " << out[i] << " vs " << expected;
        }
      }
      EXPECT_EQ(wrong, 0u);
    }
}

TEST(SafNumerics, PointwiseProgramsEqualComposedFunctions) {
  using core::PointwiseOp;
  using core::PointwiseStep;
  auto program = [](std::initializer_list<PointwiseStep> steps) {
    core::PointwiseProgram p;
    for (const PointwiseStep& s : steps) p.steps[p.count++] = s;
    return p;
  };
  const core::PointwiseProgram tanh_half = program({{PointwiseOp::MulConst, 0.5f, 0}, {PointwiseOp::Tanh, 0, 0}});
  const core::PointwiseProgram hardtanh = program({{PointwiseOp::Clip, -1.0f, 1.0f}});
  const core::PointwiseProgram arctan = program({{PointwiseOp::Atan, 0, 0}});
  const core::PointwiseProgram softsign = program({{PointwiseOp::Softsign, 0, 0}});
  const core::PointwiseProgram sigmoid = program({{PointwiseOp::Sigmoid, 0, 0}});
  const core::PointwiseProgram chain = program({{PointwiseOp::SubConst, 0.25f, 0},
                                                {PointwiseOp::DivConst, 3.0f, 0},
                                                {PointwiseOp::Atan, 0, 0},
                                                {PointwiseOp::ConstSub, 1.0f, 0},
                                                {PointwiseOp::Tanh, 0, 0},
                                                {PointwiseOp::HardSigmoid, 0.2f, 0.5f}});
  for (float x : pattern_classes()) {
    EXPECT_TRUE(same_bits(core::apply_pointwise(tanh_half, x), core::tanh(x * 0.5f))) << x;
    EXPECT_TRUE(same_bits(core::apply_pointwise(hardtanh, x), core::clamp_nan(x, -1.0f, 1.0f))) << x;
    EXPECT_TRUE(same_bits(core::apply_pointwise(arctan, x), core::atan(x))) << x;
    EXPECT_TRUE(same_bits(core::apply_pointwise(softsign, x), core::softsign(x))) << x;
    EXPECT_TRUE(same_bits(core::apply_pointwise(sigmoid, x), core::sigmoid(x))) << x;
    EXPECT_TRUE(same_bits(core::apply_pointwise(chain, x),
                          core::hard_sigmoid(core::tanh(1.0f - core::atan((x - 0.25f) / 3.0f)), 0.2f, 0.5f)))
        << x;
  }
}

// The users of these functions: weight preparation (SAFs on weights) and the reference kernels
// (the activation pass) give exactly core::tanh / core::atan / core::sigmoid.
TEST(SafNumerics, WeightPreparationAndReferenceKernelsUseTheCoreFunctions) {
  const std::vector<float> inputs = pattern_classes();
  const Tensor x(Shape{static_cast<int64_t>(inputs.size())}, inputs);
  struct Case {
    OpType op;
    float (*function)(float);
  };
  const Case cases[] = {{OpType::Tanh, [](float v) { return core::tanh(v); }},
                        {OpType::Atan, [](float v) { return core::atan(v); }},
                        {OpType::Sigmoid, [](float v) { return core::sigmoid(v); }},
                        {OpType::Softsign, [](float v) { return core::softsign(v); }}};
  for (const Case& c : cases) {
    Node node;
    node.op = c.op;
    std::vector<Tensor> outputs;
    reference::run_op(c.op, OpParams{}, {&x}, outputs);
    ASSERT_EQ(outputs.size(), 1u);
    ASSERT_EQ(outputs[0].data.size(), inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const float want = c.function(inputs[i]);
      ASSERT_TRUE(same_bits(evaluate_pointwise(node, inputs[i], 0.0f), want)) << op_type_name(c.op) << " " << inputs[i];
      ASSERT_TRUE(same_bits(outputs[0].data[i], want)) << op_type_name(c.op) << " " << inputs[i];
    }
  }
}

#if defined(FLIPSWEEP_WITH_CUDA)
// The kernel's element function compiled by the host compiler agrees with the core functions
// (this needs no device; the device test below then compares the device with it).
TEST(SafNumerics, CoreCheckHostTwinMatchesCoreFunctions) {
  const std::vector<float> inputs = pattern_classes();
  const std::vector<uint32_t> host = cuda::evaluate_safs_on_host(inputs);
  ASSERT_EQ(host.size(), inputs.size() * cuda::kCoreCheckColumns);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const uint32_t* row = host.data() + i * cuda::kCoreCheckColumns;
    const float x = inputs[i];
    ASSERT_TRUE(same_bits(bits_to_float(row[cuda::kColumnTanh]), core::tanh(x)));
    ASSERT_TRUE(same_bits(bits_to_float(row[cuda::kColumnAtan]), core::atan(x)));
    ASSERT_TRUE(same_bits(bits_to_float(row[cuda::kColumnExp]), core::exp(x)));
    ASSERT_TRUE(same_bits(bits_to_float(row[cuda::kColumnTanhHalf]), core::tanh(0.5f * x)));
    ASSERT_TRUE(same_bits(bits_to_float(row[cuda::kColumnFirstFormat + 1]), x));  // fp32 decodes to itself
  }
}
#endif

TEST(SafNumerics, DeviceGivesTheSameBitsAsTheHost) {
#if !defined(FLIPSWEEP_WITH_CUDA)
  GTEST_SKIP() << "built without CUDA (FLIPSWEEP_CUDA=OFF or no nvcc)";
#else
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  const std::vector<float> inputs = pattern_classes();
  const std::vector<uint32_t> device = cuda::evaluate_safs_on_device(inputs);
  const std::vector<uint32_t> host = cuda::evaluate_safs_on_host(inputs);
  ASSERT_EQ(device.size(), host.size());
  int reported = 0;
  for (size_t i = 0; i < inputs.size(); ++i)
    for (int c = 0; c < cuda::kCoreCheckColumns; ++c) {
      const size_t k = i * cuda::kCoreCheckColumns + static_cast<size_t>(c);
      if (device[k] == host[k]) continue;
      ADD_FAILURE() << cuda::core_check_column_name(c) << " of x = " << inputs[i] << " (bits 0x" << std::hex
                    << float_to_bits(inputs[i]) << "): device 0x" << device[k] << ", host 0x" << host[k];
      if (++reported == 50) return;
    }
#endif
}

}  // namespace
}  // namespace flipsweep
