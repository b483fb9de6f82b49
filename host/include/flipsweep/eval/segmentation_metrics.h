#pragma once
// Semantic-segmentation metrics from a confusion matrix over pixels (Long, Shelhamer and Darrell,
// "Fully convolutional networks for semantic segmentation", CVPR 2015, section 5): with n_ij the
// pixels of true class i predicted as j, t_i = Σ_j n_ij and p_j = Σ_i n_ij,
//   pixel accuracy            Σ_i n_ii / Σ_i t_i
//   IoU of class i            n_ii / (t_i + p_i − n_ii), undefined when class i is neither in the
//                             truth nor in the prediction
//   mean IoU                  the mean of the defined IoUs
//   frequency-weighted IoU    Σ_i t_i · IoU_i / Σ_i t_i (classes absent from the truth weigh 0)
// Pixels whose true label is kIgnoreLabel (255) are left out everywhere.
#include <cstdint>
#include <vector>

namespace flipsweep {

constexpr uint8_t kIgnoreLabel = 255;

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int classes);
  int classes() const { return classes_; }
  // `pixels` pixels: true labels (0..classes−1 or kIgnoreLabel) and predicted classes (0..classes−1;
  // a prediction outside that range, from a model with more outputs than the data has classes,
  // counts as wrong and is kept in an extra column).
  void add(const uint8_t* truth, const int32_t* predicted, int64_t pixels);
  void merge(const ConfusionMatrix& other);
  int64_t count(int truth, int predicted) const;  // predicted == classes(): "other"
  int64_t total() const;

 private:
  int classes_;
  std::vector<int64_t> counts_;  // classes × (classes + 1)
};

struct SegmentationMetrics {
  double pixel_accuracy = 0.0;  // percent, like top-1
  double mean_iou = 0.0;        // percent
  double frequency_weighted_iou = 0.0;  // percent
  std::vector<double> class_iou;        // percent; NaN where undefined
};

SegmentationMetrics segmentation_metrics(const ConfusionMatrix& matrix);

}  // namespace flipsweep
