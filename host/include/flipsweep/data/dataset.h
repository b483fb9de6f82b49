#pragma once
// Image datasets for accuracy evaluation: IDX (MNIST, Fashion-MNIST), CIFAR-10/100 binary, and
// flipsweep's raw uint8 tensor cache (preprocessed ImageNet and the like). Every dataset hands out
// raw uint8 pixels in NCHW order plus int32 labels; turning them into network inputs is
// preprocess.h's job, so one fault campaign can read the same file under different transforms.
// The formats and the compact spec syntax are documented in datasets/FORMATS.md.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "flipsweep/data/preprocess.h"

namespace flipsweep::data {

// The abstract dataset. Implementations are immutable after opening, so read() may be called
// concurrently from several threads.
class ImageDataset {
 public:
  virtual ~ImageDataset() = default;

  virtual int64_t size() const = 0;  // number of images
  virtual ImageFormat format() const = 0;
  virtual int64_t num_classes() const = 0;
  virtual std::string name() const = 0;  // names the file(s) in messages

  // Copies images [first, first + count) into `pixels` (count * format().pixels_per_image()
  // bytes, NCHW) and their labels into `labels` (count values). Either pointer may be null to
  // skip that half, e.g. to collect labels only. A range outside [0, size()] throws Error.
  void read(int64_t first, int64_t count, uint8_t* pixels, int32_t* labels) const;

 protected:
  // Called by read() after the range has been checked.
  virtual void read_checked(int64_t first, int64_t count, uint8_t* pixels, int32_t* labels) const = 0;
};

// IDX files as distributed for MNIST and Fashion-MNIST: images (magic 0x00000803, dims
// count x rows x cols) and labels (magic 0x00000801). Either file may be gzip-compressed
// (detected by its 1f 8b magic, not by its name). IDX datasets always have 10 classes; a label
// of 10 or more is an error rather than a reason to grow the class count, because every IDX
// dataset we know of has 10 classes and a larger label means a corrupted or foreign file.
std::unique_ptr<ImageDataset> open_idx(const std::string& images_path, const std::string& labels_path);

// CIFAR binary versions. CIFAR-10 records are 1 label byte + 3072 pixel bytes; CIFAR-100 records
// are coarse label byte, fine label byte, 3072 pixel bytes. Several files (data_batch_1.bin ...)
// are concatenated in the given order.
enum class CifarVariant { Cifar10, Cifar100Fine, Cifar100Coarse };
std::unique_ptr<ImageDataset> open_cifar(const std::vector<std::string>& paths, CifarVariant variant);

// flipsweep's raw tensor cache ("FSWPTC01", see datasets/FORMATS.md). The file is memory-mapped
// and pixels are copied out on read, so an ImageNet-sized cache costs address space, not memory.
std::unique_ptr<ImageDataset> open_tensor_cache(const std::string& path);

// Writes a tensor cache for `count` images in one call. The file appears atomically: it is
// written to path + ".tmp" and renamed, so a crash never leaves a half-written cache behind.
void write_tensor_cache(const std::string& path, ImageFormat format, int64_t num_classes,
                        const uint8_t* pixels, const int32_t* labels, int64_t count);

// Streaming form of write_tensor_cache for datasets that do not fit in memory: declare the
// count up front, append images in any number of chunks, then finish(). Destroying the writer
// without finish() deletes the temporary file.
class TensorCacheWriter {
 public:
  TensorCacheWriter(std::string path, ImageFormat format, int64_t num_classes, int64_t count);
  ~TensorCacheWriter();
  TensorCacheWriter(const TensorCacheWriter&) = delete;
  TensorCacheWriter& operator=(const TensorCacheWriter&) = delete;

  void append(const uint8_t* pixels, const int32_t* labels, int64_t count);
  void finish();  // checks that exactly `count` images were appended, then renames into place

 private:
  void fail(const std::string& problem);

  std::string path_;
  std::string temp_path_;
  ImageFormat format_;
  int64_t num_classes_;
  int64_t expected_count_;
  std::vector<int32_t> labels_;  // written last, after the pixels, into the slot the header reserved
  std::FILE* file_ = nullptr;
};

// What the command line and config files name: a format, its files, a transform and a limit.
struct DatasetSpec {
  std::string format;  // "idx", "cifar10", "cifar100", "cifar100-coarse", "tensor-cache"
  std::vector<std::string> paths;
  Preprocess preprocess;
  int64_t limit = 0;  // 0 = all images; otherwise only the first `limit` (fewer if the set is smaller)
};

// Checks what `spec` says without opening anything: a known format, the number of files it takes
// (idx two, tensor-cache one, CIFAR at least one), no empty file name, a limit >= 0.
void check_dataset_spec(const DatasetSpec& spec);

// Opens the files named by `spec` (after check_dataset_spec), applies the limit, and checks
// `spec.preprocess` against the dataset's format so a bad transform fails before any work starts.
std::unique_ptr<ImageDataset> open_dataset(const DatasetSpec& spec);

// Wraps `dataset` so that it shows only its first `limit` images (all of them if it has fewer).
std::unique_ptr<ImageDataset> limit_dataset(std::unique_ptr<ImageDataset> dataset, int64_t limit);

// Parses the compact form used on the command line:
//   FORMAT:PATH[,PATH...]       e.g. "idx:t10k-images-idx3-ubyte.gz,t10k-labels-idx1-ubyte.gz"
//   fashion-mnist-test | fashion-mnist-train
// The named shortcuts resolve to the files of the Debian package dataset-fashion-mnist under
// kFashionMnistDir and throw an Error naming the package when they are not installed. The
// returned spec has an identity Preprocess and no limit; callers fill those in.
DatasetSpec parse_dataset_spec(const std::string& text);

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Reads images [first, first + count) of `dataset` and preprocesses them into `out`
// (count * preprocessed_format(dataset.format(), preprocess).pixels_per_image() floats).
// `labels` may be null.
void read_preprocessed(const ImageDataset& dataset, const Preprocess& preprocess, int64_t first,
                       int64_t count, float* out, int32_t* labels);

}  // namespace flipsweep::data
