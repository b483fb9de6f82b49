// flipsweep's tensor cache ("FSWPTC01", datasets/FORMATS.md): the input is the file. As eval and
// run do, a file of version 2 (segmentation masks) goes to open_segmentation_cache, any other to
// open_tensor_cache; both memory-map it, so every read after open goes straight to the mapping.
#include "flipsweep/data/segmentation.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flipsweep::fuzz;
  const std::string path =
      write_scratch_file("cache.fswptc", std::string_view(reinterpret_cast<const char*>(data), size));
  expect_success_or_error({path}, [&] {
    if (!flipsweep::data::is_segmentation_cache(path)) {
      read_whole_dataset(*flipsweep::data::open_tensor_cache(path));
      return;
    }
    const auto dataset = flipsweep::data::open_segmentation_cache(path);
    read_whole_dataset(*dataset);
    const flipsweep::data::ImageFormat format = dataset->format();
    std::vector<uint8_t> masks(static_cast<size_t>(dataset->size() * format.height * format.width));
    dataset->read_masks(0, dataset->size(), masks.data());
    for (uint8_t m : masks)
      if (m != 255 && m >= dataset->num_classes()) {
        std::fprintf(stderr, "fuzz: %s: mask value %d outside 0..%lld and not 255 accepted\n", path.c_str(), m,
                     static_cast<long long>(dataset->num_classes() - 1));
        std::abort();
      }
  });
  return 0;
}
