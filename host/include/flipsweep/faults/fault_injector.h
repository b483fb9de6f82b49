#pragma once
// Turns a trial's fault map into changed parameter values: stored words (the parameters encoded
// once in the storage format) → flips / stuck-at cells → decode → the parameter elements of a
// WeightSet. Work per trial is O(faults): only touched elements are re-decoded, and restore()
// puts exactly those back.
//
// Faults are keyed by (campaign seed, trial, tensor), where the tensor key is the 64-bit hash of
// the parameter's name (core::tensor_name_key), so a tensor's faults do not depend on which other tensors are targeted, on
// the model's SAF, or on the order of anything: two configurations with the same storage format
// and targets see the same faults in trial k (common random numbers).
#include <cstdint>
#include <string>
#include <vector>

#include "flipsweep/core/storage_formats.h"
#include "flipsweep/graph/graph.h"
#include "flipsweep/model/weight_set.h"

namespace flipsweep {

enum class FaultModel {
  BitFlip,     // every selected stored bit flips with probability `rate`
  StuckAt,     // every selected stored bit is stuck (at 0 or 1, a fair keyed coin) with probability `rate`
  ExactFlips,  // exactly `exact_count` distinct elements of one tensor get bit `exact_bit` flipped
  SingleFlip,  // exactly one selected stored bit flips, uniform over all selected bits of all targets
  LayerBit,    // one flip per trial, trial t on cell (target (t / k) mod n, bit t mod k) of the n
               // targets × k selected bits, at a uniform element of that target: a per-layer ×
               // bit vulnerability profile (python/plot_profile.py)
};

const char* fault_model_name(FaultModel model);

// Which bits of a stored word may be faulty, as sorted bit indices (bit 0 = least significant).
// Parsed from "all", "sign", "msb", "lsb", "exponent", "mantissa", "N" or "A-B".
std::vector<int> parse_bit_selection(const std::string& text, const core::StorageFormat& format);

struct FaultSpec {
  FaultModel model = FaultModel::BitFlip;
  double rate = 0.0;      // BER (BitFlip) or stuck-cell rate (StuckAt); maps nest across rates
  std::vector<int> bits;  // selectable bits; empty = every bit of the word
  // ExactFlips only.
  std::string exact_tensor;
  int exact_bit = 0;
  int64_t exact_count = 1;
};

enum class FaultRecordKind { Flip, StuckAt0, StuckAt1 };
const char* fault_record_kind_name(FaultRecordKind kind);

struct FaultRecord {
  int value = -1;        // parameter value id
  int64_t element = 0;   // flat index into the PyTorch tensor
  int bit = 0;           // bit of the stored word, 0 = least significant
  FaultRecordKind kind = FaultRecordKind::Flip;
};

struct TrialFaults {
  WeightChanges parameter_changes;         // elements whose stored word changed, per tensor
  std::vector<FaultRecord> records;        // every fault, in tensor/element/bit order
  std::vector<int64_t> faults_per_target;  // aligned with FaultInjector::targets()
  int64_t total_faults = 0;
};

class FaultInjector {
 public:
  FaultInjector(const Model& model, std::vector<int> targets, core::StorageFormat format);

  const std::vector<int>& targets() const { return targets_; }
  const core::StorageFormat& format() const { return format_; }
  int64_t stored_bits(size_t target_index) const;  // elements × bits per word

  // Writes the fault-free stored values (decode(encode(w))) of every target into `weights`: the
  // clean model in this storage format.
  void apply_clean_encoding(WeightSet& weights) const;

  // Faults for (seed, trial) applied to `weights`, which must hold the clean encoding. The
  // single-flip model depends on every target (their order and sizes), the others on each
  // tensor's name alone.
  TrialFaults inject(WeightSet& weights, uint64_t seed, uint32_t trial, const FaultSpec& spec) const;

  // Puts the clean values back where `faults` changed them; returns those changes so the same
  // O(faults) path (WeightPreparation::propagate, Backend::load_weights) can undo the trial.
  const WeightChanges& restore(WeightSet& weights, const TrialFaults& faults) const;

 private:
  struct StoredTensor {
    int value = -1;
    uint64_t key = 0;                   // core::tensor_name_key of the parameter name
    std::vector<uint32_t> words;        // clean stored words
    std::vector<float> clean;           // decode(words)
    std::vector<float> scales;          // int8: one per tensor or per output channel
    int64_t elements_per_scale = 0;
  };

  float scale_of(const StoredTensor& t, int64_t element) const;

  const Model& model_;
  std::vector<int> targets_;
  core::StorageFormat format_;
  std::vector<StoredTensor> stored_;
};

}  // namespace flipsweep
