#include "flipsweep/data/image_cache_builder.h"

#include <omp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "flipsweep/data/dataset.h"
#include "flipsweep/data/jpeg_decoder.h"
#include "flipsweep/data/png_decoder.h"
#include "flipsweep/data/pil_transforms.h"
#include "flipsweep/error.h"
#include "flipsweep/util/progress.h"

namespace flipsweep::data {

namespace fsys = std::filesystem;

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool is_jpeg_name(const fsys::path& path) {
  const std::string extension = lower(path.extension().string());
  return extension == ".jpg" || extension == ".jpeg";
}

bool is_png_name(const fsys::path& path) { return lower(path.extension().string()) == ".png"; }

// torchvision's IMG_EXTENSIONS: files ImageFolder would load. Those that are not JPEG or PNG are refused
// (or skipped) rather than silently left out, so the cache never has fewer images than PyTorch sees.
bool is_image_name(const fsys::path& path) {
  static const std::set<std::string> kExtensions = {".jpg", ".jpeg", ".png", ".ppm", ".bmp",
                                                    ".pgm", ".tif", ".tiff", ".webp"};
  return kExtensions.count(lower(path.extension().string())) > 0;
}

std::vector<std::string> sorted_entries(const fsys::path& folder, bool directories) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fsys::directory_iterator(folder, error)) {
    std::error_code kind_error;
    if (entry.is_directory(kind_error) == directories) names.push_back(entry.path().filename().string());
  }
  if (error) throw Error(folder.string() + ": cannot list: " + error.message());
  std::sort(names.begin(), names.end());  // byte order = Python's code-point order for UTF-8
  return names;
}

// os.walk(root) sorted by directory path, files sorted within each: ImageFolder's order.
void walk_images(const fsys::path& root, std::vector<std::string>& files) {
  std::vector<std::pair<std::string, std::string>> found;  // (directory, file name)
  std::vector<fsys::path> pending = {root};
  while (!pending.empty()) {
    const fsys::path folder = pending.back();
    pending.pop_back();
    for (const std::string& name : sorted_entries(folder, false))
      if (is_image_name(name)) found.emplace_back(folder.string(), name);
    for (const std::string& name : sorted_entries(folder, true)) pending.push_back(folder / name);
  }
  std::sort(found.begin(), found.end());
  for (const auto& [directory, name] : found) files.push_back(directory + "/" + name);
}

bool parse_label_integer(const std::string& text, int64_t* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0' || errno != 0) return false;
  *value = v;
  return true;
}

std::string trim(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

ImageList flat_folder_images(const ImageCacheOptions& options) {
  const fsys::path folder = options.images;
  std::vector<std::string> names;
  for (const std::string& name : sorted_entries(folder, false))
    if (is_image_name(name)) names.push_back(name);
  if (names.empty()) throw Error(options.images + ": no images (.jpg, .jpeg, ...) in the folder");
  if (options.labels.empty())
    throw Error(options.images + ": a flat folder of images needs --labels (a filename,label CSV or the devkit's "
                                 "ground-truth list); or arrange the images as one sub-folder per class");
  std::ifstream in(options.labels);
  if (!in) throw Error(options.labels + ": cannot open: " + std::strerror(errno));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!trim(line).empty()) lines.push_back(trim(line));
  if (lines.empty()) throw Error(options.labels + ": no labels in the file");

  ImageList list;
  const bool csv = lines.front().find(',') != std::string::npos;
  if (!csv) {
    // The devkit's ILSVRC2012_validation_ground_truth.txt: one 1-based class id per line, for
    // the images in name order.
    if (lines.size() != names.size())
      throw Error(options.labels + ": " + std::to_string(lines.size()) + " labels for " + std::to_string(names.size()) +
                  " images in " + options.images + " (one label per line, in file-name order)");
    int64_t largest = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      int64_t id = 0;
      if (!parse_label_integer(lines[i], &id) || id < 1)
        throw Error(options.labels + ":" + std::to_string(i + 1) + ": '" + lines[i] + "' is not a class id (1, 2, ...)");
      largest = std::max(largest, id);
      list.images.push_back({(folder / names[i]).string(), static_cast<int32_t>(id - 1)});
    }
    for (int64_t c = 1; c <= largest; ++c) list.classes.push_back(std::to_string(c));
    std::cerr << "flipsweep cache: labels are the devkit's class ids minus 1 (ILSVRC2012_ID order), which is not "
                 "the order of torchvision's ImageNet models (sorted WNIDs); for those give a filename,wnid CSV "
                 "(datasets/imagenet_devkit_labels.py makes one from the devkit)\n";
    return list;
  }

  // filename,label: the label an integer class index, or a class name (its first word, so that
  // LOC_val_solution.csv's "n01751748 x y x y ..." works); names become indices in sorted order.
  std::map<std::string, std::string> label_of;  // file name or stem → label text
  size_t first = 0;
  {
    const std::string head = lines.front().substr(0, lines.front().find(','));
    const bool names_an_image = std::find(names.begin(), names.end(), head) != names.end() ||
                                std::any_of(names.begin(), names.end(), [&](const std::string& n) {
                                  return fsys::path(n).stem().string() == head;
                                });
    if (!names_an_image) first = 1;  // a header line ("ImageId,PredictionString")
  }
  for (size_t i = first; i < lines.size(); ++i) {
    const size_t comma = lines[i].find(',');
    if (comma == std::string::npos)
      throw Error(options.labels + ":" + std::to_string(i + 1) + ": expected filename,label");
    std::string label = trim(lines[i].substr(comma + 1));
    label = label.substr(0, label.find_first_of(" \t"));
    const std::string name = trim(lines[i].substr(0, comma));
    if (label.empty()) throw Error(options.labels + ":" + std::to_string(i + 1) + ": empty label for " + name);
    if (!label_of.emplace(name, label).second)
      throw Error(options.labels + ":" + std::to_string(i + 1) + ": " + name + " is labelled twice");
  }
  bool all_integers = true;
  for (const auto& [name, label] : label_of) {
    int64_t v = 0;
    all_integers = all_integers && parse_label_integer(label, &v);
  }
  std::map<std::string, int32_t> class_index;
  if (!all_integers) {
    for (const auto& [name, label] : label_of) class_index.emplace(label, 0);
    for (auto& [label, index] : class_index) {
      index = static_cast<int32_t>(list.classes.size());
      list.classes.push_back(label);
    }
  }
  int64_t largest = -1;
  for (const std::string& name : names) {
    auto found = label_of.find(name);
    if (found == label_of.end()) found = label_of.find(fsys::path(name).stem().string());
    if (found == label_of.end()) {
      if (options.skip_bad) {
        list.images.push_back({(folder / name).string(), -1});  // reported as skipped by the builder
        continue;
      }
      throw Error(options.labels + ": no label for " + (folder / name).string() + " (or pass --skip-bad)");
    }
    int32_t label = 0;
    if (all_integers) {
      int64_t v = 0;
      parse_label_integer(found->second, &v);
      if (v < 0 || v > 1000000)
        throw Error(options.labels + ": label " + found->second + " of " + name + " is out of range (0 or more)");
      label = static_cast<int32_t>(v);
      largest = std::max<int64_t>(largest, v);
    } else {
      label = class_index.at(found->second);
    }
    list.images.push_back({(folder / name).string(), label});
  }
  if (all_integers)
    for (int64_t c = 0; c <= largest; ++c) list.classes.push_back(std::to_string(c));
  return list;
}

// The whole file into `bytes` (resized; its capacity is kept from call to call).
void read_file(const std::string& path, std::vector<unsigned char>& bytes) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) throw Error(path + ": cannot open: " + std::strerror(errno));
  long size = 0;
  if (std::fseek(file, 0, SEEK_END) == 0) {
    size = std::max(0L, std::ftell(file));
    std::rewind(file);
  }
  bytes.resize(static_cast<size_t>(size));  // no zero fill where the capacity was used before
  const size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), file);
  const bool failed = std::ferror(file) != 0 || got != bytes.size();
  std::fclose(file);
  if (failed) throw Error(path + ": read failed");
}

}  // namespace

ImageList list_images(const ImageCacheOptions& options) {
  const fsys::path root = options.images;
  std::error_code error;
  if (!fsys::is_directory(root, error)) throw Error(options.images + ": not a folder");
  const std::vector<std::string> classes = sorted_entries(root, true);
  ImageList list;
  if (classes.empty()) {
    list = flat_folder_images(options);
  } else {
    if (!options.labels.empty())
      throw Error("--labels " + options.labels + ": " + options.images +
                  " has one sub-folder per class, which gives the labels; leave out --labels");
    list.classes = classes;
    for (size_t c = 0; c < classes.size(); ++c) {
      std::vector<std::string> files;
      walk_images(root / classes[c], files);
      for (const std::string& f : files) list.images.push_back({f, static_cast<int32_t>(c)});
    }
    if (list.images.empty()) throw Error(options.images + ": no images (.jpg, .jpeg, ...) in its class folders");
  }
  if (options.limit > 0 && static_cast<int64_t>(list.images.size()) > options.limit)
    list.images.resize(static_cast<size_t>(options.limit));
  return list;
}

namespace {

// Resize(resize) + CenterCrop(crop) of a width × height image: the resized size, and, when the
// crop lies inside it, the resize window it keeps (the same pixels, about half the resize work
// for 256 → 224) with the source pixels that window reads (all a decoder has to produce).
struct TransformPlan {
  int out_width = 0, out_height = 0;
  bool window = false;
  int window_left = 0, window_top = 0;
  PixelRect source;  // width 0: the whole image
};

TransformPlan plan_transform(int width, int height, int resize, int crop) {
  TransformPlan plan;
  plan.out_width = width;
  plan.out_height = height;
  if (resize > 0) resized_size_for_shorter_side(width, height, resize, &plan.out_width, &plan.out_height);
  plan.window = resize > 0 && crop > 0 && crop <= plan.out_width && crop <= plan.out_height;
  if (plan.window) {
    plan.window_left = center_crop_offset(plan.out_width, crop);
    plan.window_top = center_crop_offset(plan.out_height, crop);
    resize_source_window(width, height, plan.out_width, plan.out_height, plan.window_left, plan.window_top, crop, crop,
                         &plan.source.left, &plan.source.top, &plan.source.width, &plan.source.height);
  }
  return plan;
}

// `decoded` (the part `region` of a width × height image; 1, 3 or 4 channels as a decoder gives
// them) → RGB → resize → crop → CHW in `out`.
void finish_transform(const InterleavedImage& decoded, const PixelRect& region, int width, int height,
                      const TransformPlan& plan, int resize, int crop, TransformedImage& out) {
  thread_local InterleavedImage converted, resized;
  const InterleavedImage* rgb = &decoded;
  if (decoded.channels != 3) {
    converted = decoded.channels == 1 ? rgb_from_gray(decoded) : rgb_from_jpeg_cmyk(decoded);
    rgb = &converted;
  }
  if (resize > 0) {
    if (plan.window) {
      pil_resize_bilinear_window(*rgb, region.left, region.top, width, height, plan.out_width, plan.out_height,
                                 plan.window_left, plan.window_top, crop, crop, resized);
    } else {
      pil_resize_bilinear_window(*rgb, plan.out_width, plan.out_height, 0, 0, plan.out_width, plan.out_height, resized);
    }
    rgb = &resized;
  }
  out.channels = 3;
  out.width = crop > 0 ? crop : rgb->width;
  out.height = crop > 0 ? crop : rgb->height;
  out.pixels.resize(static_cast<size_t>(3) * out.width * out.height);
  center_crop_to_chw(*rgb, out.width, out.height, out.pixels.data());
}

}  // namespace

void load_transformed_image(const std::string& path, int resize, int crop, TransformedImage& out) {
  if (!is_jpeg_name(path) && !is_png_name(path))
    throw Error(path + ": only JPEG and PNG images are supported (flipsweep cache decodes with libjpeg-turbo and libpng)");
  // The decoders, the file and the decoded pixels stay with the thread: a fresh half-megabyte
  // buffer per image cost page faults and a zero fill (about a tenth of the time per image).
  thread_local JpegDecoder jpeg;
  thread_local std::vector<unsigned char> bytes;
  thread_local InterleavedImage decoded;
  read_file(path, bytes);
  // The decoder is chosen by content, as Pillow does (ImageNet's training set has a PNG named
  // .JPEG); a .png file that is neither is reported as "not a PNG file".
  const bool jpeg_signature = bytes.size() >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8;
  if (looks_like_png(bytes.data(), bytes.size()) || (is_png_name(path) && !jpeg_signature)) {
    decode_png_as_rgb(bytes.data(), bytes.size(), path, decoded);
    const TransformPlan plan = plan_transform(decoded.width, decoded.height, resize, crop);
    finish_transform(decoded, {0, 0, decoded.width, decoded.height}, decoded.width, decoded.height, plan, resize, crop,
                     out);
    return;
  }
  jpeg.read_header(bytes.data(), bytes.size(), path);
  const TransformPlan plan = plan_transform(jpeg.width(), jpeg.height(), resize, crop);
  // Only the part of the JPEG that the crop's window reads is decoded.
  const PixelRect region = jpeg.decode(plan.source, decoded);
  finish_transform(decoded, region, jpeg.width(), jpeg.height(), plan, resize, crop, out);
}

ImageCacheSummary build_image_cache(const ImageCacheOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.resize < 0 || options.crop < 0) throw Error("--resize and --crop must be 0 (off) or more");
  if (options.output.empty()) throw Error("no output file given");
  const ImageList list = list_images(options);
  if (list.classes.empty()) throw Error(options.images + ": no classes");
  const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  ImageCacheSummary summary;
  const std::string skipped_path = options.output + ".skipped.txt";
  std::remove(skipped_path.c_str());

  // With --skip-bad the number of images is known only at the end: pixels go to a scratch file
  // first and into the cache (whose header states the count) once it is known.
  std::unique_ptr<TensorCacheWriter> writer;
  std::FILE* scratch = nullptr;
  const std::string scratch_path = options.output + ".pixels.tmp";
  std::vector<int32_t> labels;
  ImageFormat format{};
  bool format_known = false;
  Progress progress("cache " + options.output, static_cast<int64_t>(list.images.size()), "images", options.progress);

  // Images decoded between two writes: enough that the threads rarely wait for the slowest image
  // of a chunk (about 5 MB of pixels per thread at 224 x 224).
  const size_t chunk = static_cast<size_t>(threads) * 32;
  const size_t chunks = (list.images.size() + chunk - 1) / chunk;
  try {
    // Two sets of buffers: one chunk is written while the next one decodes. Kept from chunk to
    // chunk: the pixel buffers are reused, not allocated per image.
    std::vector<TransformedImage> decoded[2];
    std::vector<std::string> problems[2];
    for (int b = 0; b < 2; ++b) decoded[b].resize(std::min(chunk, list.images.size()));
    // Chunk c's images in order into the cache (or the scratch file), or its first problem thrown.
    const auto write_chunk = [&](size_t c) {
      const size_t begin = c * chunk, end = std::min(list.images.size(), begin + chunk);
      for (size_t k = 0; k < end - begin; ++k) {
        const LabelledImage& image = list.images[begin + k];
        const std::string& problem = problems[c % 2][k];
        if (!problem.empty()) {
          if (!options.skip_bad) throw Error(problem + " (--skip-bad skips such files)");
          summary.skipped.push_back(problem);
          continue;
        }
        const TransformedImage& t = decoded[c % 2][k];
        if (!format_known) {
          format = ImageFormat{t.channels, t.height, t.width};
          format_known = true;
          if (!options.skip_bad) {
            writer = std::make_unique<TensorCacheWriter>(options.output, format,
                                                         static_cast<int64_t>(list.classes.size()),
                                                         static_cast<int64_t>(list.images.size()));
          } else {
            scratch = std::fopen(scratch_path.c_str(), "wb");
            if (!scratch) throw Error(scratch_path + ": cannot create: " + std::strerror(errno));
          }
        }
        if (t.channels != format.channels || t.height != format.height || t.width != format.width)
          throw Error(image.path + ": " + std::to_string(t.width) + "x" + std::to_string(t.height) +
                      " after the transform, the first image gave " + std::to_string(format.width) + "x" +
                      std::to_string(format.height) + "; give --crop so that every image has one size");
        if (writer) {
          writer->append(t.pixels.data(), &image.label, 1);
        } else if (std::fwrite(t.pixels.data(), 1, t.pixels.size(), scratch) != t.pixels.size()) {
          throw Error(scratch_path + ": write failed: " + std::strerror(errno));
        }
        labels.push_back(image.label);
      }
      progress.advance(static_cast<int64_t>(end));
    };
    // Round c decodes chunk c while one thread first writes chunk c - 1 and then joins in.
    for (size_t c = 0; c <= chunks; ++c) {
      const size_t begin = c * chunk, end = std::min(list.images.size(), begin + chunk);
      if (c < chunks) problems[c % 2].assign(end - begin, std::string());
      std::exception_ptr write_failure;
#pragma omp parallel num_threads(threads)
      {
#pragma omp single nowait
        if (c > 0) {
          try {
            write_chunk(c - 1);
          } catch (...) {
            write_failure = std::current_exception();
          }
        }
        if (c < chunks) {
#pragma omp for schedule(dynamic, 1)
          for (int64_t i = static_cast<int64_t>(begin); i < static_cast<int64_t>(end); ++i) {
            const LabelledImage& image = list.images[static_cast<size_t>(i)];
            const size_t k = static_cast<size_t>(i) - begin;
            try {
              if (image.label < 0) throw Error(image.path + ": no label in " + options.labels);
              load_transformed_image(image.path, options.resize, options.crop, decoded[c % 2][k]);
            } catch (const std::exception& e) {
              problems[c % 2][k] = e.what();
            }
          }
        }
      }
      if (write_failure) std::rethrow_exception(write_failure);
    }
    progress.finish();
    if (labels.empty()) throw Error(options.images + ": every image was skipped; nothing to write");
    if (writer) {
      writer->finish();
    } else {
      if (std::fclose(scratch) != 0) {
        scratch = nullptr;
        throw Error(scratch_path + ": write failed: " + std::strerror(errno));
      }
      scratch = nullptr;
      TensorCacheWriter compact(options.output, format, static_cast<int64_t>(list.classes.size()),
                                static_cast<int64_t>(labels.size()));
      std::FILE* in = std::fopen(scratch_path.c_str(), "rb");
      if (!in) throw Error(scratch_path + ": cannot open: " + std::strerror(errno));
      std::vector<uint8_t> buffer(static_cast<size_t>(format.pixels_per_image()));
      for (int32_t label : labels) {
        if (std::fread(buffer.data(), 1, buffer.size(), in) != buffer.size()) {
          std::fclose(in);
          throw Error(scratch_path + ": read failed");
        }
        compact.append(buffer.data(), &label, 1);
      }
      std::fclose(in);
      compact.finish();
      std::remove(scratch_path.c_str());
    }
  } catch (...) {
    if (scratch) std::fclose(scratch);
    std::remove(scratch_path.c_str());
    throw;
  }
  if (!summary.skipped.empty()) {
    std::string text;
    for (const std::string& s : summary.skipped) text += s + "\n";
    std::ofstream out(skipped_path);
    out << text;
    if (!out) throw Error(skipped_path + ": write failed");
  }
  summary.written = static_cast<int64_t>(labels.size());
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace flipsweep::data
