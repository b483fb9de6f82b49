// `flipsweep cache`'s decoding: the input is one image file (JPEG or PNG, chosen by content as the
// builder does), decoded and transformed as ImageNet's Resize(256) + CenterCrop(224), as a small
// Resize(16) + CenterCrop(12) (other crop windows, so other partial decodes), and with no resize
// (a whole decode). Images whose header declares over a million pixels are left out: they are
// refused only above 2^28, and a decode that large would make each input take seconds.
#include "flipsweep/data/image_cache_builder.h"
#include "flipsweep/data/jpeg_decoder.h"
#include "flipsweep/data/png_decoder.h"
#include "fuzz_support.h"

namespace {

constexpr int64_t kMaxPixels = int64_t{1} << 20;

// The size the header declares, or 0 when it cannot be read (then decoding fails quickly).
int64_t declared_pixels(const uint8_t* data, size_t size) {
  if (flipsweep::data::looks_like_png(data, size)) {
    if (size < 24) return 0;
    const auto big_endian = [&](size_t at) {
      return (int64_t{data[at]} << 24) | (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3];
    };
    const int64_t width = big_endian(16), height = big_endian(20);  // IHDR's
    return width > kMaxPixels || height > kMaxPixels ? kMaxPixels + 1 : width * height;
  }
  try {
    flipsweep::data::JpegDecoder decoder;
    decoder.read_header(data, size, "input");
    return int64_t{decoder.width()} * decoder.height();
  } catch (const flipsweep::Error&) {
    return 0;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flipsweep::fuzz;
  if (declared_pixels(data, size) > kMaxPixels) return 0;
  // Named .jpg so that a PNG inside reaches the PNG decoder by content, not by name.
  const std::string path = write_scratch_file("image.jpg", std::string_view(reinterpret_cast<const char*>(data), size));
  flipsweep::data::TransformedImage out;
  for (const std::pair<int, int>& transform : {std::pair{256, 224}, std::pair{16, 12}, std::pair{0, 0}}) {
    const int resize = transform.first, crop = transform.second;  // (a lambda cannot capture a structured binding in C++17)
    expect_success_or_error({path}, [&] {
      flipsweep::data::load_transformed_image(path, resize, crop, out);
      const size_t expected = static_cast<size_t>(out.channels) * out.height * out.width;
      if (out.channels != 3 || out.pixels.size() != expected || (crop > 0 && (out.width != crop || out.height != crop))) {
        std::fprintf(stderr, "fuzz: %s: %dx%dx%d image of %zu bytes for resize %d crop %d\n", path.c_str(),
                     out.channels, out.height, out.width, out.pixels.size(), resize, crop);
        std::abort();
      }
    });
  }
  return 0;
}
