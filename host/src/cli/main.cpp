// flipsweep command line: `eval` (accuracy of a model on a dataset) and `inspect` (the graph and
// every parameter). Every user error ends as one clear line on stderr and exit status 1.
#include <omp.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <map>

#include "flipsweep/backend/backend.h"
#include "flipsweep/backend/backend_factory.h"
#include "flipsweep/campaign/campaign.h"
#include "flipsweep/campaign/campaign_folder.h"
#include "flipsweep/campaign/results.h"
#include "flipsweep/campaign/slurm.h"
#include "flipsweep/data/dataset.h"
#include "flipsweep/data/image_cache_builder.h"
#include "flipsweep/data/segmentation.h"
#include "flipsweep/error.h"
#include "flipsweep/eval/evaluate.h"
#include "flipsweep/eval/segmentation_eval.h"
#include "flipsweep/graph/export_check.h"
#include "flipsweep/graph/onnx_import.h"
#include "flipsweep/model/value_ranges.h"
#include "flipsweep/model/weight_preparation.h"
#include "flipsweep/util/yaml_config.h"

#if defined(FLIPSWEEP_WITH_CUDA)
#include "flipsweep_cuda/cuda_backend.h"
#endif

namespace fs = flipsweep;

namespace {

struct EvalSettings {
  std::string model_path;
  std::string dataset_text;
  fs::data::DatasetSpec dataset;
  bool dataset_from_config = false;
  int64_t batch_size = 64;
  int threads = 0;
  int64_t tile = 0;
  int64_t limit = 0;
  CLI::Option* limit_option = nullptr;
  std::string kernels = "fast";
  std::string backend = "auto";
  int device = 0;
  bool tf32 = false;
  std::vector<float> mean, std;
  int64_t pad = 0;
  std::string resize;
  int64_t channels = 0;
  bool no_progress = false;
};

void read_eval_config(const std::string& file, EvalSettings& s) {
  YAML::Node root = fs::load_yaml_mapping(file);
  fs::require_known_keys(root, {"model", "dataset", "batch_size", "threads", "tile", "kernels", "backend", "device", "tf32"},
                         file, "");
  if (!root["model"]) throw fs::Error(file + ": field 'model' is required");
  s.model_path = fs::resolve_config_path(fs::yaml_value<std::string>(root["model"], file, "model"), file);
  if (root["batch_size"]) s.batch_size = fs::yaml_value<int64_t>(root["batch_size"], file, "batch_size");
  if (root["threads"]) s.threads = fs::yaml_value<int>(root["threads"], file, "threads");
  if (root["tile"]) s.tile = fs::yaml_value<int64_t>(root["tile"], file, "tile");
  if (root["kernels"]) s.kernels = fs::yaml_value<std::string>(root["kernels"], file, "kernels");
  if (root["backend"]) s.backend = fs::yaml_value<std::string>(root["backend"], file, "backend");
  if (root["device"]) s.device = fs::yaml_value<int>(root["device"], file, "device");
  if (root["tf32"]) s.tf32 = fs::yaml_value<bool>(root["tf32"], file, "tf32");
  s.dataset = fs::read_dataset_config(root["dataset"], file);
  s.dataset_from_config = true;
}

fs::CpuKernels parse_kernels(const std::string& text) {
  if (text == "fast") return fs::CpuKernels::Fast;
  if (text == "reference") return fs::CpuKernels::Reference;
  throw fs::Error("--kernels: unknown value '" + text + "' (fast, reference)");
}

// --backend/--device/--tf32 given on the command line override a config file's fields.
struct BackendFlags {
  CLI::Option* backend = nullptr;
  CLI::Option* device = nullptr;
  CLI::Option* tf32 = nullptr;
  std::string backend_value = "auto";
  int device_value = 0;
  bool tf32_value = false;
};

fs::BackendKind parse_backend_flag(const std::string& text, const std::string& where) {
  try {
    return fs::parse_backend_kind(text);
  } catch (const fs::Error& e) {
    throw fs::Error(where + ": " + e.what());
  }
}

// A dataset with masks (a tensor cache of version 2): per-pixel metrics instead of top-1/top-5.
int run_segmentation_eval(const EvalSettings& s, const fs::Model& model, fs::BackendKind backend_kind,
                          fs::CpuKernels kernels) {
  auto dataset = fs::data::limit_segmentation_dataset(fs::data::open_segmentation_cache(s.dataset.paths[0]),
                                                      s.dataset.limit);
  const auto format = fs::data::preprocessed_format(dataset->format(), s.dataset.preprocess);
  const fs::Shape& input_shape = model.graph.values[static_cast<size_t>(model.graph.inputs.at(0))].shape;
  const fs::Shape image_shape{1, format.channels, format.height, format.width};
  if (input_shape != image_shape)
    throw fs::Error(s.model_path + ": the model expects input " + fs::shape_to_string(input_shape) + " per image, the dataset " +
                    dataset->name() + " gives " + fs::shape_to_string(image_shape) + " after preprocessing");
  fs::BackendOptions options;
  options.batch_size = s.batch_size;
  options.threads = s.threads;
  options.tile = s.tile;
  options.trials_in_flight = 1;
  options.device = s.device;
  options.tf32 = s.tf32;
  std::string note;
  auto backend = fs::make_backend(backend_kind, model, options, kernels, &note);
  backend->load_weights(0, fs::WeightPreparation(model).prepare_clean());
  fs::EvalOptions eval_options;
  eval_options.batch_size = s.batch_size;
  eval_options.progress = !s.no_progress;
  if (!note.empty()) std::cout << "note: " << note << "\n";
  std::cout << fmt::format("model    {} ({} parameters)\n", s.model_path, model.parameter_count())
            << fmt::format("dataset  {} ({} images with masks, {} classes)\n", dataset->name(), dataset->size(),
                           dataset->num_classes())
            << fmt::format("backend  {}, batch {}\n", backend->description(), s.batch_size) << std::flush;
  const fs::SegmentationEvalResult r =
      fs::evaluate_segmentation_block(*backend, {0}, *dataset, s.dataset.preprocess, eval_options).front();
  const fs::SegmentationMetrics m = r.metrics();
  std::cout << fmt::format("pixel accuracy  {:.2f} %\n", m.pixel_accuracy)
            << fmt::format("mean IoU        {:.2f} %  (over classes in the truth or the prediction)\n", m.mean_iou)
            << fmt::format("fw IoU          {:.2f} %  (frequency-weighted)\n", m.frequency_weighted_iou)
            << "class IoU      ";
  for (size_t c = 0; c < m.class_iou.size(); ++c)
    std::cout << fmt::format(" {}:{}", c, std::isnan(m.class_iou[c]) ? std::string("-") : fmt::format("{:.1f}", m.class_iou[c]));
  std::cout << "\n" << fmt::format("speed           {:.1f} images/s ({:.2f} s)\n", r.images / std::max(r.seconds, 1e-9), r.seconds);
  if (r.all_nan_pixels) std::cout << fmt::format("all-NaN         {} pixels had only NaN logits\n", r.all_nan_pixels);
  return 0;
}

int run_eval(EvalSettings& s, const std::string& config, const BackendFlags& flags) {
  if (!config.empty()) read_eval_config(config, s);
  if (flags.backend->count()) s.backend = flags.backend_value;
  if (flags.device->count()) s.device = flags.device_value;
  if (flags.tf32->count()) s.tf32 = flags.tf32_value;
  const fs::BackendKind backend_kind = parse_backend_flag(s.backend, flags.backend->count() || config.empty() ? "--backend" : config + ": field 'backend'");
  if (s.device < 0) throw fs::Error("--device must be 0 or more, got " + std::to_string(s.device));
  const fs::CpuKernels kernels = parse_kernels(s.kernels);
  if (s.model_path.empty()) throw fs::Error("eval: --model (or a --config naming one) is required");
  if (!s.dataset_from_config) {
    if (s.dataset_text.empty()) throw fs::Error("eval: --dataset (or a --config naming one) is required");
    s.dataset = fs::data::parse_dataset_spec(s.dataset_text);
  }
  // Command-line preprocessing and limits override the config.
  if (!s.mean.empty()) s.dataset.preprocess.mean = s.mean;
  if (!s.std.empty()) s.dataset.preprocess.std = s.std;
  if (s.pad) s.dataset.preprocess.pad = s.pad;
  if (s.channels) s.dataset.preprocess.channels = s.channels;
  if (!s.resize.empty()) {
    long long h = 0, w = 0;
    char x = 0;
    if (std::sscanf(s.resize.c_str(), "%lld%c%lld", &h, &x, &w) != 3 || (x != 'x' && x != 'X') || h <= 0 || w <= 0)
      throw fs::Error("--resize: expected HxW, e.g. 32x32, got '" + s.resize + "'");
    s.dataset.preprocess.resize_height = h;
    s.dataset.preprocess.resize_width = w;
  }
  // --limit N: the first N images; 0: all of them (also over a config's limit).
  if (s.limit_option && s.limit_option->count()) {
    if (s.limit < 0) throw fs::Error("--limit must be 0 (all images) or more, got " + std::to_string(s.limit));
    s.dataset.limit = s.limit;
  }
  if (s.batch_size < 1) throw fs::Error("batch size must be at least 1, got " + std::to_string(s.batch_size));
  if (s.threads < 0) throw fs::Error("threads must be 0 (all cores) or more, got " + std::to_string(s.threads));

  fs::Model model = fs::load_onnx_model(s.model_path);
  fs::warn_about_plain_export(model);
  if (s.dataset.format == "tensor-cache" && s.dataset.paths.size() == 1 && fs::data::is_segmentation_cache(s.dataset.paths[0]))
    return run_segmentation_eval(s, model, backend_kind, kernels);
  const bool preprocess_from_config = s.dataset_from_config && s.mean.empty() && s.std.empty() && !s.pad &&
                                     !s.channels && s.resize.empty();
  auto dataset = preprocess_from_config ? fs::open_configured_dataset(s.dataset, config)
                                        : fs::data::open_dataset(s.dataset);
  const auto format = fs::data::preprocessed_format(dataset->format(), s.dataset.preprocess);
  const fs::Shape& input_shape = model.graph.values[static_cast<size_t>(model.graph.inputs.at(0))].shape;
  const fs::Shape image_shape{1, format.channels, format.height, format.width};
  if (input_shape != image_shape)
    throw fs::Error(s.model_path + ": the model expects input " + fs::shape_to_string(input_shape) + " per image, the dataset " +
                    dataset->name() + " gives " + fs::shape_to_string(image_shape) +
                    " after preprocessing (see --pad, --resize, --channels)");

  fs::BackendOptions options;
  options.batch_size = s.batch_size;
  options.threads = s.threads;
  options.tile = s.tile;
  options.trials_in_flight = 1;  // one set of weights
  options.device = s.device;
  options.tf32 = s.tf32;
  std::string note;
  auto backend = fs::make_backend(backend_kind, model, options, kernels, &note);
  fs::WeightPreparation preparation(model);
  backend->load_weights(0, preparation.prepare_clean());

  fs::EvalOptions eval_options;
  eval_options.batch_size = s.batch_size;
  eval_options.progress = !s.no_progress;
  if (!note.empty()) std::cout << "note: " << note << "\n";
  std::cout << fmt::format("model    {} ({} parameters)\n", s.model_path, model.parameter_count())
            << fmt::format("dataset  {} ({} images)\n", dataset->name(), dataset->size())
            << fmt::format("backend  {}, batch {}\n", backend->description(), s.batch_size) << std::flush;
  fs::EvalResult r = fs::evaluate(*backend, 0, *dataset, s.dataset.preprocess, eval_options);
  std::cout << fmt::format("top-1    {:.2f} %  ({}/{})\n", r.top1_percent(), r.top1_correct, r.images)
            << fmt::format("top-5    {:.2f} %  ({}/{})\n", r.top5_percent(), r.top5_correct, r.images)
            << fmt::format("speed    {:.1f} images/s ({:.2f} s)\n", r.images_per_second(), r.seconds);
  if (r.all_nan_images) std::cout << fmt::format("all-NaN  {} images had only NaN logits\n", r.all_nan_images);
  return 0;
}

struct RunSettings {
  std::string config_path;
  int64_t trials = 0;
  CLI::Option* trials_option = nullptr;
  std::vector<double> bers;
  long long seed = -1;
  std::string out;
  int threads = -1;
  int64_t limit = 0;
  CLI::Option* limit_option = nullptr;
  bool resume = false;
  bool save_faults = false;
  bool no_progress = false;
  bool no_shortcuts = false;
  CLI::Option* trials_in_flight_option = nullptr;
  int trials_in_flight = 0;
  std::string shard;
};

int run_campaign_command(const RunSettings& s, const BackendFlags& flags) {
  // Flags that need no config are checked first.
  if (s.trials_in_flight_option->count() && s.trials_in_flight < 0)
    throw fs::Error("--trials-in-flight must be 0 (the backend's default) or more, got " + std::to_string(s.trials_in_flight));
  if (flags.device->count() && flags.device_value < 0)
    throw fs::Error("--device must be 0 or more, got " + std::to_string(flags.device_value));
  const fs::BackendKind backend_kind = parse_backend_flag(flags.backend_value, "--backend");
  const bool trials_given = s.trials_option && s.trials_option->count();
  const bool limit_given = s.limit_option && s.limit_option->count();
  if (trials_given && s.trials < 1) throw fs::Error("--trials must be at least 1, got " + std::to_string(s.trials));
  if (limit_given && s.limit < 0)
    throw fs::Error("--limit must be 0 (all images) or more, got " + std::to_string(s.limit));
  for (size_t i = 0; i < s.bers.size(); ++i) {
    if (!(s.bers[i] >= 0.0 && s.bers[i] <= 1.0))
      throw fs::Error("--ber: " + fs::format_number(s.bers[i]) + " is outside [0, 1]");
    for (size_t j = 0; j < i; ++j)
      if (s.bers[j] == s.bers[i]) throw fs::Error("--ber: " + fs::format_number(s.bers[i]) + " is listed twice");
  }
  fs::CampaignConfig config = fs::load_campaign_config(s.config_path);
  // Command-line overrides, validated like the config's own values before any work.
  if (trials_given) config.trials = s.trials;
  if (!s.bers.empty()) config.bers = s.bers;
  if (s.seed >= 0) config.seed = static_cast<uint64_t>(s.seed);
  if (s.threads >= 0) config.threads = s.threads;
  if (limit_given) config.dataset.limit = s.limit;  // 0: all images, whatever the config says
  if (s.trials_in_flight_option->count()) config.trials_in_flight = s.trials_in_flight;
  if (flags.backend->count()) config.backend = backend_kind;
  if (flags.device->count()) config.device = flags.device_value;
  if (flags.tf32->count()) config.tf32 = flags.tf32_value;
  if (s.no_shortcuts) config.shortcuts = false;
  if (!s.shard.empty()) {
    try {
      fs::parse_shard(s.shard, &config.shard_index, &config.shard_count);
    } catch (const fs::Error& e) {
      throw fs::Error(std::string("--shard: ") + e.what());
    }
  }
  fs::validate_campaign_config(config);
  fs::CampaignOptions options;
  options.out_dir = s.out;
  options.resume = s.resume;
  options.save_faults = s.save_faults;
  options.progress = !s.no_progress;
  fs::run_campaign(config, options);
  return 0;
}

// inspect --ranges: per parameter, where its values sit (the share with 1 ≤ |w| < 2, the span of
// fp32 exponents) and how many stored words one bit flip turns into Inf/NaN in fp32, fp16, bf16;
// with a CSV path, every parameter's fp32 exponent histogram (python/plot_ranges.py draws it).
int run_inspect_ranges(const fs::Model& model, const std::string& csv_path) {
  const fs::Graph& g = model.graph;
  std::cout << fmt::format("{:<44} {:>10} {:>9} {:>13} {:>11} {:>11} {:>11}\n", "parameter", "count", "1<=|w|<2",
                           "fp32 exponents", "Inf/NaN fp32", "fp16", "bf16");
  std::string csv = "parameter,exponent,count\n";
  fs::RangeProfile total;
  for (int id : g.parameters) {
    const fs::Tensor& t = model.stored[static_cast<size_t>(id)];
    const fs::RangeProfile p = fs::range_profile(t.ptr(), t.size());
    int lowest = 256, highest = -1;
    for (int e = 0; e < 256; ++e)
      if (p.fp32_exponent[static_cast<size_t>(e)]) {
        lowest = std::min(lowest, e);
        highest = std::max(highest, e);
        csv += fmt::format("{},{},{}\n", g.values[static_cast<size_t>(id)].name, e - 127, p.fp32_exponent[static_cast<size_t>(e)]);
        total.fp32_exponent[static_cast<size_t>(e)] += p.fp32_exponent[static_cast<size_t>(e)];
      }
    const std::string span = highest < 0 ? "-" : fmt::format("2^{}..2^{}", lowest - 127, highest - 127);
    std::cout << fmt::format("{:<44} {:>10} {:>9} {:>13} {:>11} {:>11} {:>11}\n", g.values[static_cast<size_t>(id)].name,
                             p.count, p.in_one_two, span, p.nonfinite_in_one_flip_fp32, p.nonfinite_in_one_flip_fp16,
                             p.nonfinite_in_one_flip_bf16);
    total.count += p.count;
    total.in_one_two += p.in_one_two;
    total.nonfinite_in_one_flip_fp32 += p.nonfinite_in_one_flip_fp32;
    total.nonfinite_in_one_flip_fp16 += p.nonfinite_in_one_flip_fp16;
    total.nonfinite_in_one_flip_bf16 += p.nonfinite_in_one_flip_bf16;
  }
  std::cout << fmt::format("{:<44} {:>10} {:>9} {:>13} {:>11} {:>11} {:>11}\n", "total", total.count, total.in_one_two, "",
                           total.nonfinite_in_one_flip_fp32, total.nonfinite_in_one_flip_fp16,
                           total.nonfinite_in_one_flip_bf16);
  std::cout << "Inf/NaN: stored words whose exponent field has exactly one 0 bit, so that one flip makes it all ones "
               "(fp32: 1 <= |w| < 2 among others)\n";
  if (!csv_path.empty()) {
    fs::write_file_atomically(csv_path, csv);
    std::cout << "exponent histograms: " << csv_path << " (python/plot_ranges.py draws them)\n";
  }
  return 0;
}

// What the fast CPU backend compiles the model into, step by step, with a count per kind; a
// convolution oneDNN can only run in its reference implementation is pointed out (it is ~100x
// slower than the rest).
int run_inspect_plan(const fs::Model& model, int64_t batch) {
  fs::BackendOptions options;
  options.batch_size = batch;
  const std::vector<fs::CpuPlanEntry> entries = fs::describe_cpu_plan(model, options);
  std::map<std::string, int> counts;
  int slow_convs = 0;
  std::cout << fmt::format("CPU plan of {} (batch {}): {} steps\n", model.path, batch, entries.size());
  for (const fs::CpuPlanEntry& e : entries) {
    counts[e.kind]++;
    const bool slow = e.kind == "conv" && e.implementation.rfind("ref", 0) == 0;
    slow_convs += slow;
    std::cout << fmt::format("  {:<13} {:<18} {:<40} {}{}\n", e.kind, e.op, e.node, e.implementation,
                             slow ? "   <- oneDNN reference kernel (slow)" : "");
  }
  std::cout << "steps per kind:";
  for (const auto& [kind, count] : counts) std::cout << " " << kind << " " << count;
  std::cout << "\n";
  if (slow_convs > 0) std::cout << slow_convs << " convolution(s) run in oneDNN's reference implementation\n";
  return 0;
}

int run_inspect(const std::string& path, bool ranges, const std::string& ranges_csv, bool plan, int64_t plan_batch) {
  fs::Model model = fs::load_onnx_model(path);
  fs::warn_about_plain_export(model);
  if (ranges || !ranges_csv.empty()) return run_inspect_ranges(model, ranges_csv);
  if (plan) return run_inspect_plan(model, plan_batch);
  const fs::Graph& g = model.graph;
  std::cout << fmt::format("{}: opset {}, {} weight-preparation nodes, {} activation nodes\n\n", path, model.opset,
                           g.weight_nodes.size(), g.activation_nodes.size());
  auto describe = [&](int id) {
    if (id < 0) return std::string("-");
    const fs::Value& v = g.values[static_cast<size_t>(id)];
    return v.name + fs::shape_to_string(v.shape);
  };
  auto print_nodes = [&](const char* title, const std::vector<fs::Node>& nodes) {
    std::cout << title << "\n";
    for (const fs::Node& n : nodes) {
      std::string ins, outs;
      for (int id : n.inputs) ins += (ins.empty() ? "" : ", ") + describe(id);
      for (int id : n.outputs) outs += (outs.empty() ? "" : ", ") + describe(id);
      std::cout << fmt::format("  {:<20} {:<40} {} -> {}\n", fs::op_type_name(n.op), n.name, ins, outs);
    }
    std::cout << "\n";
  };
  std::cout << "inputs:  ";
  for (int id : g.inputs) std::cout << describe(id) << " ";
  std::cout << "\noutputs: ";
  for (int id : g.outputs) std::cout << describe(id) << " ";
  std::cout << "\n\n";
  if (!g.weight_nodes.empty()) print_nodes("weight preparation (runs once per trial on the faulted parameters):", g.weight_nodes);
  print_nodes("activation pass:", g.activation_nodes);

  const double total = static_cast<double>(model.parameter_count());
  std::cout << fmt::format("parameters: {} tensors, {} values\n", g.parameters.size(), model.parameter_count());
  std::cout << fmt::format("  {:<44} {:<18} {:>10} {:>12} {:>12} {:>8} {:>10}\n", "name", "shape", "count", "min", "max",
                           "share%", "1<=|w|<2");
  for (int id : g.parameters) {
    const fs::Tensor& t = model.stored[static_cast<size_t>(id)];
    float lo = INFINITY, hi = -INFINITY;
    int64_t in_one_two = 0;
    for (float w : t.data) {
      lo = std::min(lo, w);
      hi = std::max(hi, w);
      const float a = std::fabs(w);
      // |w| in [1, 2): the fp32 exponent is 0x7F, one bit flip away from Inf/NaN (seed 002).
      if (a >= 1.0f && a < 2.0f) in_one_two++;
    }
    std::cout << fmt::format("  {:<44} {:<18} {:>10} {:>12.5g} {:>12.5g} {:>8.3f} {:>10.5f}\n",
                             g.values[static_cast<size_t>(id)].name, fs::shape_to_string(t.shape), t.size(), lo, hi,
                             total > 0 ? 100.0 * static_cast<double>(t.size()) / total : 0.0,
                             t.size() ? static_cast<double>(in_one_two) / static_cast<double>(t.size()) : 0.0);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(FLIPSWEEP_WITH_CUDA)
  // The CUDA backend lives in a library that depends on the host one; it joins the factory here.
  flipsweep::cuda::register_cuda_backend();
#endif
  CLI::App app{"flipsweep: Monte Carlo bit-flip fault campaigns on neural network weights"};
  app.require_subcommand(1);

  EvalSettings eval;
  std::string eval_config;
  CLI::App* eval_cmd = app.add_subcommand("eval", "Top-1/top-5 accuracy and speed of a model on a dataset (no faults)");
  eval_cmd->add_option("--config", eval_config, "YAML file with model, dataset (with limit and preprocess), batch_size, threads, tile, kernels, backend, "
                       "device, tf32; command-line options override it");
  eval_cmd->add_option("--model", eval.model_path, "ONNX model file");
  eval_cmd->add_option("--dataset", eval.dataset_text,
                       "fashion-mnist-test | fashion-mnist-train | idx:IMAGES,LABELS | cifar10:FILE[,FILE..] | "
                       "cifar100:FILE | cifar100-coarse:FILE | tensor-cache:FILE");
  eval.limit_option = eval_cmd->add_option(
      "--limit", eval.limit, "evaluate only the first N images; 0 = all images (default: the config's limit, else all)");
  eval_cmd->add_option("--batch-size", eval.batch_size, "images per backend call (default 64)");
  eval_cmd->add_option("--threads", eval.threads, "CPU threads (default: all cores)");
  eval_cmd->add_option("--tile", eval.tile, "images per thread per pass (default: chosen from the model)");
  eval_cmd->add_option("--kernels", eval.kernels, "fast (default) or reference");
  eval_cmd->add_option("--mean", eval.mean, "per-channel mean in 0..1 units")->delimiter(',');
  eval_cmd->add_option("--std", eval.std, "per-channel std in 0..1 units")->delimiter(',');
  eval_cmd->add_option("--pad", eval.pad, "zero pixels added on each side");
  eval_cmd->add_option("--resize", eval.resize, "bilinear resize to HxW");
  eval_cmd->add_option("--channels", eval.channels, "3 replicates a gray image to 3 channels");
  eval_cmd->add_flag("--no-progress", eval.no_progress, "no progress display");
  BackendFlags eval_backend;
  auto add_backend_flags = [](CLI::App* cmd, BackendFlags& flags) {
    flags.backend = cmd->add_option("--backend", flags.backend_value,
                                    "auto (default: CUDA when built with it and a GPU is present, else CPU), cpu, cuda, "
                                    "host-plan");
    flags.device = cmd->add_option("--device", flags.device_value, "CUDA device index (default 0)");
    flags.tf32 = cmd->add_flag("--tf32", flags.tf32_value, "CUDA: allow TF32 in the dense library calls");
  };
  add_backend_flags(eval_cmd, eval_backend);

  RunSettings run;
  CLI::App* run_cmd = app.add_subcommand("run", "Run a fault campaign (Monte Carlo bit flips) from a YAML config");
  run_cmd->add_option("config", run.config_path, "campaign YAML (see configs/demo.yaml)")->required();
  run.trials_option =
      run_cmd->add_option("--trials", run.trials, "trials per (configuration, BER), at least 1 (default: the config's)");
  run_cmd->add_option("--ber", run.bers, "bit error rates, e.g. 1e-6,1e-5")->delimiter(',');
  run_cmd->add_option("--seed", run.seed, "campaign seed (faults are a function of seed, trial and tensor)");
  run_cmd->add_option("--out", run.out, "output folder (default results/<name>)");
  run_cmd->add_option("--threads", run.threads, "CPU threads (default: the config's, or all cores)");
  run.limit_option = run_cmd->add_option(
      "--limit", run.limit, "use only the first N images of the dataset; 0 = all images (default: the config's limit)");
  run_cmd->add_flag("--resume", run.resume, "skip trials already in trials.csv and finish the campaign");
  run_cmd->add_flag("--save-faults", run.save_faults, "write every fault to faults.csv");
  run_cmd->add_flag("--no-progress", run.no_progress, "no progress display");
  run_cmd->add_flag("--no-shortcuts", run.no_shortcuts,
                    "run every trial's activation pass, even when its effective weights are the clean ones or "
                    "those of a smaller BER (the results are the same)");
  run.trials_in_flight_option = run_cmd->add_option(
      "--trials-in-flight", run.trials_in_flight,
      "trials evaluated together, one dataset pass per block (default: the config's, else the backend's)");
  run_cmd->add_option("--shard", run.shard,
                      "run only shard i of n (i/n): trials t with t mod n = i-1, into their own folder "
                      "(default results/<name>/shard-<i>-of-<n>); `merge` combines the n folders");
  BackendFlags run_backend;
  add_backend_flags(run_cmd, run_backend);

  std::string merge_out;
  std::vector<std::string> merge_folders;
  CLI::App* merge_cmd =
      app.add_subcommand("merge", "Combine the folders of a sharded campaign (run --shard i/n) into one campaign folder");
  merge_cmd->add_option("out", merge_out, "output folder for the merged campaign")->required();
  merge_cmd->add_option("folders", merge_folders, "the n shard folders")->required();

  fs::SlurmOptions slurm;
  bool slurm_submit = false;
  CLI::App* slurm_cmd = app.add_subcommand(
      "slurm", "Write (and with --submit, submit) a Slurm job array running a campaign's shards, and its merge job");
  slurm_cmd->add_option("config", slurm.config_path, "campaign YAML")->required();
  slurm_cmd->add_option("--shards", slurm.shards, "number of shards = array tasks (at most the config's trials)")->required();
  slurm_cmd->add_option("--out", slurm.out, "campaign folder (default results/<name>); shards go to <out>/shard-<i>-of-<n>");
  slurm_cmd->add_option("--partition", slurm.partition, "sbatch --partition");
  slurm_cmd->add_option("--time", slurm.time, "sbatch --time per shard, e.g. 02:00:00");
  slurm_cmd->add_option("--account", slurm.account, "sbatch --account");
  slurm_cmd->add_option("--cpus-per-task", slurm.cpus_per_task, "sbatch --cpus-per-task (also run's --threads)");
  slurm_cmd->add_option("--gpus-per-task", slurm.gpus_per_task, "sbatch --gpus-per-task (Slurm binds the GPUs)");
  slurm_cmd
      ->add_option("--extra", slurm.extra, "another sbatch option for the shard jobs, e.g. --extra=--mem=8G (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  slurm_cmd->add_option("--run-options", slurm.run_options,
                        "appended to each shard's `flipsweep run` line, e.g. '--limit 1000 --backend cuda'");
  slurm_cmd->add_flag("--submit", slurm_submit, "submit the array and the merge job with sbatch and print the job ids");

  fs::data::ImageCacheOptions cache;
  bool cache_no_progress = false;
  CLI::App* cache_cmd = app.add_subcommand(
      "cache", "Turn a folder of JPEGs (or PNGs) into a tensor cache, exactly as torchvision's Resize + CenterCrop on PIL images");
  cache_cmd->add_option("output", cache.output, "tensor cache to write, e.g. imagenet-val.fswptc")->required();
  cache_cmd->add_option("--images", cache.images,
                        "image folder: one sub-folder per class (ImageFolder), or a flat folder with --labels")
      ->required();
  cache_cmd->add_option("--labels", cache.labels,
                        "flat folder: a filename,label CSV (label = class index or name, e.g. a WNID) or the devkit's "
                        "ground-truth list (one 1-based id per line)");
  cache_cmd->add_option("--resize", cache.resize, "shorter side after Resize (PIL antialiased bilinear); 0 = none (default 256)");
  cache_cmd->add_option("--crop", cache.crop, "CenterCrop size; 0 = none (default 224)");
  cache_cmd->add_option("--limit", cache.limit, "only the first N images; 0 = all");
  cache_cmd->add_option("--threads", cache.threads, "decoding threads (default: all cores)");
  cache_cmd->add_flag("--skip-bad", cache.skip_bad,
                      "skip unreadable or unlabelled images, listing them in OUTPUT.skipped.txt, instead of failing");
  cache_cmd->add_flag("--no-progress", cache_no_progress, "no progress display");

  std::string report_folder;
  CLI::App* report_cmd = app.add_subcommand("report", "Rebuild a campaign's summary table and plot from its CSV files");
  report_cmd->add_option("folder", report_folder, "campaign output folder (results/<name>)")->required();

  std::string inspect_path;
  CLI::App* inspect_cmd = app.add_subcommand("inspect", "List the graph and every parameter of an ONNX model");
  inspect_cmd->add_option("model", inspect_path, "ONNX model file")->required();
  bool inspect_ranges = false;
  std::string inspect_ranges_csv;
  inspect_cmd->add_flag("--ranges", inspect_ranges,
                        "per parameter: values with 1 <= |w| < 2, fp32 exponent span, words one bit flip turns into "
                        "Inf/NaN in fp32/fp16/bf16");
  inspect_cmd->add_option("--ranges-csv", inspect_ranges_csv, "also write every parameter's fp32 exponent histogram");
  bool inspect_plan = false;
  int64_t inspect_plan_batch = 64;
  inspect_cmd->add_flag("--plan", inspect_plan,
                        "the fast CPU backend's steps: fused convs with oneDNN's kernel, blocked steps, reference "
                        "steps, reorders");
  inspect_cmd->add_option("--batch", inspect_plan_batch, "batch size the plan is made for (--plan; default 64)")
      ->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*eval_cmd) return run_eval(eval, eval_config, eval_backend);
    if (*inspect_cmd)
      return run_inspect(inspect_path, inspect_ranges, inspect_ranges_csv, inspect_plan, inspect_plan_batch);
    if (*run_cmd) return run_campaign_command(run, run_backend);
    if (*slurm_cmd) {
      std::error_code error;
      slurm.flipsweep_binary = std::filesystem::read_symlink("/proc/self/exe", error).string();
      if (error) slurm.flipsweep_binary = argv[0];
      const fs::SlurmScripts scripts = fs::write_slurm_scripts(slurm);
      std::cout << "wrote " << scripts.array_script << " (" << scripts.shards << " array tasks) and " << scripts.merge_script
                << "\n";
      if (slurm_submit) {
        const auto [array_id, merge_id] = fs::submit_slurm_scripts(scripts);
        std::cout << "submitted: shards job " << array_id << " (array 1-" << scripts.shards << "), merge job " << merge_id
                  << " (after every shard succeeded) → " << scripts.out << "\n";
      } else {
        std::cout << "submit with: sbatch " << scripts.array_script << ", then sbatch --dependency=afterok:<its job id> "
                  << scripts.merge_script << " (or run this command with --submit)\n";
      }
      return 0;
    }
    if (*cache_cmd) {
      if (cache.limit < 0) throw fs::Error("--limit must be 0 (all images) or more, got " + std::to_string(cache.limit));
      if (cache.threads < 0) throw fs::Error("--threads must be 0 (all cores) or more");
      cache.progress = !cache_no_progress;
      const fs::data::ImageCacheSummary summary = fs::data::build_image_cache(cache);
      std::cout << fmt::format("wrote {}: {} images in {:.1f} s ({:.1f} images/s)", cache.output, summary.written,
                               summary.seconds, static_cast<double>(summary.written) / std::max(summary.seconds, 1e-9));
      if (!summary.skipped.empty())
        std::cout << fmt::format("; skipped {} (listed in {}.skipped.txt)", summary.skipped.size(), cache.output);
      std::cout << "\n";
      return 0;
    }
    if (*merge_cmd) {
      fs::merge_campaign_shards(merge_out, merge_folders);
      return 0;
    }
    if (*report_cmd) {
      std::cout << fs::report_campaign(report_folder);
      return 0;
    }
  } catch (const fs::CampaignInterrupted& e) {
    std::cerr << "\nflipsweep: " << e.what() << "\n";
    return 130;  // as a shell reports a command ended by SIGINT
  } catch (const fs::Error& e) {
    std::cerr << "flipsweep: error: " << e.what() << "\n";
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    // An I/O failure (a folder that cannot be made or read), not a bug: the path and the reason.
    std::cerr << "flipsweep: error: " << e.path1().string() << ": " << e.code().message() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "flipsweep: internal error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
