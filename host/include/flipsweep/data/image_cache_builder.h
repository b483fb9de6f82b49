#pragma once
// `flipsweep cache`: a folder of JPEGs (and PNGs) → a tensor cache (datasets/FORMATS.md), decoded
// with libjpeg-turbo (the library Pillow decodes with here; only the part the crop reads,
// jpeg_decoder.h) and libpng (png_decoder.h), and transformed exactly as torchvision's evaluation
// pipeline does (pil_transforms.h): RGB, Resize(shorter side), CenterCrop.
#include <cstdint>
#include <string>
#include <vector>

namespace flipsweep::data {

struct ImageCacheOptions {
  std::string images;       // ImageFolder root (one sub-folder per class) or a flat folder
  std::string labels;       // flat folder: a `filename,label` CSV or the devkit's ground-truth list
  std::string output;       // the cache file
  int resize = 256;         // shorter side after Resize; 0 = no resize
  int crop = 224;           // CenterCrop size (square); 0 = none (then every image must have one size)
  int64_t limit = 0;        // only the first N images (0 = all)
  int threads = 0;          // decoding threads; 0 = all cores
  bool skip_bad = false;    // skip unreadable images (listed in <output>.skipped.txt) instead of failing
  bool progress = true;
};

// One image to convert: its file and class index.
struct LabelledImage {
  std::string path;
  int32_t label = 0;
};

struct ImageList {
  std::vector<LabelledImage> images;  // in the order they go into the cache
  std::vector<std::string> classes;   // class index → name
};

// The images and labels of `options` in torchvision's order: an ImageFolder (classes = sorted
// sub-folder names; files sorted by folder path, then name, recursively), or a flat folder
// (files sorted by name) with labels from `options.labels`. Error naming the folder or file and
// the problem (empty folder, missing label, label out of range, unlabelled file).
ImageList list_images(const ImageCacheOptions& options);

// An image decoded and transformed: CHW uint8, channels × height × width.
struct TransformedImage {
  int channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;
};

// Decodes one JPEG (any colour space: RGB/YCbCr, gray, CMYK/YCCK) and applies RGB conversion,
// Resize and CenterCrop into `out` (its pixel buffer reused). Error naming the file for anything
// unreadable or truncated.
void load_transformed_image(const std::string& path, int resize, int crop, TransformedImage& out);

struct ImageCacheSummary {
  int64_t written = 0;
  std::vector<std::string> skipped;  // "path: reason"
  double seconds = 0.0;
};

// Builds the cache: list, decode in parallel, write in order; the file appears only when
// complete (written to <output>.tmp, renamed at the end).
ImageCacheSummary build_image_cache(const ImageCacheOptions& options);

}  // namespace flipsweep::data
