#include "flipsweep/faults/fault_injector.h"

#include <algorithm>
#include <cstdlib>
#include <unordered_map>

#include "flipsweep/core/bit_ops.h"
#include "flipsweep/core/fault_sampling.h"
#include "flipsweep/core/integer_formats.h"
#include "flipsweep/error.h"

namespace flipsweep {

const char* fault_model_name(FaultModel model) {
  switch (model) {
    case FaultModel::BitFlip: return "bit-flip";
    case FaultModel::StuckAt: return "stuck-at";
    case FaultModel::ExactFlips: return "exact";
    case FaultModel::SingleFlip: return "single-flip";
    case FaultModel::LayerBit: return "layer-bit";
  }
  return "?";
}

const char* fault_record_kind_name(FaultRecordKind kind) {
  switch (kind) {
    case FaultRecordKind::Flip: return "flip";
    case FaultRecordKind::StuckAt0: return "stuck0";
    case FaultRecordKind::StuckAt1: return "stuck1";
  }
  return "?";
}

namespace {

std::vector<int> bit_range(int first, int last) {
  std::vector<int> bits;
  for (int b = first; b <= last; ++b) bits.push_back(b);
  return bits;
}

// Exponent field of the floating formats as [first, last] bit indices.
bool exponent_field(const core::StorageFormat& format, int* first, int* last) {
  switch (format.kind) {
    case core::StorageKind::Fp32: *first = 23, *last = 30; return true;
    case core::StorageKind::Fp16: *first = 10, *last = 14; return true;
    case core::StorageKind::Bf16: *first = 7, *last = 14; return true;
    default: return false;
  }
}

}  // namespace

std::vector<int> parse_bit_selection(const std::string& text, const core::StorageFormat& format) {
  const int width = format.bits();
  int first = 0, last = 0;
  if (text.empty() || text == "all") return bit_range(0, width - 1);
  if (text == "sign" || text == "msb") return {width - 1};
  if (text == "lsb") return {0};
  if (text == "exponent" || text == "mantissa") {
    if (!exponent_field(format, &first, &last))
      throw Error("bits '" + text + "' applies to fp32/fp16/bf16 only, not " + format.name());
    return text == "exponent" ? bit_range(first, last) : bit_range(0, first - 1);
  }
  char* end = nullptr;
  const long a = std::strtol(text.c_str(), &end, 10);
  long b = a;
  if (end != text.c_str() && *end == '-') {
    const char* second = end + 1;
    b = std::strtol(second, &end, 10);
    if (end == second) end = const_cast<char*>(second - 1);  // force the error below
  }
  if (end == text.c_str() || *end != '\0' || a < 0 || b < a || b >= width)
    throw Error("bits '" + text + "' is not one of all, sign, msb, lsb, exponent, mantissa, N or A-B with 0 <= A <= B < " +
                std::to_string(width) + " (" + format.name() + ")");
  return bit_range(static_cast<int>(a), static_cast<int>(b));
}

FaultInjector::FaultInjector(const Model& model, std::vector<int> targets, core::StorageFormat format)
    : model_(model), targets_(std::move(targets)), format_(format) {
  if (!format_.is_valid()) throw Error("storage format " + format_.name() + " is not valid");
  std::unordered_map<uint64_t, std::string> keys;
  for (int id : targets_) {
    const Value& v = model.graph.values[static_cast<size_t>(id)];
    if (v.kind != ValueKind::Parameter) throw Error("fault target '" + v.name + "' is not a parameter");
    const Tensor& weights = model.stored[static_cast<size_t>(id)];
    StoredTensor t;
    t.value = id;
    t.key = core::tensor_name_key(v.name);
    // Two distinct names with the same 64-bit key would share a fault map; no real model has
    // such a pair, but if one ever does it must not pass silently.
    const auto [existing, inserted] = keys.emplace(t.key, v.name);
    if (!inserted)
      throw Error("fault targets '" + v.name + "' and '" + existing->second +
                  "' have the same 64-bit name key; rename one");
    const int64_t count = weights.size();
    if (format_.uses_scale()) {
      const bool per_channel = format_.scale_granularity == core::ScaleGranularity::PerOutputChannel && weights.rank() >= 1;
      const int64_t channels = per_channel ? weights.dim(0) : 1;
      t.elements_per_scale = channels > 0 ? count / channels : count;
      t.scales.resize(static_cast<size_t>(channels));
      core::symmetric_int8_channel_scales(weights.ptr(), channels, t.elements_per_scale, t.scales.data());
    }
    t.words.resize(static_cast<size_t>(count));
    t.clean.resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      const float scale = scale_of(t, i);
      t.words[static_cast<size_t>(i)] = core::encode(format_, weights.data[static_cast<size_t>(i)], scale);
      t.clean[static_cast<size_t>(i)] = core::decode(format_, t.words[static_cast<size_t>(i)], scale);
    }
    stored_.push_back(std::move(t));
  }
}

float FaultInjector::scale_of(const StoredTensor& t, int64_t element) const {
  if (t.scales.empty()) return 1.0f;
  return t.scales[static_cast<size_t>(t.elements_per_scale > 0 ? element / t.elements_per_scale : 0)];
}

int64_t FaultInjector::stored_bits(size_t target_index) const {
  return static_cast<int64_t>(stored_.at(target_index).words.size()) * format_.bits();
}

void FaultInjector::apply_clean_encoding(WeightSet& weights) const {
  for (const StoredTensor& t : stored_) weights.tensors[static_cast<size_t>(t.value)].data = t.clean;
}

TrialFaults FaultInjector::inject(WeightSet& weights, uint64_t seed, uint32_t trial, const FaultSpec& spec) const {
  std::vector<int> bits = spec.bits.empty() ? bit_range(0, format_.bits() - 1) : spec.bits;
  TrialFaults out;
  out.faults_per_target.assign(stored_.size(), 0);
  const uint64_t per_word = bits.size();
  // Single flip: one position p in [0, total) over the targets' selected bits, numbered target
  // after target (in targets() order), each element-major as for the other models.
  size_t single_target = stored_.size();
  uint64_t single_position = 0;
  if (spec.model == FaultModel::SingleFlip) {
    uint64_t total = 0;
    for (const StoredTensor& t : stored_) total += static_cast<uint64_t>(t.words.size()) * per_word;
    if (total == 0) throw Error("single-flip faults: the targets hold no stored bits");
    core::PhiloxStream stream =
        core::fault_stream(core::FaultStreamKey{seed, trial, core::kSingleFlipTensorKey}, core::RandomPurpose::SingleFlip);
    single_position = stream.next_below(total);
    for (single_target = 0; single_target < stored_.size(); ++single_target) {
      const uint64_t bits_here = static_cast<uint64_t>(stored_[single_target].words.size()) * per_word;
      if (single_position < bits_here) break;
      single_position -= bits_here;
    }
  }
  for (size_t ti = 0; ti < stored_.size(); ++ti) {
    const StoredTensor& t = stored_[ti];
    const core::FaultStreamKey key{seed, trial, t.key};
    const uint64_t elements = t.words.size();

    // (element, bit index into `bits`) pairs in ascending order, from one of the fault models.
    std::vector<uint64_t> positions;
    int exact_bit = -1;
    switch (spec.model) {
      case FaultModel::BitFlip: positions = core::sample_flips(key, elements * per_word, spec.rate); break;
      case FaultModel::StuckAt:
        positions = core::sample_stuck_at_positions(key, elements * per_word, spec.rate);
        break;
      case FaultModel::ExactFlips: {
        if (model_.graph.values[static_cast<size_t>(t.value)].name != spec.exact_tensor) continue;
        if (spec.exact_count < 0 || static_cast<uint64_t>(spec.exact_count) > elements)
          throw Error("exact faults: " + std::to_string(spec.exact_count) + " flips requested in '" + spec.exact_tensor +
                      "', which has " + std::to_string(elements) + " elements");
        if (spec.exact_bit < 0 || spec.exact_bit >= format_.bits())
          throw Error("exact faults: bit " + std::to_string(spec.exact_bit) + " is outside the " +
                      std::to_string(format_.bits()) + "-bit " + format_.name() + " word");
        core::PhiloxStream stream = core::fault_stream(key, core::RandomPurpose::ExactPositions);
        positions = core::sample_distinct_positions(static_cast<uint64_t>(spec.exact_count), elements, stream);
        exact_bit = spec.exact_bit;
        break;
      }
      case FaultModel::SingleFlip:
        if (ti == single_target) positions = {single_position};
        break;
      case FaultModel::LayerBit: {
        if (ti != (trial / per_word) % stored_.size()) continue;
        if (elements == 0)
          throw Error("layer-bit faults: target '" + model_.graph.values[static_cast<size_t>(t.value)].name +
                      "' has no elements to flip");
        core::PhiloxStream stream = core::fault_stream(key, core::RandomPurpose::LayerBitElement);
        positions = {stream.next_below(elements) * per_word + trial % per_word};
        break;
      }
    }
    if (positions.empty()) continue;

    Tensor& target = weights.tensors[static_cast<size_t>(t.value)];
    ValueChange change;
    change.value = t.value;
    int64_t current_element = -1;
    uint32_t word = 0;
    auto finish_element = [&]() {
      if (current_element < 0) return;
      const uint32_t clean_word = t.words[static_cast<size_t>(current_element)];
      if (word == clean_word) return;  // e.g. a cell stuck at the value it already holds
      const float scale = scale_of(t, current_element);
      target.data[static_cast<size_t>(current_element)] = core::decode(format_, word, scale);
      change.elements.push_back(current_element);
      change.words.push_back(word);
      change.scales.push_back(scale);
    };
    for (uint64_t p : positions) {
      const int64_t element = static_cast<int64_t>(exact_bit >= 0 ? p : p / per_word);
      const int bit = exact_bit >= 0 ? exact_bit : bits[static_cast<size_t>(p % per_word)];
      if (element != current_element) {
        finish_element();
        current_element = element;
        word = t.words[static_cast<size_t>(element)];
      }
      FaultRecord record{t.value, element, bit, FaultRecordKind::Flip};
      if (spec.model == FaultModel::StuckAt) {
        const bool one = core::stuck_at_value(key, p);
        record.kind = one ? FaultRecordKind::StuckAt1 : FaultRecordKind::StuckAt0;
        word = core::stuck_at(word, bit, one);
      } else {
        word = core::flip_bit(word, bit);
      }
      out.records.push_back(record);
    }
    finish_element();
    out.faults_per_target[ti] = static_cast<int64_t>(positions.size());
    out.total_faults += static_cast<int64_t>(positions.size());
    if (!change.elements.empty()) out.parameter_changes.push_back(std::move(change));
  }
  return out;
}

const WeightChanges& FaultInjector::restore(WeightSet& weights, const TrialFaults& faults) const {
  for (const ValueChange& c : faults.parameter_changes) {
    const auto it = std::find_if(stored_.begin(), stored_.end(), [&](const StoredTensor& t) { return t.value == c.value; });
    Tensor& target = weights.tensors[static_cast<size_t>(c.value)];
    for (int64_t e : c.elements) target.data[static_cast<size_t>(e)] = it->clean[static_cast<size_t>(e)];
  }
  return faults.parameter_changes;
}

}  // namespace flipsweep
