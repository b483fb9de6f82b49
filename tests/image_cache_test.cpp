// `flipsweep cache`: JPEGs made at test time by Pillow (several sizes and aspect ratios, odd
// dimensions, 4:2:0/4:2:2/4:4:4, progressive, grayscale, CMYK) turned into a tensor cache that
// must equal torchvision 0.14 + Pillow's Resize + CenterCrop (tests/image_cache/jpeg_cache_check.py
// counts equal values and the largest difference); the flat ImageNet layout with a CSV of WNIDs
// and with the devkit's ground-truth list; PNGs of every colour type and bit depth; and bad input:
// a truncated JPEG or PNG, a missing label, an empty folder, a file that is not what its name says,
// an unsupported image type, each one clear error naming the file, or skipped and listed with
// --skip-bad.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <random>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "flipsweep/data/dataset.h"
#include "flipsweep/data/jpeg_decoder.h"
#include "flipsweep/data/pil_transforms.h"
#include "flipsweep/error.h"
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

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Cuts `path` down to its first size / divisor bytes: a truncated image.
void truncate_to(const std::string& path, size_t divisor) {
  const std::string bytes = read_file_bytes(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / divisor);
}

std::string scratch(const std::string& name) {
  const std::string dir = testing::binary_path("image_cache_test/" + name);
  fsys::remove_all(dir);
  fsys::create_directories(dir);
  return dir;
}

// A folder holding one bad image (`victim`): `cache` (with `arguments`) must stop with `problem`
// naming the file and leave neither the cache nor its .tmp; with --skip-bad it must write the
// `kept` other images and list the victim with the problem. Returns the --skip-bad run.
CommandResult expect_refused_then_skipped(const std::string& cache, const std::string& arguments,
                                          const std::string& victim, const std::string& problem, int64_t kept) {
  CommandResult r = flipsweep_cache(cache + " " + arguments);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(victim + ": " + problem), std::string::npos) << r.output;
  EXPECT_FALSE(fsys::exists(cache));
  EXPECT_FALSE(fsys::exists(cache + ".tmp"));
  r = flipsweep_cache(cache + " " + arguments + " --skip-bad");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  if (r.exit_code == 0) {
    EXPECT_EQ(data::open_tensor_cache(cache)->size(), kept);
  }
  std::ifstream skipped(cache + ".skipped.txt");
  std::string line;
  std::getline(skipped, line);
  EXPECT_EQ(line.rfind(victim + ": " + problem, 0), 0u) << line;
  EXPECT_FALSE(fsys::exists(cache + ".pixels.tmp"));
  return r;
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
  truncate_to(victim, 3);
  CommandResult r =
      expect_refused_then_skipped(dir + "/out.fswptc", "--images " + dir + "/folder", victim, "cannot decode", 12);
  EXPECT_NE(r.output.find("12 images"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("skipped 1"), std::string::npos) << r.output;

  // A flat folder with one file missing from the CSV.
  fsys::copy(jpegs + "/flat", dir + "/flat", fsys::copy_options::recursive);
  {
    std::string text = read_file_bytes(jpegs + "/labels.csv");
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
  std::ofstream(dir + "/folder/n00000000/extra.bmp") << "BM a bitmap";
  r = flipsweep_cache(dir + "/y.fswptc --images " + dir + "/folder");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("extra.bmp: only JPEG and PNG images are supported"), std::string::npos) << r.output;
  fsys::remove(dir + "/folder/n00000000/extra.bmp");
  std::ofstream(dir + "/folder/n00000000/extra.png") << "not really a png";
  r = flipsweep_cache(dir + "/y.fswptc --images " + dir + "/folder");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("extra.png: not a PNG file"), std::string::npos) << r.output;
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


// The AVX2 resize passes (two taps per multiply, weights split in halves) against the plain
// loops, and a resize from a decoded region against one from the whole image: random images
// (with runs of 0 and 255, where rounding and saturation matter), downscales and upscales,
// random windows, one and three channels; and CenterCrop's planes against their definition.
TEST(ImageCache, SimdAndRegionResizeEqualThePlainWholeImageResize) {
  std::mt19937 random(7);
  const auto uniform = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(random); };
  for (int trial = 0; trial < 300; ++trial) {
    data::InterleavedImage image{uniform(1, 90), uniform(1, 90), trial % 4 == 3 ? 1 : 3, {}};
    image.pixels.resize(static_cast<size_t>(image.width) * image.height * image.channels);
    for (uint8_t& v : image.pixels) v = static_cast<uint8_t>(uniform(0, 3) == 0 ? 255 * uniform(0, 1) : uniform(0, 255));
    const int out_width = uniform(1, 100), out_height = uniform(1, 100);
    const int width = uniform(1, out_width), height = uniform(1, out_height);
    const int left = uniform(0, out_width - width), top = uniform(0, out_height - height);
    data::InterleavedImage plain, simd, from_region;
    data::use_simd_resampling(false);
    data::pil_resize_bilinear_window(image, out_width, out_height, left, top, width, height, plain);
    data::use_simd_resampling(true);
    data::pil_resize_bilinear_window(image, out_width, out_height, left, top, width, height, simd);
    ASSERT_EQ(simd.pixels, plain.pixels) << "trial " << trial << ": " << image.width << "x" << image.height << " to "
                                         << out_width << "x" << out_height;
    // The region the window reads, grown by a random margin, cut out of the image.
    int sx = 0, sy = 0, sw = 0, sh = 0;
    data::resize_source_window(image.width, image.height, out_width, out_height, left, top, width, height, &sx, &sy, &sw,
                               &sh);
    ASSERT_GE(sx, 0);
    ASSERT_LE(sx + sw, image.width);
    const int rx = std::max(0, sx - uniform(0, 3)), ry = std::max(0, sy - uniform(0, 3));
    const int rw = std::min(image.width - rx, sx + sw - rx + uniform(0, 3));
    const int rh = std::min(image.height - ry, sy + sh - ry + uniform(0, 3));
    data::InterleavedImage region{rw, rh, image.channels, {}};
    for (int y = 0; y < rh; ++y)
      for (int x = 0; x < rw * image.channels; ++x)
        region.pixels.push_back(image.pixels[(static_cast<size_t>(ry + y) * image.width + rx) * image.channels + x]);
    data::pil_resize_bilinear_window(region, rx, ry, image.width, image.height, out_width, out_height, left, top, width,
                                     height, from_region);
    ASSERT_EQ(from_region.pixels, plain.pixels) << "trial " << trial;
    // CenterCrop into planes (16 pixels at a time with SIMD) against the definition.
    const int crop_width = uniform(1, image.width), crop_height = uniform(1, image.height);
    std::vector<uint8_t> planes(static_cast<size_t>(crop_width) * crop_height * image.channels), expected(planes.size());
    data::center_crop_to_chw(image, crop_width, crop_height, planes.data());
    const int crop_left = data::center_crop_offset(image.width, crop_width);
    const int crop_top = data::center_crop_offset(image.height, crop_height);
    for (int c = 0; c < image.channels; ++c)
      for (int y = 0; y < crop_height; ++y)
        for (int x = 0; x < crop_width; ++x)
          expected[(static_cast<size_t>(c) * crop_height + y) * crop_width + x] =
              image.pixels[(static_cast<size_t>(crop_top + y) * image.width + crop_left + x) * image.channels + c];
    ASSERT_EQ(planes, expected) << "trial " << trial << ": crop " << crop_width << "x" << crop_height;
    // A region that misses a pixel the window reads is refused.
    if (sw > 1 && rx == sx) {
      data::InterleavedImage short_region = region;
      EXPECT_THROW(data::pil_resize_bilinear_window(short_region, rx + 1, ry, image.width, image.height, out_width,
                                                    out_height, left, top, width, height, from_region),
                   Error);
    }
  }
}

// JpegDecoder's cropped decodes (jpeg_crop_scanline, jpeg_skip_scanlines, stopping early)
// against its whole decode, on every generated JPEG (4:2:0, 4:2:2, 4:4:4, progressive, gray,
// CMYK, odd sizes), for windows at the corners, the edges, the middle, single pixels and random;
// and a file cut short below the window is an error.
TEST(ImageCache, CroppedJpegDecodeEqualsTheWholeDecode) {
  if (!have_pillow_and_torchvision()) GTEST_SKIP() << "python3-torchvision (with Pillow and numpy) or python3-scipy is not installed";
  const std::string dir = scratch("crop");
  const std::string jpegs = make_jpegs(dir);
  std::mt19937 random(11);
  int files = 0;
  for (const auto& entry : fsys::recursive_directory_iterator(jpegs + "/folder")) {
    if (entry.path().extension() != ".jpg") continue;
    ++files;
    const std::string text = read_file_bytes(entry.path());
    const std::vector<unsigned char> bytes(text.begin(), text.end());
    data::JpegDecoder decoder;
    decoder.read_header(bytes.data(), bytes.size(), entry.path());
    const int W = decoder.width(), H = decoder.height(), C = decoder.channels();
    data::InterleavedImage whole, part;
    const data::PixelRect all = decoder.decode({}, whole);
    ASSERT_EQ(all.width, W);
    ASSERT_EQ(whole.pixels.size(), static_cast<size_t>(W) * H * C);
    std::vector<data::PixelRect> windows = {{0, 0, 1, 1},         {W - 1, H - 1, 1, 1}, {W / 2, H / 2, 1, 1},
                                            {0, H / 3, W, H / 3}, {W / 3, 0, W / 3, H}, {W / 8, H / 8, 3 * W / 4, 3 * W / 4}};
    for (int r = 0; r < 30; ++r) {
      const int x = std::uniform_int_distribution<int>(0, W - 1)(random);
      const int y = std::uniform_int_distribution<int>(0, H - 1)(random);
      windows.push_back({x, y, std::uniform_int_distribution<int>(1, W - x)(random),
                         std::uniform_int_distribution<int>(1, H - y)(random)});
    }
    for (const data::PixelRect& want : windows) {
      decoder.read_header(bytes.data(), bytes.size(), entry.path());
      const data::PixelRect got = decoder.decode(want, part);
      const int want_width = std::min(want.width, W - want.left), want_height = std::min(want.height, H - want.top);
      ASSERT_LE(got.left, want.left);
      ASSERT_LE(got.top, want.top);
      ASSERT_GE(got.left + got.width, want.left + want_width);
      ASSERT_GE(got.top + got.height, want.top + want_height);
      ASSERT_EQ(part.pixels.size(), static_cast<size_t>(got.width) * got.height * C);
      int64_t different = 0;
      for (int y = want.top; y < want.top + want_height; ++y)
        for (int x = want.left * C; x < (want.left + want_width) * C; ++x)
          different += part.pixels[static_cast<size_t>(y - got.top) * got.width * C + x - got.left * C] !=
                       whole.pixels[static_cast<size_t>(y) * W * C + x];
      EXPECT_EQ(different, 0) << entry.path() << " window " << want.left << "," << want.top << " " << want.width << "x"
                              << want.height;
    }
    // The file without its last 3 % (inside the last rows' data): a window at the top still
    // fails, as Pillow refuses the file ("image file is truncated").
    const std::vector<unsigned char> cut(bytes.begin(), bytes.end() - static_cast<ptrdiff_t>(bytes.size() * 3 / 100));
    decoder.read_header(cut.data(), cut.size(), entry.path());
    try {
      decoder.decode({0, 0, W / 4 + 1, H / 4 + 1}, part);
      ADD_FAILURE() << entry.path() << " cut short decoded without an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(entry.path().string() + ": cannot decode: Premature end"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(files, 13);
}

// Decoding overlaps writing: one thread writes a chunk of images while the next chunk decodes.
// With one thread a chunk is 32 images, so 39 images take two chunks: the cache must equal the
// one-chunk cache of two threads, and a bad image in the second chunk must still stop the run
// (or be skipped and listed) with nothing left behind.
TEST(ImageCache, ChunksAreWrittenInOrderWhileTheNextOneDecodes) {
  if (!have_pillow_and_torchvision()) GTEST_SKIP() << "python3-torchvision (with Pillow and numpy) or python3-scipy is not installed";
  const std::string dir = scratch("chunks");
  const std::string jpegs = make_jpegs(dir);
  for (const auto& entry : fsys::recursive_directory_iterator(jpegs + "/folder")) {
    if (entry.path().extension() != ".jpg") continue;
    const std::string target = dir + "/many/" + entry.path().parent_path().filename().string() + "/";
    fsys::create_directories(target);
    for (const char* copy : {"a", "b", "c"})
      fsys::copy_file(entry.path(), target + copy + "_" + entry.path().filename().string());
  }
  const CommandResult one = flipsweep_cache(dir + "/one.fswptc --images " + dir + "/many --threads 1");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const CommandResult two = flipsweep_cache(dir + "/two.fswptc --images " + dir + "/many --threads 2");
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_EQ(data::open_tensor_cache(dir + "/one.fswptc")->size(), 39);
  EXPECT_TRUE(read_file_bytes(dir + "/one.fswptc") == read_file_bytes(dir + "/two.fswptc"));
  // The last file in ImageFolder order sits in the second chunk.
  const std::string victim = dir + "/many/n00000002/c_img11.jpg";
  truncate_to(victim, 2);
  expect_refused_then_skipped(dir + "/bad.fswptc", "--images " + dir + "/many --threads 1", victim, "cannot decode", 38);
}

// PNGs (Pillow's convert("RGB") of every colour type and bit depth, interlaced or not, a short
// PLTE, and a PNG named .JPEG) against torchvision; a truncated PNG is one clear error, or skipped and listed.
TEST(ImageCache, PngImagesEqualTorchvision) {
  if (!have_pillow_and_torchvision()) GTEST_SKIP() << "python3-torchvision (with Pillow and numpy) or python3-scipy is not installed";
  const std::string dir = scratch("png");
  const CommandResult made = run_command(std::string(FLIPSWEEP_PYTHON " ") + kCheck + " make-png " + dir + "/png");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  for (const auto& [resize, crop] : std::vector<std::pair<int, int>>{{256, 224}, {64, 56}, {0, 200}}) {
    const std::string cache = dir + "/c" + std::to_string(resize) + "_" + std::to_string(crop) + ".fswptc";
    const CommandResult built = flipsweep_cache(cache + " --images " + dir + "/png --resize " + std::to_string(resize) +
                                                " --crop " + std::to_string(crop));
    ASSERT_EQ(built.exit_code, 0) << built.output;
    EXPECT_NE(built.output.find("wrote " + cache + ": 17 images"), std::string::npos) << built.output;
    const CommandResult compared = run_command(std::string(FLIPSWEEP_PYTHON " ") + kCheck + " compare " + cache + " " +
                                               dir + "/png --resize " + std::to_string(resize) + " --crop " +
                                               std::to_string(crop));
    EXPECT_EQ(compared.exit_code, 0) << compared.output;
    EXPECT_NE(compared.output.find("100.0000 % equal"), std::string::npos) << compared.output;
    std::cout << "PNG resize " << resize << ", crop " << crop << ": " << compared.output;
  }
  const std::string victim = dir + "/png/n00000001/rgb16.png";
  truncate_to(victim, 2);
  expect_refused_then_skipped(dir + "/bad.fswptc", "--images " + dir + "/png", victim, "cannot decode PNG", 16);
}

}  // namespace
}  // namespace flipsweep
