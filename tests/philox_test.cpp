// Philox4x32-10 against Random123's published known-answer vectors (kat_vectors, philox4x32 10),
// and the stream and uniform helpers built on it.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "flipsweep/core/philox.h"

namespace flipsweep::core {
namespace {

struct KnownAnswer {
  PhiloxCounter counter;
  PhiloxKey key;
  PhiloxCounter expected;
};

TEST(Philox, MatchesRandom123KnownAnswers) {
  const KnownAnswer cases[] = {
      {{{0, 0, 0, 0}}, {{0, 0}}, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
       {{0xffffffffu, 0xffffffffu}},
       {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
       {{0xa4093822u, 0x299f31d0u}},
       {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
  };
  for (const KnownAnswer& c : cases) {
    const PhiloxCounter out = philox4x32_10(c.counter, c.key);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out.word[i], c.expected.word[i]) << "word " << i;
  }
}

TEST(Philox, UniformHelpersHitTheirDocumentedEnds) {
  EXPECT_EQ(uniform_closed_open_from_words(0, 0), 0.0);
  EXPECT_EQ(uniform_closed_open_from_words(0xffffffffu, 0xffffffffu), 1.0 - 0x1.0p-53);
  EXPECT_EQ(uniform_open_from_words(0, 0), 0x1.0p-53);
  EXPECT_EQ(uniform_open_from_words(0xffffffffu, 0xffffffffu), 1.0 - 0x1.0p-53);
  // The lowest bits that carry information move the value by exactly one grid step.
  EXPECT_EQ(uniform_closed_open_from_words(0, 1u << 6), 0x1.0p-53);
  EXPECT_EQ(uniform_closed_open_from_words(0, (1u << 6) - 1), 0.0);
  EXPECT_EQ(uniform_open_from_words(0, 1u << 12), 3 * 0x1.0p-53);
  EXPECT_EQ(uniform_open_from_words(0, (1u << 12) - 1), 0x1.0p-53);
  // The high word is the most significant part.
  EXPECT_EQ(uniform_closed_open_from_words(0x80000000u, 0), 0.5);
  EXPECT_EQ(uniform_open_from_words(0x80000000u, 0), 0.5 + 0x1.0p-53);
}

TEST(Philox, StreamWalksConsecutiveBlocksAcrossTheWordBoundary) {
  const PhiloxKey key{{0x12345678u, 0x9abcdef0u}};
  const uint64_t first_block = 0xfffffffeull;  // the third block carries into counter word 1
  PhiloxStream stream(key, 7, 11, first_block);
  for (uint64_t block = first_block; block < first_block + 3; ++block) {
    const PhiloxCounter expected = philox4x32_10(
        PhiloxCounter{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 7, 11}}, key);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(stream.next_word(), expected.word[i]) << "block " << block << " word " << i;
  }
}

TEST(Philox, StreamUniformsUseTwoWordsHighFirst) {
  const PhiloxKey key{{1, 2}};
  PhiloxStream words(key, 0, 0, 0);
  PhiloxStream uniforms(key, 0, 0, 0);
  const uint32_t w0 = words.next_word(), w1 = words.next_word(), w2 = words.next_word(), w3 = words.next_word();
  EXPECT_EQ(uniforms.next_uniform_open(), uniform_open_from_words(w0, w1));
  EXPECT_EQ(uniforms.next_uniform_closed_open(), uniform_closed_open_from_words(w2, w3));
}

TEST(Philox, NextBelowStaysInRangeAndIsUnbiased) {
  PhiloxStream stream(PhiloxKey{{3, 4}}, 5, 6, 0);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(stream.next_below(1), 0u);
  // A range just above 2^63 rejects almost half of all 64-bit draws: the top values must never
  // leak through as a modulo wrap, and both halves must appear about equally often.
  const uint64_t huge_range = (uint64_t{1} << 63) + 12345;
  int upper_half = 0;
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) {
    const uint64_t value = stream.next_below(huge_range);
    ASSERT_LT(value, huge_range);
    upper_half += value >= huge_range / 2;
  }
  // Binomial(20000, ~1/2): sd ~71, so 500 is seven sd; the seed is fixed, so this never flakes.
  EXPECT_NEAR(upper_half, draws / 2, 500);
  // Small range: all residues equally often (sd ~ 42 per cell of expected 2000).
  std::vector<int> histogram(10, 0);
  for (int i = 0; i < draws; ++i) ++histogram[stream.next_below(10)];
  for (int cell : histogram) EXPECT_NEAR(cell, draws / 10, 300);
}

}  // namespace
}  // namespace flipsweep::core
