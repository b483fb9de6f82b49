// CIFAR-10 / CIFAR-100 "binary version" reader. Each record is the label byte(s) followed by a
// 32x32 image as 1024 red, 1024 green, 1024 blue bytes, i.e. already CHW.
#include <string>
#include <vector>

#include "file_io.h"
#include "flipsweep/error.h"

namespace flipsweep::data {
namespace {

constexpr int64_t kCifarPixelBytes = 3 * 32 * 32;

struct CifarLayout {
  const char* dataset_name;
  int64_t label_bytes;   // 1 for CIFAR-10; 2 (coarse, fine) for CIFAR-100
  int64_t label_offset;  // which of the label bytes is the one we report
  int64_t num_classes;
};

CifarLayout layout_of(CifarVariant variant) {
  switch (variant) {
    case CifarVariant::Cifar10:
      return {"CIFAR-10", 1, 0, 10};
    case CifarVariant::Cifar100Fine:
      return {"CIFAR-100", 2, 1, 100};
    case CifarVariant::Cifar100Coarse:
      return {"CIFAR-100 (coarse labels)", 2, 0, 20};
  }
  throw Error("open_cifar: unknown CIFAR variant");
}

}  // namespace

std::unique_ptr<ImageDataset> open_cifar(const std::vector<std::string>& paths, CifarVariant variant) {
  if (paths.empty()) throw Error("open_cifar: no files given");
  const CifarLayout layout = layout_of(variant);
  const int64_t record_bytes = layout.label_bytes + kCifarPixelBytes;

  std::vector<uint8_t> pixels;
  std::vector<int32_t> labels;
  for (const std::string& path : paths) {
    const std::vector<uint8_t> bytes = detail::read_whole_file(path);
    const auto size = static_cast<int64_t>(bytes.size());
    if (size == 0) throw Error(path + ": empty file, expected " + layout.dataset_name + " records");
    if (size % record_bytes != 0) {
      // The most likely cause is the other CIFAR variant, whose records differ by one byte.
      const int64_t other_record_bytes = layout.label_bytes == 1 ? record_bytes + 1 : record_bytes - 1;
      std::string hint;
      if (size % other_record_bytes == 0) {
        hint = " (it divides into " + std::to_string(other_record_bytes) + "-byte records: is this a " +
               (layout.label_bytes == 1 ? "CIFAR-100" : "CIFAR-10") + " file?)";
      }
      throw Error(path + ": size " + std::to_string(size) + " bytes is not a multiple of the " + layout.dataset_name +
                  " record size " + std::to_string(record_bytes) + hint);
    }
    const int64_t records = size / record_bytes;
    const size_t first_new = labels.size();
    labels.resize(first_new + static_cast<size_t>(records));
    pixels.resize(labels.size() * static_cast<size_t>(kCifarPixelBytes));
    for (int64_t r = 0; r < records; ++r) {
      const uint8_t* record = bytes.data() + r * record_bytes;
      // CIFAR-100 carries both labels; checking both catches files of the wrong variant even when
      // we only report one of them.
      for (int64_t b = 0; b < layout.label_bytes; ++b) {
        const int64_t limit = layout.label_bytes == 1 ? 10 : (b == 0 ? 20 : 100);
        if (record[b] >= limit) {
          const char* which = layout.label_bytes == 1 ? "label" : (b == 0 ? "coarse label" : "fine label");
          throw Error(path + ": " + which + " " + std::to_string(record[b]) + " at record " + std::to_string(r) +
                      " out of range 0.." + std::to_string(limit - 1));
        }
      }
      labels[first_new + static_cast<size_t>(r)] = record[layout.label_offset];
      std::memcpy(pixels.data() + (first_new + static_cast<size_t>(r)) * kCifarPixelBytes, record + layout.label_bytes,
                  kCifarPixelBytes);
    }
  }
  std::string name = paths.front();
  if (paths.size() > 1) name += " (+" + std::to_string(paths.size() - 1) + " more)";
  return std::make_unique<detail::InMemoryDataset>(std::move(name), ImageFormat{3, 32, 32}, layout.num_classes,
                                                   std::move(pixels), std::move(labels));
}

}  // namespace flipsweep::data
