#include "flipsweep/data/jpeg_decoder.h"

// jpeglib.h needs FILE and size_t declared first.
#include <cstdio>
// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include <algorithm>
#include <csetjmp>
#include <vector>

#include "flipsweep/error.h"

namespace flipsweep::data {

namespace {

// Rows of pixels beyond the wanted rectangle that are decoded too. Fancy upsampling of
// subsampled chroma blends each pixel with its neighbours' samples; at the edge of a cropped or
// skipped-to region libjpeg replicates the edge sample instead, so the outermost row or column of
// a region can differ from a whole decode (measured: one pixel deep). A few more rows cost little.
constexpr int kContextMargin = 4;

// A JPEG's data ends with the EOI marker; entropy-coded data cannot hold it (0xFF is stuffed),
// so a file that ends with it was not cut short inside its image data.
bool ends_with_end_of_image(const unsigned char* bytes, size_t size) {
  return size >= 2 && bytes[size - 2] == 0xFF && bytes[size - 1] == 0xD9;
}

}  // namespace

// libjpeg reports errors through a callback that must not return: it jumps back to the
// setjmp of the JpegDecoder method that called into libjpeg (no C++ object with a destructor
// lives in the frames it crosses), which resets the decompressor and throws.
struct JpegDecoder::Libjpeg {
  jpeg_decompress_struct info{};
  jpeg_error_mgr errors{};
  std::jmp_buf jump{};
  bool ended_early = false;  // libjpeg's "Premature end of JPEG file" warning
  char message[JMSG_LENGTH_MAX] = {};
  std::vector<JSAMPROW> rows;
  std::vector<JSAMPLE> last_row;  // the image's last row, read (not kept) to reach the end of its data
};

JpegDecoder::JpegDecoder() : libjpeg_(std::make_unique<Libjpeg>()) {
  Libjpeg& l = *libjpeg_;
  l.info.err = jpeg_std_error(&l.errors);
  l.info.client_data = &l;
  l.errors.error_exit = [](j_common_ptr info) {
    Libjpeg& state = *static_cast<Libjpeg*>(info->client_data);
    (*info->err->format_message)(info, state.message);
    std::longjmp(state.jump, 1);
  };
  // Warnings (corrupt data that libjpeg decodes around) are not printed; Pillow ignores them all
  // except a file that ends early, which it refuses ("image file is truncated").
  l.errors.emit_message = [](j_common_ptr info, int level) {
    if (level >= 0) return;  // trace output
    Libjpeg& state = *static_cast<Libjpeg*>(info->client_data);
    if (info->err->msg_code == JWRN_JPEG_EOF && !state.ended_early) {
      state.ended_early = true;
      (*info->err->format_message)(info, state.message);
    }
  };
  if (setjmp(l.jump)) throw Error(std::string("cannot create a JPEG decompressor: ") + l.message);
  jpeg_create_decompress(&l.info);
}

JpegDecoder::~JpegDecoder() { jpeg_destroy_decompress(&libjpeg_->info); }

void JpegDecoder::read_header(const unsigned char* bytes, size_t size, const std::string& path) {
  Libjpeg& l = *libjpeg_;
  bytes_ = bytes;
  size_ = size;
  path_ = path;
  width_ = height_ = channels_ = 0;
  if (size == 0) throw Error(path + ": empty file");
  l.ended_early = false;
  if (setjmp(l.jump)) {
    jpeg_abort_decompress(&l.info);
    throw Error(path_ + ": not a readable JPEG: " + l.message);
  }
  jpeg_abort_decompress(&l.info);  // ready for a new image, whatever the last one did
  jpeg_mem_src(&l.info, bytes, static_cast<unsigned long>(size));
  jpeg_read_header(&l.info, TRUE);
  // Pillow's modes: "L" for grayscale, "CMYK" for CMYK and YCCK (Adobe), "RGB" otherwise.
  switch (l.info.jpeg_color_space) {
    case JCS_GRAYSCALE:
      l.info.out_color_space = JCS_GRAYSCALE;
      channels_ = 1;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      l.info.out_color_space = JCS_CMYK;
      channels_ = 4;
      break;
    default:
      l.info.out_color_space = JCS_RGB;
      channels_ = 3;
  }
  // libjpeg's defaults are Pillow's: accurate integer IDCT, fancy upsampling, no scaling.
  l.info.dct_method = JDCT_ISLOW;
  l.info.do_fancy_upsampling = TRUE;
  width_ = static_cast<int>(l.info.image_width);
  height_ = static_cast<int>(l.info.image_height);
  if (width_ <= 0 || height_ <= 0 || static_cast<int64_t>(width_) * height_ > (int64_t{1} << 28)) {
    jpeg_abort_decompress(&l.info);
    throw Error(path + ": JPEG of " + std::to_string(width_) + "x" + std::to_string(height_) +
                " pixels is not supported");
  }
}

PixelRect JpegDecoder::decode(const PixelRect& wanted, InterleavedImage& out) {
  if (!bytes_) throw Error("JpegDecoder::decode before read_header");
  Libjpeg& l = *libjpeg_;
  int left = 0, top = 0, right = width_, bottom = height_;
  if (wanted.width > 0 && wanted.height > 0) {
    left = std::clamp(wanted.left - kContextMargin, 0, width_);
    top = std::clamp(wanted.top - kContextMargin, 0, height_);
    right = std::clamp(wanted.left + wanted.width + kContextMargin, left, width_);
    bottom = std::clamp(wanted.top + wanted.height + kContextMargin, top, height_);
    if (right == left || bottom == top) left = 0, top = 0, right = width_, bottom = height_;
  }
  // Progressive files keep whole rows: libjpeg's block smoothing (used when a file's scans leave
  // AC coefficients short of full precision) treats a cropped region's first block column as
  // the image's edge, up to two blocks deep, more than the margin covers.
  const bool whole_rows = (left == 0 && right == width_) || l.info.progressive_mode;
  if (whole_rows) left = 0, right = width_;
  // Rows below the rectangle are not decoded when the file visibly holds them all; otherwise
  // they are entropy-decoded through, so that a cut-short file fails as in Pillow.
  const bool stop_early = bottom < height_ && ends_with_end_of_image(bytes_, size_);
  JDIMENSION crop_left = static_cast<JDIMENSION>(left), crop_width = static_cast<JDIMENSION>(right - left);

  if (setjmp(l.jump)) {
    jpeg_abort_decompress(&l.info);
    bytes_ = nullptr;
    throw Error(path_ + ": cannot decode: " + l.message);
  }
  jpeg_start_decompress(&l.info);
  // Whole iMCU columns: crop_left moves left to a boundary and crop_width grows to match.
  if (!whole_rows) jpeg_crop_scanline(&l.info, &crop_left, &crop_width);

  PixelRect region{static_cast<int>(crop_left), top, static_cast<int>(crop_width), bottom - top};
  out.width = region.width;
  out.height = region.height;
  out.channels = channels_;
  const size_t stride = static_cast<size_t>(region.width) * static_cast<size_t>(channels_);
  out.pixels.resize(stride * static_cast<size_t>(region.height));  // keeps a reused buffer's capacity
  l.rows.resize(static_cast<size_t>(region.height));
  for (int y = 0; y < region.height; ++y) l.rows[static_cast<size_t>(y)] = out.pixels.data() + stride * static_cast<size_t>(y);
  l.last_row.resize(stride);
  JSAMPROW last_row = l.last_row.data();

  if (setjmp(l.jump)) {
    jpeg_abort_decompress(&l.info);
    bytes_ = nullptr;
    throw Error(path_ + ": cannot decode: " + l.message);
  }
  if (top > 0) jpeg_skip_scanlines(&l.info, static_cast<JDIMENSION>(top));
  while (l.info.output_scanline < static_cast<JDIMENSION>(bottom)) {
    const JDIMENSION done = l.info.output_scanline - static_cast<JDIMENSION>(top);
    jpeg_read_scanlines(&l.info, l.rows.data() + done, static_cast<JDIMENSION>(bottom) - l.info.output_scanline);
  }
  if (stop_early) {
    jpeg_abort_decompress(&l.info);
  } else {
    // A skip that reaches the last row decodes nothing (libjpeg-turbo 2.1 just ends the pass),
    // so all rows but the last are skipped (entropy-decoded) and the last one is read: a file
    // cut short anywhere below the rectangle raises libjpeg's end-of-file warning.
    if (bottom < height_ - 1) jpeg_skip_scanlines(&l.info, static_cast<JDIMENSION>(height_ - 1 - bottom));
    if (bottom < height_) jpeg_read_scanlines(&l.info, &last_row, 1);
    jpeg_finish_decompress(&l.info);
  }
  bytes_ = nullptr;
  if (l.ended_early) throw Error(path_ + ": cannot decode: " + l.message);
  return region;
}

}  // namespace flipsweep::data
