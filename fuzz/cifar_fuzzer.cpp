// CIFAR binary files: the first input byte picks the variant (CIFAR-10, CIFAR-100 fine,
// CIFAR-100 coarse), the rest is up to three files (data_batch_1.bin ...) joined by the separator
// (fuzz_support.h, kFileSeparator), read in order as the CLI reads cifar10:A,B,C.
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flipsweep::fuzz;
  using flipsweep::data::CifarVariant;
  if (size == 0) return 0;
  const CifarVariant variants[] = {CifarVariant::Cifar10, CifarVariant::Cifar100Fine, CifarVariant::Cifar100Coarse};
  const CifarVariant variant = variants[data[0] % 3];
  const std::vector<std::string_view> files = split_files(data + 1, size - 1, 3);
  std::vector<std::string> paths;
  for (size_t i = 0; i < files.size(); ++i) paths.push_back(write_scratch_file("batch_" + std::to_string(i) + ".bin", files[i]));
  expect_success_or_error(paths, [&] { read_whole_dataset(*flipsweep::data::open_cifar(paths, variant)); });
  return 0;
}
