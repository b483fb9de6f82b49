#pragma once
// Datasets with one mask per image (semantic segmentation): the tensor cache of version 2
// (datasets/FORMATS.md, "Segmentation masks"), e.g. the Fashion-MNIST mosaics.
#include <cstdint>
#include <memory>
#include <string>

#include "flipsweep/data/dataset.h"

namespace flipsweep::data {

class SegmentationDataset : public ImageDataset {
 public:
  // Copies the masks of images [first, first + count): count × height × width bytes, each pixel's
  // class (0..num_classes−1) or 255 (ignore). A range outside [0, size()] throws Error.
  void read_masks(int64_t first, int64_t count, uint8_t* masks) const;

 protected:
  virtual void read_masks_checked(int64_t first, int64_t count, uint8_t* masks) const = 0;
};

// True when `path` is a tensor cache of version 2 (reads the 12-byte prefix only).
bool is_segmentation_cache(const std::string& path);

// Opens a tensor cache of version 2 (memory-mapped, like version 1). Every mask value is checked
// once on opening; Error naming the file and the problem for anything malformed.
std::unique_ptr<SegmentationDataset> open_segmentation_cache(const std::string& path);

// Shows only the first `limit` images of `dataset` (all of them when it has fewer, or limit 0).
std::unique_ptr<SegmentationDataset> limit_segmentation_dataset(std::unique_ptr<SegmentationDataset> dataset,
                                                                int64_t limit);

// Writes one (the tests' and converters' C++ writer; datasets/make_fashion_mosaics.py writes the
// same bytes): count images and masks, atomically (path + ".tmp", renamed).
void write_segmentation_cache(const std::string& path, ImageFormat format, int64_t num_classes, const uint8_t* pixels,
                              const uint8_t* masks, const int32_t* labels, int64_t count);

}  // namespace flipsweep::data
