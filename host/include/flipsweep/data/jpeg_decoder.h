#pragma once
// JPEG decoding for `flipsweep cache` through libjpeg-turbo's libjpeg API, with the settings
// Pillow decodes with (accurate integer IDCT, fancy upsampling), able to decode only a
// rectangle: the rows and the iMCU columns that a Resize + CenterCrop window reads (whole rows
// for progressive files). For ImageNet's 4:3 photos that is about 60 % of the pixels, with
// values equal to a whole decode (tests/image_cache_test.cpp checks it window by window).
#include <cstddef>
#include <memory>
#include <string>

#include "flipsweep/data/pil_transforms.h"

namespace flipsweep::data {

// A rectangle of pixels in an image's coordinates.
struct PixelRect {
  int left = 0, top = 0, width = 0, height = 0;
};

class JpegDecoder {
 public:
  JpegDecoder();
  ~JpegDecoder();
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;

  // Reads the header of the JPEG held in bytes[0, size) (the caller keeps them until decode()
  // returns); `path` names the file in errors. Throws flipsweep::Error for anything that is not
  // a readable JPEG.
  void read_header(const unsigned char* bytes, size_t size, const std::string& path);
  int width() const { return width_; }
  int height() const { return height_; }
  int channels() const { return channels_; }  // as decoded: 1 gray, 3 RGB, 4 CMYK (Adobe-inverted, as libjpeg gives it)

  // Decodes a rectangle that holds `wanted` (clipped to the image; width 0 = the whole image)
  // into `out` and returns where it lies in the image. Pixels are those of a whole decode. Like
  // Pillow, a file that ends before its image data does ("image file is truncated") is an error
  // and libjpeg's other warnings (extraneous bytes, ...) are not.
  PixelRect decode(const PixelRect& wanted, InterleavedImage& out);

 private:
  struct Libjpeg;
  std::unique_ptr<Libjpeg> libjpeg_;
  const unsigned char* bytes_ = nullptr;
  size_t size_ = 0;
  std::string path_;
  int width_ = 0, height_ = 0, channels_ = 0;
};

}  // namespace flipsweep::data
