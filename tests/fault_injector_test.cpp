// The fault injector on a real model: decoded values equal the recorded flips applied to the
// stored words, restore is exact, maps nest across BERs, and faults are keyed so that target
// order and the model's SAF do not change them (common random numbers).
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include "flipsweep/core/bit_ops.h"
#include "flipsweep/core/fault_sampling.h"
#include "flipsweep/error.h"
#include "flipsweep/faults/fault_injector.h"
#include "flipsweep/faults/targets.h"
#include "flipsweep/model/weight_preparation.h"
#include "test_support.h"

namespace flipsweep {
namespace {

using core::StorageFormat;

Model load_golden(const std::string& name) {
  return load_onnx_model(testing::source_path("tests/golden/" + name + "/model.onnx"));
}

std::set<std::tuple<std::string, int64_t, int>> fault_set(const Model& m, const TrialFaults& f) {
  std::set<std::tuple<std::string, int64_t, int>> out;
  for (const auto& r : f.records) out.insert({m.graph.values[static_cast<size_t>(r.value)].name, r.element, r.bit});
  return out;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(FaultInjector, Fp32FlipsAreTheRecordedBitsAndRestoreIsExact) {
  Model m = load_golden("resnet20_cifar");
  FaultInjector injector(m, select_fault_targets(m, TargetSpec{}), StorageFormat::fp32());
  WeightSet weights = WeightPreparation(m).prepare_clean();
  injector.apply_clean_encoding(weights);
  const WeightSet clean = weights;
  FaultSpec spec;
  spec.rate = 1e-4;
  TrialFaults faults = injector.inject(weights, 7, 3, spec);
  ASSERT_GT(faults.total_faults, 100);  // 270k weights × 32 bits × 1e-4 ≈ 870
  EXPECT_EQ(static_cast<int64_t>(faults.records.size()), faults.total_faults);

  // Replay the records on the clean fp32 bit patterns: every element must match exactly.
  std::map<std::pair<int, int64_t>, uint32_t> words;
  for (const auto& r : faults.records) {
    auto key = std::make_pair(r.value, r.element);
    if (!words.count(key)) words[key] = core::float_to_bits(clean.tensors[static_cast<size_t>(r.value)].data[static_cast<size_t>(r.element)]);
    words[key] = core::flip_bit(words[key], r.bit);
  }
  for (const auto& [key, word] : words)
    EXPECT_TRUE(same_bits(weights.tensors[static_cast<size_t>(key.first)].data[static_cast<size_t>(key.second)],
                          core::bits_to_float(word)));
  int64_t changed = 0;
  for (const auto& c : faults.parameter_changes) changed += static_cast<int64_t>(c.elements.size());
  EXPECT_EQ(changed, static_cast<int64_t>(words.size()));

  injector.restore(weights, faults);
  for (size_t id = 0; id < weights.tensors.size(); ++id) {
    const auto& restored = weights.tensors[id].data;
    const auto& want = clean.tensors[id].data;
    ASSERT_EQ(restored.size(), want.size());
    // Values without stored data have empty tensors, whose data() may be null: memcmp(nullptr,
    // nullptr, 0) is undefined behaviour (UBSan's nonnull-attribute).
    if (!want.empty()) EXPECT_EQ(std::memcmp(restored.data(), want.data(), want.size() * sizeof(float)), 0);
  }
}

TEST(FaultInjector, MapsNestAcrossBersAndRepeatExactly) {
  Model m = load_golden("resnet20_cifar");
  FaultInjector injector(m, select_fault_targets(m, TargetSpec{}), StorageFormat::fp16());
  WeightSet weights = WeightPreparation(m).prepare_clean();
  injector.apply_clean_encoding(weights);
  std::set<std::tuple<std::string, int64_t, int>> previous;
  for (double ber : {1e-5, 1e-4, 1e-3}) {
    FaultSpec spec;
    spec.rate = ber;
    TrialFaults faults = injector.inject(weights, 11, 0, spec);
    auto current = fault_set(m, faults);
    EXPECT_TRUE(std::includes(current.begin(), current.end(), previous.begin(), previous.end())) << "BER " << ber;
    EXPECT_GT(current.size(), previous.size());
    TrialFaults again = injector.inject(weights, 11, 0, spec);  // injecting twice must not compound
    injector.restore(weights, faults);
    EXPECT_EQ(fault_set(m, again), current);
    injector.restore(weights, again);
    previous = current;
  }
}

TEST(FaultInjector, FaultsDependOnTensorNamesNotOrderOrSaf) {
  Model plain = load_golden("resnet20_cifar");
  Model saf = load_golden("resnet20_tanh_saf");
  auto targets = select_fault_targets(plain, TargetSpec{});
  auto reversed = targets;
  std::reverse(reversed.begin(), reversed.end());
  FaultSpec spec;
  spec.rate = 1e-4;
  auto run = [&](const Model& m, std::vector<int> t) {
    FaultInjector injector(m, std::move(t), StorageFormat::fixed_point(2, 5));
    WeightSet w = WeightPreparation(m).prepare_clean();
    injector.apply_clean_encoding(w);
    return fault_set(m, injector.inject(w, 5, 9, spec));
  };
  const auto a = run(plain, targets);
  EXPECT_EQ(a, run(plain, reversed));
  EXPECT_EQ(a, run(saf, select_fault_targets(saf, TargetSpec{})));
  // A different trial or seed gives different faults.
  FaultInjector injector(plain, targets, StorageFormat::fixed_point(2, 5));
  WeightSet w = WeightPreparation(plain).prepare_clean();
  EXPECT_NE(fault_set(plain, injector.inject(w, 5, 10, spec)), a);
}

TEST(FaultInjector, FixedPointCleanEncodingAndSignBitSelection) {
  Model m = load_golden("resnet20_cifar");
  FaultInjector injector(m, select_fault_targets(m, TargetSpec{}), StorageFormat::fixed_point(2, 5));
  WeightSet weights = WeightPreparation(m).prepare_clean();
  injector.apply_clean_encoding(weights);
  for (int id : injector.targets())
    for (float v : weights.tensors[static_cast<size_t>(id)].data) {
      EXPECT_EQ(v * 32.0f, std::nearbyint(v * 32.0f));  // on the Q2.5 grid
      EXPECT_LE(std::fabs(v), 4.0f);
    }
  FaultSpec spec;
  spec.rate = 1e-2;
  spec.bits = parse_bit_selection("sign", injector.format());
  TrialFaults faults = injector.inject(weights, 1, 1, spec);
  ASSERT_GT(faults.total_faults, 100);
  for (const auto& r : faults.records) EXPECT_EQ(r.bit, 7);
}

TEST(FaultInjector, StuckAtCellsRecordTheirValue) {
  Model m = load_golden("resnet20_cifar");
  FaultInjector injector(m, select_fault_targets(m, TargetSpec{}), StorageFormat::fp32());
  WeightSet weights = WeightPreparation(m).prepare_clean();
  const WeightSet clean = weights;
  FaultSpec spec;
  spec.model = FaultModel::StuckAt;
  spec.rate = 1e-3;
  TrialFaults faults = injector.inject(weights, 2, 0, spec);
  int ones = 0, zeros = 0;
  for (const auto& r : faults.records) {
    const uint32_t now = core::float_to_bits(weights.tensors[static_cast<size_t>(r.value)].data[static_cast<size_t>(r.element)]);
    const bool bit = (now >> r.bit) & 1u;
    EXPECT_EQ(bit, r.kind == FaultRecordKind::StuckAt1);
    (r.kind == FaultRecordKind::StuckAt1 ? ones : zeros)++;
  }
  EXPECT_GT(ones, 1000);
  EXPECT_GT(zeros, 1000);
  // A cell stuck at the value it holds changes nothing: fewer changed elements than records.
  int64_t changed = 0;
  for (const auto& c : faults.parameter_changes) changed += static_cast<int64_t>(c.elements.size());
  EXPECT_LT(changed, faults.total_faults);
}

TEST(FaultInjector, ExactFlipsHitOneTensorAndBit) {
  Model m = load_golden("resnet20_cifar");
  FaultInjector injector(m, select_fault_targets(m, TargetSpec{}), StorageFormat::fp32());
  WeightSet weights = WeightPreparation(m).prepare_clean();
  FaultSpec spec;
  spec.model = FaultModel::ExactFlips;
  spec.exact_tensor = "layer2.1.conv1.weight";
  spec.exact_bit = 30;
  spec.exact_count = 5;
  TrialFaults faults = injector.inject(weights, 3, 4, spec);
  ASSERT_EQ(faults.records.size(), 5u);
  std::set<int64_t> elements;
  for (const auto& r : faults.records) {
    EXPECT_EQ(m.graph.values[static_cast<size_t>(r.value)].name, "layer2.1.conv1.weight");
    EXPECT_EQ(r.bit, 30);
    elements.insert(r.element);
  }
  EXPECT_EQ(elements.size(), 5u);
  spec.exact_count = 1'000'000;
  EXPECT_THROW(injector.inject(weights, 3, 4, spec), Error);
}

// Single flip: exactly one flip per trial, on a selected bit, at the position the documented
// scheme gives (recomputed here from the Philox stream: key 0, purpose 6, next_below(total bits),
// numbered target after target), the same in every run; over 4,000 trials the flips land on the
// tensors in proportion to their stored bits (chi-square) and on each selected bit alike.
TEST(FaultInjector, SingleFlipIsOneUniformFlipOverAllTargets) {
  Model m = load_golden("resnet20_cifar");
  const std::vector<int> targets = select_fault_targets(m, TargetSpec{});
  for (const char* selection : {"all", "30", "exponent"}) {
    const auto format = StorageFormat::fp32();
    FaultInjector injector(m, targets, format);
    WeightSet weights = WeightPreparation(m).prepare_clean();
    injector.apply_clean_encoding(weights);
    const WeightSet clean = weights;
    FaultSpec spec;
    spec.model = FaultModel::SingleFlip;
    spec.bits = parse_bit_selection(selection, format);
    uint64_t total = 0;
    std::vector<uint64_t> bits_of;
    for (size_t t = 0; t < targets.size(); ++t) {
      bits_of.push_back(static_cast<uint64_t>(m.stored[static_cast<size_t>(targets[t])].size()) * spec.bits.size());
      total += bits_of.back();
    }
    const int trials = 4000;
    std::vector<double> per_target(targets.size(), 0.0);
    std::map<int, int> per_bit;
    for (int trial = 0; trial < trials; ++trial) {
      TrialFaults faults = injector.inject(weights, 11, static_cast<uint32_t>(trial), spec);
      ASSERT_EQ(faults.records.size(), 1u) << selection << " trial " << trial;
      const FaultRecord& r = faults.records[0];
      // The documented draw.
      core::PhiloxStream stream =
          core::fault_stream(core::FaultStreamKey{11, static_cast<uint32_t>(trial), 0}, core::RandomPurpose(6));
      uint64_t position = stream.next_below(total);
      size_t t = 0;
      while (position >= bits_of[t]) position -= bits_of[t++];
      ASSERT_EQ(r.value, targets[t]) << selection << " trial " << trial;
      EXPECT_EQ(r.element, static_cast<int64_t>(position / spec.bits.size()));
      EXPECT_EQ(r.bit, spec.bits[position % spec.bits.size()]);
      per_target[t] += 1.0;
      per_bit[r.bit]++;
      if (trial < 20) {  // the same faults again, and restore is exact
        EXPECT_EQ(fault_set(m, injector.inject(weights, 11, static_cast<uint32_t>(trial), spec)), fault_set(m, faults));
        injector.restore(weights, faults);
      } else {
        injector.restore(weights, faults);
      }
    }
    for (size_t id = 0; id < weights.tensors.size(); ++id)
      ASSERT_EQ(weights.tensors[id].data, clean.tensors[id].data) << "restore after the trials";
    double chi_square = 0.0;
    for (size_t t = 0; t < targets.size(); ++t) {
      const double expected = trials * static_cast<double>(bits_of[t]) / static_cast<double>(total);
      chi_square += (per_target[t] - expected) * (per_target[t] - expected) / expected;
    }
    // The chi-square 0.1 % quantile for targets − 1 degrees of freedom (Wilson–Hilferty).
    const double df = static_cast<double>(targets.size() - 1), h = 2.0 / (9.0 * df);
    EXPECT_LT(chi_square, df * std::pow(1.0 - h + 3.09 * std::sqrt(h), 3.0)) << selection;
    EXPECT_EQ(per_bit.size(), spec.bits.size()) << selection << ": every selected bit is hit";
  }
}

TEST(FaultInjector, BitSelections) {
  const auto fp32 = StorageFormat::fp32();
  EXPECT_EQ(parse_bit_selection("all", fp32).size(), 32u);
  EXPECT_EQ(parse_bit_selection("sign", fp32), std::vector<int>{31});
  EXPECT_EQ(parse_bit_selection("exponent", fp32), (std::vector<int>{23, 24, 25, 26, 27, 28, 29, 30}));
  EXPECT_EQ(parse_bit_selection("mantissa", StorageFormat::bf16()).size(), 7u);
  EXPECT_EQ(parse_bit_selection("3-5", fp32), (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(parse_bit_selection("7", StorageFormat::fixed_point(2, 5)), std::vector<int>{7});
  EXPECT_THROW(parse_bit_selection("8", StorageFormat::fixed_point(2, 5)), Error);
  EXPECT_THROW(parse_bit_selection("exponent", StorageFormat::int8()), Error);
  EXPECT_THROW(parse_bit_selection("5-3", fp32), Error);
  EXPECT_THROW(parse_bit_selection("3-", fp32), Error);
  EXPECT_THROW(parse_bit_selection("high", fp32), Error);
}

}  // namespace
}  // namespace flipsweep
