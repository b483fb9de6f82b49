#pragma once
// Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel random
// numbers: as easy as 1, 2, 3" (SC 2011), as defined by their Random123 library. A counter-based
// generator is a keyed bijection of a 128-bit counter: output i of a stream is computed directly
// from (key, i), so any thread, on either backend, can produce any part of any stream without
// shared state. That is what makes a trial's fault map independent of thread count, batch size,
// shard and backend (docs: DESIGN.md, "The fault model, precisely", item 4).
//
// The output must match Random123's known-answer vectors bit for bit (tests/philox_test.cpp), so
// that fault maps are reproducible by anyone holding the campaign seed.
#include <cstdint>

#include "flipsweep/core/host_device.h"

namespace flipsweep::core {

struct PhiloxCounter {
  uint32_t word[4];
};

struct PhiloxKey {
  uint32_t word[2];
};

namespace philox_detail {

// Multipliers chosen by Salmon et al. for good avalanche after few rounds; the Weyl increments
// (golden ratio and sqrt(3) - 1 in 0.32 fixed point) vary the round keys.
constexpr uint32_t kMultiplier0 = 0xD2511F53u;
constexpr uint32_t kMultiplier1 = 0xCD9E8D57u;
constexpr uint32_t kWeylIncrement0 = 0x9E3779B9u;
constexpr uint32_t kWeylIncrement1 = 0xBB67AE85u;
constexpr int kRounds = 10;

FLIPSWEEP_HD void multiply_high_low(uint32_t a, uint32_t b, uint32_t& high, uint32_t& low) {
  const uint64_t product = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  high = static_cast<uint32_t>(product >> 32);
  low = static_cast<uint32_t>(product);
}

// One Philox S-box round: two 32x32->64 multiplies; the high halves are mixed with the other two
// counter words and the round key, and the words are permuted so that every word feeds a
// multiply within two rounds.
FLIPSWEEP_HD PhiloxCounter philox_round(const PhiloxCounter& counter, const PhiloxKey& key) {
  uint32_t high0, low0, high1, low1;
  multiply_high_low(kMultiplier0, counter.word[0], high0, low0);
  multiply_high_low(kMultiplier1, counter.word[2], high1, low1);
  PhiloxCounter next;
  next.word[0] = high1 ^ counter.word[1] ^ key.word[0];
  next.word[1] = low1;
  next.word[2] = high0 ^ counter.word[3] ^ key.word[1];
  next.word[3] = low0;
  return next;
}

}  // namespace philox_detail

// The ten-round bijection: round r uses key + r * (Weyl increments), wrapping mod 2^32.
FLIPSWEEP_HD PhiloxCounter philox4x32_10(PhiloxCounter counter, PhiloxKey key) {
  for (int r = 0; r < philox_detail::kRounds; ++r) {
    counter = philox_detail::philox_round(counter, key);
    key.word[0] += philox_detail::kWeylIncrement0;
    key.word[1] += philox_detail::kWeylIncrement1;
  }
  return counter;
}

// Uniform double in [0, 1) with 53-bit resolution: 27 bits of high_word and 26 bits of low_word
// form an integer m in [0, 2^53), and the result is m * 2^-53 exactly (every value is a double,
// none is rounded). 0 is possible, 1 is not. Use this for comparisons like "u < probability",
// where P(u < x) = ceil(x * 2^53) / 2^53, within 2^-53 of x for every x in [0, 1].
FLIPSWEEP_HD double uniform_closed_open_from_words(uint32_t high_word, uint32_t low_word) {
  const uint64_t mantissa = (static_cast<uint64_t>(high_word >> 5) << 26) | (low_word >> 6);
  return static_cast<double>(mantissa) * 0x1.0p-53;
}

// Uniform double in the open interval (0, 1): 52 random bits m give (2m + 1) * 2^-53, the
// midpoints of a 2^-52 grid. Neither 0 nor 1 can occur, so log(u), log(1 - u) and 1 / (0.5 - |u -
// 0.5|) are always finite, which rejection samplers and inversion rely on. The smallest value is
// 2^-53, the largest 1 - 2^-53, and the set of values is symmetric under u -> 1 - u. (53 bits
// cannot be used here: (m + 0.5) * 2^-53 needs 54 significant bits and would round to 1.)
FLIPSWEEP_HD double uniform_open_from_words(uint32_t high_word, uint32_t low_word) {
  const uint64_t mantissa = (static_cast<uint64_t>(high_word) << 20) | (low_word >> 12);
  return static_cast<double>(2 * mantissa + 1) * 0x1.0p-53;
}

// A sequential stream over Philox blocks: counter = {block index (64 bits, low word first),
// stream_word2, stream_word3}. The fixed words name the stream; the block index advances by one
// per four 32-bit outputs. Draws are deterministic in (key, stream words, first block) and in
// the order the caller makes them, nothing else.
class PhiloxStream {
 public:
  FLIPSWEEP_HD PhiloxStream(PhiloxKey key, uint32_t stream_word2, uint32_t stream_word3, uint64_t first_block)
      : key_(key), stream_word2_(stream_word2), stream_word3_(stream_word3), next_block_(first_block) {}

  FLIPSWEEP_HD uint32_t next_word() {
    if (words_left_ == 0) refill();
    return buffer_.word[4 - words_left_--];
  }

  // Two words each; see the free functions above for the exact value sets.
  FLIPSWEEP_HD double next_uniform_open() {
    const uint32_t high = next_word();
    return uniform_open_from_words(high, next_word());
  }
  FLIPSWEEP_HD double next_uniform_closed_open() {
    const uint32_t high = next_word();
    return uniform_closed_open_from_words(high, next_word());
  }

  FLIPSWEEP_HD uint64_t next_u64() {
    const uint64_t high = next_word();
    return (high << 32) | next_word();
  }

  // Uniform integer in [0, range), range >= 1, without modulo bias: 64-bit draws below
  // 2^64 mod range are rejected, so the accepted ones cover a whole number of copies of
  // [0, range). At most one draw in two is rejected, and for ranges far below 2^64 almost none.
  FLIPSWEEP_HD uint64_t next_below(uint64_t range) {
    const uint64_t rejection_threshold = (static_cast<uint64_t>(0) - range) % range;  // == 2^64 mod range
    for (;;) {
      const uint64_t draw = next_u64();
      if (draw >= rejection_threshold) return draw % range;
    }
  }

 private:
  FLIPSWEEP_HD void refill() {
    PhiloxCounter counter;
    counter.word[0] = static_cast<uint32_t>(next_block_);
    counter.word[1] = static_cast<uint32_t>(next_block_ >> 32);
    counter.word[2] = stream_word2_;
    counter.word[3] = stream_word3_;
    buffer_ = philox4x32_10(counter, key_);
    ++next_block_;
    words_left_ = 4;
  }

  PhiloxKey key_;
  uint32_t stream_word2_;
  uint32_t stream_word3_;
  uint64_t next_block_;
  PhiloxCounter buffer_{};
  int words_left_ = 0;
};

}  // namespace flipsweep::core
