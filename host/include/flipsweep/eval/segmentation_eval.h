#pragma once
// Segmentation quality of one or several sets of effective weights (trial slots) over a dataset
// with masks: streams batches, runs the network (per-pixel class logits, N × classes × H × W),
// takes each pixel's torch.argmax (PyTorch's NaN rule) and counts a confusion matrix per slot
// (eval/segmentation_metrics.h), the pixels whose logits are all NaN, and — given the fault-free
// predictions — the pixels whose prediction differs from them (error propagation).
#include <cstdint>
#include <vector>

#include "flipsweep/backend/backend.h"
#include "flipsweep/data/segmentation.h"
#include "flipsweep/eval/evaluate.h"
#include "flipsweep/eval/segmentation_metrics.h"

namespace flipsweep {

struct SegmentationEvalResult {
  explicit SegmentationEvalResult(int classes) : confusion(classes) {}
  int64_t images = 0;
  int64_t pixels = 0;             // every pixel of every image
  ConfusionMatrix confusion;      // over the pixels whose mask is not 255
  int64_t all_nan_pixels = 0;     // pixels whose every logit is NaN
  int64_t differing_pixels = 0;   // pixels predicted otherwise than `reference` (when given)
  std::vector<uint8_t> predictions;  // images × H × W classes, when asked to keep them
  double seconds = 0.0;

  SegmentationMetrics metrics() const { return segmentation_metrics(confusion); }
};

// One result per entry of `slots`. The model's output must be K × H × W per image with H × W the
// masks' size and K ≤ 255 (a prediction of class ≥ the dataset's classes counts as wrong).
// `reference`: fault-free predictions (images × H × W) to count differing pixels against.
std::vector<SegmentationEvalResult> evaluate_segmentation_block(Backend& backend, const std::vector<int>& slots,
                                                                const data::SegmentationDataset& dataset,
                                                                const data::Preprocess& preprocess,
                                                                const EvalOptions& options,
                                                                const std::vector<uint8_t>* reference = nullptr,
                                                                bool keep_predictions = false);

}  // namespace flipsweep
