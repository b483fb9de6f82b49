#pragma once
// Classification accuracy of one or several sets of effective weights (trial slots) over a
// dataset: streams batches (memory bounded by the batch, not the dataset), has the backend score
// them (top-5 with PyTorch's argmax/topk rules for NaN) and counts top-1 and top-5.
#include <cstdint>
#include <vector>

#include "flipsweep/backend/backend.h"
#include "flipsweep/data/dataset.h"

namespace flipsweep {

struct EvalResult {
  int64_t images = 0;
  int64_t top1_correct = 0;
  int64_t top5_correct = 0;
  int64_t all_nan_images = 0;       // images whose every logit is NaN
  double seconds = 0.0;
  std::vector<int32_t> predictions;  // top-1 class per image

  double top1_percent() const { return images ? 100.0 * static_cast<double>(top1_correct) / static_cast<double>(images) : 0.0; }
  double top5_percent() const { return images ? 100.0 * static_cast<double>(top5_correct) / static_cast<double>(images) : 0.0; }
  double images_per_second() const { return seconds > 0 ? static_cast<double>(images) / seconds : 0.0; }
};

struct EvalOptions {
  int64_t batch_size = 64;  // must not exceed the backend's batch size
  bool progress = true;
};

// One slot: evaluate_block with slots = {slot}.
EvalResult evaluate(Backend& backend, int slot, const data::ImageDataset& dataset, const data::Preprocess& preprocess,
                    const EvalOptions& options);

// Every slot of a block of trials at once: the dataset is streamed once (attach_dataset, then one
// read per batch, preprocessed on the host unless the backend preprocesses itself) and each batch
// is scored under every slot's weights. Returns one result per entry of `slots`, in that order;
// each is what evaluate() gives for that slot alone. `seconds` is the whole block's time.
std::vector<EvalResult> evaluate_block(Backend& backend, const std::vector<int>& slots, const data::ImageDataset& dataset,
                                       const data::Preprocess& preprocess, const EvalOptions& options);

}  // namespace flipsweep
