#pragma once
// Exact fault sampling (DESIGN.md, "The fault model, precisely", items 2 and 4).
//
// For one tensor with `bits` stored bits, every bit is faulty independently with probability
// `rate` (the BER). Equivalently: the number of faulty bits K is Binomial(bits, rate), and given
// K the faulty positions are a uniformly random K-subset of [0, bits). That is how it is sampled:
// K exactly (inversion for small means, Hörmann's BTRS for large ones, both O(1) expected time
// independent of `bits`), then K distinct positions. Nothing here rounds bits * rate to a count
// or compares against a float threshold that cannot express 1e-9.
//
// Keying. All randomness comes from Philox4x32-10 keyed by the campaign seed, with the counter
// naming (trial, tensor, purpose, index). A tensor's faults in a trial are therefore a pure
// function of (seed, trial, tensor, bits, rate, rate_max): they do not depend on how many
// threads sample, in which order tensors or trials are visited, on batch size, shard or backend.
//
// Nesting across rates. A campaign sweeps several BERs; for paired comparisons and smooth curves
// the faults at a lower BER must be a subset of those at a higher one (same seed, trial, tensor).
// Construction: sample the fault set at rate_max (the largest rate of the campaign), then keep each
// of its positions independently with probability rate / rate_max, deciding with a uniform keyed
// by the position itself. A position kept at rate r1 has u < r1 / rate_max <= r2 / rate_max, so it
// is kept at every r2 >= r1. Thinning an independent-Bernoulli(rate_max) set with independent
// Bernoulli(rate / rate_max) coins gives independent Bernoulli(rate) bits, so each rate is still
// sampled exactly. Nesting holds only among calls that pass the same rate_max; passing
// rate_max = rate is right for a single rate (no thinning happens then).
//
// Counter layout, fixed because it defines which faults a seed produces (changing it changes
// every published fault map): key = campaign seed (low word first); counter = {index low word,
// index high word, trial, tensor index}, where the 64-bit index carries the purpose in its top
// 8 bits and a block number or bit position below (so positions must be < 2^56; bits is limited
// to 2^53 anyway so that counts stay exact in double).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "flipsweep/core/host_device.h"
#include "flipsweep/error.h"
#include "flipsweep/core/philox.h"

namespace flipsweep::core {

struct FaultStreamKey {
  uint64_t campaign_seed = 0;
  uint32_t trial = 0;
  uint32_t tensor_index = 0;
};

// Each purpose gets its own counter range, so the stuck-at faults of a trial are independent of
// its bit flips, and a position's thinning coin is independent of how positions were drawn.
enum class RandomPurpose : uint32_t {
  FlipPositions = 0,
  FlipThinning = 1,
  StuckAtPositions = 2,
  StuckAtThinning = 3,
  StuckAtValue = 4,
};

enum class FaultKind { BitFlip, StuckAt };

// Largest tensor size the samplers accept: counts and bits * rate must be exact in double.
constexpr uint64_t kMaxFaultTargetBits = uint64_t{1} << 53;

namespace fault_stream_detail {
constexpr int kPurposeShift = 56;
}  // namespace fault_stream_detail

FLIPSWEEP_HD PhiloxKey philox_key_for_seed(uint64_t campaign_seed) {
  PhiloxKey key;
  key.word[0] = static_cast<uint32_t>(campaign_seed);
  key.word[1] = static_cast<uint32_t>(campaign_seed >> 32);
  return key;
}

// index < 2^56 (a block number or a bit position).
FLIPSWEEP_HD uint64_t purpose_counter_index(RandomPurpose purpose, uint64_t index) {
  return (static_cast<uint64_t>(purpose) << fault_stream_detail::kPurposeShift) | index;
}

// The sequential stream a sampler draws from for (key, purpose): blocks purpose<<56, +1, +2, ...
FLIPSWEEP_HD PhiloxStream fault_stream(const FaultStreamKey& key, RandomPurpose purpose) {
  return PhiloxStream(philox_key_for_seed(key.campaign_seed), key.trial, key.tensor_index,
                      purpose_counter_index(purpose, 0));
}

// A uniform in [0, 1) that belongs to one bit position: one Philox block keyed by
// (seed, trial, tensor, purpose, position), first two words. Used for decisions that must not
// depend on which other positions exist (thinning coins, stuck-at values).
FLIPSWEEP_HD double position_uniform(const FaultStreamKey& key, RandomPurpose purpose, uint64_t position) {
  const uint64_t index = purpose_counter_index(purpose, position);
  PhiloxCounter counter;
  counter.word[0] = static_cast<uint32_t>(index);
  counter.word[1] = static_cast<uint32_t>(index >> 32);
  counter.word[2] = key.trial;
  counter.word[3] = key.tensor_index;
  const PhiloxCounter block = philox4x32_10(counter, philox_key_for_seed(key.campaign_seed));
  return uniform_closed_open_from_words(block.word[0], block.word[1]);
}

// The value a stuck-at fault at `position` forces: true = stuck at 1, with probability
// probability_of_one (0.5 when both polarities are equally likely).
FLIPSWEEP_HD bool stuck_at_value(const FaultStreamKey& key, uint64_t position, double probability_of_one = 0.5) {
  return position_uniform(key, RandomPurpose::StuckAtValue, position) < probability_of_one;
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

// The faulty positions of one tensor in one trial at `rate`, nested inside those at every
// higher rate sampled with the same rate_max (see the header comment). Requires
// 0 <= rate <= rate_max <= 1 and bits <= 2^53. Sorted, distinct, each < bits.
inline std::vector<uint64_t> sample_fault_positions(FaultKind kind, const FaultStreamKey& key, uint64_t bits,
                                                    double rate, double rate_max) {
  if (!(rate >= 0.0 && rate <= rate_max && rate_max <= 1.0)) {
    char message[160];
    std::snprintf(message, sizeof message, "fault sampling needs 0 <= rate <= rate_max <= 1, got rate %.17g, rate_max %.17g",
                  rate, rate_max);
    throw flipsweep::Error(message);
  }
  if (bits > kMaxFaultTargetBits) throw flipsweep::Error("fault sampling: tensor has more than 2^53 bits");
  if (rate == 0.0) return {};  // the empty set nests inside every other, so no draw is needed
  const bool is_flip = kind == FaultKind::BitFlip;
  PhiloxStream stream = fault_stream(key, is_flip ? RandomPurpose::FlipPositions : RandomPurpose::StuckAtPositions);
  const uint64_t count_at_max = sample_binomial(bits, rate_max, stream);
  std::vector<uint64_t> positions = sample_distinct_positions(count_at_max, bits, stream);
  if (rate < rate_max) {
    const double keep_probability = rate / rate_max;
    const RandomPurpose thinning = is_flip ? RandomPurpose::FlipThinning : RandomPurpose::StuckAtThinning;
    positions.erase(std::remove_if(positions.begin(), positions.end(),
                                   [&](uint64_t position) {
                                     return !(position_uniform(key, thinning, position) < keep_probability);
                                   }),
                    positions.end());
  }
  return positions;
}

// Bits of the tensor that flip at this BER; ber_max = the largest BER of the campaign (or ber
// itself for a single point).
inline std::vector<uint64_t> sample_flips(const FaultStreamKey& key, uint64_t bits, double ber, double ber_max) {
  return sample_fault_positions(FaultKind::BitFlip, key, bits, ber, ber_max);
}

// Bits of the tensor that are stuck at this rate; stuck_at_value(key, position) gives each one's
// value. Independent of the flips of the same key.
inline std::vector<uint64_t> sample_stuck_at_positions(const FaultStreamKey& key, uint64_t bits, double rate,
                                                       double rate_max) {
  return sample_fault_positions(FaultKind::StuckAt, key, bits, rate, rate_max);
}

}  // namespace flipsweep::core
