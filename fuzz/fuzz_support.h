#pragma once
// Shared by the libFuzzer targets in this folder (docs/FUZZING.md).
//
// flipsweep's parsers read files, so each target writes its input to files in a private
// temporary folder (made once per process, removed at exit) and calls the parser on those paths,
// as the CLI would. A flipsweep::Error is the expected outcome for bad input and is swallowed;
// anything else — a crash, an ASan/UBSan report, std::bad_alloc or any other exception escaping,
// a hang, an allocation over -malloc_limit_mb — is a finding.
#include <omp.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "flipsweep/data/dataset.h"
#include "flipsweep/error.h"
#include "flipsweep/util/yaml_config.h"

namespace flipsweep::fuzz {

// The private folder: $TMPDIR, else /dev/shm (memory: rewriting a file on a disk file system
// for every input costs a flush), else /tmp; then /flipsweep-fuzz-XXXXXX. Made on first use, which
// also makes OpenMP regions (preprocessing) single-threaded: one input is far too small for a
// thread team, and waking one per input would make the fuzzer a hundred times slower.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    omp_set_num_threads(1);
    const char* tmpdir = std::getenv("TMPDIR");
    std::error_code ignored;
    const std::string base = tmpdir != nullptr && *tmpdir != '\0'                 ? tmpdir
                             : std::filesystem::is_directory("/dev/shm", ignored) ? "/dev/shm"
                                                                                  : "/tmp";
    std::string pattern = base + "/flipsweep-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror(("fuzz: cannot create " + pattern).c_str());
      std::abort();
    }
    static const std::string removed_at_exit = pattern;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(removed_at_exit, ignored);
    });
    return pattern;
  }();
  return dir;
}

// Writes `bytes` to scratch_dir()/name (replacing it) and returns the path.
inline std::string write_scratch_file(const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir() + "/" + name;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size() || std::fclose(file) != 0) {
    std::perror(("fuzz: cannot write " + path).c_str());
    std::abort();
  }
  return path;
}

// Inputs that hold several files separate them with this marker (also in the dictionaries, and
// in the seeds made by fuzz/make_corpus.py). Text before the first marker is the first file.
inline constexpr std::string_view kFileSeparator = "\n--flipsweep-fuzz-next-file--\n";

inline std::vector<std::string_view> split_files(const uint8_t* data, size_t size, size_t max_parts) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const size_t at = rest.find(kFileSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kFileSeparator.size());
  }
  parts.push_back(rest);
  return parts;
}

// Runs `parse`. A flipsweep::Error is the documented outcome for bad input, and its message must
// name the input (one of `names`: a path, or the origin given to an in-memory parser), as every
// user-facing error does; an Error that names none of them is reported as a finding too. Any
// other exception propagates, and libFuzzer reports it as a crash (uncaught exception, abort).
template <typename Parse>
void expect_success_or_error(const std::vector<std::string>& names, Parse&& parse) {
  try {
    parse();
  } catch (const flipsweep::Error& error) {
    const std::string_view message = error.what();
    for (const std::string& name : names)
      if (message.find(name) != std::string_view::npos) return;
    std::fprintf(stderr, "fuzz: this error message names none of the inputs (");
    for (size_t i = 0; i < names.size(); ++i) std::fprintf(stderr, "%s%s", i ? ", " : "", names[i].c_str());
    std::fprintf(stderr, "):\n%s\n", error.what());
    std::abort();
  }
}

// Files the YAML targets' seeds name (relative to the config, which lies in scratch_dir()):
// model.onnx (empty: configs are checked for the model's existence only), and small valid
// datasets images.idx + labels.idx (2 images 1x2x2), cifar10.bin and cifar100.bin (2 records
// each), cache.fswptc (2 images 3x2x2). Written once per process.
inline void write_config_fixtures() {
  static const bool written = [] {
    write_scratch_file("model.onnx", "");
    const std::string idx_images("\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02"
                                 "\x00\x40\x80\xff\x10\x20\x30\x40", 24);
    write_scratch_file("images.idx", idx_images);
    write_scratch_file("labels.idx", std::string("\x00\x00\x08\x01\x00\x00\x00\x02\x07\x03", 10));
    std::string cifar10, cifar100;
    for (int record = 0; record < 2; ++record) {
      cifar10 += static_cast<char>(record + 1);
      cifar100 += static_cast<char>(record + 2);
      cifar100 += static_cast<char>(record + 40);
      for (int i = 0; i < 3 * 32 * 32; ++i) {
        cifar10 += static_cast<char>(i * 7 + record);
        cifar100 += static_cast<char>(i * 5 + record);
      }
    }
    write_scratch_file("cifar10.bin", cifar10);
    write_scratch_file("cifar100.bin", cifar100);
    const uint8_t pixels[2 * 12] = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110,
                                    120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220, 255};
    const int32_t labels[2] = {1, 4};
    flipsweep::data::write_tensor_cache(scratch_dir() + "/cache.fswptc", flipsweep::data::ImageFormat{3, 2, 2}, 5,
                                        pixels, labels, 2);
    return true;
  }();
  (void)written;
}

// Whether every path of `spec` is one of the fixtures above (others, such as the Debian
// Fashion-MNIST files a "fashion-mnist-test" spec names, are not opened: too slow per input).
inline bool names_only_fixtures(const flipsweep::data::DatasetSpec& spec) {
  if (spec.paths.empty()) return false;
  for (const std::string& path : spec.paths) {
    const std::filesystem::path p(path);
    if (p.parent_path() != std::filesystem::path(scratch_dir())) return false;
  }
  return true;
}

// What eval and run do with a config's dataset before any work: open it (open_configured_dataset,
// which also checks the preprocessing against the images), then preprocess the first two images.
// The preprocessing itself runs only when the padded and the final image are small (2^20 values):
// a legal but large pad or resize (up to data::kMaxImageValues) is only slow, not a finding.
inline void open_and_preprocess(const flipsweep::data::DatasetSpec& spec, const std::string& config) {
  const auto dataset = flipsweep::open_configured_dataset(spec, config);
  const flipsweep::data::ImageFormat in = dataset->format();
  const flipsweep::data::ImageFormat out = flipsweep::data::preprocessed_format(in, spec.preprocess);
  constexpr int64_t kSmall = int64_t{1} << 20;
  const int64_t padded = (in.height + 2 * spec.preprocess.pad) * (in.width + 2 * spec.preprocess.pad);
  if (padded > kSmall || out.pixels_per_image() > kSmall) return;
  const int64_t count = dataset->size() < 2 ? dataset->size() : 2;
  std::vector<float> inputs(static_cast<size_t>(count * out.pixels_per_image()));
  flipsweep::data::read_preprocessed(*dataset, spec.preprocess, 0, count, inputs.data(), nullptr);
}

// What evaluation does with an opened dataset, on every image: read pixels and labels (in two
// halves, so that ranges not starting at 0 are exercised too), check each label against the
// class count, and preprocess the first images as the default transform does.
inline void read_whole_dataset(const flipsweep::data::ImageDataset& dataset) {
  const int64_t count = dataset.size();
  const int64_t image = dataset.format().pixels_per_image();
  std::vector<uint8_t> pixels(static_cast<size_t>(count * image));
  std::vector<int32_t> labels(static_cast<size_t>(count));
  const int64_t half = count / 2;
  dataset.read(0, half, pixels.data(), labels.data());
  dataset.read(half, count - half, pixels.data() + half * image, labels.data() + half);
  for (int32_t label : labels)
    if (label < 0 || label >= dataset.num_classes()) {
      std::fprintf(stderr, "fuzz: %s: label %d outside 0..%lld accepted\n", dataset.name().c_str(), label,
                   static_cast<long long>(dataset.num_classes() - 1));
      std::abort();
    }
  const int64_t some = count < 4 ? count : 4;
  const flipsweep::data::Preprocess identity;
  std::vector<float> inputs(static_cast<size_t>(some * flipsweep::data::preprocessed_format(dataset.format(), identity).pixels_per_image()));
  flipsweep::data::read_preprocessed(dataset, identity, 0, some, inputs.data(), nullptr);
}

}  // namespace flipsweep::fuzz
