// Exact fault sampling: the count is Binomial(bits, rate), the positions are a uniform subset of
// distinct bits, lower rates nest inside higher ones, and everything is a pure function of the key.
//
// Goodness of fit uses Pearson's chi-square with p-values from a regularized incomplete gamma
// written here. Every test runs on fixed seeds, so results are deterministic; the 1e-4 p-value
// threshold only decides whether the fixed-seed sample looks like the claimed distribution, and
// is loose enough that a correct sampler passes with any reasonable seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "flipsweep/core/fault_sampling.h"

namespace flipsweep::core {
namespace {

constexpr double kMinimumPValue = 1e-4;

// ---------------------------------------------------------------------------------------------
// Statistics helpers.

// Q(a, x) = Gamma(a, x) / Gamma(a), the upper regularized incomplete gamma: series for P below
// x = a + 1, Lentz's continued fraction for Q above (each converges fast on its side).
double upper_regularized_gamma(double a, double x) {
  if (x <= 0.0) return 1.0;
  const double log_prefactor = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1.0) {
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 100000 && std::fabs(term) > std::fabs(sum) * 1e-17; ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return 1.0 - sum * std::exp(log_prefactor);
  }
  const double tiny = 1e-300;
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, fraction = d;
  for (int i = 1; i < 100000; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double delta = d * c;
    fraction *= delta;
    if (std::fabs(delta - 1.0) < 1e-16) break;
  }
  return std::exp(log_prefactor) * fraction;
}

double chi_square_p_value(double statistic, int degrees_of_freedom) {
  return upper_regularized_gamma(0.5 * degrees_of_freedom, 0.5 * statistic);
}

struct ChiSquare {
  double statistic = 0.0;
  int degrees_of_freedom = 0;
  double p_value = 0.0;
};

ChiSquare chi_square(const std::vector<double>& observed, const std::vector<double>& expected) {
  ChiSquare result;
  for (size_t i = 0; i < observed.size(); ++i) {
    const double difference = observed[i] - expected[i];
    result.statistic += difference * difference / expected[i];
  }
  result.degrees_of_freedom = static_cast<int>(observed.size()) - 1;
  result.p_value = chi_square_p_value(result.statistic, result.degrees_of_freedom);
  return result;
}

::testing::AssertionResult fits(const ChiSquare& test, const char* what) {
  // Printed so the numbers can be read off a test log.
  std::printf("  %-48s chi2 = %9.3f  df = %3d  p = %.4f\n", what, test.statistic, test.degrees_of_freedom,
              test.p_value);
  if (test.p_value > kMinimumPValue) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": chi2 " << test.statistic << " on " << test.degrees_of_freedom
                                       << " df, p = " << test.p_value;
}

// Binomial pmf from long-double lgamma: an independent reference for the sampler's own
// (saddle-point) pmf. Good to ~1e-10 relative for n up to 1e8, which the tests stay within.
double reference_binomial_pmf(uint64_t k, uint64_t n, double p) {
  const long double nn = n, kk = k;
  const long double log_pmf = std::lgamma(nn + 1) - std::lgamma(kk + 1) - std::lgamma(nn - kk + 1) +
                              kk * std::log(static_cast<long double>(p)) +
                              (nn - kk) * std::log1p(-static_cast<long double>(p));
  return static_cast<double>(std::exp(log_pmf));
}

// Pearson's test of counts against Binomial(n, p). Consecutive values are pooled into bins of
// expected size >= 20; the first bin takes everything below it and the last everything above,
// so the tails (however thin) are covered. Only the window mean +- 12 sd is evaluated.
ChiSquare binomial_fit(const std::vector<uint64_t>& counts, uint64_t n, double p) {
  const double draws = static_cast<double>(counts.size());
  const double mean = n * p, sd = std::sqrt(n * p * (1 - p));
  const uint64_t low = mean - 12 * sd > 0 ? static_cast<uint64_t>(mean - 12 * sd) : 0;
  const uint64_t high = std::min<uint64_t>(n, static_cast<uint64_t>(mean + 12 * sd + 12));
  std::vector<uint64_t> bin_upper;  // inclusive upper k of each bin but the last
  std::vector<double> expected;
  double bin_mass = 0.0, closed_mass = 0.0;
  for (uint64_t k = low; k <= high; ++k) {
    bin_mass += reference_binomial_pmf(k, n, p);
    if (bin_mass * draws >= 20.0) {
      bin_upper.push_back(k);
      expected.push_back(bin_mass * draws);
      closed_mass += bin_mass;
      bin_mass = 0.0;
    }
  }
  // The remainder above the last closed bin is merged into it if too small, else it is a bin.
  const double remainder = std::max(0.0, 1.0 - closed_mass);
  if (remainder * draws >= 20.0 || expected.empty()) {
    expected.push_back(remainder * draws);
  } else {
    expected.back() += remainder * draws;
    bin_upper.pop_back();
  }
  std::vector<double> observed(expected.size(), 0.0);
  for (uint64_t count : counts) {
    const size_t bin = std::lower_bound(bin_upper.begin(), bin_upper.end(), count) - bin_upper.begin();
    observed[bin] += 1.0;
  }
  return chi_square(observed, expected);
}

ChiSquare uniform_fit(const std::vector<double>& observed) {
  double total = 0.0;
  for (double o : observed) total += o;
  return chi_square(observed, std::vector<double>(observed.size(), total / observed.size()));
}

// Under the fault model every bit is faulty independently, so the faults landing in a bin that
// covers m bit-trials are Binomial(m, p), independently across bins, and the sum of squared
// z-scores is chi-square with one degree of freedom per bin. (Pearson's test against equal bin
// shares would be wrong for dense rates: positions drawn without replacement spread more evenly
// than a multinomial, and at p = 0.7 it would see a chi-square a third of its df.)
ChiSquare independent_bits_fit(const std::vector<double>& observed, double bit_trials_per_bin, double p) {
  ChiSquare result;
  const double mean = bit_trials_per_bin * p, variance = bit_trials_per_bin * p * (1 - p);
  for (double o : observed) result.statistic += (o - mean) * (o - mean) / variance;
  result.degrees_of_freedom = static_cast<int>(observed.size());
  result.p_value = chi_square_p_value(result.statistic, result.degrees_of_freedom);
  return result;
}

bool strictly_increasing_below(const std::vector<uint64_t>& positions, uint64_t bits) {
  for (size_t i = 0; i < positions.size(); ++i) {
    if (positions[i] >= bits) return false;
    if (i > 0 && positions[i - 1] >= positions[i]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------

TEST(FaultSampling, ChiSquareHelperMatchesTabulatedCriticalValues) {
  // Upper 5%, 0.1% and 0.01% points and a lower 5% point, from standard tables.
  EXPECT_NEAR(chi_square_p_value(3.841459, 1), 0.05, 1e-6);
  EXPECT_NEAR(chi_square_p_value(18.307038, 10), 0.05, 1e-6);
  EXPECT_NEAR(chi_square_p_value(82.528727, 63), 0.05, 1e-6);
  EXPECT_NEAR(chi_square_p_value(15.136705, 1), 1e-4, 1e-8);
  EXPECT_NEAR(chi_square_p_value(59.703059, 30), 1e-3, 1e-8);
  EXPECT_NEAR(chi_square_p_value(3.940299, 10), 0.95, 1e-6);  // below a + 1: the series side
}

TEST(FaultSampling, LogPmfMatchesReferenceAndSumsToOne) {
  struct Case {
    uint64_t n;
    double p;
  };
  for (const Case c : {Case{10, 0.3}, Case{1000, 0.3}, Case{1000000, 1e-6}, Case{100000000, 1e-3}}) {
    const double mean = c.n * c.p, sd = std::sqrt(mean * (1 - c.p));
    for (double z : {-8.0, -3.0, -1.0, 0.0, 0.5, 2.0, 6.0}) {
      const double k_real = std::round(mean + z * sd);
      if (k_real < 0 || k_real > c.n) continue;
      const uint64_t k = static_cast<uint64_t>(k_real);
      EXPECT_NEAR(log_binomial_pmf(k, c.n, c.p), std::log(reference_binomial_pmf(k, c.n, c.p)), 1e-9)
          << "n " << c.n << " p " << c.p << " k " << k;
    }
  }
  double total = 0.0;
  for (uint64_t k = 0; k <= 1000; ++k) total += std::exp(log_binomial_pmf(k, 1000, 0.3));
  EXPECT_NEAR(total, 1.0, 1e-13);
  // Where lgamma-based formulas break down: n = 1e10 must still give a normalised pmf.
  total = 0.0;
  for (uint64_t k = 0; k <= 60; ++k) total += std::exp(log_binomial_pmf(k, 10000000000ull, 1e-9));
  EXPECT_NEAR(total, 1.0, 1e-12);
  total = 0.0;
  const uint64_t n = 10000000000ull;  // p = 1e-3: mean 1e7, sd ~3161
  for (uint64_t k = 10000000 - 40000; k <= 10000000 + 40000; ++k) total += std::exp(log_binomial_pmf(k, n, 1e-3));
  EXPECT_NEAR(total, 1.0, 1e-11);
}

TEST(FaultSampling, CountIsBinomialAcrossRegimes) {
  struct Case {
    uint64_t n;
    double p;
    const char* regime;
  };
  const Case cases[] = {
      {1000000, 1e-6, "inversion, mean 1"},
      {19, 0.5, "inversion, mean 9.5"},
      {50, 0.9, "complement + inversion, p 0.9"},
      {20, 0.5, "BTRS at its lower limit, mean 10"},
      {1000, 0.3, "BTRS, mean 300"},
      {10000, 0.5, "BTRS, p 0.5"},
      {100000000, 1e-3, "BTRS, mean 1e5"},
      {10000000000ull, 1e-9, "n 1e10, p 1e-9"},
  };
  const int draws = 20000;
  for (const Case& c : cases) {
    std::vector<uint64_t> counts(draws);
    for (int trial = 0; trial < draws; ++trial) {
      PhiloxStream stream = fault_stream({2024, static_cast<uint32_t>(trial), 3}, RandomPurpose::FlipBand);
      counts[trial] = sample_binomial(c.n, c.p, stream);
      ASSERT_LE(counts[trial], c.n);
    }
    EXPECT_TRUE(fits(binomial_fit(counts, c.n, c.p), c.regime));
  }
}

TEST(FaultSampling, MeanAndVarianceForHugeTensors) {
  // Windows too wide for a pmf table: moments instead. For N = 20000 draws the sample mean has sd
  // sqrt(var / N) and the sample variance a relative sd of about sqrt(2 / N) = 1%; the bounds are
  // six of each.
  struct Case {
    uint64_t n;
    double p;
  };
  for (const Case c : {Case{1000000000ull, 0.5}, Case{uint64_t{1} << 53, 0.25}, Case{uint64_t{1} << 53, 0.999}}) {
    const int draws = 20000;
    double sum = 0.0, sum_squares = 0.0;
    const double mean = c.n * c.p, variance = c.n * c.p * (1 - c.p);
    for (int trial = 0; trial < draws; ++trial) {
      PhiloxStream stream = fault_stream({77, static_cast<uint32_t>(trial), 0}, RandomPurpose::FlipBand);
      const double deviation = static_cast<double>(sample_binomial(c.n, c.p, stream)) - mean;
      sum += deviation;
      sum_squares += deviation * deviation;
    }
    const double mean_deviation = sum / draws;
    const double sample_variance = (sum_squares - sum * mean_deviation) / (draws - 1);
    EXPECT_LT(std::fabs(mean_deviation), 6 * std::sqrt(variance / draws)) << "n " << c.n << " p " << c.p;
    EXPECT_NEAR(sample_variance / variance, 1.0, 6 * std::sqrt(2.0 / draws)) << "n " << c.n << " p " << c.p;
  }
}

TEST(FaultSampling, ExactAtTheEnds) {
  const FaultStreamKey key{5, 1, 2};
  EXPECT_TRUE(sample_flips(key, 10000000000ull, 0.0).empty());
  EXPECT_TRUE(sample_flips(key, 10000000000ull, 0.0).empty());
  // A rate far below anything a tensor this size can show (expected 1e-6 faults).
  EXPECT_LE(sample_flips(key, 1000000, 1e-12).size(), 1u);
  EXPECT_TRUE(sample_flips(key, 0, 0.5).empty());
  const std::vector<uint64_t> all = sample_flips(key, 1000, 1.0);
  ASSERT_EQ(all.size(), 1000u);
  for (uint64_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], i);
  PhiloxStream stream = fault_stream(key, RandomPurpose::FlipBand);
  EXPECT_EQ(sample_binomial(10000000000ull, 0.0, stream), 0u);
  EXPECT_EQ(sample_binomial(10000000000ull, 1.0, stream), 10000000000ull);
  EXPECT_EQ(sample_binomial(0, 0.3, stream), 0u);
}

TEST(FaultSampling, HalfRateHasBinomialMeanAndVariance) {
  // bits = 1000 at p = 0.5: counts straddle bits / 2, so both the direct and the complement
  // position samplers run. Mean 500 (sd of the mean 0.11), variance 250 (relative sd 1%).
  const int trials = 20000;
  double sum = 0.0, sum_squares = 0.0;
  std::vector<uint64_t> counts(trials);
  for (int trial = 0; trial < trials; ++trial) {
    const std::vector<uint64_t> flips = sample_flips({99, static_cast<uint32_t>(trial), 0}, 1000, 0.5);
    ASSERT_TRUE(strictly_increasing_below(flips, 1000));
    counts[trial] = flips.size();
    const double deviation = flips.size() - 500.0;
    sum += deviation;
    sum_squares += deviation * deviation;
  }
  EXPECT_NEAR(sum / trials, 0.0, 0.7);
  EXPECT_NEAR((sum_squares - sum * sum / trials) / (trials - 1) / 250.0, 1.0, 0.06);
  EXPECT_TRUE(fits(binomial_fit(counts, 1000, 0.5), "flip count, bits 1000, p 0.5"));
}

TEST(FaultSampling, BerOneInABillionOnTenBillionBits) {
  // Mean 10 flips per trial. Over 20000 trials the mean count has sd 0.022; 0.15 is ~7 sd.
  const uint64_t bits = 10000000000ull;
  const int trials = 20000;
  std::vector<uint64_t> counts(trials);
  double total = 0.0;
  uint64_t above_2_33 = 0;
  for (int trial = 0; trial < trials; ++trial) {
    const std::vector<uint64_t> flips = sample_flips({1, static_cast<uint32_t>(trial), 17}, bits, 1e-9);
    ASSERT_TRUE(strictly_increasing_below(flips, bits));
    counts[trial] = flips.size();
    total += flips.size();
    for (uint64_t position : flips) above_2_33 += position >= (uint64_t{1} << 33);
  }
  EXPECT_NEAR(total / trials, 10.0, 0.15);
  EXPECT_TRUE(fits(binomial_fit(counts, bits, 1e-9), "flip count, bits 1e10, p 1e-9"));
  // Positions use all 34 bits: (1e10 - 2^33) / 1e10 = 14% of ~200000 flips lie above 2^33.
  EXPECT_NEAR(static_cast<double>(above_2_33) / total, 1.0 - 8589934592.0 / 1e10, 0.005);
}

TEST(FaultSampling, PositionsAreUniformOverTheTensorAndTheWord) {
  struct Case {
    uint64_t bits;
    double ber;
    int trials;
    const char* what;
  };
  const Case cases[] = {
      {1000000, 1e-3, 200, "sparse"},
      {1000000, 2e-4, 1000, "sparse, inside a band"},
      {1000000, 0x1p-12, 1000, "sparse, on a band's lower edge"},
      {640, 0.7, 500, "dense, complement sampler"},
      {6400, 0.3, 100, "dense, direct sampler"},
  };
  for (const Case& c : cases) {
    std::vector<double> tensor_bins(64, 0.0), bit_in_word(32, 0.0);
    for (int trial = 0; trial < c.trials; ++trial) {
      const std::vector<uint64_t> flips = sample_flips({31337, static_cast<uint32_t>(trial), 4}, c.bits, c.ber);
      ASSERT_TRUE(strictly_increasing_below(flips, c.bits)) << c.what;
      for (uint64_t position : flips) {
        tensor_bins[position * 64 / c.bits] += 1.0;
        bit_in_word[position % 32] += 1.0;  // bit within an fp32 word
      }
    }
    const double trials = c.trials;
    EXPECT_TRUE(fits(independent_bits_fit(tensor_bins, trials * c.bits / 64, c.ber),
                     (std::string(c.what) + ": 64 bins over the tensor").c_str()));
    EXPECT_TRUE(fits(independent_bits_fit(bit_in_word, trials * c.bits / 32, c.ber),
                     (std::string(c.what) + ": position % 32").c_str()));
  }
}

TEST(FaultSampling, EverySubsetIsEquallyLikely) {
  // Marginals can be uniform while subsets are not; on tiny ranges every k-subset can be counted.
  // (5, 2) uses the direct sampler, (5, 3) the complement one, (4, 2) sits on the boundary.
  struct Case {
    uint64_t count, range;
  };
  for (const Case c : {Case{2, 5}, Case{3, 5}, Case{2, 4}, Case{1, 7}}) {
    std::map<std::vector<uint64_t>, double> frequency;
    const int draws = 30000;
    for (int draw = 0; draw < draws; ++draw) {
      PhiloxStream stream = fault_stream({8, static_cast<uint32_t>(draw), 0}, RandomPurpose::FlipBand);
      const std::vector<uint64_t> subset = sample_distinct_positions(c.count, c.range, stream);
      ASSERT_EQ(subset.size(), c.count);
      ASSERT_TRUE(strictly_increasing_below(subset, c.range));
      frequency[subset] += 1.0;
    }
    std::vector<double> observed;
    for (const auto& entry : frequency) observed.push_back(entry.second);
    const size_t subsets = c.range == 5 ? 10 : (c.range == 4 ? 6 : 7);
    ASSERT_EQ(observed.size(), subsets);
    const std::string what = std::to_string(c.count) + "-subsets of " + std::to_string(c.range);
    EXPECT_TRUE(fits(uniform_fit(observed), what.c_str()));
  }
}

TEST(FaultSampling, CountsAreBinomialAtManyRates) {
  // The count at rate r sums the bands below r's band and the members of r's band with U < r, so
  // every kind of rate is checked: mid-band, on a band's lower edge (that band adds nothing),
  // just below an edge, in the top band, above 1/2 (band 0 with its p = 1) and tiny.
  struct Case {
    uint64_t bits;
    double rate;
  };
  const Case cases[] = {{100000, 5e-5},         {100000, 0x1p-14},         {100000, 0x1p-14 * (1 - 0x1p-40)},
                        {100000, 3e-3},         {20000, 0.1},              {2000, 0.3},
                        {2000, 0.75},           {10000000000ull, 3e-10},   {1000, 0.5}};
  const int trials = 4000;
  for (const Case& c : cases) {
    std::vector<uint64_t> counts(trials);
    for (int trial = 0; trial < trials; ++trial)
      counts[trial] = sample_flips({4242, static_cast<uint32_t>(trial), 9}, c.bits, c.rate).size();
    char what[96];
    std::snprintf(what, sizeof what, "flip count, bits %llu, rate %.17g", static_cast<unsigned long long>(c.bits), c.rate);
    EXPECT_TRUE(fits(binomial_fit(counts, c.bits, c.rate), what));
  }
}

TEST(FaultSampling, BandUniformsLieInTheirBands) {
  // Every drawn fault carries its U; at rate r exactly those with U < r are faulty.
  const FaultStreamKey key{77, 3, tensor_name_key("layer1.0.conv1.weight")};
  const uint64_t bits = 2000000;
  const std::vector<BandedFault> drawn = sample_banded_faults(FaultKind::BitFlip, key, bits, 3e-3);
  ASSERT_GT(drawn.size(), 3000u);
  for (size_t i = 0; i < drawn.size(); ++i) {
    ASSERT_LT(drawn[i].u, 0x1p-8) << "3e-3 lies in [2^-9, 2^-8)";
    ASSERT_GE(drawn[i].u, 0.0);
    if (i > 0) ASSERT_LT(drawn[i - 1].position, drawn[i].position);
  }
  for (double rate : {1e-6, 1e-4, 0x1p-9, 2.5e-3, 3e-3}) {
    std::vector<uint64_t> below;
    for (const BandedFault& f : drawn)
      if (f.u < rate) below.push_back(f.position);
    EXPECT_EQ(below, sample_flips(key, bits, rate)) << "rate " << rate;
  }
  EXPECT_EQ(fault_band_of_rate(1.0), 0);
  EXPECT_EQ(fault_band_of_rate(0.5), 0);
  EXPECT_EQ(fault_band_of_rate(0.4999), 1);
  EXPECT_EQ(fault_band_of_rate(0x1p-10), 9);
  EXPECT_EQ(fault_band_of_rate(0x1p-10 * 0.999), 10);
  EXPECT_EQ(fault_band_of_rate(0x1p-64), 63);
  EXPECT_EQ(fault_band_of_rate(1e-30), kBottomFaultBand);
  EXPECT_EQ(fault_band_of_rate(0.0), kBottomFaultBand);  // no band: drawing up to it draws the least
  EXPECT_EQ(fault_band_of_rate(std::nan("")), kBottomFaultBand);
}

TEST(FaultSampling, LowerRatesNestInsideHigherOnesForEveryPair) {
  // No rate list exists: any two rates, drawn log-uniformly over [1e-8, 1] (and a few edges),
  // must nest, for flips and stuck cells alike.
  const uint64_t bits = 200000;
  std::vector<double> rates = {0.0, 1e-8, 0x1p-20, 1e-6, 1e-5, 1.5e-5, 1e-4, 0x1p-13, 3e-3, 0.2, 0.5, 0.9, 1.0};
  PhiloxStream pick(philox_key_for_seed(2024), 0, 0, 0);
  for (int i = 0; i < 12; ++i) rates.push_back(std::pow(10.0, -8.0 * pick.next_uniform_closed_open()));
  std::sort(rates.begin(), rates.end());
  size_t faults_at_1e_5 = 0;
  for (uint32_t trial = 0; trial < 10; ++trial) {
    const FaultStreamKey key{555, trial, 12};
    std::vector<uint64_t> previous_flips, previous_stuck;
    for (double rate : rates) {
      const std::vector<uint64_t> flips = sample_flips(key, bits, rate);
      const std::vector<uint64_t> stuck = sample_stuck_at_positions(key, bits, rate);
      ASSERT_TRUE(std::includes(flips.begin(), flips.end(), previous_flips.begin(), previous_flips.end()))
          << "trial " << trial << " rate " << rate;
      ASSERT_TRUE(std::includes(stuck.begin(), stuck.end(), previous_stuck.begin(), previous_stuck.end()))
          << "trial " << trial << " rate " << rate;
      if (rate == 1e-5) faults_at_1e_5 += flips.size();
      previous_flips = flips;
      previous_stuck = stuck;
    }
    EXPECT_EQ(previous_flips.size(), bits);  // rate 1: every bit
  }
  // Not vacuous: ~2 flips per trial at 1e-5.
  EXPECT_GT(faults_at_1e_5, 5u);
  EXPECT_LT(faults_at_1e_5, 45u);
}

TEST(FaultSampling, SameKeysGiveSameFlipsInAnyOrderOnAnyThread) {
  const uint32_t trials = 8, tensors = 40;
  auto bits_of = [](uint32_t tensor) { return uint64_t{100000} + 977 * tensor; };
  std::map<std::pair<uint32_t, uint32_t>, std::vector<uint64_t>> in_order;
  for (uint32_t trial = 0; trial < trials; ++trial)
    for (uint32_t tensor = 0; tensor < tensors; ++tensor)
      in_order[{trial, tensor}] = sample_flips({123456789, trial, tensor}, bits_of(tensor), 1e-4);

  // Four threads, each taking every fourth (trial, tensor) pair, walking backwards.
  const int thread_count = 4;
  std::vector<std::vector<std::vector<uint64_t>>> per_thread(thread_count,
                                                             std::vector<std::vector<uint64_t>>(trials * tensors));
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      for (int index = static_cast<int>(trials * tensors) - 1 - t; index >= 0; index -= thread_count) {
        const uint32_t trial = index / tensors, tensor = index % tensors;
        per_thread[t][index] = sample_flips({123456789, trial, tensor}, bits_of(tensor), 1e-4);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (uint32_t index = 0; index < trials * tensors; ++index) {
    const std::vector<uint64_t>& threaded = per_thread[(trials * tensors - 1 - index) % thread_count][index];
    EXPECT_EQ(threaded, in_order.at({index / tensors, index % tensors})) << "index " << index;
  }
}

TEST(FaultSampling, EveryKeyPartMatters) {
  const uint64_t bits = 1000000;
  const std::vector<uint64_t> base = sample_flips({10, 20, 30}, bits, 1e-4);
  ASSERT_FALSE(base.empty());
  EXPECT_NE(base, sample_flips({11, 20, 30}, bits, 1e-4));
  EXPECT_NE(base, sample_flips({10 + (uint64_t{1} << 32), 20, 30}, bits, 1e-4));  // high seed word
  EXPECT_NE(base, sample_flips({10, 21, 30}, bits, 1e-4));
  EXPECT_NE(base, sample_flips({10, 20, 31}, bits, 1e-4));
  EXPECT_NE(base, sample_stuck_at_positions({10, 20, 30}, bits, 1e-4));
  EXPECT_NE(base, sample_flips({10, 20, 30 + (uint64_t{1} << 40)}, bits, 1e-4));  // high tensor-key word
}

TEST(FaultSampling, StuckAtValuesAreKeyedFairCoins) {
  const FaultStreamKey key{2718, 3, 1};
  int ones = 0;
  const int positions = 100000;
  for (uint64_t position = 0; position < positions; ++position) {
    const bool value = stuck_at_value(key, position);
    ASSERT_EQ(value, stuck_at_value(key, position));
    ones += value;
  }
  EXPECT_NEAR(ones, positions / 2, 1000);  // sd 158
  int biased_ones = 0;
  for (uint64_t position = 0; position < positions; ++position) biased_ones += stuck_at_value(key, position, 0.9);
  EXPECT_NEAR(biased_ones, 0.9 * positions, 600);  // sd 95
  EXPECT_FALSE(stuck_at_value(key, 0, 0.0));
  EXPECT_TRUE(stuck_at_value(key, 0, 1.0));
}

TEST(FaultSampling, RejectsInvalidRates) {
  const FaultStreamKey key{1, 0, 0};
  EXPECT_THROW(sample_flips(key, 100, 1.0 + 1e-9), flipsweep::Error);
  EXPECT_THROW(sample_flips(key, 100, -1e-3), flipsweep::Error);
  EXPECT_THROW(sample_flips(key, 100, 1.5), flipsweep::Error);
  EXPECT_THROW(sample_flips(key, 100, std::nan("")), flipsweep::Error);
  EXPECT_THROW(sample_flips(key, (uint64_t{1} << 53) + 1, 0.0), flipsweep::Error);
}

TEST(FaultSampling, StreamLayoutIsPinned) {
  // Fault maps of published campaigns are reproduced from their seeds, so the mapping
  // (seed, trial, tensor) -> flips must never change by accident. Update these values only
  // with a deliberate, documented change of the counter layout or algorithms.
  // FNV-1a 64's published values for "" and "a".
  EXPECT_EQ(tensor_name_key(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(tensor_name_key("a"), 0xaf63dc4c8601ec8cull);
  const FaultStreamKey key{42, 0, tensor_name_key("conv1.weight")};
  EXPECT_EQ(sample_flips(key, 1000000, 1e-5),
            (std::vector<uint64_t>{196720, 280594, 487074, 688153, 704954, 876348, 979197}));
  EXPECT_EQ(sample_flips(key, 1000000, 3e-6),
            (std::vector<uint64_t>{280594, 876348}));
  EXPECT_EQ(sample_stuck_at_positions(key, 1000000, 1e-5),
            (std::vector<uint64_t>{18523, 243026, 310270, 317496, 348568, 469259, 564085, 715958, 962435, 986005}));
  PhiloxStream stream = fault_stream(key, RandomPurpose::FlipBand);
  EXPECT_EQ(sample_binomial(100000000, 1e-3, stream), 100187u);
}

}  // namespace
}  // namespace flipsweep::core
