#include "flipsweep/eval/segmentation_metrics.h"

#include <cmath>
#include <string>

#include "flipsweep/error.h"

namespace flipsweep {

ConfusionMatrix::ConfusionMatrix(int classes) : classes_(classes) {
  if (classes < 1 || classes > 255) throw Error("segmentation: " + std::to_string(classes) + " classes (1..255)");
  counts_.assign(static_cast<size_t>(classes) * static_cast<size_t>(classes + 1), 0);
}

void ConfusionMatrix::add(const uint8_t* truth, const int32_t* predicted, int64_t pixels) {
  const size_t row = static_cast<size_t>(classes_ + 1);
  for (int64_t i = 0; i < pixels; ++i) {
    const int t = truth[i];
    if (t == kIgnoreLabel) continue;
    if (t >= classes_) throw Error("segmentation: true label " + std::to_string(t) + " outside 0.." + std::to_string(classes_ - 1));
    const int32_t p = predicted[i];
    const size_t column = p >= 0 && p < classes_ ? static_cast<size_t>(p) : static_cast<size_t>(classes_);
    ++counts_[static_cast<size_t>(t) * row + column];
  }
}

void ConfusionMatrix::merge(const ConfusionMatrix& other) {
  if (other.classes_ != classes_) throw Error("segmentation: merging confusion matrices of different class counts");
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
}

int64_t ConfusionMatrix::count(int truth, int predicted) const {
  return counts_[static_cast<size_t>(truth) * static_cast<size_t>(classes_ + 1) + static_cast<size_t>(predicted)];
}

int64_t ConfusionMatrix::total() const {
  int64_t sum = 0;
  for (int64_t c : counts_) sum += c;
  return sum;
}

SegmentationMetrics segmentation_metrics(const ConfusionMatrix& m) {
  const int classes = m.classes();
  SegmentationMetrics out;
  out.class_iou.assign(static_cast<size_t>(classes), std::nan(""));
  int64_t correct = 0, total = 0;
  std::vector<int64_t> truth(static_cast<size_t>(classes), 0), predicted(static_cast<size_t>(classes), 0);
  for (int i = 0; i < classes; ++i)
    for (int j = 0; j <= classes; ++j) {
      const int64_t n = m.count(i, j);
      truth[static_cast<size_t>(i)] += n;
      if (j < classes) predicted[static_cast<size_t>(j)] += n;
      if (i == j) correct += n;
      total += n;
    }
  if (total == 0) return out;
  out.pixel_accuracy = 100.0 * static_cast<double>(correct) / static_cast<double>(total);
  double iou_sum = 0.0, weighted = 0.0;
  int defined = 0;
  for (int i = 0; i < classes; ++i) {
    const int64_t n_ii = m.count(i, i);
    const int64_t union_size = truth[static_cast<size_t>(i)] + predicted[static_cast<size_t>(i)] - n_ii;
    if (union_size == 0) continue;
    const double iou = static_cast<double>(n_ii) / static_cast<double>(union_size);
    out.class_iou[static_cast<size_t>(i)] = 100.0 * iou;
    iou_sum += iou;
    ++defined;
    weighted += static_cast<double>(truth[static_cast<size_t>(i)]) * iou;
  }
  out.mean_iou = defined ? 100.0 * iou_sum / defined : 0.0;
  out.frequency_weighted_iou = 100.0 * weighted / static_cast<double>(total);
  return out;
}

}  // namespace flipsweep
