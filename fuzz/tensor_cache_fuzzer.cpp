// flipsweep's tensor cache ("FSWPTC01", datasets/FORMATS.md): the input is the file. It is
// memory-mapped, so every read after open goes straight to the mapping.
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flipsweep::fuzz;
  const std::string path =
      write_scratch_file("cache.fswptc", std::string_view(reinterpret_cast<const char*>(data), size));
  expect_success_or_error({path}, [&] { read_whole_dataset(*flipsweep::data::open_tensor_cache(path)); });
  return 0;
}
