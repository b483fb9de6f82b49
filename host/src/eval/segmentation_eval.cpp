#include "flipsweep/eval/segmentation_eval.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "flipsweep/data/preprocess.h"
#include "flipsweep/error.h"
#include "flipsweep/kernels/host_launch.h"
#include "flipsweep/kernels/scoring.h"
#include "flipsweep/util/progress.h"

namespace flipsweep {

std::vector<SegmentationEvalResult> evaluate_segmentation_block(Backend& backend, const std::vector<int>& slots,
                                                                const data::SegmentationDataset& dataset,
                                                                const data::Preprocess& preprocess,
                                                                const EvalOptions& options,
                                                                const std::vector<uint8_t>* reference,
                                                                bool keep_predictions) {
  if (slots.empty()) throw Error("evaluate_segmentation_block: no trial slots given");
  const data::ImageFormat raw_format = dataset.format();
  const data::ImageFormat format = data::preprocessed_format(raw_format, preprocess);
  const int64_t raw_size = raw_format.pixels_per_image();
  const int64_t image_size = format.pixels_per_image();
  const int64_t mask_pixels = raw_format.height * raw_format.width;
  const int64_t output_size = backend.output_size();
  if (output_size % mask_pixels != 0 || output_size / mask_pixels > 255)
    throw Error("the model's output (" + std::to_string(output_size) + " values per image) is not classes × " +
                std::to_string(raw_format.height) + " × " + std::to_string(raw_format.width) +
                " (the masks of " + dataset.name() + "), with at most 255 classes");
  const int64_t classes = output_size / mask_pixels;
  const int64_t total = dataset.size();
  if (reference && static_cast<int64_t>(reference->size()) != total * mask_pixels)
    throw Error("evaluate_segmentation_block: reference predictions of the wrong size");
  if (options.batch_size < 1) throw Error("batch size must be at least 1");
  const int64_t batch = options.batch_size;
  const size_t block = slots.size();

  std::vector<uint8_t> raw(static_cast<size_t>(batch * raw_size)), masks(static_cast<size_t>(batch * mask_pixels));
  std::vector<float> images(static_cast<size_t>(batch * image_size));
  std::vector<float> outputs(block * static_cast<size_t>(batch * output_size));
  std::vector<int32_t> predicted(block * static_cast<size_t>(batch * mask_pixels));
  std::vector<uint8_t> all_nan(block * static_cast<size_t>(batch * mask_pixels));
  std::vector<SegmentationEvalResult> results(block, SegmentationEvalResult(static_cast<int>(dataset.num_classes())));
  if (keep_predictions)
    for (auto& r : results) r.predictions.reserve(static_cast<size_t>(total * mask_pixels));
  Progress progress("eval", total, "images", options.progress && total > 2 * batch);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < total; first += batch) {
    const int64_t n = std::min(batch, total - first);
    dataset.read(first, n, raw.data(), nullptr);
    dataset.read_masks(first, n, masks.data());
    data::preprocess_batch(raw.data(), n, raw_format, preprocess, images.data());
    backend.run(slots, images.data(), n, outputs.data());
    // Slot-major outputs: slot s's n images are one contiguous run of images.
    const kernels::PixelArgmaxBody argmax{outputs.data(), classes, mask_pixels, predicted.data(), all_nan.data()};
    kernels::host_launch(static_cast<int64_t>(block) * n * mask_pixels, argmax);
    const size_t batch_pixels = static_cast<size_t>(n * mask_pixels);
    for (size_t s = 0; s < block; ++s) {
      SegmentationEvalResult& r = results[s];
      const int32_t* p = predicted.data() + s * batch_pixels;
      const uint8_t* nan_flags = all_nan.data() + s * batch_pixels;
      r.confusion.add(masks.data(), p, static_cast<int64_t>(batch_pixels));
      for (size_t i = 0; i < batch_pixels; ++i) {
        r.all_nan_pixels += nan_flags[i];
        if (reference) r.differing_pixels += (*reference)[static_cast<size_t>(first * mask_pixels) + i] != p[i];
        if (keep_predictions) r.predictions.push_back(static_cast<uint8_t>(p[i]));
      }
      r.images += n;
      r.pixels += static_cast<int64_t>(batch_pixels);
    }
    progress.advance(first + n);
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& r : results) r.seconds = seconds;
  return results;
}

}  // namespace flipsweep
