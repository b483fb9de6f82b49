// flipsweep's raw uint8 tensor cache ("FSWPTC01"); the layout is documented in datasets/FORMATS.md.
//   offset  0: 8 bytes  magic "FSWPTC01"
//   offset  8: uint32   version = 1
//   offset 12: uint32   channels, height, width (3 x 4 bytes)
//   offset 24: uint64   count
//   offset 32: uint32   num_classes
//   offset 36: uint32   reserved = 0
//   offset 40: int32    labels[count]
//   then       uint8    pixels[count][channels][height][width]
// All integers little-endian. Pixels come last so that they can be streamed while labels are
// patched in at the end (TensorCacheWriter).
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "file_io.h"
#include "flipsweep/error.h"

namespace flipsweep::data {
namespace {

constexpr char kMagic[8] = {'F', 'S', 'W', 'P', 'T', 'C', '0', '1'};
constexpr uint32_t kVersion = 1;
constexpr int64_t kHeaderBytes = 40;
constexpr int64_t kMaxDimension = 0xffffffff;

class TensorCacheDataset final : public ImageDataset {
 public:
  explicit TensorCacheDataset(const std::string& path) : path_(path), file_(path) {
    const uint64_t size = file_.size();
    if (size < static_cast<uint64_t>(kHeaderBytes)) {
      throw Error(path + ": truncated: file has " + std::to_string(size) + " bytes, less than the " +
                  std::to_string(kHeaderBytes) + "-byte tensor cache header");
    }
    const uint8_t* header = file_.data();
    if (std::memcmp(header, kMagic, sizeof kMagic) != 0) {
      throw Error(path + ": bad magic, not a flipsweep tensor cache (expected \"FSWPTC01\")");
    }
    const uint32_t version = detail::load_u32_little_endian(header + 8);
    if (version != kVersion) {
      throw Error(path + ": unsupported tensor cache version " + std::to_string(version) + " (this build reads " +
                  std::to_string(kVersion) + ")");
    }
    format_ = ImageFormat{detail::load_u32_little_endian(header + 12), detail::load_u32_little_endian(header + 16),
                          detail::load_u32_little_endian(header + 20)};
    const uint64_t count = detail::load_u64_little_endian(header + 24);
    num_classes_ = detail::load_u32_little_endian(header + 32);
    const uint32_t reserved = detail::load_u32_little_endian(header + 36);
    if (format_.channels == 0 || format_.height == 0 || format_.width == 0) {
      throw Error(path + ": bad dimensions: header says images are " + to_string(format_));
    }
    if (count == 0 || count > static_cast<uint64_t>(INT64_MAX)) {
      throw Error(path + ": bad image count " + std::to_string(count) + " in header");
    }
    if (num_classes_ == 0) throw Error(path + ": header says 0 classes");
    if (reserved != 0) throw Error(path + ": reserved header field is " + std::to_string(reserved) + ", expected 0");

    count_ = static_cast<int64_t>(count);
    // The size the header declares, compared with the file's before anything is allocated. Each
    // dimension is below 2^32 and the count below 2^63, so the products may overflow int64.
    int64_t image_bytes = 0, label_bytes = 0, pixel_bytes = 0, expected = 0;
    if (__builtin_mul_overflow(format_.channels, format_.height, &image_bytes) ||
        __builtin_mul_overflow(image_bytes, format_.width, &image_bytes) ||
        __builtin_mul_overflow(count_, int64_t{4}, &label_bytes) ||
        __builtin_mul_overflow(count_, image_bytes, &pixel_bytes) ||
        __builtin_add_overflow(kHeaderBytes, label_bytes, &pixels_offset_) ||
        __builtin_add_overflow(pixels_offset_, pixel_bytes, &expected)) {
      throw Error(path + ": truncated: header says " + std::to_string(count_) + " images of " + to_string(format_) +
                  " (more than 2^63 bytes) but file has " + std::to_string(size) + " bytes");
    }
    if (static_cast<uint64_t>(expected) != size) {
      throw Error(path + ": " + (size < static_cast<uint64_t>(expected) ? "truncated" : "trailing bytes") +
                  ": header says " + std::to_string(count_) + " images of " + to_string(format_) + " (" +
                  std::to_string(expected) + " bytes) but file has " + std::to_string(size) + " bytes");
    }

    // Labels are 4 bytes per image (5 MB for ImageNet's training set): kept in memory, checked once.
    labels_.resize(static_cast<size_t>(count_));
    for (int64_t i = 0; i < count_; ++i) {
      const auto label = static_cast<int32_t>(detail::load_u32_little_endian(header + kHeaderBytes + 4 * i));
      if (label < 0 || label >= num_classes_) {
        throw Error(path + ": label " + std::to_string(label) + " at index " + std::to_string(i) + " out of range 0.." +
                    std::to_string(num_classes_ - 1));
      }
      labels_[static_cast<size_t>(i)] = label;
    }
  }

  int64_t size() const override { return count_; }
  ImageFormat format() const override { return format_; }
  int64_t num_classes() const override { return num_classes_; }
  std::string name() const override { return path_; }

 protected:
  void read_checked(int64_t first, int64_t count, uint8_t* pixels, int32_t* labels) const override {
    if (count == 0) return;
    const int64_t image_bytes = format_.pixels_per_image();
    if (pixels != nullptr) {
      std::memcpy(pixels, file_.data() + pixels_offset_ + first * image_bytes,
                  static_cast<size_t>(count * image_bytes));
    }
    if (labels != nullptr) {
      std::memcpy(labels, labels_.data() + first, static_cast<size_t>(count) * sizeof(int32_t));
    }
  }

 private:
  std::string path_;
  detail::MappedFile file_;
  ImageFormat format_;
  int64_t num_classes_ = 0;
  int64_t count_ = 0;
  int64_t pixels_offset_ = 0;
  std::vector<int32_t> labels_;
};

void store_u32_little_endian(uint8_t* p, uint32_t value) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(value >> (8 * i));
}

}  // namespace

std::unique_ptr<ImageDataset> open_tensor_cache(const std::string& path) {
  return std::make_unique<TensorCacheDataset>(path);
}

TensorCacheWriter::TensorCacheWriter(std::string path, ImageFormat format, int64_t num_classes, int64_t count)
    : path_(std::move(path)),
      temp_path_(path_ + ".tmp"),
      format_(format),
      num_classes_(num_classes),
      expected_count_(count) {
  const auto in_range = [](int64_t v) { return v > 0 && v <= kMaxDimension; };
  if (!in_range(format.channels) || !in_range(format.height) || !in_range(format.width)) {
    throw Error(path_ + ": cannot write a tensor cache of images " + to_string(format));
  }
  if (!in_range(num_classes)) throw Error(path_ + ": cannot write a tensor cache with " + std::to_string(num_classes) + " classes");
  if (count <= 0) throw Error(path_ + ": cannot write a tensor cache of " + std::to_string(count) + " images");
  labels_.reserve(static_cast<size_t>(count));

  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (file_ == nullptr) throw Error(temp_path_ + ": cannot create: " + std::strerror(errno));
  uint8_t header[kHeaderBytes] = {};
  std::memcpy(header, kMagic, sizeof kMagic);
  store_u32_little_endian(header + 8, kVersion);
  store_u32_little_endian(header + 12, static_cast<uint32_t>(format.channels));
  store_u32_little_endian(header + 16, static_cast<uint32_t>(format.height));
  store_u32_little_endian(header + 20, static_cast<uint32_t>(format.width));
  store_u32_little_endian(header + 24, static_cast<uint32_t>(static_cast<uint64_t>(count)));
  store_u32_little_endian(header + 28, static_cast<uint32_t>(static_cast<uint64_t>(count) >> 32));
  store_u32_little_endian(header + 32, static_cast<uint32_t>(num_classes));
  store_u32_little_endian(header + 36, 0);
  if (std::fwrite(header, 1, sizeof header, file_) != sizeof header) fail("write failed");
  // Reserve the label block; finish() fills it once all labels are known.
  if (std::fseek(file_, static_cast<long>(kHeaderBytes + 4 * count), SEEK_SET) != 0) fail("seek failed");
}

TensorCacheWriter::~TensorCacheWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

void TensorCacheWriter::fail(const std::string& problem) {
  const std::string reason = problem + ": " + std::strerror(errno);
  std::fclose(file_);
  file_ = nullptr;
  std::remove(temp_path_.c_str());
  throw Error(temp_path_ + ": " + reason);
}

void TensorCacheWriter::append(const uint8_t* pixels, const int32_t* labels, int64_t count) {
  if (file_ == nullptr) throw Error(path_ + ": tensor cache writer already finished or failed");
  if (count < 0 || static_cast<int64_t>(labels_.size()) + count > expected_count_) {
    throw Error(path_ + ": appending " + std::to_string(count) + " images to " + std::to_string(labels_.size()) +
                " would exceed the declared count " + std::to_string(expected_count_));
  }
  for (int64_t i = 0; i < count; ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes_) {
      throw Error(path_ + ": label " + std::to_string(labels[i]) + " of image " + std::to_string(labels_.size() + i) +
                  " out of range 0.." + std::to_string(num_classes_ - 1));
    }
  }
  const auto bytes = static_cast<size_t>(count * format_.pixels_per_image());
  if (std::fwrite(pixels, 1, bytes, file_) != bytes) fail("write failed");
  labels_.insert(labels_.end(), labels, labels + count);
}

void TensorCacheWriter::finish() {
  if (file_ == nullptr) throw Error(path_ + ": tensor cache writer already finished or failed");
  if (static_cast<int64_t>(labels_.size()) != expected_count_) {
    throw Error(path_ + ": " + std::to_string(labels_.size()) + " images appended but " +
                std::to_string(expected_count_) + " declared");
  }
  std::vector<uint8_t> label_bytes(labels_.size() * 4);
  for (size_t i = 0; i < labels_.size(); ++i) store_u32_little_endian(&label_bytes[4 * i], static_cast<uint32_t>(labels_[i]));
  if (std::fseek(file_, static_cast<long>(kHeaderBytes), SEEK_SET) != 0) fail("seek failed");
  if (std::fwrite(label_bytes.data(), 1, label_bytes.size(), file_) != label_bytes.size()) fail("write failed");
  // Data must reach the disk before the rename makes the file visible under its final name.
  if (std::fflush(file_) != 0 || ::fsync(fileno(file_)) != 0) fail("flush failed");
  if (std::fclose(file_) != 0) {
    file_ = nullptr;
    std::remove(temp_path_.c_str());
    throw Error(temp_path_ + ": close failed: " + std::strerror(errno));
  }
  file_ = nullptr;
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temp_path_.c_str());
    throw Error(path_ + ": cannot rename " + temp_path_ + " into place: " + reason);
  }
}

void write_tensor_cache(const std::string& path, ImageFormat format, int64_t num_classes, const uint8_t* pixels,
                        const int32_t* labels, int64_t count) {
  TensorCacheWriter writer(path, format, num_classes, count);
  writer.append(pixels, labels, count);
  writer.finish();
}

}  // namespace flipsweep::data
