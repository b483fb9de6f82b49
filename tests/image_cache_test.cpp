// `flipsweep cache`: JPEGs made at test time by Pillow (several sizes and aspect ratios, odd
// dimensions, 4:2:0/4:2:2/4:4:4, progressive, grayscale, CMYK) turned into a tensor cache that
// must equal torchvision 0.14 + Pillow's Resize + CenterCrop (tests/image_cache/jpeg_cache_check.py
// counts equal values and the largest difference); the flat ImageNet layout with a CSV of WNIDs
// and with the devkit's ground-truth list; and bad input: a truncated JPEG, a missing label, an
// empty folder, a PNG, each one clear error naming the file, or skipped and listed with --skip-bad.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "flipsweep/data/dataset.h"
#include "flipsweep/data/pil_transforms.h"
#include "test_support.h"

namespace flipsweep {
namespace {

namespace fsys = std::filesystem;

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The JPEGs and the reference transform come from Pillow and torchvision, the devkit's meta.mat
// from scipy (all in scripts/install-deps.sh).
bool have_pillow_and_torchvision() {
  return std::system(FLIPSWEEP_PYTHON " -c 'import PIL, numpy, torchvision, scipy.io' > /dev/null 2>&1") == 0;
}

const std::string kCheck = testing::source_path("tests/image_cache/jpeg_cache_check.py");

// The generated JPEGs, in each test's own folder (ctest runs the tests of this file in parallel
// processes).
std::string make_jpegs(const std::string& dir) {
  const std::string d = dir + "/jpegs";
  fsys::create_directories(d);
  const CommandResult made = run_command(std::string(FLIPSWEEP_PYTHON " ") + kCheck + " make " + d);
  EXPECT_EQ(made.exit_code, 0) << made.output;
  return d;
}

CommandResult flipsweep_cache(const std::string& arguments) {
  return run_command(testing::binary_path("flipsweep") + " cache " + arguments + " --no-progress");
}

std::string scratch(const std::string& name) {
  const std::string dir = testing::binary_path("image_cache_test/" + name);
  fsys::remove_all(dir);
  fsys::create_directories(dir);
  return dir;
}

TEST(ImageCache, EqualsTorchvisionResizeAndCenterCrop) {
  if (!have_pillow_and_torchvision()) GTEST_SKIP() << "python3-torchvision (with Pillow and numpy) or python3-scipy is not installed";
  const std::string dir = scratch("exact");
  const std::string jpegs = make_jpegs(dir);
  // ImageNet's transform, a small one, and CenterCrop alone (smaller images are padded).
  for (const auto& [resize, crop] : std::vector<std::pair<int, int>>{{256, 224}, {64, 56}, {0, 200}}) {
    const std::string cache = dir + "/c" + std::to_string(resize) + "_" + std::to_string(crop) + ".fswptc";
    const CommandResult built = flipsweep_cache(cache + " --images " + jpegs + "/folder --resize " +
                                                std::to_string(resize) + " --crop " + std::to_string(crop));
    ASSERT_EQ(built.exit_code, 0) << built.output;
    EXPECT_NE(built.output.find("wrote " + cache + ": 13 images"), std::string::npos) << built.output;
    const CommandResult compared = run_command(std::string(FLIPSWEEP_PYTHON " ") + kCheck + " compare " + cache + " " +
                                               jpegs + "/folder --resize " + std::to_string(resize) +
                                               " --crop " + std::to_string(crop));
    EXPECT_EQ(compared.exit_code, 0) << compared.output;
    std::cout << "resize " << resize << ", crop " << crop << ": " << compared.output;
  }
}

// Flat folder: file i (name order) belongs to class i mod 3; the ImageFolder copy of the same
// image sits at its class's position. Every label file must give those labels and the pixels must
// be the ImageFolder cache's.
TEST(ImageCache, FlatImageNetLayoutWithCsvOrDevkitLabels) {
  if (!have_pillow_and_torchvision()) GTEST_SKIP() << "python3-torchvision (with Pillow and numpy) or python3-scipy is not installed";
  const std::string dir = scratch("flat");
  const std::string jpegs = make_jpegs(dir);
  ASSERT_EQ(flipsweep_cache(dir + "/folder.fswptc --images " + jpegs + "/folder").exit_code, 0);
  const auto folder = data::open_tensor_cache(dir + "/folder.fswptc");
  const int64_t count = folder->size(), bytes = folder->format().pixels_per_image();
  std::vector<uint8_t> folder_pixels(static_cast<size_t>(count * bytes));
  folder->read(0, count, folder_pixels.data(), nullptr);
  // The devkit (its meta.mat numbers the classes out of WNID order) through
  // datasets/imagenet_devkit_labels.py, from the unpacked folder and from the .tar.gz: the labels
  // must come out in sorted-WNID order like the other two.
  for (const std::string devkit : {"devkit/ILSVRC2012_devkit_t12", "devkit.tar.gz"}) {
    const std::string out = jpegs + "/devkit-" + (devkit.back() == 'z' ? "tar" : "folder") + ".csv";
    const CommandResult converted = run_command(std::string(FLIPSWEEP_PYTHON " ") +
                                                testing::source_path("datasets/imagenet_devkit_labels.py") + " " +
                                                jpegs + "/" + devkit + " " + out);
    ASSERT_EQ(converted.exit_code, 0) << converted.output;
    EXPECT_NE(converted.output.find("13 images, 3 classes"), std::string::npos) << converted.output;
  }
  const CommandResult missing = run_command(std::string(FLIPSWEEP_PYTHON " ") +
                                            testing::source_path("datasets/imagenet_devkit_labels.py") + " " + jpegs +
                                            "/flat " + dir + "/never.csv");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("no data/meta.mat"), std::string::npos) << missing.output;
  EXPECT_FALSE(fsys::exists(dir + "/never.csv"));
  for (const std::string labels : {"labels.csv", "truth.txt", "devkit-folder.csv", "devkit-tar.csv"}) {
    const std::string cache = dir + "/flat-" + labels + ".fswptc";
    const CommandResult built =
        flipsweep_cache(cache + " --images " + jpegs + "/flat --labels " + jpegs + "/" + labels);
    ASSERT_EQ(built.exit_code, 0) << built.output;
    const auto flat = data::open_tensor_cache(cache);
    ASSERT_EQ(flat->size(), count);
    EXPECT_EQ(flat->num_classes(), 3);
    std::vector<uint8_t> pixels(static_cast<size_t>(count * bytes));
    std::vector<int32_t> read_labels(static_cast<size_t>(count));
    flat->read(0, count, pixels.data(), read_labels.data());
    for (int64_t i = 0; i < count; ++i) {
      EXPECT_EQ(read_labels[static_cast<size_t>(i)], i % 3) << labels << " image " << i;
      int64_t position = 0;  // where ImageFolder put image i: classes in order, files by name
      for (int64_t j = 0; j < count; ++j)
        position += (j % 3 < i % 3) || (j % 3 == i % 3 && j < i) ? 1 : 0;
      EXPECT_TRUE(std::equal(pixels.begin() + i * bytes, pixels.begin() + (i + 1) * bytes,
                             folder_pixels.begin() + position * bytes))
          << labels << " image " << i;
    }
  }
}

TEST(ImageCache, BadInputIsOneClearErrorOrSkippedAndListed) {
  if (!have_pillow_and_torchvision()) GTEST_SKIP() << "python3-torchvision (with Pillow and numpy) or python3-scipy is not installed";
  const std::string dir = scratch("bad");
  const std::string jpegs = make_jpegs(dir);
  fsys::copy(jpegs + "/folder", dir + "/folder", fsys::copy_options::recursive);
  // A truncated JPEG: the first third of a file.
  const std::string victim = dir + "/folder/n00000001/img04.jpg";
  {
    std::ifstream in(victim, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(victim, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 3);
  }
  CommandResult r = flipsweep_cache(dir + "/out.fswptc --images " + dir + "/folder");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(victim + ": cannot decode"), std::string::npos) << r.output;
  EXPECT_FALSE(fsys::exists(dir + "/out.fswptc"));
  EXPECT_FALSE(fsys::exists(dir + "/out.fswptc.tmp"));
  r = flipsweep_cache(dir + "/out.fswptc --images " + dir + "/folder --skip-bad");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("12 images"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("skipped 1"), std::string::npos) << r.output;
  EXPECT_EQ(data::open_tensor_cache(dir + "/out.fswptc")->size(), 12);
  std::ifstream skipped(dir + "/out.fswptc.skipped.txt");
  std::string line;
  std::getline(skipped, line);
  EXPECT_EQ(line.rfind(victim + ": cannot decode", 0), 0u) << line;
  EXPECT_FALSE(fsys::exists(dir + "/out.fswptc.pixels.tmp"));

  // A flat folder with one file missing from the CSV.
  fsys::copy(jpegs + "/flat", dir + "/flat", fsys::copy_options::recursive);
  {
    std::ifstream in(jpegs + "/labels.csv");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text.erase(text.find("ILSVRC2012_val_00000005"), text.find('\n', text.find("ILSVRC2012_val_00000005")) -
                                                          text.find("ILSVRC2012_val_00000005") + 1);
    std::ofstream(dir + "/labels.csv") << text;
  }
  r = flipsweep_cache(dir + "/flat.fswptc --images " + dir + "/flat --labels " + dir + "/labels.csv");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no label for " + dir + "/flat/ILSVRC2012_val_00000005.JPEG"), std::string::npos) << r.output;
  r = flipsweep_cache(dir + "/flat.fswptc --images " + dir + "/flat --labels " + dir + "/labels.csv --skip-bad");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("skipped 1"), std::string::npos) << r.output;
  // A devkit list with a bad id; a flat folder without labels; an empty folder; a PNG.
  std::ofstream(dir + "/truth.txt") << "1\n2\n0\n";
  r = flipsweep_cache(dir + "/x.fswptc --images " + dir + "/flat --labels " + dir + "/truth.txt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("3 labels for 13 images"), std::string::npos) << r.output;
  r = flipsweep_cache(dir + "/x.fswptc --images " + dir + "/flat");
  EXPECT_NE(r.output.find("needs --labels"), std::string::npos) << r.output;
  fsys::create_directories(dir + "/empty/class_a");
  r = flipsweep_cache(dir + "/x.fswptc --images " + dir + "/empty");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(dir + "/empty: no images"), std::string::npos) << r.output;
  std::ofstream(dir + "/folder/n00000000/extra.png") << "not really a png";
  r = flipsweep_cache(dir + "/y.fswptc --images " + dir + "/folder");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("extra.png: only JPEG images are supported"), std::string::npos) << r.output;
  EXPECT_FALSE(fsys::exists(dir + "/x.fswptc"));
  EXPECT_FALSE(fsys::exists(dir + "/y.fswptc"));
}

// The pieces on their own, on values worked out by hand from Pillow's and torchvision's rules.
TEST(ImageCache, TransformRules) {
  int w = 0, h = 0;
  data::resized_size_for_shorter_side(500, 375, 256, &w, &h);
  EXPECT_EQ(w, 341);  // int(256 · 500 / 375) = int(341.33)
  EXPECT_EQ(h, 256);
  data::resized_size_for_shorter_side(97, 301, 256, &w, &h);
  EXPECT_EQ(w, 256);
  EXPECT_EQ(h, 794);  // int(794.39)
  // CenterCrop's offset is Python's round(d / 2): halves to even.
  data::InterleavedImage line{5, 1, 1, {10, 20, 30, 40, 50}};
  uint8_t out[4] = {};
  data::center_crop_to_chw(line, 4, 1, out);  // d = 1: round(0.5) = 0
  EXPECT_EQ(out[0], 10);
  data::InterleavedImage seven{7, 1, 1, {1, 2, 3, 4, 5, 6, 7}};
  data::center_crop_to_chw(seven, 4, 1, out);  // d = 3: round(1.5) = 2
  EXPECT_EQ(out[0], 3);
  // Padding: 2 wide into 5: 1 zero on the left, 2 on the right.
  data::InterleavedImage two{2, 1, 1, {7, 9}};
  uint8_t padded[5] = {1, 1, 1, 1, 1};
  data::center_crop_to_chw(two, 5, 1, padded);
  EXPECT_EQ(std::vector<uint8_t>(padded, padded + 5), (std::vector<uint8_t>{0, 7, 9, 0, 0}));
  // Pillow's CMYK → RGB: white (stored 255,255,255,255), black (K stored 0), pure cyan.
  data::InterleavedImage cmyk{3, 1, 4, {255, 255, 255, 255, 0, 0, 0, 0, 0, 255, 255, 255}};
  const data::InterleavedImage rgb = data::rgb_from_jpeg_cmyk(cmyk);
  EXPECT_EQ(rgb.pixels, (std::vector<uint8_t>{255, 255, 255, 0, 0, 0, 0, 255, 255}));
}

}  // namespace
}  // namespace flipsweep
