// Storage formats: every fp16, bf16, Q2.5 and int8 word decodes to the value its standard says
// (checked against decoders written here from the formulas, not from the library's bit tricks),
// encoding inverts decoding on every representable value, rounding and saturation follow the
// documented rules, and fp16/bf16 encoding matches PyTorch bit for bit on a golden file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "flipsweep/core/storage_formats.h"
#include "flipsweep/error.h"
#include "test_support.h"

namespace flipsweep {
namespace {

using core::bits_to_float;
using core::float_to_bits;
using core::SignEncoding;
using core::StorageFormat;

constexpr float kNoScale = 1.0f;  // encode/decode ignore the scale for every format but int8

// Same value and, for zeros, the same sign; NaN matches any NaN.
::testing::AssertionResult same_float(float actual, double expected, uint32_t word) {
  if (std::isnan(expected)) {
    if (std::isnan(actual)) return ::testing::AssertionSuccess();
  } else if (static_cast<double>(actual) == expected && std::signbit(actual) == std::signbit(expected)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "word 0x" << std::hex << word << std::dec << " decoded to " << actual
                                       << ", expected " << expected;
}

// IEEE 754 binary16 from the standard's formula: (−1)^s · 2^(e−15) · (1 + f/2^10), subnormals
// (−1)^s · 2^−14 · (f/2^10).
double reference_fp16_value(uint32_t word) {
  const int sign = (word >> 15) & 1, exponent = (word >> 10) & 0x1F, fraction = word & 0x3FF;
  double magnitude;
  if (exponent == 0x1F) magnitude = fraction == 0 ? std::numeric_limits<double>::infinity() : std::nan("");
  else if (exponent == 0) magnitude = std::ldexp(fraction / 1024.0, -14);
  else magnitude = std::ldexp(1.0 + fraction / 1024.0, exponent - 15);
  return sign ? -magnitude : magnitude;
}

// bfloat16: fp32's 8-bit exponent (bias 127) with a 7-bit fraction.
double reference_bf16_value(uint32_t word) {
  const int sign = (word >> 15) & 1, exponent = (word >> 7) & 0xFF, fraction = word & 0x7F;
  double magnitude;
  if (exponent == 0xFF) magnitude = fraction == 0 ? std::numeric_limits<double>::infinity() : std::nan("");
  else if (exponent == 0) magnitude = std::ldexp(fraction / 128.0, -126);
  else magnitude = std::ldexp(1.0 + fraction / 128.0, exponent - 127);
  return sign ? -magnitude : magnitude;
}

// Qm.n with b = 1+m+n bits: two's complement reads the word as an unsigned number minus 2^b when
// the top bit is set; sign-magnitude reads the low b−1 bits as the magnitude.
double reference_fixed_point_value(uint32_t word, int int_bits, int frac_bits, SignEncoding sign_encoding) {
  const int total_bits = 1 + int_bits + frac_bits;
  const bool negative = (word >> (total_bits - 1)) & 1;
  if (sign_encoding == SignEncoding::TwosComplement) {
    const double code = negative ? static_cast<double>(word) - std::ldexp(1.0, total_bits) : static_cast<double>(word);
    return std::ldexp(code, -frac_bits);
  }
  const double magnitude = std::ldexp(static_cast<double>(word & ((1u << (total_bits - 1)) - 1)), -frac_bits);
  return negative ? -magnitude : magnitude;
}

// ---------------------------------------------------------------------------------------------
// Decoding: every word of every narrow format.

TEST(StorageFormatDecode, EveryFp16WordIsTheIeeeValue) {
  for (uint32_t word = 0; word < 0x10000; ++word)
    ASSERT_TRUE(same_float(core::decode(StorageFormat::fp16(), word, kNoScale), reference_fp16_value(word), word));
}

TEST(StorageFormatDecode, EveryBf16WordIsTheIeeeValue) {
  for (uint32_t word = 0; word < 0x10000; ++word)
    ASSERT_TRUE(same_float(core::decode(StorageFormat::bf16(), word, kNoScale), reference_bf16_value(word), word));
}

TEST(StorageFormatDecode, Fp16AndBf16NanKeepTheirPayload) {
  // A flip that lands in a NaN's fraction must not be hidden by decoding.
  EXPECT_EQ(float_to_bits(core::decode_fp16(0x7C01)), 0x7F802000u);
  EXPECT_EQ(float_to_bits(core::decode_fp16(0xFE00)), 0xFFC00000u);
  EXPECT_EQ(float_to_bits(core::decode_bf16(0x7F81)), 0x7F810000u);
}

TEST(StorageFormatDecode, EveryQ2_5WordInBothSignEncodings) {
  for (SignEncoding sign_encoding : {SignEncoding::TwosComplement, SignEncoding::SignMagnitude}) {
    const StorageFormat format = StorageFormat::fixed_point(2, 5, sign_encoding);
    for (uint32_t word = 0; word < 256; ++word)
      ASSERT_TRUE(same_float(core::decode(format, word, kNoScale), reference_fixed_point_value(word, 2, 5, sign_encoding), word))
          << format.name();
  }
  const StorageFormat twos = StorageFormat::fixed_point(2, 5), sign_magnitude = StorageFormat::fixed_point(2, 5, SignEncoding::SignMagnitude);
  EXPECT_EQ(core::decode(twos, 0x80, kNoScale), -4.0f);
  EXPECT_EQ(core::decode(twos, 0xFF, kNoScale), -0.03125f);
  EXPECT_EQ(core::decode(twos, 0x7F, kNoScale), 3.96875f);
  EXPECT_EQ(core::decode(sign_magnitude, 0xFF, kNoScale), -3.96875f);
  const float negative_zero = core::decode(sign_magnitude, 0x80, kNoScale);
  EXPECT_EQ(negative_zero, 0.0f);
  EXPECT_TRUE(std::signbit(negative_zero));
}

TEST(StorageFormatDecode, EveryWordOfOtherFixedPointWidths) {
  for (SignEncoding sign_encoding : {SignEncoding::TwosComplement, SignEncoding::SignMagnitude}) {
    for (const auto& [int_bits, frac_bits] : std::vector<std::pair<int, int>>{{3, 4}, {0, 7}, {7, 8}, {15, 0}, {0, 1}}) {
      const StorageFormat format = StorageFormat::fixed_point(int_bits, frac_bits, sign_encoding);
      ASSERT_TRUE(format.is_valid());
      for (uint32_t word = 0; word < (1u << format.bits()); ++word)
        ASSERT_TRUE(same_float(core::decode(format, word, kNoScale),
                               reference_fixed_point_value(word, int_bits, frac_bits, sign_encoding), word))
            << format.name();
    }
  }
}

TEST(StorageFormatDecode, EveryInt8WordIsTwosComplementTimesScale) {
  for (float scale : {1.0f, 0.0123f, 3.5e-5f}) {
    for (uint32_t word = 0; word < 256; ++word) {
      const int code = word < 128 ? static_cast<int>(word) : static_cast<int>(word) - 256;
      // code · scale needs at most 8 + 24 significant bits: exact in double, then one rounding.
      const double expected = static_cast<float>(code * static_cast<double>(scale));
      ASSERT_TRUE(same_float(core::decode(StorageFormat::int8(), word, scale), expected, word));
    }
  }
  EXPECT_EQ(core::decode(StorageFormat::int8(), 0x80, 0.5f), -64.0f);  // −128: only a flip produces it
}

TEST(StorageFormatDecode, IgnoresBitsAboveTheFormat) {
  EXPECT_EQ(core::decode(StorageFormat::fp16(), 0xABCD3C00u, kNoScale), 1.0f);
  EXPECT_EQ(core::decode(StorageFormat::bf16(), 0xABCD3F80u, kNoScale), 1.0f);
  EXPECT_EQ(core::decode(StorageFormat::fixed_point(2, 5), 0xFFFFFF20u, kNoScale), 1.0f);
  EXPECT_EQ(core::decode(StorageFormat::int8(), 0xFFFFFF01u, 2.0f), 2.0f);
}

// ---------------------------------------------------------------------------------------------
// encode ∘ decode is the identity on every representable word.

void expect_round_trip_on_every_word(const StorageFormat& format, float scale, std::vector<uint32_t> exceptions = {}) {
  int checked = 0;
  for (uint32_t word = 0; word < (1u << format.bits()); ++word) {
    const float value = core::decode(format, word, scale);
    if (std::isnan(value)) continue;
    if (std::find(exceptions.begin(), exceptions.end(), word) != exceptions.end()) continue;
    ASSERT_EQ(core::encode(format, value, scale), word) << format.name() << " value " << value;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(StorageFormatRoundTrip, Fp16) { expect_round_trip_on_every_word(StorageFormat::fp16(), kNoScale); }
TEST(StorageFormatRoundTrip, Bf16) { expect_round_trip_on_every_word(StorageFormat::bf16(), kNoScale); }

TEST(StorageFormatRoundTrip, FixedPoint) {
  for (const char* name : {"q2.5", "q3.4", "q0.7", "q7.8", "q15.0"})
    expect_round_trip_on_every_word(StorageFormat::parse(name), kNoScale);
  // Sign-magnitude −0 decodes to −0.0f, which encodes as +0: one zero on the way in.
  for (const char* name : {"q2.5-sm", "q3.4-sm", "q7.8-sm"}) {
    const StorageFormat format = StorageFormat::parse(name);
    const uint32_t negative_zero = 1u << (format.bits() - 1);
    expect_round_trip_on_every_word(format, kNoScale, {negative_zero});
    EXPECT_EQ(core::encode(format, core::decode(format, negative_zero, kNoScale), kNoScale), 0u) << name;
  }
}

TEST(StorageFormatRoundTrip, Int8) {
  // −128 lies outside the symmetric encoding range and saturates to −127 on the way back.
  for (float scale : {1.0f, 0.0123f, 7.0f / 127.0f, 3.5e-5f}) {
    expect_round_trip_on_every_word(StorageFormat::int8(), scale, {0x80});
    EXPECT_EQ(core::encode(StorageFormat::int8(), core::decode(StorageFormat::int8(), 0x80, scale), scale), 0x81u);
  }
}

TEST(StorageFormatRoundTrip, Fp32IsTheBitPattern) {
  std::mt19937 generator(7);
  for (int i = 0; i < 200000; ++i) {
    const uint32_t word = generator();
    EXPECT_EQ(float_to_bits(core::decode(StorageFormat::fp32(), word, kNoScale)), word);
    const float value = bits_to_float(word);
    ASSERT_EQ(core::encode(StorageFormat::fp32(), value, kNoScale), word);  // NaN payloads too
  }
}

// ---------------------------------------------------------------------------------------------
// Rounding and saturation.

TEST(StorageFormatRounding, Fp16TiesToEvenOverflowAndSubnormals) {
  const struct {
    double value;
    uint32_t word;
  } cases[] = {
      {1.0, 0x3C00},
      {1.0 + std::ldexp(1.0, -11), 0x3C00},      // tie between 0x3C00 and 0x3C01: even
      {1.0 + 3 * std::ldexp(1.0, -11), 0x3C02},  // tie between 0x3C01 and 0x3C02: even
      {65504.0, 0x7BFF},
      {std::nextafter(65520.0f, 0.0f), 0x7BFF},
      {65520.0, 0x7C00},  // tie between 65504 (odd) and 65536 (would be even): inf
      {1e10, 0x7C00},
      {-65520.0, 0xFC00},
      {std::ldexp(1.0, -14), 0x0400},            // smallest normal
      {std::ldexp(1023.5, -24), 0x0400},         // tie between the largest subnormal and it: even
      {std::ldexp(1022.5, -24), 0x03FE},
      {std::ldexp(1.0, -24), 0x0001},            // smallest subnormal
      {std::ldexp(1.0, -25), 0x0000},            // tie between 0 and 2^-24: even
      {std::nextafter(std::ldexp(1.0f, -25), 1.0f), 0x0001},
      {3 * std::ldexp(1.0, -25), 0x0002},
      {-std::ldexp(1.0, -25), 0x8000},
      {std::ldexp(1.0, -30), 0x0000},
      {-0.0, 0x8000},
  };
  for (const auto& c : cases)
    EXPECT_EQ(core::encode_fp16(static_cast<float>(c.value)), c.word) << "value " << c.value;
  EXPECT_EQ(core::encode_fp16(std::numeric_limits<float>::infinity()), 0x7C00u);
  EXPECT_EQ(core::encode_fp16(-std::numeric_limits<float>::infinity()), 0xFC00u);
  EXPECT_EQ(core::encode_fp16(std::numeric_limits<float>::denorm_min()), 0x0000u);
  // NaN stays NaN (quiet), keeping only the sign, as PyTorch does.
  EXPECT_EQ(core::encode_fp16(bits_to_float(0x7FC00000)), 0x7E00u);
  EXPECT_EQ(core::encode_fp16(bits_to_float(0xFF800001)), 0xFE00u);  // signalling in, quiet out
}

TEST(StorageFormatRounding, Bf16TiesToEvenAndOverflow) {
  EXPECT_EQ(core::encode_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80u);      // tie: even
  EXPECT_EQ(core::encode_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82u);  // tie: even
  EXPECT_EQ(core::encode_bf16(bits_to_float(0x3F808001)), 0x3F81u);        // just above a tie
  EXPECT_EQ(core::encode_bf16(std::numeric_limits<float>::max()), 0x7F80u);  // rounds past the largest bf16
  EXPECT_EQ(core::encode_bf16(bits_to_float(0x7F7F7FFF)), 0x7F7Fu);
  EXPECT_EQ(core::encode_bf16(-std::numeric_limits<float>::infinity()), 0xFF80u);
  EXPECT_EQ(core::encode_bf16(bits_to_float(0x00008000)), 0x0000u);  // fp32 subnormal tie: even
  EXPECT_EQ(core::encode_bf16(bits_to_float(0x00018000)), 0x0002u);
  EXPECT_TRUE(std::isnan(core::decode_bf16(core::encode_bf16(std::nanf("")))));
}

TEST(StorageFormatRounding, Q2_5TiesToEvenAndSaturation) {
  const StorageFormat twos = StorageFormat::fixed_point(2, 5);
  const StorageFormat sign_magnitude = StorageFormat::fixed_point(2, 5, SignEncoding::SignMagnitude);
  const float inf = std::numeric_limits<float>::infinity();
  const struct {
    float value;
    uint32_t twos_word, sign_magnitude_word;
  } cases[] = {
      {0.015625f, 0x00, 0x00},    // half an LSB: tie between 0 and 1 → 0
      {0.046875f, 0x02, 0x02},    // 1.5 LSB: tie between 1 and 2 → 2 (0.0625)
      {0.078125f, 0x02, 0x02},    // 2.5 LSB → 2
      {0.0157f, 0x01, 0x01},      // just above half an LSB
      {-0.015625f, 0x00, 0x00},   // rounds to zero, stored as +0
      {-0.046875f, 0xFE, 0x82},
      {0.03125f, 0x01, 0x01},
      {1.0f, 0x20, 0x20},
      {-1.0f, 0xE0, 0xA0},
      {3.96875f, 0x7F, 0x7F},     // largest value
      {3.984375f, 0x7F, 0x7F},    // half an LSB above it: saturates, not rounds past
      {4.0f, 0x7F, 0x7F},
      {100.0f, 0x7F, 0x7F},
      {inf, 0x7F, 0x7F},
      {-3.96875f, 0x81, 0xFF},
      {-3.984375f, 0x80, 0xFF},   // tie between −3.96875 and −4 in two's complement → −4 (even)
      {-4.0f, 0x80, 0xFF},        // −4 exists only in two's complement
      {-5.0f, 0x80, 0xFF},
      {-inf, 0x80, 0xFF},
      {std::nanf(""), 0x00, 0x00},  // documented choice: NaN stores as 0
      {-0.0f, 0x00, 0x00},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(core::encode(twos, c.value, kNoScale), c.twos_word) << "q2.5 value " << c.value;
    EXPECT_EQ(core::encode(sign_magnitude, c.value, kNoScale), c.sign_magnitude_word) << "q2.5-sm value " << c.value;
  }
}

TEST(StorageFormatRounding, Int8TiesToEvenAndSaturation) {
  const StorageFormat int8 = StorageFormat::int8();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(core::encode(int8, 0.5f, 1.0f), 0x00u);
  EXPECT_EQ(core::encode(int8, 1.5f, 1.0f), 0x02u);
  EXPECT_EQ(core::encode(int8, 2.5f, 1.0f), 0x02u);
  EXPECT_EQ(core::encode(int8, -2.5f, 1.0f), 0xFEu);
  EXPECT_EQ(core::encode(int8, 126.5f, 1.0f), 0x7Eu);
  EXPECT_EQ(core::encode(int8, 127.4f, 1.0f), 0x7Fu);
  EXPECT_EQ(core::encode(int8, 1000.0f, 1.0f), 0x7Fu);
  EXPECT_EQ(core::encode(int8, -1000.0f, 1.0f), 0x81u);  // −127, never −128
  EXPECT_EQ(core::encode(int8, -128.0f, 1.0f), 0x81u);
  EXPECT_EQ(core::encode(int8, inf, 0.1f), 0x7Fu);
  EXPECT_EQ(core::encode(int8, -inf, 0.1f), 0x81u);
  EXPECT_EQ(core::encode(int8, std::nanf(""), 0.1f), 0x00u);  // documented choice: NaN stores as 0
  EXPECT_EQ(core::encode(int8, 0.25f, 0.1f), 0x02u);          // 2.5 → 2
  EXPECT_EQ(core::encode(int8, 0.7f, 0.1f), 0x07u);
}

TEST(StorageFormatInt8Scale, PerTensorAndPerChannel) {
  const float weights[] = {0.5f, -1.27f, 0.0f, 0.25f,  // channel 0: max |w| = 1.27
                           0.0f, 0.0f, 0.0f, 0.0f,     // channel 1: all zero → scale 1
                           2.54f, -0.1f, std::nanf(""), -std::numeric_limits<float>::infinity()};  // channel 2
  EXPECT_EQ(core::symmetric_int8_scale(weights, 12), 2.54f / 127.0f);  // NaN and inf are skipped
  float scales[3];
  core::symmetric_int8_channel_scales(weights, 3, 4, scales);
  EXPECT_EQ(scales[0], 1.27f / 127.0f);
  EXPECT_EQ(scales[1], 1.0f);
  EXPECT_EQ(scales[2], 2.54f / 127.0f);
  // The extreme weight maps to ±127 and back to itself (or its nearest float).
  EXPECT_EQ(core::encode(StorageFormat::int8(), -1.27f, scales[0]), 0x81u);
  EXPECT_FLOAT_EQ(core::decode(StorageFormat::int8(), 0x81, scales[0]), -1.27f);
  EXPECT_EQ(core::symmetric_int8_scale(weights, 0), 1.0f);
}

// ---------------------------------------------------------------------------------------------
// PyTorch parity: tests/golden/storage_formats/fp16_bf16_encodings.bin holds torch 1.13's
// .half() and .bfloat16() of ~97k fp32 inputs (python/make_format_golden.py).

struct GoldenEncoding {
  uint32_t fp32_bits;
  uint16_t fp16_word;
  uint16_t bf16_word;
};

std::vector<GoldenEncoding> load_golden_encodings() {
  const std::string path = testing::source_path("tests/golden/storage_formats/fp16_bf16_encodings.bin");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(path + ": cannot open (regenerate with python/make_format_golden.py)");
  char magic[8];
  uint32_t count = 0;
  file.read(magic, sizeof magic);
  file.read(reinterpret_cast<char*>(&count), sizeof count);
  if (!file || std::memcmp(magic, "FSFMT16\x01", 8) != 0) throw Error(path + ": not a format golden file");
  std::vector<GoldenEncoding> records(count);
  for (GoldenEncoding& record : records) {
    unsigned char bytes[8];
    file.read(reinterpret_cast<char*>(bytes), sizeof bytes);
    record.fp32_bits = bytes[0] | bytes[1] << 8 | bytes[2] << 16 | static_cast<uint32_t>(bytes[3]) << 24;
    record.fp16_word = static_cast<uint16_t>(bytes[4] | bytes[5] << 8);
    record.bf16_word = static_cast<uint16_t>(bytes[6] | bytes[7] << 8);
  }
  if (!file) throw Error(path + ": truncated");
  return records;
}

TEST(StorageFormatPyTorchParity, Fp16AndBf16EncodeAsTorchDoes) {
  const std::vector<GoldenEncoding> records = load_golden_encodings();
  ASSERT_GT(records.size(), 90000u);
  int fp16_mismatches = 0, bf16_mismatches = 0, nan_inputs = 0;
  for (const GoldenEncoding& record : records) {
    const float value = bits_to_float(record.fp32_bits);
    nan_inputs += std::isnan(value);
    const uint32_t fp16 = core::encode(StorageFormat::fp16(), value, kNoScale);
    const uint32_t bf16 = core::encode(StorageFormat::bf16(), value, kNoScale);
    // NaN: both NaN (the payload PyTorch writes differs between its scalar and vector paths).
    const bool fp16_ok = std::isnan(core::decode_fp16(record.fp16_word)) ? std::isnan(core::decode_fp16(fp16))
                                                                        : fp16 == record.fp16_word;
    const bool bf16_ok = std::isnan(core::decode_bf16(record.bf16_word)) ? std::isnan(core::decode_bf16(bf16))
                                                                        : bf16 == record.bf16_word;
    if (!fp16_ok && fp16_mismatches++ < 5)
      ADD_FAILURE() << std::hex << "fp16 of 0x" << record.fp32_bits << ": 0x" << fp16 << ", torch 0x" << record.fp16_word;
    if (!bf16_ok && bf16_mismatches++ < 5)
      ADD_FAILURE() << std::hex << "bf16 of 0x" << record.fp32_bits << ": 0x" << bf16 << ", torch 0x" << record.bf16_word;
  }
  EXPECT_EQ(fp16_mismatches, 0);
  EXPECT_EQ(bf16_mismatches, 0);
  EXPECT_GT(nan_inputs, 10);  // the file really exercises NaN
}

// ---------------------------------------------------------------------------------------------
// Bit helpers and the fault seed 002 describes.

TEST(StorageFormatBits, FlipAndStuckAt) {
  EXPECT_EQ(core::flip_bit(0x00u, 0), 0x01u);
  EXPECT_EQ(core::flip_bit(0x01u, 0), 0x00u);
  EXPECT_EQ(core::flip_bit(0x3C00u, 15), 0xBC00u);
  EXPECT_EQ(core::flip_bit(0u, 31), 0x80000000u);
  EXPECT_EQ(core::stuck_at(0x10u, 4, true), 0x10u);
  EXPECT_EQ(core::stuck_at(0x10u, 4, false), 0x00u);
  EXPECT_EQ(core::stuck_at(0x00u, 31, true), 0x80000000u);
  EXPECT_EQ(core::stuck_at(0xFFFFFFFFu, 0, false), 0xFFFFFFFEu);
}

TEST(StorageFormatBits, FlippingTheFp32ExponentMsbOfAValueInOneToTwoGivesInfOrNan) {
  // Seed 002: weights in [1, 2) have exponent 0111 1111; flipping bit 30 makes it all ones.
  std::mt19937 generator(2);
  std::uniform_real_distribution<float> one_to_two(1.0f, 2.0f);
  std::vector<float> values = {1.0f, 1.5f, std::nextafter(2.0f, 0.0f), -1.25f};
  for (int i = 0; i < 1000; ++i) values.push_back(one_to_two(generator));
  const StorageFormat fp32 = StorageFormat::fp32();
  for (float value : values) {
    const float faulted = core::decode(fp32, core::flip_bit(core::encode(fp32, value, kNoScale), 30), kNoScale);
    EXPECT_FALSE(std::isfinite(faulted)) << value;
  }
  EXPECT_TRUE(std::isinf(core::decode(fp32, core::flip_bit(core::encode(fp32, 1.0f, kNoScale), 30), kNoScale)));
  EXPECT_TRUE(std::isnan(core::decode(fp32, core::flip_bit(core::encode(fp32, 1.5f, kNoScale), 30), kNoScale)));
  // The same holds for fp16 and bf16, whose exponent MSB is bit 14.
  EXPECT_FALSE(std::isfinite(core::decode(StorageFormat::fp16(), core::flip_bit(core::encode_fp16(1.5f), 14), kNoScale)));
  EXPECT_FALSE(std::isfinite(core::decode(StorageFormat::bf16(), core::flip_bit(core::encode_bf16(1.5f), 14), kNoScale)));
}

// ---------------------------------------------------------------------------------------------
// The descriptor.

TEST(StorageFormatDescriptor, ParseNameAndBits) {
  const struct {
    const char* text;
    const char* name;
    int bits;
  } cases[] = {
      {"fp32", "fp32", 32}, {"fp16", "fp16", 16}, {"bf16", "bf16", 16},
      {"q2.5", "q2.5", 8}, {"q3.4", "q3.4", 8}, {"q2.5-sm", "q2.5-sm", 8},
      {"Q2.5", "q2.5", 8}, {"q7.8", "q7.8", 16}, {"q0.1", "q0.1", 2},
      {"int8", "int8", 8}, {"INT8-Channel", "int8-channel", 8},
  };
  for (const auto& c : cases) {
    const StorageFormat format = StorageFormat::parse(c.text);
    EXPECT_EQ(format.name(), c.name) << c.text;
    EXPECT_EQ(format.bits(), c.bits) << c.text;
    EXPECT_EQ(StorageFormat::parse(format.name()), format) << c.text;
  }
  EXPECT_EQ(StorageFormat::parse("q2.5"), StorageFormat::fixed_point(2, 5));
  EXPECT_EQ(StorageFormat::parse("q2.5-sm").sign_encoding, SignEncoding::SignMagnitude);
  EXPECT_EQ(StorageFormat::parse("int8-channel").scale_granularity, core::ScaleGranularity::PerOutputChannel);
  EXPECT_NE(StorageFormat::parse("q2.5"), StorageFormat::parse("q2.5-sm"));
  EXPECT_TRUE(StorageFormat::parse("int8").uses_scale());
  EXPECT_FALSE(StorageFormat::parse("fp16").uses_scale());
  // Defaults: fp32, and Q2.5 two's complement for a bare fixed-point descriptor.
  EXPECT_EQ(StorageFormat{}.kind, core::StorageKind::Fp32);
  EXPECT_EQ(StorageFormat::fixed_point(2, 5).name(), "q2.5");
}

TEST(StorageFormatDescriptor, ParseRejectsUnknownNamesClearly) {
  for (const char* text : {"", "fp8", "float32", "q", "q2", "q2.", "q.5", "q2.5-xx", "q2.5sm", "int4", "q123.4", " fp32"}) {
    try {
      StorageFormat::parse(text);
      ADD_FAILURE() << "'" << text << "' parsed";
    } catch (const Error& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find(std::string("'") + text + "'"), std::string::npos) << message;
      EXPECT_NE(message.find("fp16"), std::string::npos) << message;
    }
  }
  for (const char* text : {"q8.8", "q15.15", "q0.0"}) {
    try {
      StorageFormat::parse(text);
      ADD_FAILURE() << "'" << text << "' parsed";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("2 to 16"), std::string::npos) << error.what();
    }
  }
}

}  // namespace
}  // namespace flipsweep
