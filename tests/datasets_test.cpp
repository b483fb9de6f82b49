// Dataset readers and preprocessing: small files with known contents are written to a temp
// directory, read back, and corrupted in each way the readers must catch. Preprocessing is checked
// against values worked out by hand from torchvision's definitions.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "flipsweep/data/dataset.h"
#include "flipsweep/error.h"

namespace fs = std::filesystem;
using flipsweep::Error;
using namespace flipsweep::data;

namespace {

using Bytes = std::vector<uint8_t>;

// A fresh directory per test, removed afterwards.
class DatasetFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("flipsweep_datasets_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& file_name) const { return (dir_ / file_name).string(); }

  std::string write(const std::string& file_name, const Bytes& bytes) const {
    const std::string p = path(file_name);
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(out.good()) << p;
    return p;
  }

  std::string write_gzip(const std::string& file_name, const Bytes& bytes) const {
    const std::string p = path(file_name);
    gzFile file = gzopen(p.c_str(), "wb");
    EXPECT_NE(file, nullptr) << p;
    EXPECT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
    EXPECT_EQ(gzclose(file), Z_OK);
    return p;
  }

  Bytes read(const std::string& p) const {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
};

void append_u32_big_endian(Bytes& bytes, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(value >> shift));
}

// A deterministic, position-dependent pixel value so that an off-by-one image or byte shows.
uint8_t pattern_pixel(int64_t image, int64_t offset) { return static_cast<uint8_t>((image * 37 + offset * 11 + 5) % 256); }

Bytes idx_images(uint32_t count, uint32_t rows, uint32_t cols) {
  Bytes bytes;
  append_u32_big_endian(bytes, 0x00000803);
  append_u32_big_endian(bytes, count);
  append_u32_big_endian(bytes, rows);
  append_u32_big_endian(bytes, cols);
  for (uint32_t i = 0; i < count; ++i) {
    for (uint32_t k = 0; k < rows * cols; ++k) bytes.push_back(pattern_pixel(i, k));
  }
  return bytes;
}

Bytes idx_labels(const Bytes& labels) {
  Bytes bytes;
  append_u32_big_endian(bytes, 0x00000801);
  append_u32_big_endian(bytes, static_cast<uint32_t>(labels.size()));
  bytes.insert(bytes.end(), labels.begin(), labels.end());
  return bytes;
}

// Runs `action`, expecting flipsweep::Error whose message contains every one of `fragments`.
void expect_error(const std::function<void()>& action, const std::vector<std::string>& fragments) {
  try {
    action();
    ADD_FAILURE() << "expected flipsweep::Error containing \"" << fragments.front() << "\"";
  } catch (const Error& error) {
    const std::string message = error.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos) << "message: " << message << "\nmissing: " << fragment;
    }
  }
}

void expect_image_has_pattern(const ImageDataset& dataset, int64_t index, int64_t pattern_image) {
  const int64_t n = dataset.format().pixels_per_image();
  Bytes pixels(static_cast<size_t>(n));
  int32_t label = -1;
  dataset.read(index, 1, pixels.data(), &label);
  for (int64_t k = 0; k < n; ++k) {
    ASSERT_EQ(pixels[static_cast<size_t>(k)], pattern_pixel(pattern_image, k)) << "image " << index << " byte " << k;
  }
}

// --------------------------------------------------------------------------------------------
// IDX

class DatasetIdx : public DatasetFiles {};

TEST_F(DatasetIdx, ReadsPlainAndGzipFiles) {
  const Bytes labels = {3, 0, 9, 4, 7};
  for (const bool gzip : {false, true}) {
    SCOPED_TRACE(gzip ? "gzip" : "plain");
    const std::string images_path =
        gzip ? write_gzip("images.gz", idx_images(5, 3, 4)) : write("images", idx_images(5, 3, 4));
    const std::string labels_path = gzip ? write_gzip("labels.gz", idx_labels(labels)) : write("labels", idx_labels(labels));
    const auto dataset = open_idx(images_path, labels_path);
    EXPECT_EQ(dataset->size(), 5);
    EXPECT_EQ(dataset->format(), (ImageFormat{1, 3, 4}));
    EXPECT_EQ(dataset->num_classes(), 10);
    EXPECT_EQ(dataset->name(), images_path);
    for (const int64_t i : {0, 2, 4}) expect_image_has_pattern(*dataset, i, i);

    std::vector<int32_t> all_labels(5, -1);
    Bytes all_pixels(5 * 12);
    dataset->read(0, 5, all_pixels.data(), all_labels.data());
    EXPECT_EQ(all_labels, (std::vector<int32_t>{3, 0, 9, 4, 7}));
    EXPECT_EQ(all_pixels[4 * 12 + 11], pattern_pixel(4, 11));
  }
}

TEST_F(DatasetIdx, MixedCompressionAndLabelsOnlyReads) {
  const auto dataset = open_idx(write_gzip("images.gz", idx_images(3, 2, 2)), write("labels", idx_labels({1, 2, 3})));
  std::vector<int32_t> labels(2, -1);
  dataset->read(1, 2, nullptr, labels.data());
  EXPECT_EQ(labels, (std::vector<int32_t>{2, 3}));
  dataset->read(3, 0, nullptr, nullptr);  // an empty range at the end is fine
}

TEST_F(DatasetIdx, ReadOutsideTheDatasetThrows) {
  const std::string images = write("images", idx_images(3, 2, 2));
  const auto dataset = open_idx(images, write("labels", idx_labels({1, 2, 3})));
  Bytes pixels(16);
  expect_error([&] { dataset->read(2, 2, pixels.data(), nullptr); }, {images, "cannot read 2 images starting at index 2", "has 3"});
  expect_error([&] { dataset->read(-1, 1, pixels.data(), nullptr); }, {images});
}

TEST_F(DatasetIdx, MissingFileIsAnError) {
  const std::string missing = path("no-such-images.gz");
  expect_error([&] { open_idx(missing, write("labels", idx_labels({1}))); }, {missing, "cannot open"});
}

TEST_F(DatasetIdx, BadMagicIsAnError) {
  const std::string labels = write("labels", idx_labels({1, 2}));
  // A labels file given as images: the classic argument swap.
  expect_error([&] { open_idx(labels, labels); }, {labels, "bad magic 0x00000801", "expected 0x00000803"});
  const std::string images = write("images", idx_images(2, 2, 2));
  expect_error([&] { open_idx(images, images); }, {images, "bad magic 0x00000803", "expected 0x00000801"});
}

TEST_F(DatasetIdx, ZeroDimensionsAreAnError) {
  const std::string images = write("images", idx_images(2, 0, 4));
  expect_error([&] { open_idx(images, write("labels", idx_labels({1, 2}))); }, {images, "bad dimensions", "0x4"});
}

TEST_F(DatasetIdx, MismatchedCountsAreAnError) {
  const std::string images = write("images", idx_images(3, 2, 2));
  const std::string labels = write("labels", idx_labels({1, 2}));
  expect_error([&] { open_idx(images, labels); }, {labels, "label count 2", "image count 3", images});
}

TEST_F(DatasetIdx, TruncatedFilesAreAnError) {
  Bytes images = idx_images(5, 3, 4);  // 16 + 60 = 76 bytes
  images.resize(50);
  const std::string plain = write("t10k-images-idx3-ubyte", images);
  const std::string labels = write("labels", idx_labels({1, 2, 3, 4, 5}));
  expect_error([&] { open_idx(plain, labels); },
               {plain, "truncated: header says 5 images of 3x4 (76 bytes) but file has 50 bytes"});
  const std::string gzip = write_gzip("t10k-images-idx3-ubyte.gz", images);
  expect_error([&] { open_idx(gzip, labels); }, {gzip, "truncated", "decompressed data has 50 bytes"});

  Bytes short_labels = idx_labels({1, 2, 3, 4, 5});
  short_labels.pop_back();
  const std::string labels_path = write("short-labels", short_labels);
  expect_error([&] { open_idx(write("images", idx_images(5, 3, 4)), labels_path); },
               {labels_path, "truncated", "5 labels"});

  const std::string header_only = write("header-only", Bytes{0, 0, 8, 3, 0, 0});
  expect_error([&] { open_idx(header_only, labels); }, {header_only, "truncated"});
}

TEST_F(DatasetIdx, TruncatedGzipStreamIsAnError) {
  write_gzip("whole.gz", idx_images(50, 8, 8));
  Bytes compressed = read(path("whole.gz"));
  compressed.resize(compressed.size() / 2);
  const std::string cut = write("cut.gz", compressed);
  expect_error([&] { open_idx(cut, write("labels", idx_labels({1}))); }, {cut, "truncated gzip"});
}

TEST_F(DatasetIdx, TrailingBytesAreAnError) {
  Bytes images = idx_images(2, 2, 2);
  images.push_back(0);
  const std::string images_path = write("images", images);
  const std::string labels = write("labels", idx_labels({1, 2}));
  expect_error([&] { open_idx(images_path, labels); }, {images_path, "trailing bytes", "24 bytes", "25 bytes"});

  Bytes long_labels = idx_labels({1, 2});
  long_labels.push_back(3);
  const std::string labels_path = write("long-labels", long_labels);
  expect_error([&] { open_idx(write("images-ok", idx_images(2, 2, 2)), labels_path); },
               {labels_path, "trailing bytes"});
}

TEST_F(DatasetIdx, LabelOutOfRangeIsAnError) {
  const std::string labels = write("labels", idx_labels({0, 1, 2, 3, 4, 11}));
  expect_error([&] { open_idx(write("images", idx_images(6, 2, 2)), labels); },
               {labels, "label 11 at index 5 out of range"});
}

// --------------------------------------------------------------------------------------------
// CIFAR

class DatasetCifar : public DatasetFiles {};

// Records whose pixels follow pattern_pixel(first_image + r, k) and whose label bytes are given.
Bytes cifar_records(const std::vector<Bytes>& label_bytes, int64_t first_image) {
  Bytes bytes;
  for (size_t r = 0; r < label_bytes.size(); ++r) {
    bytes.insert(bytes.end(), label_bytes[r].begin(), label_bytes[r].end());
    for (int64_t k = 0; k < 3072; ++k) bytes.push_back(pattern_pixel(first_image + static_cast<int64_t>(r), k));
  }
  return bytes;
}

TEST_F(DatasetCifar, Cifar10FilesConcatenate) {
  const std::string first = write("data_batch_1.bin", cifar_records({{6}, {9}, {0}}, 0));
  const std::string second = write("data_batch_2.bin", cifar_records({{1}, {8}}, 3));
  const auto dataset = open_cifar({first, second}, CifarVariant::Cifar10);
  EXPECT_EQ(dataset->size(), 5);
  EXPECT_EQ(dataset->format(), (ImageFormat{3, 32, 32}));
  EXPECT_EQ(dataset->num_classes(), 10);
  EXPECT_NE(dataset->name().find(first), std::string::npos);
  for (const int64_t i : {0, 2, 3, 4}) expect_image_has_pattern(*dataset, i, i);
  std::vector<int32_t> labels(5);
  dataset->read(0, 5, nullptr, labels.data());
  EXPECT_EQ(labels, (std::vector<int32_t>{6, 9, 0, 1, 8}));
}

TEST_F(DatasetCifar, Cifar100FineAndCoarseLabels) {
  const std::string file = write("test.bin", cifar_records({{19, 99}, {4, 30}, {0, 0}}, 0));
  const auto fine = open_cifar({file}, CifarVariant::Cifar100Fine);
  const auto coarse = open_cifar({file}, CifarVariant::Cifar100Coarse);
  EXPECT_EQ(fine->num_classes(), 100);
  EXPECT_EQ(coarse->num_classes(), 20);
  std::vector<int32_t> fine_labels(3), coarse_labels(3);
  fine->read(0, 3, nullptr, fine_labels.data());
  coarse->read(0, 3, nullptr, coarse_labels.data());
  EXPECT_EQ(fine_labels, (std::vector<int32_t>{99, 30, 0}));
  EXPECT_EQ(coarse_labels, (std::vector<int32_t>{19, 4, 0}));
  for (const int64_t i : {0, 1, 2}) expect_image_has_pattern(*fine, i, i);
}

TEST_F(DatasetCifar, SizeNotAMultipleOfTheRecordIsAnError) {
  Bytes bytes = cifar_records({{1}, {2}}, 0);
  bytes.resize(bytes.size() - 100);
  const std::string file = write("test_batch.bin", bytes);
  expect_error([&] { open_cifar({file}, CifarVariant::Cifar10); }, {file, std::to_string(bytes.size()), "3073"});
}

TEST_F(DatasetCifar, WrongVariantGetsAHint) {
  // Two CIFAR-10 records (6146 bytes) do not divide into 3074-byte CIFAR-100 records.
  const std::string file = write("test_batch.bin", cifar_records({{1}, {2}}, 0));
  expect_error([&] { open_cifar({file}, CifarVariant::Cifar100Fine); }, {file, "3074", "CIFAR-10 file?"});
}

TEST_F(DatasetCifar, LabelsOutOfRangeAreAnError) {
  const std::string ten = write("c10.bin", cifar_records({{1}, {10}}, 0));
  expect_error([&] { open_cifar({ten}, CifarVariant::Cifar10); }, {ten, "label 10 at record 1"});
  const std::string fine = write("fine.bin", cifar_records({{1, 100}}, 0));
  expect_error([&] { open_cifar({fine}, CifarVariant::Cifar100Fine); }, {fine, "fine label 100 at record 0"});
  const std::string coarse = write("coarse.bin", cifar_records({{1, 1}, {20, 1}}, 0));
  expect_error([&] { open_cifar({coarse}, CifarVariant::Cifar100Coarse); }, {coarse, "coarse label 20 at record 1"});
}

TEST_F(DatasetCifar, EmptyFileIsAnError) {
  const std::string file = write("empty.bin", {});
  expect_error([&] { open_cifar({file}, CifarVariant::Cifar10); }, {file, "empty"});
}

// --------------------------------------------------------------------------------------------
// Tensor cache

class DatasetTensorCache : public DatasetFiles {
 protected:
  // Four 2x3x2 images with pattern pixels, labels 0..4.
  std::string write_sample(const std::string& file_name) {
    const ImageFormat format{2, 3, 2};
    Bytes pixels;
    for (int64_t i = 0; i < 4; ++i) {
      for (int64_t k = 0; k < format.pixels_per_image(); ++k) pixels.push_back(pattern_pixel(i, k));
    }
    const std::vector<int32_t> labels = {4, 0, 2, 3};
    const std::string p = path(file_name);
    write_tensor_cache(p, format, 5, pixels.data(), labels.data(), 4);
    return p;
  }
};

TEST_F(DatasetTensorCache, RoundTrip) {
  const std::string p = write_sample("val.fswptc");
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  const auto dataset = open_tensor_cache(p);
  EXPECT_EQ(dataset->size(), 4);
  EXPECT_EQ(dataset->format(), (ImageFormat{2, 3, 2}));
  EXPECT_EQ(dataset->num_classes(), 5);
  EXPECT_EQ(dataset->name(), p);
  for (const int64_t i : {0, 1, 3}) expect_image_has_pattern(*dataset, i, i);
  std::vector<int32_t> labels(4);
  dataset->read(0, 4, nullptr, labels.data());
  EXPECT_EQ(labels, (std::vector<int32_t>{4, 0, 2, 3}));
}

TEST_F(DatasetTensorCache, HeaderLayoutMatchesFormatsMd) {
  const Bytes bytes = read(write_sample("val.fswptc"));
  const Bytes expected_header = {'F', 'S', 'W', 'P', 'T', 'C', '0', '1',  // magic
                                 1, 0, 0, 0,                              // version
                                 2, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0,      // channels, height, width
                                 4, 0, 0, 0, 0, 0, 0, 0,                  // count (uint64)
                                 5, 0, 0, 0,                              // num_classes
                                 0, 0, 0, 0,                              // reserved
                                 4, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0};  // labels (int32)
  ASSERT_EQ(bytes.size(), expected_header.size() + 4 * 12);
  EXPECT_EQ(Bytes(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(expected_header.size())), expected_header);
  EXPECT_EQ(bytes[expected_header.size()], pattern_pixel(0, 0));
  EXPECT_EQ(bytes.back(), pattern_pixel(3, 11));
}

TEST_F(DatasetTensorCache, StreamingWriterChecksTheCount) {
  const ImageFormat format{1, 1, 2};
  const Bytes pixels = {1, 2, 3, 4, 5, 6};
  const std::vector<int32_t> labels = {0, 1, 1};
  const std::string p = path("stream.fswptc");
  {
    TensorCacheWriter writer(p, format, 2, 3);
    writer.append(pixels.data(), labels.data(), 1);
    writer.append(pixels.data() + 2, labels.data() + 1, 2);
    writer.finish();
  }
  const auto dataset = open_tensor_cache(p);
  Bytes read_pixels(6);
  std::vector<int32_t> read_labels(3);
  dataset->read(0, 3, read_pixels.data(), read_labels.data());
  EXPECT_EQ(read_pixels, pixels);
  EXPECT_EQ(read_labels, labels);

  const std::string short_path = path("short.fswptc");
  {
    TensorCacheWriter writer(short_path, format, 2, 3);
    writer.append(pixels.data(), labels.data(), 2);
    expect_error([&] { writer.finish(); }, {short_path, "2 images appended but 3 declared"});
    expect_error([&] { writer.append(pixels.data(), labels.data(), 2); }, {short_path, "exceed"});
  }
  // An abandoned writer leaves neither the cache nor its temporary file behind.
  EXPECT_FALSE(fs::exists(short_path));
  EXPECT_FALSE(fs::exists(short_path + ".tmp"));
}

TEST_F(DatasetTensorCache, WriterRejectsLabelsOutOfRange) {
  const Bytes pixels = {1, 2};
  const std::vector<int32_t> labels = {0, 7};
  const std::string p = path("bad.fswptc");
  expect_error([&] { write_tensor_cache(p, ImageFormat{1, 1, 1}, 5, pixels.data(), labels.data(), 2); },
               {p, "label 7 of image 1"});
  EXPECT_FALSE(fs::exists(p));
  EXPECT_FALSE(fs::exists(p + ".tmp"));
}

TEST_F(DatasetTensorCache, CorruptFilesAreAnError) {
  const Bytes good = read(write_sample("good.fswptc"));
  const auto corrupt = [&](const std::string& name, const std::function<void(Bytes&)>& damage) {
    Bytes bytes = good;
    damage(bytes);
    return write(name, bytes);
  };
  const std::string magic = corrupt("magic.fswptc", [](Bytes& b) { b[7] = '2'; });
  expect_error([&] { open_tensor_cache(magic); }, {magic, "bad magic"});
  const std::string version = corrupt("version.fswptc", [](Bytes& b) { b[8] = 2; });
  expect_error([&] { open_tensor_cache(version); }, {version, "version 2"});
  const std::string reserved = corrupt("reserved.fswptc", [](Bytes& b) { b[36] = 1; });
  expect_error([&] { open_tensor_cache(reserved); }, {reserved, "reserved"});
  const std::string zero_dim = corrupt("zero.fswptc", [](Bytes& b) { b[16] = 0; });
  expect_error([&] { open_tensor_cache(zero_dim); }, {zero_dim, "bad dimensions"});
  const std::string truncated = corrupt("truncated.fswptc", [](Bytes& b) { b.pop_back(); });
  expect_error([&] { open_tensor_cache(truncated); },
               {truncated, "truncated: header says 4 images of 2x3x2 (104 bytes) but file has 103 bytes"});
  const std::string trailing = corrupt("trailing.fswptc", [](Bytes& b) { b.push_back(0); });
  expect_error([&] { open_tensor_cache(trailing); }, {trailing, "trailing bytes"});
  const std::string label = corrupt("label.fswptc", [](Bytes& b) { b[40 + 4 * 2] = 5; });
  expect_error([&] { open_tensor_cache(label); }, {label, "label 5 at index 2 out of range 0..4"});
  const std::string negative = corrupt("negative.fswptc", [](Bytes& b) { b[40 + 4 * 1 + 3] = 0xff; });
  expect_error([&] { open_tensor_cache(negative); }, {negative, "at index 1 out of range"});
  const std::string huge = corrupt("huge.fswptc", [](Bytes& b) { b[31] = 0x40; });  // count ~ 2^62
  expect_error([&] { open_tensor_cache(huge); }, {huge});
  const std::string empty = write("empty.fswptc", {});
  expect_error([&] { open_tensor_cache(empty); }, {empty, "truncated"});
}

// --------------------------------------------------------------------------------------------
// Preprocessing

// Runs preprocess_batch on one image.
std::vector<float> preprocess_one(const Bytes& pixels, ImageFormat in, const Preprocess& p) {
  std::vector<float> out(static_cast<size_t>(preprocessed_format(in, p).pixels_per_image()), -999.0f);
  preprocess_batch(pixels.data(), 1, in, p, out.data());
  return out;
}

void expect_floats_near(const std::vector<float>& actual, const std::vector<float>& expected, float tolerance = 1e-6f) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], tolerance) << "index " << i;
}

TEST(DatasetPreprocess, DefaultIsToTensorScaling) {
  const std::vector<float> out = preprocess_one({0, 51, 255}, ImageFormat{1, 1, 3}, Preprocess{});
  EXPECT_EQ(out, (std::vector<float>{0.0f, 51.0f / 255.0f, 1.0f}));  // exactly torchvision's x / 255
}

TEST(DatasetPreprocess, NormalizesPerChannel) {
  Preprocess p;
  p.mean = {0.5f, 0.25f, 0.0f};
  p.std = {0.5f, 0.25f, 2.0f};
  // Three channels of two pixels each (NCHW).
  const std::vector<float> out = preprocess_one({0, 255, 0, 255, 0, 255}, ImageFormat{3, 1, 2}, p);
  expect_floats_near(out, {-1.0f, 1.0f, -1.0f, 3.0f, 0.0f, 0.5f});
  // The same float operations as torchvision: (x / 255 - mean) / std.
  Preprocess cifar;
  cifar.mean = {0.4914f};
  cifar.std = {0.2470f};
  EXPECT_EQ(preprocess_one({200}, ImageFormat{1, 1, 1}, cifar)[0], (200.0f / 255.0f - 0.4914f) / 0.2470f);
}

TEST(DatasetPreprocess, PadsWithPadValueBeforeNormalization) {
  Preprocess p;
  p.pad = 1;
  p.pad_value = 255;
  p.mean = {0.5f};
  p.std = {0.5f};
  EXPECT_EQ(preprocessed_format(ImageFormat{1, 2, 2}, p), (ImageFormat{1, 4, 4}));
  // Image [[0, 0], [0, 0]]: 0 -> -1, padding 255 -> +1.
  const std::vector<float> out = preprocess_one({0, 0, 0, 0}, ImageFormat{1, 2, 2}, p);
  expect_floats_near(out, {1, 1, 1, 1,  //
                           1, -1, -1, 1,  //
                           1, -1, -1, 1,  //
                           1, 1, 1, 1});
}

TEST(DatasetPreprocess, ReplicatesGrayToThreeChannels) {
  Preprocess p;
  p.channels = 3;
  p.mean = {0.0f, 0.5f, 1.0f};
  EXPECT_EQ(preprocessed_format(ImageFormat{1, 1, 2}, p), (ImageFormat{3, 1, 2}));
  const std::vector<float> out = preprocess_one({0, 255}, ImageFormat{1, 1, 2}, p);
  expect_floats_near(out, {0.0f, 1.0f, -0.5f, 0.5f, -1.0f, 0.0f});
  // Asking for the channel count the input already has is a no-op.
  Preprocess keep;
  keep.channels = 3;
  EXPECT_EQ(preprocessed_format(ImageFormat{3, 4, 4}, keep), (ImageFormat{3, 4, 4}));
}

TEST(DatasetPreprocess, BilinearUpsample2x2To4x4HasHalfPixelWeights) {
  // F.interpolate(size=4, bilinear, align_corners=False) samples the 2x2 input at source
  // positions -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to the last pixel), i.e. with
  // weights 0, 0.25, 0.75, 1 towards the second pixel. For [[0, 1], [1, 0]] each output is
  // rx + ry - 2 rx ry.
  Preprocess p;
  p.resize_height = 4;
  p.resize_width = 4;
  const std::vector<float> out = preprocess_one({0, 255, 255, 0}, ImageFormat{1, 2, 2}, p);
  expect_floats_near(out, {0.0f, 0.25f, 0.75f, 1.0f,       //
                           0.25f, 0.375f, 0.625f, 0.75f,   //
                           0.75f, 0.625f, 0.375f, 0.25f,   //
                           1.0f, 0.75f, 0.25f, 0.0f});
}

TEST(DatasetPreprocess, BilinearNonIntegerRatio) {
  // Width 3 -> 5: scale 0.6, sources 0 (clamped), 0.4, 1.0, 1.6, 2.2 (last pixel, weight 0.2 onto itself).
  Preprocess p;
  p.resize_height = 1;
  p.resize_width = 5;
  const std::vector<float> out = preprocess_one({0, 100, 200}, ImageFormat{1, 1, 3}, p);
  expect_floats_near(out, {0.0f, 40.0f / 255, 100.0f / 255, 160.0f / 255, 200.0f / 255});
}

TEST(DatasetPreprocess, BilinearDownsampleAveragesBlocksAfterPadding) {
  // Pad 1 turns [[a, b], [c, d]] into a 4x4 plane with a zero border; halving samples source
  // positions 0.5 and 2.5, so each output is the mean of a 2x2 block: a/4, b/4, c/4, d/4.
  // That the border takes part shows padding happens before resizing.
  Preprocess p;
  p.pad = 1;
  p.resize_height = 2;
  p.resize_width = 2;
  const std::vector<float> out = preprocess_one({40, 80, 120, 200}, ImageFormat{1, 2, 2}, p);
  expect_floats_near(out, {10.0f / 255, 20.0f / 255, 30.0f / 255, 50.0f / 255});
}

TEST(DatasetPreprocess, NormalizationFollowsResize) {
  Preprocess p;
  p.resize_height = 1;
  p.resize_width = 1;  // 1x2 -> 1x1 samples source 0.5: the mean of both pixels
  p.mean = {0.25f};
  p.std = {0.5f};
  const std::vector<float> out = preprocess_one({0, 255}, ImageFormat{1, 1, 2}, p);
  expect_floats_near(out, {(0.5f - 0.25f) / 0.5f});
}

TEST(DatasetPreprocess, BatchesKeepImagesApart) {
  Preprocess p;
  p.channels = 3;
  p.pad = 1;
  const ImageFormat in{1, 1, 1};
  const Bytes pixels = {255, 51};
  std::vector<float> out(static_cast<size_t>(2 * preprocessed_format(in, p).pixels_per_image()));
  preprocess_batch(pixels.data(), 2, in, p, out.data());
  // Each image is 3 channels of 3x3; the centre (index 4) of each channel holds the pixel.
  for (int64_t c = 0; c < 3; ++c) {
    EXPECT_EQ(out[static_cast<size_t>(c * 9 + 4)], 1.0f);
    EXPECT_EQ(out[static_cast<size_t>(27 + c * 9 + 4)], 0.2f);
    EXPECT_EQ(out[static_cast<size_t>(27 + c * 9 + 0)], 0.0f);
  }
}

TEST(DatasetPreprocess, BatchResultsMatchImageByImage) {
  // A batch large enough to be spread over threads must give the same bits as one image at a time.
  const ImageFormat in{3, 32, 32};
  Preprocess p;
  p.pad = 4;
  p.resize_height = 36;
  p.resize_width = 29;
  p.mean = {0.4914f, 0.4822f, 0.4465f};
  p.std = {0.2470f, 0.2435f, 0.2616f};
  const int64_t count = 24;
  Bytes pixels(static_cast<size_t>(count * in.pixels_per_image()));
  for (size_t k = 0; k < pixels.size(); ++k) pixels[k] = static_cast<uint8_t>((k * 2654435761u) >> 24);
  const int64_t out_size = preprocessed_format(in, p).pixels_per_image();
  std::vector<float> batch(static_cast<size_t>(count * out_size));
  preprocess_batch(pixels.data(), count, in, p, batch.data());
  std::vector<float> single(static_cast<size_t>(out_size));
  for (int64_t n = 0; n < count; ++n) {
    preprocess_batch(pixels.data() + n * in.pixels_per_image(), 1, in, p, single.data());
    ASSERT_EQ(std::vector<float>(batch.begin() + n * out_size, batch.begin() + (n + 1) * out_size), single)
        << "image " << n;
  }
}

TEST(DatasetPreprocess, InvalidSettingsAreErrors) {
  const ImageFormat gray{1, 28, 28};
  const ImageFormat rgb{3, 32, 32};
  Preprocess p;
  p.mean = {0.5f, 0.5f};
  expect_error([&] { preprocessed_format(rgb, p); }, {"mean has 2 values", "3 channels"});
  p = Preprocess{};
  p.std = {1.0f, 0.0f, 1.0f};
  expect_error([&] { preprocessed_format(rgb, p); }, {"std[1]", "must be > 0"});
  p.std = {-1.0f};
  expect_error([&] { preprocessed_format(gray, p); }, {"std[0]"});
  p = Preprocess{};
  p.channels = 3;
  p.mean = {0.5f};  // mean counts output channels, and gray -> RGB gives 3
  expect_error([&] { preprocessed_format(gray, p); }, {"mean has 1 values", "3 channels"});
  p = Preprocess{};
  p.channels = 1;
  expect_error([&] { preprocessed_format(rgb, p); }, {"3 channels to 1 channel"});
  p.channels = 2;
  expect_error([&] { preprocessed_format(gray, p); }, {"1 channel to 2 channels"});
  p = Preprocess{};
  p.resize_height = 224;
  expect_error([&] { preprocessed_format(rgb, p); }, {"resize", "224x0"});
  p = Preprocess{};
  p.pad = -1;
  expect_error([&] { preprocessed_format(rgb, p); }, {"pad is -1"});
  p = Preprocess{};
  p.pad_value = 256;
  expect_error([&] { preprocessed_format(rgb, p); }, {"pad_value is 256"});
}

// --------------------------------------------------------------------------------------------
// DatasetSpec: the compact syntax, open_dataset, limits

class DatasetSpecTest : public DatasetFiles {};

TEST(DatasetSpecParse, FormatAndPaths) {
  const DatasetSpec idx = parse_dataset_spec("idx:/data/t10k-images.gz,/data/t10k-labels.gz");
  EXPECT_EQ(idx.format, "idx");
  EXPECT_EQ(idx.paths, (std::vector<std::string>{"/data/t10k-images.gz", "/data/t10k-labels.gz"}));
  EXPECT_EQ(idx.limit, 0);
  const DatasetSpec cifar = parse_dataset_spec("cifar10:a.bin,b.bin,c.bin");
  EXPECT_EQ(cifar.format, "cifar10");
  EXPECT_EQ(cifar.paths.size(), 3u);
  EXPECT_EQ(parse_dataset_spec("cifar100-coarse:test.bin").format, "cifar100-coarse");
  EXPECT_EQ(parse_dataset_spec("tensor-cache:/x/val.fswptc").paths, (std::vector<std::string>{"/x/val.fswptc"}));
}

TEST(DatasetSpecParse, MalformedSpecsAreErrors) {
  expect_error([] { parse_dataset_spec("mnist"); }, {"\"mnist\"", "FORMAT:PATH"});
  expect_error([] { parse_dataset_spec("imagenet:/x"); }, {"unknown format \"imagenet\""});
  expect_error([] { parse_dataset_spec("idx:/only-images.gz"); }, {"two files", "got 1"});
  expect_error([] { parse_dataset_spec("tensor-cache:a,b"); }, {"one file", "got 2"});
  expect_error([] { parse_dataset_spec("cifar10:a.bin,,b.bin"); }, {"empty file name"});
}

TEST(DatasetSpecParse, FashionMnistShortcut) {
  const std::string images = std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz";
  if (fs::exists(images) && fs::exists(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz")) {
    const DatasetSpec spec = parse_dataset_spec("fashion-mnist-test");
    EXPECT_EQ(spec.format, "idx");
    EXPECT_EQ(spec.paths, (std::vector<std::string>{images, std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz"}));
  } else {
    expect_error([] { parse_dataset_spec("fashion-mnist-test"); }, {"fashion-mnist-test", "dataset-fashion-mnist"});
  }
}

TEST_F(DatasetSpecTest, OpenDatasetAppliesTheLimit) {
  DatasetSpec spec;
  spec.format = "idx";
  spec.paths = {write("images", idx_images(5, 2, 3)), write("labels", idx_labels({5, 6, 7, 8, 9}))};
  spec.limit = 3;
  const auto limited = open_dataset(spec);
  EXPECT_EQ(limited->size(), 3);
  EXPECT_EQ(limited->format(), (ImageFormat{1, 2, 3}));
  expect_image_has_pattern(*limited, 2, 2);
  std::vector<int32_t> labels(3);
  limited->read(0, 3, nullptr, labels.data());
  EXPECT_EQ(labels, (std::vector<int32_t>{5, 6, 7}));
  int32_t label = 0;
  expect_error([&] { limited->read(3, 1, nullptr, &label); }, {spec.paths[0], "has 3"});

  spec.limit = 100;  // more than there are: all of them
  EXPECT_EQ(open_dataset(spec)->size(), 5);
  spec.limit = 0;
  EXPECT_EQ(open_dataset(spec)->size(), 5);
  spec.limit = -1;
  expect_error([&] { open_dataset(spec); }, {"limit -1"});
}

TEST_F(DatasetSpecTest, OpenDatasetChecksPreprocessAgainstTheData) {
  DatasetSpec spec = parse_dataset_spec("cifar10:" + write("test_batch.bin", cifar_records({{1}}, 0)));
  EXPECT_EQ(open_dataset(spec)->size(), 1);
  spec.preprocess.mean = {0.5f};  // one mean for three channels
  expect_error([&] { open_dataset(spec); }, {spec.paths[0], "3x32x32", "mean has 1 values"});
  spec.format = "jpeg";
  expect_error([&] { open_dataset(spec); }, {"unknown dataset format \"jpeg\""});
}

TEST_F(DatasetSpecTest, ReadPreprocessed) {
  const auto dataset = open_idx(write("images", idx_images(3, 1, 2)), write("labels", idx_labels({1, 2, 3})));
  Preprocess p;
  p.channels = 3;
  std::vector<float> out(2 * 3 * 2);
  std::vector<int32_t> labels(2);
  read_preprocessed(*dataset, p, 1, 2, out.data(), labels.data());
  EXPECT_EQ(labels, (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(out[0], static_cast<float>(pattern_pixel(1, 0)) / 255.0f);
  EXPECT_EQ(out[5], static_cast<float>(pattern_pixel(1, 1)) / 255.0f);     // image 1, channel 2, pixel 1
  EXPECT_EQ(out[6 + 4], static_cast<float>(pattern_pixel(2, 0)) / 255.0f);  // image 2, channel 2, pixel 0
}

// --------------------------------------------------------------------------------------------
// The real Fashion-MNIST files from the Debian package dataset-fashion-mnist

void check_fashion_mnist(const std::string& prefix, int64_t expected_count) {
  const std::string dir = kFashionMnistDir;
  const std::string images = dir + "/" + prefix + "-images-idx3-ubyte.gz";
  const std::string labels = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
  if (!fs::exists(images) || !fs::exists(labels)) {
    GTEST_SKIP() << images << " not installed (Debian package dataset-fashion-mnist; scripts/install-deps.sh installs it)";
  }
  const auto dataset = open_idx(images, labels);
  ASSERT_EQ(dataset->size(), expected_count);
  EXPECT_EQ(dataset->format(), (ImageFormat{1, 28, 28}));
  EXPECT_EQ(dataset->num_classes(), 10);
  std::vector<int32_t> all_labels(static_cast<size_t>(expected_count));
  Bytes pixels(static_cast<size_t>(expected_count) * 784);
  dataset->read(0, expected_count, pixels.data(), all_labels.data());
  std::array<int64_t, 10> per_class{};
  for (const int32_t label : all_labels) {
    ASSERT_GE(label, 0);
    ASSERT_LT(label, 10);
    ++per_class[static_cast<size_t>(label)];
  }
  for (size_t c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], expected_count / 10) << "class " << c;
  // Real images, not zeros: some ink in the first image.
  int64_t ink = 0;
  for (size_t k = 0; k < 784; ++k) ink += pixels[k];
  EXPECT_GT(ink, 0);
}

TEST(DatasetFashionMnist, TestSetHas1000ImagesPerClass) {
  check_fashion_mnist("t10k", 10000);
  if (IsSkipped()) return;
  // The first test images are an ankle boot, a pullover and two trousers.
  const auto dataset = open_dataset(parse_dataset_spec("fashion-mnist-test"));
  std::vector<int32_t> labels(4);
  dataset->read(0, 4, nullptr, labels.data());
  EXPECT_EQ(labels, (std::vector<int32_t>{9, 2, 1, 1}));
}

TEST(DatasetFashionMnist, TrainingSetHas6000ImagesPerClass) { check_fashion_mnist("train", 60000); }

}  // namespace
