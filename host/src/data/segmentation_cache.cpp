// The tensor cache of version 2: version 1's header, labels and pixels, then one uint8 mask per
// image (datasets/FORMATS.md, "Segmentation masks").
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "file_io.h"
#include "flipsweep/data/segmentation.h"
#include "flipsweep/error.h"

namespace flipsweep::data {
namespace {

constexpr char kMagic[8] = {'F', 'S', 'W', 'P', 'T', 'C', '0', '1'};
constexpr uint32_t kSegmentationVersion = 2;
constexpr int64_t kHeaderBytes = 40;
constexpr uint8_t kIgnore = 255;

// a · b, or Error when a corrupt header's sizes overflow int64 (a wrapped product could pass the
// file-size comparison).
int64_t checked_multiply(int64_t a, int64_t b, const std::string& path) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) throw Error(path + ": header sizes overflow (corrupt file)");
  return product;
}

int64_t checked_add(int64_t a, int64_t b, const std::string& path) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) throw Error(path + ": header sizes overflow (corrupt file)");
  return sum;
}

class SegmentationCache final : public SegmentationDataset {
 public:
  explicit SegmentationCache(const std::string& path) : path_(path), file_(path) {
    const uint64_t size = file_.size();
    if (size < static_cast<uint64_t>(kHeaderBytes))
      throw Error(path + ": truncated: " + std::to_string(size) + " bytes, less than the 40-byte header");
    const uint8_t* header = file_.data();
    if (std::memcmp(header, kMagic, sizeof kMagic) != 0)
      throw Error(path + ": bad magic, not a flipsweep tensor cache (expected \"FSWPTC01\")");
    const uint32_t version = detail::load_u32_little_endian(header + 8);
    if (version != kSegmentationVersion)
      throw Error(path + ": tensor cache version " + std::to_string(version) +
                  " has no masks (a segmentation dataset is version 2)");
    format_ = ImageFormat{detail::load_u32_little_endian(header + 12), detail::load_u32_little_endian(header + 16),
                          detail::load_u32_little_endian(header + 20)};
    const uint64_t count = detail::load_u64_little_endian(header + 24);
    num_classes_ = detail::load_u32_little_endian(header + 32);
    if (format_.channels == 0 || format_.height == 0 || format_.width == 0)
      throw Error(path + ": bad dimensions: header says images are " + to_string(format_));
    if (count == 0 || count > (uint64_t{1} << 40)) throw Error(path + ": bad image count " + std::to_string(count));
    if (num_classes_ < 1 || num_classes_ > 255)
      throw Error(path + ": header says " + std::to_string(num_classes_) + " classes (a mask holds 1..255)");
    if (detail::load_u32_little_endian(header + 36) != 0) throw Error(path + ": reserved header field is not 0");
    count_ = static_cast<int64_t>(count);
    const int64_t image_bytes = checked_multiply(
        checked_multiply(format_.channels, format_.height, path), format_.width, path);
    mask_bytes_ = checked_multiply(format_.height, format_.width, path);
    pixels_offset_ = checked_add(kHeaderBytes, checked_multiply(count_, 4, path), path);
    masks_offset_ = checked_add(pixels_offset_, checked_multiply(count_, image_bytes, path), path);
    const int64_t expected = checked_add(masks_offset_, checked_multiply(count_, mask_bytes_, path), path);
    if (static_cast<uint64_t>(expected) != size)
      throw Error(path + ": " + (size < static_cast<uint64_t>(expected) ? "truncated" : "trailing bytes") +
                  ": header says " + std::to_string(count_) + " images of " + to_string(format_) + " with masks (" +
                  std::to_string(expected) + " bytes) but the file has " + std::to_string(size) + " bytes");
    labels_.resize(static_cast<size_t>(count_));
    for (int64_t i = 0; i < count_; ++i) {
      const auto label = static_cast<int32_t>(detail::load_u32_little_endian(header + kHeaderBytes + 4 * i));
      if (label < 0 || label >= num_classes_)
        throw Error(path + ": label " + std::to_string(label) + " of image " + std::to_string(i) + " out of range 0.." +
                    std::to_string(num_classes_ - 1));
      labels_[static_cast<size_t>(i)] = label;
    }
    const uint8_t* masks = file_.data() + masks_offset_;
    for (int64_t i = 0; i < count_ * mask_bytes_; ++i)
      if (masks[i] >= num_classes_ && masks[i] != kIgnore)
        throw Error(path + ": mask of image " + std::to_string(i / mask_bytes_) + " holds class " +
                    std::to_string(masks[i]) + ", outside 0.." + std::to_string(num_classes_ - 1) + " and not 255");
  }

  int64_t size() const override { return count_; }
  ImageFormat format() const override { return format_; }
  int64_t num_classes() const override { return num_classes_; }
  std::string name() const override { return path_; }

 protected:
  void read_checked(int64_t first, int64_t count, uint8_t* pixels, int32_t* labels) const override {
    if (count == 0) return;
    const int64_t image_bytes = format_.pixels_per_image();
    if (pixels) std::memcpy(pixels, file_.data() + pixels_offset_ + first * image_bytes, static_cast<size_t>(count * image_bytes));
    if (labels) std::memcpy(labels, labels_.data() + first, static_cast<size_t>(count) * sizeof(int32_t));
  }
  void read_masks_checked(int64_t first, int64_t count, uint8_t* masks) const override {
    if (count > 0)
      std::memcpy(masks, file_.data() + masks_offset_ + first * mask_bytes_, static_cast<size_t>(count * mask_bytes_));
  }

 private:
  std::string path_;
  detail::MappedFile file_;
  ImageFormat format_;
  int64_t num_classes_ = 0, count_ = 0, mask_bytes_ = 0, pixels_offset_ = 0, masks_offset_ = 0;
  std::vector<int32_t> labels_;
};

class LimitedSegmentation final : public SegmentationDataset {
 public:
  LimitedSegmentation(std::unique_ptr<SegmentationDataset> inner, int64_t limit)
      : inner_(std::move(inner)), size_(std::min(limit, inner_->size())) {}
  int64_t size() const override { return size_; }
  ImageFormat format() const override { return inner_->format(); }
  int64_t num_classes() const override { return inner_->num_classes(); }
  std::string name() const override { return inner_->name(); }

 protected:
  void read_checked(int64_t first, int64_t count, uint8_t* pixels, int32_t* labels) const override {
    inner_->read(first, count, pixels, labels);
  }
  void read_masks_checked(int64_t first, int64_t count, uint8_t* masks) const override {
    inner_->read_masks(first, count, masks);
  }

 private:
  std::unique_ptr<SegmentationDataset> inner_;
  int64_t size_;
};

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

}  // namespace

void SegmentationDataset::read_masks(int64_t first, int64_t count, uint8_t* masks) const {
  if (first < 0 || count < 0 || first > size() || count > size() - first)
    throw Error(name() + ": masks [" + std::to_string(first) + ", " + std::to_string(first + count) + ") outside 0.." +
                std::to_string(size()));
  read_masks_checked(first, count, masks);
}

bool is_segmentation_cache(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return false;
  uint8_t prefix[12] = {};
  const bool read = std::fread(prefix, 1, sizeof prefix, file) == sizeof prefix;
  std::fclose(file);
  return read && std::memcmp(prefix, kMagic, sizeof kMagic) == 0 &&
         detail::load_u32_little_endian(prefix + 8) == kSegmentationVersion;
}

std::unique_ptr<SegmentationDataset> open_segmentation_cache(const std::string& path) {
  return std::make_unique<SegmentationCache>(path);
}

std::unique_ptr<SegmentationDataset> limit_segmentation_dataset(std::unique_ptr<SegmentationDataset> dataset,
                                                                int64_t limit) {
  if (limit <= 0 || limit >= dataset->size()) return dataset;
  return std::make_unique<LimitedSegmentation>(std::move(dataset), limit);
}

void write_segmentation_cache(const std::string& path, ImageFormat format, int64_t num_classes, const uint8_t* pixels,
                              const uint8_t* masks, const int32_t* labels, int64_t count) {
  std::vector<uint8_t> header(kMagic, kMagic + sizeof kMagic);
  put_u32(header, kSegmentationVersion);
  put_u32(header, static_cast<uint32_t>(format.channels));
  put_u32(header, static_cast<uint32_t>(format.height));
  put_u32(header, static_cast<uint32_t>(format.width));
  put_u32(header, static_cast<uint32_t>(static_cast<uint64_t>(count)));
  put_u32(header, static_cast<uint32_t>(static_cast<uint64_t>(count) >> 32));
  put_u32(header, static_cast<uint32_t>(num_classes));
  put_u32(header, 0);
  for (int64_t i = 0; i < count; ++i) put_u32(header, static_cast<uint32_t>(labels[i]));
  const std::string temporary = path + ".tmp";
  std::FILE* out = std::fopen(temporary.c_str(), "wb");
  if (!out) throw Error(temporary + ": cannot create: " + std::strerror(errno));
  const size_t image_bytes = static_cast<size_t>(count * format.pixels_per_image());
  const size_t mask_bytes = static_cast<size_t>(count * format.height * format.width);
  const bool written = std::fwrite(header.data(), 1, header.size(), out) == header.size() &&
                       std::fwrite(pixels, 1, image_bytes, out) == image_bytes &&
                       std::fwrite(masks, 1, mask_bytes, out) == mask_bytes && std::fflush(out) == 0 &&
                       ::fsync(fileno(out)) == 0;
  const std::string reason = std::strerror(errno);
  if (std::fclose(out) != 0 || !written) {
    std::remove(temporary.c_str());
    throw Error(temporary + ": write failed: " + reason);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string rename_reason = std::strerror(errno);
    std::remove(temporary.c_str());
    throw Error(path + ": cannot rename " + temporary + " into place: " + rename_reason);
  }
}

}  // namespace flipsweep::data
