#include "flipsweep/eval/evaluate.h"

#include <algorithm>
#include <chrono>

#include "flipsweep/data/preprocess.h"
#include "flipsweep/error.h"
#include "flipsweep/util/progress.h"

namespace flipsweep {

EvalResult evaluate(Backend& backend, int slot, const data::ImageDataset& dataset, const data::Preprocess& preprocess,
                    const EvalOptions& options) {
  return std::move(evaluate_block(backend, {slot}, dataset, preprocess, options).front());
}

std::vector<EvalResult> evaluate_block(Backend& backend, const std::vector<int>& slots, const data::ImageDataset& dataset,
                                       const data::Preprocess& preprocess, const EvalOptions& options) {
  if (slots.empty()) throw Error("evaluate_block: no trial slots given");
  const data::ImageFormat raw_format = dataset.format();
  const data::ImageFormat format = data::preprocessed_format(raw_format, preprocess);
  const int64_t raw_size = raw_format.pixels_per_image();
  const int64_t image_size = format.pixels_per_image();
  const int64_t classes = backend.output_size();
  if (classes < 1) throw Error("the model's output has no elements");
  if (options.batch_size < 1) throw Error("batch size must be at least 1");
  const int64_t total = dataset.size();
  const int64_t batch = options.batch_size;
  const bool host_preprocess = !backend.preprocesses_images();
  const size_t block = slots.size();

  backend.attach_dataset(dataset, preprocess);
  std::vector<uint8_t> raw(static_cast<size_t>(batch * raw_size));
  std::vector<float> images(host_preprocess ? static_cast<size_t>(batch * image_size) : 0);
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  std::vector<ImageScore> scores(block * static_cast<size_t>(batch));
  std::vector<EvalResult> results(block);
  for (auto& r : results) r.predictions.reserve(static_cast<size_t>(total));
  int64_t images_done = 0;
  Progress progress("eval", total, "images", options.progress && total > 2 * batch);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < total; first += batch) {
    const int64_t n = std::min(batch, total - first);
    // A backend holding the raw images itself (resident on the GPU) needs the labels only.
    const bool resident = backend.keeps_dataset_resident();
    dataset.read(first, n, resident ? nullptr : raw.data(), labels.data());
    if (host_preprocess) data::preprocess_batch(raw.data(), n, raw_format, preprocess, images.data());
    ImageBatch image_batch;
    image_batch.first = first;
    image_batch.count = n;
    image_batch.raw = resident ? nullptr : raw.data();
    image_batch.preprocessed = host_preprocess ? images.data() : nullptr;
    backend.score(slots, image_batch, scores.data());
    for (int64_t i = 0; i < n; ++i) {
      const int32_t label = labels[static_cast<size_t>(i)];
      if (label < 0 || label >= classes)
        throw Error(dataset.name() + ": label " + std::to_string(label) + " of image " + std::to_string(first + i) +
                    " is outside the model's " + std::to_string(classes) + " outputs");
      for (size_t s = 0; s < block; ++s) {
        const ImageScore& score = scores[s * static_cast<size_t>(n) + static_cast<size_t>(i)];
        EvalResult& r = results[s];
        r.predictions.push_back(score.top[0]);
        if (score.top[0] == label) r.top1_correct++;
        if (std::find(score.top, score.top + 5, label) != score.top + 5) r.top5_correct++;
        if (score.all_nan) r.all_nan_images++;
      }
    }
    for (auto& r : results) r.images += n;
    images_done += n;
    progress.advance(images_done);
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& r : results) r.seconds = seconds;
  return results;
}

}  // namespace flipsweep
