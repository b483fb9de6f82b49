#pragma once
// PNG decoding for `flipsweep cache` (libpng), with the result Pillow 9 + torchvision's loader give:
// `Image.open(f).convert("RGB")`. Pillow keeps the high byte of 16-bit colour and gray+alpha
// samples, drops alpha without compositing, ignores tRNS, gamma and colour profiles, looks up
// palettes, scales 1/2/4-bit gray to 0..255, and opens 16-bit gray (no alpha) as mode "I", whose
// conversion to RGB clips the value at 255 instead of scaling it.
#include <cstddef>
#include <string>

#include "flipsweep/data/pil_transforms.h"

namespace flipsweep::data {

// True when `bytes` start with the PNG signature (Pillow chooses its decoder by content too).
bool looks_like_png(const unsigned char* bytes, size_t size);

// The whole image as 3-channel RGB into `out` (its buffer reused). `path` names the file in
// errors: a damaged or truncated PNG is an Error with libpng's message.
void decode_png_as_rgb(const unsigned char* bytes, size_t size, const std::string& path, InterleavedImage& out);

}  // namespace flipsweep::data
