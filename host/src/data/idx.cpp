// IDX reader (MNIST, Fashion-MNIST). Format: big-endian uint32 magic 0x000008NN (0x08 = unsigned
// byte data, NN = number of dimensions), then NN big-endian uint32 dimensions, then the data.
#include <cstdint>
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

// The size an IDX header declares: the whole file in bytes and how to describe it in messages.
struct DeclaredSize {
  int64_t bytes;
  std::string description;  // "3 images of 28x28", "3 labels"
};

// The decompressed contents and how to describe their length in messages.
struct IdxContents {
  std::vector<uint8_t> bytes;
  std::string length_description;  // "file has" or "decompressed data has"
};

void check_magic(const uint8_t* data, size_t size, const std::string& length_description, const std::string& path,
                 uint32_t expected, const char* what, size_t header_bytes) {
  if (size < 4) {
    throw Error(path + ": truncated: " + length_description + " " + std::to_string(size) +
                " bytes, too short for an IDX header");
  }
  const uint32_t magic = detail::load_u32_big_endian(data);
  if (magic != expected) {
    throw Error(path + ": bad magic " + hex32(magic) + ", expected " + hex32(expected) + " (" + what + ")");
  }
  if (size < header_bytes) {
    throw Error(path + ": truncated: " + length_description + " " + std::to_string(size) +
                " bytes but the IDX header alone is " + std::to_string(header_bytes) + " bytes");
  }
}

// `actual` is limit + 1 for gzip data that went on past the declared size (gunzip's limit).
void check_length(size_t actual_size, bool more_than_that, const std::string& length_description,
                  const std::string& path, const DeclaredSize& declared) {
  const auto actual = static_cast<int64_t>(actual_size);
  if (actual == declared.bytes) return;
  const std::string detail = "header says " + declared.description + " (" + std::to_string(declared.bytes) +
                             " bytes) but " + length_description + " " + (more_than_that ? "more" : std::to_string(actual) + " bytes");
  if (actual < declared.bytes) throw Error(path + ": truncated: " + detail);
  throw Error(path + ": trailing bytes: " + detail);
}

// Reads an IDX file, plain or gzip. The header (its first `header_bytes`) is checked, and the size
// it declares (`declared_size`) compared with the data, before the data is held in memory more than
// once: a plain file is read whole (its real size), a gzip file is decompressed only up to one byte
// past the declared size. So a header claiming 2^40 images, or a small gzip file that inflates to
// gigabytes, fails with a message naming the file before any large allocation.
template <typename DeclaredSizeOf>
IdxContents load_idx_file(const std::string& path, uint32_t magic, const char* what, size_t header_bytes,
                          DeclaredSizeOf declared_size) {
  std::vector<uint8_t> raw = detail::read_whole_file(path);
  if (!detail::looks_like_gzip(raw)) {
    const std::string description = "file has";
    check_magic(raw.data(), raw.size(), description, path, magic, what, header_bytes);
    check_length(raw.size(), false, description, path, declared_size(raw.data()));
    return {std::move(raw), description};
  }
  const std::string description = "decompressed data has";
  const std::vector<uint8_t> head = detail::gunzip(raw, path, header_bytes);
  check_magic(head.data(), head.size(), description, path, magic, what, header_bytes);
  const DeclaredSize declared = declared_size(head.data());
  std::vector<uint8_t> bytes = detail::gunzip(raw, path, static_cast<size_t>(declared.bytes));
  check_length(bytes.size(), bytes.size() > static_cast<size_t>(declared.bytes), description, path, declared);
  return {std::move(bytes), description};
}

}  // namespace

std::unique_ptr<ImageDataset> open_idx(const std::string& images_path, const std::string& labels_path) {
  int64_t image_count = 0, rows = 0, cols = 0;
  IdxContents images = load_idx_file(
      images_path, kIdxImagesMagic, "IDX unsigned-byte images with 3 dimensions", 16, [&](const uint8_t* header) {
        image_count = detail::load_u32_big_endian(header + 4);
        rows = detail::load_u32_big_endian(header + 8);
        cols = detail::load_u32_big_endian(header + 12);
        if (image_count == 0) throw Error(images_path + ": header says the file holds no images");
        if (rows == 0 || cols == 0) {
          throw Error(images_path + ": bad dimensions: header says images are " + std::to_string(rows) + "x" +
                      std::to_string(cols));
        }
        const std::string description =
            std::to_string(image_count) + " images of " + std::to_string(rows) + "x" + std::to_string(cols);
        // Each of the three is below 2^32, their product may be up to 2^96.
        int64_t pixel_bytes = 0;
        if (__builtin_mul_overflow(rows, cols, &pixel_bytes) ||
            __builtin_mul_overflow(pixel_bytes, image_count, &pixel_bytes) || pixel_bytes > INT64_MAX - 16) {
          throw Error(images_path + ": header says " + description + ", more than 2^63 bytes: not an IDX file of images");
        }
        return DeclaredSize{16 + pixel_bytes, description};
      });
  int64_t label_count = 0;
  const IdxContents labels = load_idx_file(
      labels_path, kIdxLabelsMagic, "IDX unsigned-byte labels with 1 dimension", 8, [&](const uint8_t* header) {
        label_count = detail::load_u32_big_endian(header + 4);
        return DeclaredSize{8 + label_count, std::to_string(label_count) + " labels"};
      });
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
