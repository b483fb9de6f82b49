// inspect --ranges bookkeeping: which stored words one bit flip turns into Inf/NaN (exactly one zero
// bit in the exponent field) in each float format, and that the per-tensor profile counts agree with
// direct counts on a real model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "flipsweep/core/bit_ops.h"
#include "flipsweep/graph/onnx_import.h"
#include "flipsweep/model/value_ranges.h"
#include "test_support.h"

namespace flipsweep {
namespace {

uint32_t bits_of(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

TEST(ValueRanges, OneFlipToInfOrNanIsAnExponentWithOneZeroBit) {
  const core::StorageFormat fp32 = core::StorageFormat::fp32(), fp16 = core::StorageFormat::fp16();
  // Every fp32 exponent: the predicate must equal "some single flip gives an all-ones exponent".
  for (uint32_t e = 0; e < 256; ++e) {
    const uint32_t word = (e << 23) | 0x1234u;
    bool some_flip = false;
    for (int b = 0; b < 32; ++b) some_flip = some_flip || (((core::flip_bit(word, b) >> 23) & 0xFFu) == 0xFFu);
    // A word that is Inf/NaN already does not count: the question is which finite words one flip breaks.
    EXPECT_EQ(one_flip_makes_nonfinite(word, fp32), some_flip && e != 255) << "exponent " << e;
  }
  EXPECT_TRUE(one_flip_makes_nonfinite(bits_of(1.5f), fp32));
  EXPECT_TRUE(one_flip_makes_nonfinite(bits_of(-1.0f), fp32));
  EXPECT_FALSE(one_flip_makes_nonfinite(bits_of(0.5f), fp32));
  EXPECT_FALSE(one_flip_makes_nonfinite(bits_of(2.0f), fp32));
  EXPECT_FALSE(one_flip_makes_nonfinite(bits_of(INFINITY), fp32));  // already all ones
  EXPECT_TRUE(one_flip_makes_nonfinite(core::encode(fp16, 1.25f, 1.0f), fp16));
  EXPECT_FALSE(one_flip_makes_nonfinite(core::encode(fp16, 0.25f, 1.0f), fp16));
  EXPECT_FALSE(one_flip_makes_nonfinite(5u, core::StorageFormat::parse("q2.5")));
}

TEST(ValueRanges, ProfileOfARealModelAgreesWithDirectCounts) {
  const Model model = load_onnx_model(testing::source_path("models/fashion-mnist/resnet20_none.onnx"));
  int64_t values = 0, one_two = 0, histogram_total = 0;
  for (int id : model.graph.parameters) {
    const Tensor& t = model.stored[static_cast<size_t>(id)];
    const RangeProfile p = range_profile(t.ptr(), t.size());
    int64_t direct_one_two = 0, direct_fp32 = 0;
    for (float v : t.data) {
      direct_one_two += std::fabs(v) >= 1.0f && std::fabs(v) < 2.0f;
      const uint32_t e = (bits_of(v) >> 23) & 0xFFu;
      direct_fp32 += e == 0x7F || e == 0xBF || e == 0xDF || e == 0xEF || e == 0xF7 || e == 0xFB || e == 0xFD || e == 0xFE;
    }
    EXPECT_EQ(p.in_one_two, direct_one_two);
    EXPECT_EQ(p.nonfinite_in_one_flip_fp32, direct_fp32);
    for (int64_t n : p.fp32_exponent) histogram_total += n;
    values += p.count;
    one_two += p.in_one_two;
  }
  EXPECT_EQ(histogram_total, values);
  EXPECT_GT(one_two, 0);  // this model has a few weights in [1, 2)
}

}  // namespace
}  // namespace flipsweep
