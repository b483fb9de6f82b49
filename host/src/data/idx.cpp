// IDX reader (MNIST, Fashion-MNIST). Format: big-endian uint32 magic 0x000008NN (0x08 = unsigned
// byte data, NN = number of dimensions), then NN big-endian uint32 dimensions, then the data.
#include <cstdio>
#include <string>
#include <vector>

#include "file_io.h"
#include "flipsweep/error.h"

namespace flipsweep::data {
namespace {

constexpr uint32_t kIdxImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
constexpr int64_t kIdxNumClasses = 10;

std::string hex32(uint32_t value) {
  char text[11];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

// The decompressed contents and how to describe their length in messages.
struct IdxContents {
  std::vector<uint8_t> bytes;
  std::string length_description;  // "file has" or "decompressed data has"
};

IdxContents load_idx_file(const std::string& path) {
  std::vector<uint8_t> raw = detail::read_whole_file(path);
  if (detail::looks_like_gzip(raw)) return {detail::gunzip(raw, path), "decompressed data has"};
  return {std::move(raw), "file has"};
}

void check_magic(const IdxContents& file, const std::string& path, uint32_t expected, const char* what,
                 size_t header_bytes) {
  if (file.bytes.size() < 4) {
    throw Error(path + ": truncated: " + file.length_description + " " + std::to_string(file.bytes.size()) +
                " bytes, too short for an IDX header");
  }
  const uint32_t magic = detail::load_u32_big_endian(file.bytes.data());
  if (magic != expected) {
    throw Error(path + ": bad magic " + hex32(magic) + ", expected " + hex32(expected) + " (" + what + ")");
  }
  if (file.bytes.size() < header_bytes) {
    throw Error(path + ": truncated: " + file.length_description + " " + std::to_string(file.bytes.size()) +
                " bytes but the IDX header alone is " + std::to_string(header_bytes) + " bytes");
  }
}

void check_length(const IdxContents& file, const std::string& path, int64_t expected_bytes,
                  const std::string& header_says) {
  const auto actual = static_cast<int64_t>(file.bytes.size());
  if (actual == expected_bytes) return;
  const std::string detail = "header says " + header_says + " (" + std::to_string(expected_bytes) + " bytes) but " +
                             file.length_description + " " + std::to_string(actual) + " bytes";
  if (actual < expected_bytes) throw Error(path + ": truncated: " + detail);
  throw Error(path + ": trailing bytes: " + detail);
}

}  // namespace

std::unique_ptr<ImageDataset> open_idx(const std::string& images_path, const std::string& labels_path) {
  IdxContents images = load_idx_file(images_path);
  check_magic(images, images_path, kIdxImagesMagic, "IDX unsigned-byte images with 3 dimensions", 16);
  const int64_t image_count = detail::load_u32_big_endian(images.bytes.data() + 4);
  const int64_t rows = detail::load_u32_big_endian(images.bytes.data() + 8);
  const int64_t cols = detail::load_u32_big_endian(images.bytes.data() + 12);
  if (image_count == 0) throw Error(images_path + ": header says the file holds no images");
  if (rows == 0 || cols == 0) {
    throw Error(images_path + ": bad dimensions: header says images are " + std::to_string(rows) + "x" +
                std::to_string(cols));
  }
  const int64_t image_bytes = rows * cols;  // both < 2^32, so no overflow in int64
  const int64_t pixel_bytes = detail::checked_multiply(image_count, image_bytes, images_path);
  check_length(images, images_path, 16 + pixel_bytes,
               std::to_string(image_count) + " images of " + std::to_string(rows) + "x" + std::to_string(cols));

  const IdxContents labels = load_idx_file(labels_path);
  check_magic(labels, labels_path, kIdxLabelsMagic, "IDX unsigned-byte labels with 1 dimension", 8);
  const int64_t label_count = detail::load_u32_big_endian(labels.bytes.data() + 4);
  check_length(labels, labels_path, 8 + label_count, std::to_string(label_count) + " labels");
  if (label_count != image_count) {
    throw Error(labels_path + ": label count " + std::to_string(label_count) + " does not match image count " +
                std::to_string(image_count) + " in " + images_path);
  }

  std::vector<int32_t> label_values(static_cast<size_t>(label_count));
  for (int64_t i = 0; i < label_count; ++i) {
    const uint8_t label = labels.bytes[static_cast<size_t>(8 + i)];
    if (label >= kIdxNumClasses) {
      throw Error(labels_path + ": label " + std::to_string(label) + " at index " + std::to_string(i) +
                  " out of range 0..9 (IDX datasets have 10 classes)");
    }
    label_values[static_cast<size_t>(i)] = label;
  }
  // Dropping the header in place avoids holding a second copy of the pixels.
  images.bytes.erase(images.bytes.begin(), images.bytes.begin() + 16);
  return std::make_unique<detail::InMemoryDataset>(images_path, ImageFormat{1, rows, cols}, kIdxNumClasses,
                                                   std::move(images.bytes), std::move(label_values));
}

}  // namespace flipsweep::data
