// IDX (MNIST, Fashion-MNIST): the input is the images file, the separator
// (fuzz_support.h, kFileSeparator), then the labels file; either may be gzip-compressed.
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flipsweep::fuzz;
  const std::vector<std::string_view> files = split_files(data, size, 2);
  const std::string images = write_scratch_file("images.idx", files[0]);
  const std::string labels = write_scratch_file("labels.idx", files.size() > 1 ? files[1] : std::string_view());
  expect_success_or_error({images, labels}, [&] { read_whole_dataset(*flipsweep::data::open_idx(images, labels)); });
  return 0;
}
