#pragma once
// The effective weights of one trial and the record of what changed in them: the types that
// weight preparation, fault injection and every backend pass between each other.
#include <cstdint>
#include <vector>

#include "flipsweep/tensor.h"

namespace flipsweep {

// Everything the activation pass reads that does not depend on images, for one trial: indexed by
// value id; parameters, constants and prepared values are filled, other entries are empty.
struct WeightSet {
  std::vector<Tensor> tensors;
};

// Elements that changed in a WeightSet, per value.
struct ValueChange {
  int value = -1;
  bool all = false;               // the whole tensor changed
  std::vector<int64_t> elements;  // sorted, unique; ignored when `all`
  // Parameter changes made by a FaultInjector also carry each element's faulted stored word (and
  // its int8 scale), so a backend can decode and transform the word itself (the CUDA corrections
  // do). After FaultInjector::restore the values are clean again while the words still describe
  // the faults: a backend decides by comparing values with the clean ones. Empty otherwise.
  std::vector<uint32_t> words;
  std::vector<float> scales;
};
using WeightChanges = std::vector<ValueChange>;

}  // namespace flipsweep
