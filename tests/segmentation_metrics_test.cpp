// Segmentation metrics: a case worked out by hand, the same formulas computed independently from
// the label arrays (intersection and union by counting, no confusion matrix), classes absent from
// both truth and prediction, ignored pixels, and the per-pixel argmax with PyTorch's NaN rule.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "flipsweep/error.h"
#include "flipsweep/eval/segmentation_metrics.h"
#include "flipsweep/kernels/host_launch.h"
#include "flipsweep/kernels/scoring.h"

namespace flipsweep {
namespace {

TEST(SegmentationMetrics, HandComputedCase) {
  // truth 0 0 1 1 2 (255 ignored); prediction 0 1 1 1 0 (2).
  const std::vector<uint8_t> truth = {0, 0, 1, 1, 2, kIgnoreLabel};
  const std::vector<int32_t> predicted = {0, 1, 1, 1, 0, 2};
  ConfusionMatrix m(3);
  m.add(truth.data(), predicted.data(), 6);
  EXPECT_EQ(m.total(), 5);
  const SegmentationMetrics s = segmentation_metrics(m);
  EXPECT_NEAR(s.pixel_accuracy, 60.0, 1e-12);                 // 3 of 5
  EXPECT_NEAR(s.class_iou[0], 100.0 / 3, 1e-12);               // 1 / (2 + 2 − 1)
  EXPECT_NEAR(s.class_iou[1], 200.0 / 3, 1e-12);               // 2 / (2 + 3 − 2)
  EXPECT_NEAR(s.class_iou[2], 0.0, 1e-12);                     // 0 / (1 + 0 − 0)
  EXPECT_NEAR(s.mean_iou, 100.0 / 3, 1e-12);
  EXPECT_NEAR(s.frequency_weighted_iou, 40.0, 1e-12);          // (2/3 + 4/3 + 0) / 5
}

TEST(SegmentationMetrics, AgreeWithCountingFromTheLabelArrays) {
  std::mt19937 rng(7);
  const int classes = 6;
  const int64_t pixels = 20000;
  std::vector<uint8_t> truth(pixels);
  std::vector<int32_t> predicted(pixels);
  for (int64_t i = 0; i < pixels; ++i) {
    // Class 5 never occurs (absent from both); class 4 only in the truth; some pixels ignored.
    truth[i] = rng() % 13 == 0 ? kIgnoreLabel : static_cast<uint8_t>(rng() % 5);
    const bool copy_truth = rng() % 3 == 0 && truth[i] < 4;
    predicted[i] = copy_truth ? static_cast<int32_t>(truth[i]) : static_cast<int32_t>(rng() % 4);
  }
  ConfusionMatrix m(classes);
  m.add(truth.data(), predicted.data(), pixels / 2);  // in two parts, merged
  ConfusionMatrix second(classes);
  second.add(truth.data() + pixels / 2, predicted.data() + pixels / 2, pixels - pixels / 2);
  m.merge(second);
  const SegmentationMetrics s = segmentation_metrics(m);

  int64_t valid = 0, correct = 0;
  double iou_sum = 0.0, weighted = 0.0;
  int defined = 0;
  for (int64_t i = 0; i < pixels; ++i) {
    valid += truth[i] != kIgnoreLabel;
    correct += truth[i] != kIgnoreLabel && truth[i] == predicted[i];
  }
  for (int c = 0; c < classes; ++c) {
    int64_t intersection = 0, union_size = 0, in_truth = 0;
    for (int64_t i = 0; i < pixels; ++i) {
      if (truth[i] == kIgnoreLabel) continue;
      const bool t = truth[i] == c, p = predicted[i] == c;
      intersection += t && p;
      union_size += t || p;
      in_truth += t;
    }
    if (union_size == 0) {
      EXPECT_TRUE(std::isnan(s.class_iou[c])) << "class " << c;
      continue;
    }
    const double iou = static_cast<double>(intersection) / union_size;
    EXPECT_NEAR(s.class_iou[c], 100.0 * iou, 1e-9) << "class " << c;
    iou_sum += iou;
    ++defined;
    weighted += in_truth * iou;
  }
  EXPECT_EQ(defined, 5);  // class 5 is undefined and left out of the mean
  EXPECT_NEAR(s.class_iou[4], 0.0, 1e-12);  // never predicted
  EXPECT_NEAR(s.pixel_accuracy, 100.0 * correct / valid, 1e-9);
  EXPECT_NEAR(s.mean_iou, 100.0 * iou_sum / defined, 1e-9);
  EXPECT_NEAR(s.frequency_weighted_iou, 100.0 * weighted / valid, 1e-9);
  EXPECT_THROW(ConfusionMatrix(0), Error);
  const uint8_t bad_truth = 6;
  const int32_t any = 0;
  EXPECT_THROW(m.add(&bad_truth, &any, 1), Error);
}

TEST(SegmentationMetrics, PixelArgmaxFollowsTorchArgmax) {
  // One image, 3 classes, 4 pixels (NCHW: class planes of 4 values).
  const float nan = std::nanf("");
  const std::vector<float> logits = {
      1.0f, 5.0f, nan, nan,   // class 0
      2.0f, 5.0f, 1.0f, nan,  // class 1
      0.5f, 1.0f, nan, nan,   // class 2
  };
  std::vector<int32_t> predicted(4, -1);
  std::vector<uint8_t> all_nan(4, 9);
  kernels::PixelArgmaxBody body{logits.data(), 3, 4, predicted.data(), all_nan.data()};
  kernels::host_launch(4, body);
  // pixel 0: max at class 1; pixel 1: a tie goes to the lower index; pixel 2: the first NaN;
  // pixel 3: all NaN, class 0.
  EXPECT_EQ(predicted, (std::vector<int32_t>{1, 0, 0, 0}));
  EXPECT_EQ(all_nan, (std::vector<uint8_t>{0, 0, 0, 1}));
}

}  // namespace
}  // namespace flipsweep
