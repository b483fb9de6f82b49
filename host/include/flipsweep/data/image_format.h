#pragma once
// The shape of one image. Datasets store images as uint8 NCHW; preprocessing produces float NCHW
// of a possibly different shape (padding, resizing, gray to RGB).
#include <cstdint>
#include <string>

namespace flipsweep::data {

struct ImageFormat {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;

  int64_t pixels_per_image() const { return channels * height * width; }
  bool operator==(const ImageFormat& other) const {
    return channels == other.channels && height == other.height && width == other.width;
  }
  bool operator!=(const ImageFormat& other) const { return !(*this == other); }
};

// "3x32x32" (channels x height x width), for messages.
std::string to_string(const ImageFormat& format);

}  // namespace flipsweep::data
