// GlobalAveragePool straight from a blocked conv output, so the last conv of a ResNet needs no
// reorder back to NCHW before the pool. Sums each channel over H·W in order, then divides.
#include <algorithm>

#include "internal.h"

namespace flipsweep::cpu {

void global_average_pool_blocked(const float* x, const Shape& s, int block_size, const Shape& y_shape, Tensor& y) {
  y.shape = y_shape;
  y.data.resize(static_cast<size_t>(element_count(y.shape)));
  const int64_t channels = s[1], block = block_size, blocks = (channels + block - 1) / block, spatial = s[2] * s[3];
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t cb = 0; cb < blocks; ++cb) {
      const float* base = x + (n * blocks + cb) * spatial * block;
      const int64_t lanes = std::min(block, channels - cb * block);
      for (int64_t l = 0; l < lanes; ++l) {
        float sum = 0.0f;
        for (int64_t p = 0; p < spatial; ++p) sum += base[p * block + l];
        y.data[static_cast<size_t>(n * channels + cb * block + l)] = sum / static_cast<float>(spatial);
      }
    }
}

}  // namespace flipsweep::cpu
