#include "flipsweep/eval/evaluate.h"

#include <chrono>
#include <cmath>

#include "flipsweep/error.h"
#include "flipsweep/ops/reference_ops.h"
#include "flipsweep/util/progress.h"

namespace flipsweep {

EvalResult evaluate(Backend& backend, int slot, const data::ImageDataset& dataset, const data::Preprocess& preprocess,
                    const EvalOptions& options) {
  const data::ImageFormat format = data::preprocessed_format(dataset.format(), preprocess);
  const int64_t image_size = format.channels * format.height * format.width;
  const int64_t classes = backend.output_size();
  if (classes < 1) throw Error("the model's output has no elements");
  const int64_t total = dataset.size();
  const int64_t batch = options.batch_size;

  std::vector<float> images(static_cast<size_t>(batch * image_size));
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  std::vector<float> logits(static_cast<size_t>(batch * classes));
  EvalResult result;
  result.predictions.reserve(static_cast<size_t>(total));
  Progress progress("eval", total, "images", options.progress && total > 2 * batch);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < total; first += batch) {
    const int64_t n = std::min(batch, total - first);
    data::read_preprocessed(dataset, preprocess, first, n, images.data(), labels.data());
    backend.run({slot}, images.data(), n, logits.data());
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits.data() + i * classes;
      const int64_t predicted = reference::argmax(row, classes);
      const int32_t label = labels[static_cast<size_t>(i)];
      if (label < 0 || label >= classes)
        throw Error(dataset.name() + ": label " + std::to_string(label) + " of image " + std::to_string(first + i) +
                    " is outside the model's " + std::to_string(classes) + " outputs");
      result.predictions.push_back(static_cast<int32_t>(predicted));
      if (predicted == label) result.top1_correct++;
      if (reference::in_top_k(row, classes, label, std::min<int64_t>(5, classes))) result.top5_correct++;
      bool all_nan = true;
      for (int64_t k = 0; k < classes && all_nan; ++k) all_nan = std::isnan(row[k]);
      if (all_nan) result.all_nan_images++;
    }
    result.images += n;
    progress.advance(result.images);
  }
  progress.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace flipsweep
