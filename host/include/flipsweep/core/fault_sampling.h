#pragma once
// Exact fault sampling (DESIGN.md, "The fault model, precisely", items 2 and 4; the scheme is
// written out for other tools in docs/CAMPAIGNS.md, "Fault maps, exactly").
//
// For one tensor with `bits` stored bits, every bit is faulty independently with probability
// `rate` (the BER). Nothing here rounds bits * rate to a count or compares against a float
// threshold that cannot express 1e-9: counts are exact Binomial draws (inversion for small
// means, Hörmann's BTRS for large ones, both O(1) expected time independent of `bits`) and
// positions are uniformly random subsets.
//
// Nesting without a rate list: dyadic bands. Every bit carries an implicit uniform U in [0, 1);
// the bit is faulty at rate r iff U < r. So the faults at r1 are a subset of those at r2 >= r1
// for every pair of rates, and a trial's faults at r depend on (seed, trial, tensor, r) alone —
// not on which other rates a campaign sweeps. The U values are never drawn for every bit: [0, 1)
// is cut into the bands B_64 = [0, 2^-64) and B_k = [2^-(k+1), 2^-k) for k = 63 .. 0, and the
// bits whose U falls in each band are drawn band by band, lowest U first: the count of B_k is
// Binomial(bits not yet taken, P(U in B_k | U >= 2^-(k+1))) = 2^-(k+1) / (1 - 2^-(k+1)) (B_64:
// Binomial(bits, 2^-64)), its positions a uniform subset of the bits not yet taken, and each
// such bit's exact U is drawn uniformly inside the band. The faults at r are those of the bands
// below r's band plus the members of r's band with U < r. Cost: O(faults at r) plus 65
// Binomial draws at most (a band's draw is the same whatever r it is made for).
//
// Keying. All randomness comes from Philox4x32-10. A tensor's key is the 64-bit FNV-1a hash of
// its parameter name (tensor_name_key). For (campaign seed, tensor key) a 64-bit Philox key is
// derived once: the first two words of philox4x32_10({tensor key low, high, 0x6D617073,
// 0x74656E73}, seed low word, seed high word). Every draw of a trial then uses that key with the
// counter {index low, index high, trial, purpose << 8 | band}: a band's count and positions come
// from the sequential stream whose index is the block number (0, 1, 2, ...), a bit's U from the
// single block whose index is its position. So faults do not depend on how many threads sample,
// in which order tensors or trials are visited, on batch size, shard or backend; the counter
// layout is fixed because it defines which faults a seed produces (changing it changes every
// published fault map; tests pin it).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "flipsweep/core/host_device.h"
#include "flipsweep/error.h"
#include "flipsweep/core/philox.h"

namespace flipsweep::core {

struct FaultStreamKey {
  uint64_t campaign_seed = 0;
  uint32_t trial = 0;
  uint64_t tensor_key = 0;  // tensor_name_key(parameter name)
};

// Each purpose gets its own counters, so the stuck-at faults of a trial are independent of its
// bit flips, and a bit's U is independent of how the positions were drawn.
enum class RandomPurpose : uint32_t {
  FlipBand = 0,         // per band: the count, then the positions (sequential stream)
  FlipUniform = 1,      // per position: the bit's U inside its band
  StuckAtBand = 2,
  StuckAtUniform = 3,
  StuckAtValue = 4,     // per position: the value a stuck cell holds
  ExactPositions = 5,   // the exact-count fault model's positions (sequential stream)
  SingleFlip = 6,       // the single-flip model's one position over all targets (sequential stream)
  LayerBitElement = 7,  // the layer-bit sweep's element in its trial's tensor (sequential stream)
};

// The single-flip model draws one position over every target tensor at once, from the stream of
// this tensor key (no parameter's name hashes to 0 in practice; the key only has to be fixed).
constexpr uint64_t kSingleFlipTensorKey = 0;

enum class FaultKind { BitFlip, StuckAt };

// Largest tensor size the samplers accept: counts must be exact in double.
constexpr uint64_t kMaxFaultTargetBits = uint64_t{1} << 53;

// The lowest band, [0, 2^-64); bands 63 .. 0 are [2^-(k+1), 2^-k).
constexpr int kBottomFaultBand = 64;

// FNV-1a, 64 bits, over the name's bytes: stable across platforms and releases (unlike
// std::hash). Distinct names of one model are checked to give distinct keys (FaultInjector).
inline uint64_t tensor_name_key(const std::string& name) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : name) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

FLIPSWEEP_HD PhiloxKey philox_key_for_seed(uint64_t campaign_seed) {
  PhiloxKey key;
  key.word[0] = static_cast<uint32_t>(campaign_seed);
  key.word[1] = static_cast<uint32_t>(campaign_seed >> 32);
  return key;
}

// The Philox key of one tensor's draws under one campaign seed (see the header comment).
FLIPSWEEP_HD PhiloxKey tensor_philox_key(uint64_t campaign_seed, uint64_t tensor_key) {
  PhiloxCounter counter;
  counter.word[0] = static_cast<uint32_t>(tensor_key);
  counter.word[1] = static_cast<uint32_t>(tensor_key >> 32);
  counter.word[2] = 0x6D617073u;  // "maps"
  counter.word[3] = 0x74656E73u;  // "tens"
  const PhiloxCounter block = philox4x32_10(counter, philox_key_for_seed(campaign_seed));
  PhiloxKey key;
  key.word[0] = block.word[0];
  key.word[1] = block.word[1];
  return key;
}

FLIPSWEEP_HD uint32_t stream_word(RandomPurpose purpose, int band) {
  return (static_cast<uint32_t>(purpose) << 8) | static_cast<uint32_t>(band);
}

// The sequential stream of (key, purpose, band): counter blocks 0, 1, 2, ...
FLIPSWEEP_HD PhiloxStream fault_stream(const FaultStreamKey& key, RandomPurpose purpose, int band = 0) {
  return PhiloxStream(tensor_philox_key(key.campaign_seed, key.tensor_key), key.trial, stream_word(purpose, band), 0);
}

// The Philox block that belongs to one bit position (index = position), under the tensor's
// derived key (tensor_philox_key, computed once by callers that draw many).
FLIPSWEEP_HD PhiloxCounter position_block(const PhiloxKey& tensor_key, uint32_t trial, RandomPurpose purpose, int band,
                                          uint64_t position) {
  PhiloxCounter counter;
  counter.word[0] = static_cast<uint32_t>(position);
  counter.word[1] = static_cast<uint32_t>(position >> 32);
  counter.word[2] = trial;
  counter.word[3] = stream_word(purpose, band);
  return philox4x32_10(counter, tensor_key);
}

FLIPSWEEP_HD PhiloxCounter position_block(const FaultStreamKey& key, RandomPurpose purpose, int band, uint64_t position) {
  return position_block(tensor_philox_key(key.campaign_seed, key.tensor_key), key.trial, purpose, band, position);
}

// A uniform in [0, 1) (53 bits, uniform_closed_open_from_words of the first two words) that
// belongs to one bit position, for decisions that must not depend on which other positions exist.
FLIPSWEEP_HD double position_uniform(const FaultStreamKey& key, RandomPurpose purpose, uint64_t position) {
  const PhiloxCounter block = position_block(key, purpose, 0, position);
  return uniform_closed_open_from_words(block.word[0], block.word[1]);
}

// The value a stuck-at fault at `position` forces: true = stuck at 1, with probability
// probability_of_one (0.5 when both polarities are equally likely).
FLIPSWEEP_HD bool stuck_at_value(const FaultStreamKey& key, uint64_t position, double probability_of_one = 0.5) {
  return position_uniform(key, RandomPurpose::StuckAtValue, position) < probability_of_one;
}

// The U of a faulty bit at `position` of band `band`: m = the top 52 bits of the position block's
// words 0 and 1 ((w0 << 32 | w1) >> 12); U = 2^-(band+1) * (1 + m 2^-52) for bands 0 .. 63 and
// 2^-64 * m 2^-52 for the bottom band. Exact doubles, uniform on a 2^52-point grid of the band.
FLIPSWEEP_HD double band_uniform(const PhiloxKey& tensor_key, uint32_t trial, RandomPurpose purpose, int band,
                                 uint64_t position) {
  const PhiloxCounter block = position_block(tensor_key, trial, purpose, band, position);
  const uint64_t m = ((static_cast<uint64_t>(block.word[0]) << 32) | block.word[1]) >> 12;
  const double fraction = static_cast<double>(m) * 0x1.0p-52;
  return band == kBottomFaultBand ? ::ldexp(fraction, -64) : ::ldexp(1.0 + fraction, -(band + 1));
}

// ---------------------------------------------------------------------------------------------
// Binomial pmf in log space, accurate for any n up to 2^53.
//
// The textbook lgamma(n+1) - lgamma(k+1) - lgamma(n-k+1) + ... loses everything for large n:
// lgamma(1e10) ~ 2.2e11, so its rounding error (~3e-5) swamps the differences between nearby k.
// Loader's saddle-point form ("Fast and accurate computation of binomial probabilities", 2000)
// avoids that cancellation: log f(k) = stirling_error(n) - stirling_error(k) - stirling_error(n-k)
// - deviance(k, np) - deviance(n-k, nq) - log(2 pi k (n-k) / n) / 2, every term small or computed
// without subtracting large numbers, so log f(k) is accurate to ~1e-14 absolute.

namespace binomial_detail {

// log(n!) - log(sqrt(2 pi n) (n/e)^n) for integer n >= 1. Up to 15 a table (computed with 40-digit
// arithmetic); beyond, the Stirling series 1/(12n) - 1/(360n^3) + 1/(1260n^5) - 1/(1680n^7) +
// 1/(1188n^9), whose truncation error is below 1e-16 relative there.
FLIPSWEEP_HD double stirling_error(uint64_t n) {
  constexpr double kSmall[16] = {
      0.0,  // unused: k = 0 and k = n are handled without it
      0.0810614667953272582197, 0.0413406959554092940938, 0.0276779256849983391488,
      0.0207906721037650931115, 0.0166446911898211921632, 0.0138761288230707479987,
      0.0118967099458917700951, 0.0104112652619720964975, 0.00925546218271273291773,
      0.00833056343336287125647, 0.00757367548795184079497, 0.00694284010720952986566,
      0.00640899418800420706844, 0.00595137011275884773562, 0.00555473355196280137104,
  };
  if (n < 16) return kSmall[n];
  const double x = static_cast<double>(n);
  const double x2 = x * x;
  return (1.0 / 12 - (1.0 / 360 - (1.0 / 1260 - (1.0 / 1680 - 1.0 / 1188 / x2) / x2) / x2) / x2) / x;
}

// x log(x / mean) + mean - x (>= 0), Loader's bd0. Near x = mean the direct form subtracts
// nearly equal numbers, so there it is summed as the series 2x atanh-expansion in
// v = (x - mean) / (x + mean), whose terms shrink by v^2 < 0.01 each.
FLIPSWEEP_HD double deviance(double x, double mean) {
  if (x == 0.0) return mean;
  const double difference = x - mean;
  if (::fabs(difference) < 0.1 * (x + mean)) {
    const double v = difference / (x + mean);
    const double v2 = v * v;
    double sum = difference * v;
    double term = 2.0 * x * v;
    for (int j = 1; j < 1000; ++j) {
      term *= v2;
      const double next = sum + term / (2 * j + 1);
      if (next == sum) return next;
      sum = next;
    }
    return sum;
  }
  return x * ::log(x / mean) + mean - x;
}

}  // namespace binomial_detail

// log P(K = k) for K ~ Binomial(n, p), 0 < p < 1, k <= n <= 2^53.
FLIPSWEEP_HD double log_binomial_pmf(uint64_t k, uint64_t n, double p) {
  using namespace binomial_detail;
  const double q = 1.0 - p;
  const double n_real = static_cast<double>(n);
  if (k == 0) return n_real * ::log1p(-p);
  if (k == n) return n_real * ::log(p);
  const double k_real = static_cast<double>(k);
  const double rest = static_cast<double>(n - k);
  const double two_pi = 6.283185307179586476925;
  const double saddle = stirling_error(n) - stirling_error(k) - stirling_error(n - k) - deviance(k_real, n_real * p) -
                        deviance(rest, n_real * q);
  return saddle - 0.5 * ::log(two_pi * k_real * (rest / n_real));
}

namespace binomial_detail {

// Below this mean, inversion (expected mean + 1 steps) beats BTRS, whose hat constants Hörmann
// derived for n p >= 10 only.
constexpr double kInversionMeanLimit = 10.0;

// Sequential search from k = 0 with the pmf recurrence f(k+1) = f(k) (n-k)/(k+1) p/q, for
// p <= 0.5 and n p < 10 (so f(0) = q^n >= e^-20 or so, far from underflow). Rounding can leave
// the summed pmf a hair below 1; if the uniform lands in that gap (the pmf underflows before it
// is used up) the draw is repeated, which conditions on u < total mass: still the computed pmf,
// renormalised, rather than a spurious value at the far tail.
FLIPSWEEP_HD uint64_t sample_by_inversion(uint64_t n, double p, PhiloxStream& stream) {
  const double odds = p / (1.0 - p);
  const double pmf_at_zero = ::exp(static_cast<double>(n) * ::log1p(-p));
  for (;;) {
    double u = stream.next_uniform_open();
    double pmf = pmf_at_zero;
    uint64_t k = 0;
    bool exhausted = false;
    while (u > pmf) {
      u -= pmf;
      if (k == n) {
        exhausted = true;
        break;
      }
      pmf *= odds * (static_cast<double>(n - k) / static_cast<double>(k + 1));
      ++k;
      if (pmf == 0.0) {
        exhausted = true;
        break;
      }
    }
    if (!exhausted) return k;
  }
}

// BTRS, the transformed rejection sampler with squeeze of W. Hörmann, "The generation of
// binomial random variates", J. Statist. Comput. Simul. 46 (1993), for p <= 0.5, n p >= 10.
// The hat is a transformed Cauchy-like density in u in (-1/2, 1/2): k = floor((2a/us + b) u + c)
// with us = 1/2 - |u|; the box us >= 0.07, v <= v_r lies under f(k)/f(mode) and accepts without
// evaluating the pmf (measured: 37% of variates at mean 10, 82% at mean 300, 89% at mean 1e5);
// otherwise v is rescaled by the hat's density and compared with f(k)/f(mode) in log space.
// Measured cost: 2.3 to 2.8 uniforms per variate, whatever n.
FLIPSWEEP_HD uint64_t sample_by_transformed_rejection(uint64_t n, double p, PhiloxStream& stream) {
  const double n_real = static_cast<double>(n);
  const double spread = ::sqrt(n_real * p * (1.0 - p));
  const double b = 1.15 + 2.53 * spread;
  const double a = -0.0873 + 0.0248 * b + 0.01 * p;
  const double c = n_real * p + 0.5;
  const double squeeze_v_limit = 0.92 - 4.2 / b;
  const double hat_scale = (2.83 + 5.1 / b) * spread;
  const uint64_t mode = static_cast<uint64_t>(::floor((n_real + 1.0) * p));
  const double log_pmf_at_mode = log_binomial_pmf(mode, n, p);
  for (;;) {
    const double u = stream.next_uniform_open() - 0.5;  // exact, in (-1/2, 1/2)
    double v = stream.next_uniform_open();
    const double us = 0.5 - ::fabs(u);                  // > 0: u never reaches +-1/2
    const double k_real = ::floor((2.0 * a / us + b) * u + c);
    if (!(k_real >= 0.0 && k_real <= n_real)) continue;  // outside the support (or huge)
    const uint64_t k = static_cast<uint64_t>(k_real);
    if (us >= 0.07 && v <= squeeze_v_limit) return k;
    v *= hat_scale / (a / (us * us) + b);
    if (::log(v) <= log_binomial_pmf(k, n, p) - log_pmf_at_mode) return k;
  }
}

}  // namespace binomial_detail

// K ~ Binomial(n, p) exactly (up to double rounding of the pmf, ~1e-14 relative), n <= 2^53.
// p <= 0 (and NaN) gives 0, p >= 1 gives n; callers validate rates before they get here. For
// p > 1/2 it samples the complement, n - Binomial(n, 1 - p) (1 - p is exact there), so both
// algorithms only ever see p <= 1/2.
FLIPSWEEP_HD uint64_t sample_binomial(uint64_t n, double p, PhiloxStream& stream) {
  if (!(p > 0.0) || n == 0) return 0;
  if (p >= 1.0) return n;
  const bool complement = p > 0.5;
  const double p_at_most_half = complement ? 1.0 - p : p;
  const uint64_t k = static_cast<double>(n) * p_at_most_half < binomial_detail::kInversionMeanLimit
                         ? binomial_detail::sample_by_inversion(n, p_at_most_half, stream)
                         : binomial_detail::sample_by_transformed_rejection(n, p_at_most_half, stream);
  return complement ? n - k : k;
}

// ---------------------------------------------------------------------------------------------
// Host-side position sampling (results are containers).

// `count` distinct positions, uniform over the count-subsets of [0, range), sorted ascending.
// Equivalent to drawing i.i.d. uniform positions and keeping the first `count` distinct values
// (a uniformly random subset by symmetry), done in batches: draw the missing number, sort, merge,
// drop duplicates, repeat. A batch never overshoots, because it holds exactly as many draws as
// values are missing. O(count log count) while count <= range / 2 (duplicates are then rare);
// above that the complement is sampled instead, so the work stays bounded by O(range).
inline std::vector<uint64_t> sample_distinct_positions(uint64_t count, uint64_t range, PhiloxStream& stream) {
  if (count > range) throw flipsweep::Error("sample_distinct_positions: count exceeds range");
  std::vector<uint64_t> positions;
  if (count == 0) return positions;
  if (count > range / 2) {
    const std::vector<uint64_t> excluded = sample_distinct_positions(range - count, range, stream);
    positions.reserve(count);
    size_t next_excluded = 0;
    for (uint64_t position = 0; position < range; ++position) {
      if (next_excluded < excluded.size() && excluded[next_excluded] == position) {
        ++next_excluded;
      } else {
        positions.push_back(position);
      }
    }
    return positions;
  }
  positions.reserve(count);
  while (positions.size() < count) {
    const size_t sorted_prefix = positions.size();
    const uint64_t missing = count - sorted_prefix;
    for (uint64_t i = 0; i < missing; ++i) positions.push_back(stream.next_below(range));
    std::sort(positions.begin() + static_cast<std::ptrdiff_t>(sorted_prefix), positions.end());
    std::inplace_merge(positions.begin(), positions.begin() + static_cast<std::ptrdiff_t>(sorted_prefix),
                       positions.end());
    positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
  }
  return positions;
}

// The band holding rate r: k with 2^-(k+1) <= r < 2^-k, 0 for r >= 1/2 (and r = 1), the bottom
// band for r < 2^-64 (and for 0 or NaN, which have no band: drawing up to it draws the least).
inline int fault_band_of_rate(double rate) {
  if (!(rate > 0.0)) return kBottomFaultBand;
  if (rate >= 0.5) return 0;
  int exponent = 0;
  (void)std::frexp(rate, &exponent);  // rate in [2^(exponent-1), 2^exponent)
  return std::min(-exponent, kBottomFaultBand);
}

// One faulty bit with its implicit uniform: faulty at every rate > u.
struct BandedFault {
  uint64_t position = 0;
  double u = 0.0;
};

// Every bit whose U lies in the bands up to (and including) the band of `rate_limit`: all faults
// at rate_limit and possibly some with U >= rate_limit from its band. Sorted by position.
// 0 < rate_limit <= 1, bits <= 2^53.
inline std::vector<BandedFault> sample_banded_faults(FaultKind kind, const FaultStreamKey& key, uint64_t bits,
                                                     double rate_limit) {
  const bool is_flip = kind == FaultKind::BitFlip;
  const RandomPurpose band_purpose = is_flip ? RandomPurpose::FlipBand : RandomPurpose::StuckAtBand;
  const RandomPurpose uniform_purpose = is_flip ? RandomPurpose::FlipUniform : RandomPurpose::StuckAtUniform;
  const int top_band = fault_band_of_rate(rate_limit);
  const PhiloxKey tensor_key = tensor_philox_key(key.campaign_seed, key.tensor_key);
  std::vector<uint64_t> taken;  // positions of every band drawn so far, sorted
  std::vector<BandedFault> faults;
  for (int band = kBottomFaultBand; band >= top_band; --band) {
    const uint64_t remaining = bits - taken.size();
    if (remaining == 0) break;
    const double lower = band == kBottomFaultBand ? 0.0 : std::ldexp(1.0, -(band + 1));
    const double probability = band == kBottomFaultBand ? std::ldexp(1.0, -64) : lower / (1.0 - lower);
    PhiloxStream stream(tensor_key, key.trial, stream_word(band_purpose, band), 0);  // = fault_stream(key, ...)
    const uint64_t count = sample_binomial(remaining, probability, stream);
    if (count == 0) continue;
    // A uniform subset of ranks among the bits not yet taken, mapped to positions: the rank-th
    // free position is rank + (how many taken positions lie below it).
    const std::vector<uint64_t> ranks = sample_distinct_positions(count, remaining, stream);
    std::vector<uint64_t> positions(ranks.size());
    size_t below = 0;
    for (size_t i = 0; i < ranks.size(); ++i) {
      while (below < taken.size() && taken[below] <= ranks[i] + below) ++below;
      positions[i] = ranks[i] + below;
    }
    for (uint64_t position : positions) faults.push_back({position, band_uniform(tensor_key, key.trial, uniform_purpose, band, position)});
    const size_t old_size = taken.size();
    taken.insert(taken.end(), positions.begin(), positions.end());
    std::inplace_merge(taken.begin(), taken.begin() + static_cast<std::ptrdiff_t>(old_size), taken.end());
  }
  std::sort(faults.begin(), faults.end(), [](const BandedFault& a, const BandedFault& b) { return a.position < b.position; });
  return faults;
}

// The faulty positions of one tensor in one trial at `rate` (bits with U < rate), nested inside
// those at every higher rate. Requires 0 <= rate <= 1 and bits <= 2^53. Sorted, distinct, < bits.
inline std::vector<uint64_t> sample_fault_positions(FaultKind kind, const FaultStreamKey& key, uint64_t bits,
                                                    double rate) {
  if (!(rate >= 0.0 && rate <= 1.0)) {
    char message[120];
    std::snprintf(message, sizeof message, "fault sampling needs 0 <= rate <= 1, got %.17g", rate);
    throw flipsweep::Error(message);
  }
  if (bits > kMaxFaultTargetBits) throw flipsweep::Error("fault sampling: tensor has more than 2^53 bits");
  std::vector<uint64_t> positions;
  if (rate == 0.0 || bits == 0) return positions;  // the empty set nests inside every other
  for (const BandedFault& fault : sample_banded_faults(kind, key, bits, rate))
    if (fault.u < rate) positions.push_back(fault.position);
  return positions;
}

// Bits of the tensor that flip at this BER.
inline std::vector<uint64_t> sample_flips(const FaultStreamKey& key, uint64_t bits, double ber) {
  return sample_fault_positions(FaultKind::BitFlip, key, bits, ber);
}

// Bits of the tensor that are stuck at this rate; stuck_at_value(key, position) gives each one's
// value. Independent of the flips of the same key.
inline std::vector<uint64_t> sample_stuck_at_positions(const FaultStreamKey& key, uint64_t bits, double rate) {
  return sample_fault_positions(FaultKind::StuckAt, key, bits, rate);
}

}  // namespace flipsweep::core
