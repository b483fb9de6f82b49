// The format-independent parts: range checks, limits, the DatasetSpec front door and the
// compact command-line syntax.
#include "flipsweep/data/dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include "flipsweep/error.h"

namespace flipsweep::data {
namespace {

class LimitedDataset final : public ImageDataset {
 public:
  LimitedDataset(std::unique_ptr<ImageDataset> inner, int64_t limit)
      : inner_(std::move(inner)), size_(std::min(limit, inner_->size())) {}

  int64_t size() const override { return size_; }
  ImageFormat format() const override { return inner_->format(); }
  int64_t num_classes() const override { return inner_->num_classes(); }
  std::string name() const override { return inner_->name(); }

 protected:
  void read_checked(int64_t first, int64_t count, uint8_t* pixels, int32_t* labels) const override {
    inner_->read(first, count, pixels, labels);
  }

 private:
  std::unique_ptr<ImageDataset> inner_;
  int64_t size_;
};

bool file_exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return parts;
    start = comma + 1;
  }
}

const char* const kSpecSyntax =
    "expected FORMAT:PATH[,PATH...] with FORMAT one of idx, cifar10, cifar100, cifar100-coarse, tensor-cache, "
    "or a name: fashion-mnist-test, fashion-mnist-train";

DatasetSpec fashion_mnist_spec(const std::string& name, const std::string& file_prefix) {
  const std::string directory = kFashionMnistDir;
  DatasetSpec spec;
  spec.format = "idx";
  spec.paths = {directory + "/" + file_prefix + "-images-idx3-ubyte.gz", directory + "/" + file_prefix + "-labels-idx1-ubyte.gz"};
  for (const std::string& path : spec.paths) {
    if (!file_exists(path)) {
      throw Error(name + ": " + path + " not found; install the Debian package dataset-fashion-mnist "
                  "(apt-get install dataset-fashion-mnist) or name the files as idx:IMAGES,LABELS");
    }
  }
  return spec;
}

}  // namespace

void ImageDataset::read(int64_t first, int64_t count, uint8_t* pixels, int32_t* labels) const {
  const int64_t total = size();
  if (first < 0 || count < 0 || first > total || count > total - first) {
    // Worded without first + count, which could overflow for absurd arguments.
    throw Error(name() + ": cannot read " + std::to_string(count) + " images starting at index " +
                std::to_string(first) + ", the dataset has " + std::to_string(total));
  }
  read_checked(first, count, pixels, labels);
}

std::unique_ptr<ImageDataset> limit_dataset(std::unique_ptr<ImageDataset> dataset, int64_t limit) {
  if (limit < 0) throw Error(dataset->name() + ": limit " + std::to_string(limit) + " is negative");
  return std::make_unique<LimitedDataset>(std::move(dataset), limit);
}

void check_dataset_spec(const DatasetSpec& spec) {
  const auto expect_paths = [&](size_t n) {
    if (spec.paths.size() != n) {
      throw Error("dataset format " + spec.format + " needs " + std::to_string(n) + " file(s), got " +
                  std::to_string(spec.paths.size()));
    }
  };
  if (spec.format == "idx") {
    expect_paths(2);
  } else if (spec.format == "cifar10" || spec.format == "cifar100" || spec.format == "cifar100-coarse") {
    if (spec.paths.empty()) throw Error("dataset format " + spec.format + " needs at least one file");
  } else if (spec.format == "tensor-cache") {
    expect_paths(1);
  } else {
    throw Error("unknown dataset format \"" + spec.format +
                "\" (known: idx, cifar10, cifar100, cifar100-coarse, tensor-cache)");
  }
  for (const std::string& path : spec.paths)
    if (path.empty()) throw Error("dataset format " + spec.format + ": empty file name");
  if (spec.limit < 0) throw Error("dataset limit " + std::to_string(spec.limit) + " is negative");
}

std::unique_ptr<ImageDataset> open_dataset(const DatasetSpec& spec) {
  check_dataset_spec(spec);
  std::unique_ptr<ImageDataset> dataset;
  if (spec.format == "idx") {
    dataset = open_idx(spec.paths[0], spec.paths[1]);
  } else if (spec.format == "tensor-cache") {
    dataset = open_tensor_cache(spec.paths[0]);
  } else {
    const CifarVariant variant = spec.format == "cifar10"    ? CifarVariant::Cifar10
                                 : spec.format == "cifar100" ? CifarVariant::Cifar100Fine
                                                             : CifarVariant::Cifar100Coarse;
    dataset = open_cifar(spec.paths, variant);
  }

  // Fail now, naming the dataset, rather than on the first batch of a long campaign.
  try {
    preprocessed_format(dataset->format(), spec.preprocess);
  } catch (const Error& error) {
    throw Error(dataset->name() + " (" + to_string(dataset->format()) + "): " + error.what());
  }
  if (spec.limit > 0) dataset = limit_dataset(std::move(dataset), spec.limit);
  return dataset;
}

DatasetSpec parse_dataset_spec(const std::string& text) {
  if (text == "fashion-mnist-test") return fashion_mnist_spec(text, "t10k");
  if (text == "fashion-mnist-train") return fashion_mnist_spec(text, "train");

  const size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0) throw Error("dataset \"" + text + "\": " + kSpecSyntax);
  DatasetSpec spec;
  spec.format = text.substr(0, colon);
  const std::vector<std::string> known = {"idx", "cifar10", "cifar100", "cifar100-coarse", "tensor-cache"};
  if (std::find(known.begin(), known.end(), spec.format) == known.end()) {
    throw Error("dataset \"" + text + "\": unknown format \"" + spec.format + "\"; " + kSpecSyntax);
  }
  spec.paths = split_commas(text.substr(colon + 1));
  for (const std::string& path : spec.paths) {
    if (path.empty()) throw Error("dataset \"" + text + "\": empty file name; " + kSpecSyntax);
  }
  const size_t needed = spec.format == "idx" ? 2 : spec.format == "tensor-cache" ? 1 : 0;
  if (needed != 0 && spec.paths.size() != needed) {
    throw Error("dataset \"" + text + "\": format " + spec.format + " takes " +
                (needed == 2 ? std::string("two files, IMAGES,LABELS") : std::string("one file")) + ", got " +
                std::to_string(spec.paths.size()));
  }
  return spec;
}

void read_preprocessed(const ImageDataset& dataset, const Preprocess& preprocess, int64_t first, int64_t count,
                       float* out, int32_t* labels) {
  const ImageFormat format = dataset.format();
  std::vector<uint8_t> pixels(static_cast<size_t>(std::max<int64_t>(count, 0) * format.pixels_per_image()));
  dataset.read(first, count, pixels.data(), labels);
  preprocess_batch(pixels.data(), count, format, preprocess, out);
}

}  // namespace flipsweep::data
