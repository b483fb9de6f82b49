#pragma once
// Turning raw uint8 images into network inputs, with the semantics of the torchvision pipeline
// the model was trained with, because a small difference in input scaling shows up as an
// accuracy difference that would be blamed on the faults. The steps, in order:
//   1. channels: gray (1 channel) replicated to 3 channels when channels == 3
//   2. pad: `pad` pixels of value `pad_value` on every side of the uint8 image
//      (torchvision transforms.Pad(pad, fill=pad_value))
//   3. to float: pixel / 255 (transforms.ToTensor)
//   4. resize: bilinear to resize_height x resize_width (F.interpolate(mode='bilinear',
//      align_corners=False, antialias=False))
//   5. normalize: (x - mean[c]) / std[c] (transforms.Normalize)
// Every step is optional; a default Preprocess gives pixel / 255 in the input's shape.
#include <cstdint>
#include <vector>

#include "flipsweep/data/image_format.h"

namespace flipsweep::data {

struct Preprocess {
  std::vector<float> mean;  // per output channel, in 0..1 units; empty = 0
  std::vector<float> std;   // per output channel, in 0..1 units, each > 0; empty = 1
  int64_t pad = 0;          // pixels added on each side
  int64_t pad_value = 0;    // 0..255, the raw pixel value of the padding
  int64_t resize_height = 0;  // both 0 = no resize, both > 0 = resize
  int64_t resize_width = 0;
  int64_t channels = 0;  // 0 = keep the input's; 3 with a 1-channel input replicates gray
};

// The most values (channels x height x width) one image may have after padding or resizing:
// 2^31, 8 GiB as fp32, far beyond any real network input.
inline constexpr int64_t kMaxImageValues = int64_t{1} << 31;

// The shape preprocess_batch produces from images of shape `in`. Throws Error (naming the field)
// when `p` does not fit `in`: mean/std of the wrong length, std <= 0, negative pad, pad_value
// outside 0..255, half-specified or negative resize, an impossible channel conversion, or a pad
// or resize that gives images of more than kMaxImageValues values.
ImageFormat preprocessed_format(ImageFormat in, const Preprocess& p);

// Preprocesses `count` uint8 NCHW images of shape `in` into `out`
// (count * preprocessed_format(in, p).pixels_per_image() floats, NCHW). Images are processed in
// parallel; each output value depends only on its own image, so results do not depend on the
// thread count.
void preprocess_batch(const uint8_t* pixels, int64_t count, ImageFormat in, const Preprocess& p, float* out);

}  // namespace flipsweep::data
