#pragma once
// torchvision's evaluation transform on decoded images, bit for bit: PIL's CMYK → RGB
// conversion, `transforms.Resize(n)` (PIL's antialiased bilinear resampling, Pillow's
// Resample.c arithmetic: double-precision filter weights rounded to 22-bit fixed point, a
// horizontal then a vertical pass) and `transforms.CenterCrop` (with its padding rule).
// `flipsweep cache` uses them to turn JPEGs into a tensor cache that equals what torchvision
// 0.14 + Pillow 9 feed a network (tests/image_cache_test.cpp checks it against them).
#include <cstdint>
#include <vector>

namespace flipsweep::data {

// An 8-bit image, rows of interleaved channels (HWC), as decoders produce it.
struct InterleavedImage {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height × width × channels
};

// Pillow's "CMYK" → "RGB" for a JPEG's CMYK samples as libjpeg returns them (Adobe convention:
// stored inverted, which Pillow undoes with its "CMYK;I" raw mode): R = K' − K'·C/255 rounded
// as Pillow's MULDIV255, with C = 255 − stored C and K' = stored K.
InterleavedImage rgb_from_jpeg_cmyk(const InterleavedImage& cmyk);

// A 1-channel image as 3 identical channels (Pillow's "L" → "RGB").
InterleavedImage rgb_from_gray(const InterleavedImage& gray);

// torchvision 0.14's output size for Resize(shorter): the shorter side becomes `shorter`, the
// longer int(shorter · long / short) (truncated, computed in double as Python does).
void resized_size_for_shorter_side(int width, int height, int shorter, int* out_width, int* out_height);

// Pillow's Image.resize((out_width, out_height), Image.BILINEAR) with the default box.
InterleavedImage pil_resize_bilinear(const InterleavedImage& in, int out_width, int out_height);

// The same resize, computing only the output window [left, left + width) × [top, top + height):
// identical values (every output pixel is computed on its own), less work before a crop.
InterleavedImage pil_resize_bilinear_window(const InterleavedImage& in, int out_width, int out_height, int left,
                                            int top, int width, int height);
// Into `out`, whose pixel buffer is reused (a loop over many images allocates nothing).
void pil_resize_bilinear_window(const InterleavedImage& in, int out_width, int out_height, int left, int top,
                                int width, int height, InterleavedImage& out);

// The source rectangle (in in_width × in_height coordinates) that the output window [left, left +
// width) × [top, top + height) of a resize to out_width × out_height reads: all a decoder needs to
// produce for it.
void resize_source_window(int in_width, int in_height, int out_width, int out_height, int left, int top, int width,
                          int height, int* source_left, int* source_top, int* source_width, int* source_height);
// The windowed resize of an in_width × in_height image of which only `region` was decoded, its
// top-left pixel at (region_left, region_top) of the image; the region must hold the source
// rectangle above (an error otherwise). The same values as resizing the whole image.
void pil_resize_bilinear_window(const InterleavedImage& region, int region_left, int region_top, int in_width,
                                int in_height, int out_width, int out_height, int left, int top, int width, int height,
                                InterleavedImage& out);
// The resize passes use AVX2 where the CPU has it; false selects the plain C++ loops (tests
// compare the two).
void use_simd_resampling(bool enabled);
// torchvision's CenterCrop offset along one side of `size` pixels, size >= crop: Python's
// round((size - crop) / 2.0), halves to even.
int center_crop_offset(int size, int crop);

// torchvision's CenterCrop((crop_height, crop_width)) of an HWC image, written as CHW into
// `out` (channels × crop_height × crop_width bytes). An image smaller than the crop is first
// padded with zeros as torchvision does (left/top get the floor of half the shortfall).
void center_crop_to_chw(const InterleavedImage& in, int crop_width, int crop_height, uint8_t* out);

}  // namespace flipsweep::data
