// The Backend interface's default scoring: run the network on the host-preprocessed batch and rank
// each output row with the reference rules (torch.argmax's NaN rule, torch.topk's order).
#include <cmath>

#include "flipsweep/backend/backend.h"
#include "flipsweep/error.h"
#include "flipsweep/kernels/scoring.h"

namespace flipsweep {

void Backend::score(const std::vector<int>& slots, const ImageBatch& batch, ImageScore* scores) {
  if (!batch.preprocessed) throw Error(name() + ": score() needs preprocessed images");
  const int64_t classes = output_size();
  std::vector<float> outputs(slots.size() * static_cast<size_t>(batch.count * classes));
  run(slots, batch.preprocessed, batch.count, outputs.data());
  const int64_t rows = static_cast<int64_t>(slots.size()) * batch.count;
  for (int64_t row = 0; row < rows; ++row) kernels::score_row(outputs.data() + row * classes, classes, scores[row]);
}

}  // namespace flipsweep
