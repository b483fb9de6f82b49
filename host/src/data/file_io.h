#pragma once
// File access shared by the dataset readers (internal to host/src/data). Every failure throws
// flipsweep::Error with the path first, so the CLI's message says which file is at fault.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "flipsweep/data/dataset.h"

namespace flipsweep::data::detail {

// The whole file, or Error("PATH: cannot open: <strerror>").
std::vector<uint8_t> read_whole_file(const std::string& path);

// gzip files start with 1f 8b; we detect compression by content so a renamed file still works.
bool looks_like_gzip(const std::vector<uint8_t>& bytes);

// Decompresses a complete gzip file (several concatenated members are allowed, as gzip -d does).
// Truncated or corrupt data throws Error naming `path`. With a `limit`, decompression stops once
// more than `limit` bytes have come out: the result then has exactly limit + 1 bytes (the caller
// reports data longer than its header declares), so a small file that inflates to gigabytes never
// allocates them. Memory is at most about twice the bytes returned.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& compressed, const std::string& path,
                            size_t limit = SIZE_MAX);

// Read-only mapping of a whole file. Pages are loaded on demand and are reclaimable page cache,
// which is what keeps a tens-of-GB tensor cache from being resident all at once.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

inline uint32_t load_u32_big_endian(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline uint32_t load_u32_little_endian(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
inline uint64_t load_u64_little_endian(const uint8_t* p) {
  return uint64_t{load_u32_little_endian(p)} | (uint64_t{load_u32_little_endian(p + 4)} << 32);
}

// A dataset held entirely in memory; IDX and CIFAR files are small enough for that.
class InMemoryDataset final : public ImageDataset {
 public:
  InMemoryDataset(std::string name, ImageFormat format, int64_t num_classes, std::vector<uint8_t> pixels,
                  std::vector<int32_t> labels)
      : name_(std::move(name)),
        format_(format),
        num_classes_(num_classes),
        pixels_(std::move(pixels)),
        labels_(std::move(labels)) {}

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  ImageFormat format() const override { return format_; }
  int64_t num_classes() const override { return num_classes_; }
  std::string name() const override { return name_; }

 protected:
  void read_checked(int64_t first, int64_t count, uint8_t* pixels, int32_t* labels) const override {
    const auto image_bytes = static_cast<size_t>(format_.pixels_per_image());
    if (pixels != nullptr && count > 0) {
      std::memcpy(pixels, pixels_.data() + static_cast<size_t>(first) * image_bytes,
                  static_cast<size_t>(count) * image_bytes);
    }
    if (labels != nullptr && count > 0) {
      std::memcpy(labels, labels_.data() + first, static_cast<size_t>(count) * sizeof(int32_t));
    }
  }

 private:
  std::string name_;
  ImageFormat format_;
  int64_t num_classes_;
  std::vector<uint8_t> pixels_;
  std::vector<int32_t> labels_;
};

}  // namespace flipsweep::data::detail
