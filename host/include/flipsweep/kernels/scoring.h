#pragma once
// Ranking one output row the way PyTorch does, as a kernel body: top-5 with NaN above every number
// and ties to the lower index (top[0] is torch.argmax: the first NaN, else the first maximum), and
// whether the whole row is NaN. Only these come back from the GPU, never the logits.
#include <cstdint>

#include "flipsweep/backend/backend.h"
#include "flipsweep/core/host_device.h"

namespace flipsweep::kernels {

// True when (value, index) ranks strictly above (other, other_index).
FLIPSWEEP_HD bool ranks_above(float value, int64_t index, float other, int64_t other_index) {
  const bool value_nan = value != value, other_nan = other != other;
  if (value_nan != other_nan) return value_nan;
  if (!value_nan && value != other) return value > other;
  return index < other_index;
}

FLIPSWEEP_HD void score_row(const float* row, int64_t classes, ImageScore& score) {
  int32_t top[5] = {-1, -1, -1, -1, -1};
  bool all_nan = classes > 0;
  for (int64_t c = 0; c < classes; ++c) {
    const float v = row[c];
    all_nan = all_nan && v != v;
    // Insertion into the sorted top-5; a class enters only if it ranks above the current last.
    int position = 5;
    while (position > 0 && (top[position - 1] < 0 || ranks_above(v, c, row[top[position - 1]], top[position - 1])))
      --position;
    if (position >= 5) continue;
    for (int k = 4; k > position; --k) top[k] = top[k - 1];
    top[position] = static_cast<int32_t>(c);
  }
  for (int k = 0; k < 5; ++k) score.top[k] = top[k];
  score.all_nan = all_nan;
}

// One row per index: rows of `classes` floats → scores.
struct ScoreRowsBody {
  const float* outputs = nullptr;
  int64_t classes = 0;
  ImageScore* scores = nullptr;
  FLIPSWEEP_HD void operator()(int64_t row) const { score_row(outputs + row * classes, classes, scores[row]); }
};

// Segmentation: the class of every pixel of NCHW logits, torch.argmax(dim=1) (the first NaN,
// else the first maximum), and whether all of the pixel's logits are NaN. One pixel per index:
// index = image · pixels + pixel.
struct PixelArgmaxBody {
  const float* outputs = nullptr;  // images × classes × pixels
  int64_t classes = 0;
  int64_t pixels = 0;              // height × width
  int32_t* predicted = nullptr;    // images × pixels
  uint8_t* all_nan = nullptr;      // images × pixels (may be null)
  FLIPSWEEP_HD void operator()(int64_t index) const {
    const int64_t image = index / pixels, pixel = index % pixels;
    const float* first = outputs + image * classes * pixels + pixel;
    int64_t best = 0;
    bool every_nan = true;
    for (int64_t c = 0; c < classes; ++c) {
      const float v = first[c * pixels];
      every_nan = every_nan && v != v;
      if (c > 0 && ranks_above(v, c, first[best * pixels], best)) best = c;
    }
    predicted[index] = static_cast<int32_t>(best);
    if (all_nan) all_nan[index] = classes > 0 && every_nan ? 1 : 0;
  }
};

}  // namespace flipsweep::kernels
