#include "flipsweep/data/png_decoder.h"

#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

#include "flipsweep/error.h"

namespace flipsweep::data {

namespace {

// libpng reads through this instead of a FILE: the bytes in memory, and the first error text.
struct PngSource {
  const unsigned char* bytes = nullptr;
  size_t size = 0, offset = 0;
  char message[256] = {};
};

void read_from_memory(png_structp png, png_bytep target, png_size_t length) {
  auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
  if (length > source->size - source->offset) png_error(png, "file ends early (truncated)");
  std::memcpy(target, source->bytes + source->offset, length);
  source->offset += length;
}

// libpng's error callback must not return: it keeps the text and jumps back to the setjmp
// in decode_png_as_rgb (no C++ object with a destructor lives in the frames it crosses).
void keep_error_and_jump(png_structp png, png_const_charp message) {
  auto* source = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(source->message, sizeof source->message, "%s", message ? message : "libpng error");
  png_longjmp(png, 1);
}

void ignore_warning(png_structp, png_const_charp) {}  // as Pillow: bad ancillary chunks are not fatal

}  // namespace

bool looks_like_png(const unsigned char* bytes, size_t size) { return size >= 8 && png_sig_cmp(bytes, 0, 8) == 0; }

// Owns libpng's read and info structs (also when a bad_alloc leaves decode_png_as_rgb).
struct PngReader {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngReader() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

void decode_png_as_rgb(const unsigned char* bytes, size_t size, const std::string& path, InterleavedImage& out) {
  if (!looks_like_png(bytes, size)) throw Error(path + ": not a PNG file");
  // Not an automatic variable: libpng writes the error text into it between setjmp and longjmp.
  thread_local PngSource source;
  source = PngSource{};
  source.bytes = bytes;
  source.size = size;
  PngReader reader;
  reader.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, keep_error_and_jump, ignore_warning);
  if (!reader.png) throw Error(path + ": cannot create a PNG decoder");
  reader.info = png_create_info_struct(reader.png);
  if (!reader.info) throw Error(path + ": cannot create a PNG decoder");
  png_structp png = reader.png;
  png_infop info = reader.info;
  // Rows are read into `decoded` (whatever libpng's transforms give: 1 to 4 channels of 8 bits,
  // or 16-bit gray) and converted to RGB afterwards.
  thread_local std::vector<unsigned char> decoded;
  thread_local std::vector<png_bytep> rows;
  thread_local std::vector<png_color> palette;
  if (setjmp(png_jmpbuf(png))) throw Error(path + ": cannot decode PNG: " + source.message);
  png_set_read_fn(png, &source, read_from_memory);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  const int color_type = png_get_color_type(png, info), bit_depth = png_get_bit_depth(png, info);
  if (static_cast<uint64_t>(width) * height > (uint64_t{1} << 28)) png_error(png, "image too large (over 2^28 pixels)");
  const bool gray16 = color_type == PNG_COLOR_TYPE_GRAY && bit_depth == 16;  // Pillow's mode "I"
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    // Pillow's palette starts as the gray ramp (i, i, i) and PLTE replaces its first entries, so
    // an index past a short PLTE is gray; libpng's would be black.
    png_colorp given = nullptr;
    int count = 0;
    png_get_PLTE(png, info, &given, &count);
    const int entries = 1 << bit_depth;
    if (count < entries) {
      palette.resize(static_cast<size_t>(entries));
      for (int i = 0; i < entries; ++i) {
        const png_byte gray = static_cast<png_byte>(i);
        palette[static_cast<size_t>(i)] = i < count ? given[i] : png_color{gray, gray, gray};
      }
      png_set_PLTE(png, info, palette.data(), entries);
    }
  }
  if (!gray16) {
    png_set_strip_16(png);  // the high byte, as Pillow's ";16B" raw modes
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  const int channels = png_get_channels(png, info);
  decoded.resize(row_bytes * height);
  rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = decoded.data() + row_bytes * y;
  png_read_image(png, rows.data());

  // To RGB as Pillow's convert("RGB"): gray replicated, alpha (a tRNS turned into alpha too)
  // dropped, 16-bit gray clipped at 255.
  out.width = static_cast<int>(width);
  out.height = static_cast<int>(height);
  out.channels = 3;
  out.pixels.resize(static_cast<size_t>(width) * height * 3);
  uint8_t* target = out.pixels.data();
  for (png_uint_32 y = 0; y < height; ++y) {
    const unsigned char* row = rows[y];
    for (png_uint_32 x = 0; x < width; ++x, target += 3) {
      if (gray16) {
        const unsigned char* sample = row + static_cast<size_t>(x) * static_cast<size_t>(channels) * 2;
        const uint8_t value = static_cast<uint8_t>(std::min(255, (sample[0] << 8) | sample[1]));
        target[0] = target[1] = target[2] = value;
      } else if (channels <= 2) {
        target[0] = target[1] = target[2] = row[static_cast<size_t>(x) * static_cast<size_t>(channels)];
      } else {
        std::memcpy(target, row + static_cast<size_t>(x) * static_cast<size_t>(channels), 3);
      }
    }
  }
}

}  // namespace flipsweep::data
