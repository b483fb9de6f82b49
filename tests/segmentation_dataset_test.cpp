// Segmentation datasets (tensor cache version 2) and `flipsweep eval` on them: the C++ writer and
// reader round trip, corrupt files (a mask class out of range, truncation, a version-1 cache, an
// overflowing header) are clear errors naming the file, and a U-Net trained by
// python/train_mosaic_unet.py on real Fashion-MNIST mosaics scores in flipsweep what PyTorch
// measured (pixel accuracy, mean IoU, frequency-weighted IoU).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "flipsweep/data/dataset.h"
#include "flipsweep/data/segmentation.h"
#include "flipsweep/error.h"
#include "test_support.h"

namespace flipsweep {
namespace {

namespace fsys = std::filesystem;

std::string scratch(const std::string& name) {
  const std::string dir = testing::binary_path("segmentation_test/" + name);
  fsys::remove_all(dir);
  fsys::create_directories(dir);
  return dir;
}

std::string error_of(const std::string& path) {
  try {
    data::open_segmentation_cache(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SegmentationDataset, WriterAndReaderRoundTrip) {
  const std::string dir = scratch("round_trip");
  const data::ImageFormat format{1, 3, 4};
  std::vector<uint8_t> pixels(2 * 12), masks(2 * 12);
  for (size_t i = 0; i < pixels.size(); ++i) {
    pixels[i] = static_cast<uint8_t>(i * 7);
    masks[i] = i % 5 == 0 ? 255 : static_cast<uint8_t>(i % 4);
  }
  const std::vector<int32_t> labels = {3, 1};
  data::write_segmentation_cache(dir + "/s.fswptc", format, 4, pixels.data(), masks.data(), labels.data(), 2);
  EXPECT_TRUE(data::is_segmentation_cache(dir + "/s.fswptc"));
  const auto dataset = data::open_segmentation_cache(dir + "/s.fswptc");
  ASSERT_EQ(dataset->size(), 2);
  EXPECT_EQ(dataset->num_classes(), 4);
  EXPECT_EQ(dataset->format(), format);
  std::vector<uint8_t> read_pixels(24), read_masks(12);
  std::vector<int32_t> read_labels(2);
  dataset->read(0, 2, read_pixels.data(), read_labels.data());
  dataset->read_masks(1, 1, read_masks.data());
  EXPECT_EQ(read_pixels, pixels);
  EXPECT_EQ(read_labels, labels);
  EXPECT_EQ(read_masks, std::vector<uint8_t>(masks.begin() + 12, masks.end()));
  EXPECT_THROW(dataset->read_masks(1, 2, read_masks.data()), Error);
  EXPECT_EQ(data::limit_segmentation_dataset(data::open_segmentation_cache(dir + "/s.fswptc"), 1)->size(), 1);
  // A version-1 cache is not a segmentation dataset, and says why.
  data::write_tensor_cache(dir + "/v1.fswptc", format, 4, pixels.data(), labels.data(), 2);
  EXPECT_FALSE(data::is_segmentation_cache(dir + "/v1.fswptc"));
  EXPECT_NE(error_of(dir + "/v1.fswptc").find("version 1 has no masks"), std::string::npos);
}

TEST(SegmentationDataset, CorruptFilesAreClearErrors) {
  const std::string dir = scratch("corrupt");
  const data::ImageFormat format{1, 2, 2};
  std::vector<uint8_t> pixels(8, 1), masks = {0, 1, 2, 3, 0, 1, 20, 3};
  const std::vector<int32_t> labels = {0, 0};
  data::write_segmentation_cache(dir + "/bad_mask.fswptc", format, 4, pixels.data(), masks.data(), labels.data(), 2);
  EXPECT_NE(error_of(dir + "/bad_mask.fswptc").find("mask of image 1 holds class 20, outside 0..3"), std::string::npos)
      << error_of(dir + "/bad_mask.fswptc");
  masks[6] = 2;
  data::write_segmentation_cache(dir + "/good.fswptc", format, 4, pixels.data(), masks.data(), labels.data(), 2);
  std::ifstream in(dir + "/good.fswptc", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir + "/truncated.fswptc", std::ios::binary) << bytes.substr(0, bytes.size() - 1);
  EXPECT_NE(error_of(dir + "/truncated.fswptc").find("truncated"), std::string::npos);
  std::string huge = bytes;
  huge[24] = huge[25] = huge[26] = huge[27] = '\xff';  // count 2^32 − 1: sizes far beyond the file
  std::ofstream(dir + "/huge.fswptc", std::ios::binary) << huge;
  EXPECT_NE(error_of(dir + "/huge.fswptc").find(dir + "/huge.fswptc: truncated"), std::string::npos)
      << error_of(dir + "/huge.fswptc");
  std::string classes = bytes;
  classes[32] = 0;  // 0 classes
  std::ofstream(dir + "/classes.fswptc", std::ios::binary) << classes;
  EXPECT_NE(error_of(dir + "/classes.fswptc").find("0 classes"), std::string::npos);
  EXPECT_NE(error_of(dir + "/missing.fswptc").find(dir + "/missing.fswptc"), std::string::npos);
}

std::string run_command(const std::string& command, int* exit_code) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  std::array<char, 4096> buffer{};
  size_t n;
  while (pipe && (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  const int status = pipe ? pclose(pipe) : -1;
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return output;
}

double number_after(const std::string& text, const std::string& label) {
  std::smatch match;
  if (!std::regex_search(text, match, std::regex(label + R"(\s*:?\s*([0-9.]+))"))) return -1.0;
  return std::stod(match[1].str());
}

TEST(SegmentationDataset, FlipsweepEvalMatchesPyTorchOnMosaics) {
  if (!fsys::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh installs it)";
  if (std::system(FLIPSWEEP_PYTHON " -c 'import torch, onnx, numpy' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-torch and python3-onnx are needed";
  const std::string dir = scratch("mosaics");
  int code = 0;
  std::string out = run_command(std::string(FLIPSWEEP_PYTHON " ") + testing::source_path("datasets/make_fashion_mosaics.py") +
                                    " " + dir + " --train 300 --test 60",
                                &code);
  ASSERT_EQ(code, 0) << out;
  out = run_command(std::string(FLIPSWEEP_PYTHON " ") + testing::source_path("python/train_mosaic_unet.py") + " --data " +
                        dir + " --activation hardsigmoid --epochs 1 --base-channels 8 --out " + dir + "/unet.onnx",
                    &code);
  ASSERT_EQ(code, 0) << out;
  std::ifstream json_file(dir + "/unet.json");
  const std::string json((std::istreambuf_iterator<char>(json_file)), std::istreambuf_iterator<char>());
  out = run_command(testing::binary_path("flipsweep") + " eval --model " + dir + "/unet.onnx --dataset tensor-cache:" + dir +
                        "/mosaics-test.fswptc --mean 0.1373 --std 0.2844 --no-progress",
                    &code);
  ASSERT_EQ(code, 0) << out;
  // The same predictions, up to a few pixels where PyTorch's and oneDNN's float sums round apart.
  EXPECT_NEAR(number_after(out, "pixel accuracy"), number_after(json, "\"pixel_accuracy\""), 0.05) << out << json;
  EXPECT_NEAR(number_after(out, "mean IoU"), number_after(json, "\"mean_iou\""), 0.05) << out << json;
  EXPECT_NEAR(number_after(out, "fw IoU"), number_after(json, "\"frequency_weighted_iou\""), 0.05) << out << json;
  EXPECT_GT(number_after(out, "pixel accuracy"), 0.0) << out;

  // Channel-pruned by filter norm (half of each block's inner channels) and fine-tuned: flipsweep
  // evaluates the smaller exported network as PyTorch did.
  out = run_command(std::string(FLIPSWEEP_PYTHON " ") + testing::source_path("python/prune_unet.py") + " --model " + dir +
                        "/unet.onnx --data " + dir + " --sparsity 0.5 --epochs 1 --out " + dir + "/pruned.onnx",
                    &code);
  ASSERT_EQ(code, 0) << out;
  std::ifstream pruned_json_file(dir + "/pruned.json");
  const std::string pruned_json((std::istreambuf_iterator<char>(pruned_json_file)), std::istreambuf_iterator<char>());
  EXPECT_NE(pruned_json.find("\"mid_channels\": [\n    4,\n    8,"), std::string::npos) << pruned_json;
  EXPECT_LT(number_after(pruned_json, "\"parameters\""), number_after(pruned_json, "\"source_parameters\""));
  out = run_command(testing::binary_path("flipsweep") + " eval --model " + dir + "/pruned.onnx --dataset tensor-cache:" +
                        dir + "/mosaics-test.fswptc --mean 0.1373 --std 0.2844 --no-progress",
                    &code);
  ASSERT_EQ(code, 0) << out;
  const size_t test_at = pruned_json.find("\"test\":");
  ASSERT_NE(test_at, std::string::npos) << pruned_json;
  const std::string pruned_test = pruned_json.substr(test_at);
  EXPECT_NEAR(number_after(out, "pixel accuracy"), number_after(pruned_test, "\"pixel_accuracy\""), 0.05) << out << pruned_json;
  EXPECT_NEAR(number_after(out, "mean IoU"), number_after(pruned_test, "\"mean_iou\""), 0.05) << out << pruned_json;
}

}  // namespace
}  // namespace flipsweep
