#include "flipsweep/campaign/campaign.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "flipsweep/backend/backend.h"
#include "flipsweep/backend/backend_factory.h"
#include "flipsweep/campaign/campaign_folder.h"
#include "flipsweep/campaign/results.h"
#include "flipsweep/error.h"
#include "flipsweep/data/segmentation.h"
#include "flipsweep/eval/evaluate.h"
#include "flipsweep/eval/segmentation_eval.h"
#include "flipsweep/graph/export_check.h"
#include "flipsweep/graph/onnx_import.h"
#include "flipsweep/model/weight_preparation.h"
#include "flipsweep/model/weight_transform.h"
#include "flipsweep/util/progress.h"
#include "flipsweep/util/sha256.h"
#include "flipsweep/util/yaml_config.h"

namespace flipsweep {

namespace {

namespace fsys = std::filesystem;

// A model as the campaign runs it: loaded, SAF applied if asked, targets chosen. Loading every
// model before the first trial makes a bad path, SAF or target pattern fail before any work.
struct PreparedModel {
  const CampaignModel* entry = nullptr;
  std::unique_ptr<Model> model;
  std::vector<int> targets;
};

PreparedModel prepare_model(const CampaignConfig& config, const CampaignModel& entry) {
  PreparedModel p;
  p.entry = &entry;
  p.model = std::make_unique<Model>(load_onnx_model(entry.path));
  warn_about_plain_export(*p.model);
  try {
    p.targets = select_fault_targets(*p.model, config.targets);
  } catch (const Error& e) {
    throw Error(config.source + ": field 'targets': " + e.what());
  }
  const bool in_graph = has_weight_transform(*p.model, p.targets);
  if (entry.apply_saf) {
    if (in_graph)
      throw Error(config.source + ": model '" + entry.name + "' (" + entry.path +
                  ") already transforms its weights in the graph; remove apply_saf");
    std::vector<int> weights;
    const auto roles = parameter_roles(*p.model);
    for (int id : p.targets)
      if (roles[static_cast<size_t>(id)] == ParameterRole::ConvWeight || roles[static_cast<size_t>(id)] == ParameterRole::LinearWeight)
        weights.push_back(id);
    apply_weight_saf(*p.model, entry.saf, weights);
  } else if (entry.saf != "none" && !in_graph) {
    throw Error(config.source + ": model '" + entry.name + "' is declared saf: " + entry.saf + " but " + entry.path +
                " applies no weight transform; export it with the SAF or set apply_saf: true");
  } else if (entry.saf == "none" && in_graph) {
    throw Error(config.source + ": model '" + entry.name + "' (" + entry.path +
                ") transforms its weights in the graph; declare its saf (tanh, softsign, ...)");
  }
  return p;
}

std::string trial_key(const std::string& config, double ber, int64_t trial) {
  return config + "|" + format_number(ber) + "|" + std::to_string(trial);
}

// Non-finite effective weights that the activation pass reads, counted over what changed.
int64_t count_nonfinite(const WeightSet& weights, const WeightChanges& changes, const std::vector<bool>& read_by_pass) {
  int64_t count = 0;
  for (const ValueChange& c : changes) {
    if (!read_by_pass[static_cast<size_t>(c.value)]) continue;
    const auto& data = weights.tensors[static_cast<size_t>(c.value)].data;
    if (c.all) {
      for (float v : data) count += std::isfinite(v) ? 0 : 1;
    } else {
      for (int64_t e : c.elements) count += std::isfinite(data[static_cast<size_t>(e)]) ? 0 : 1;
    }
  }
  return count;
}

// What a trial's row needs from its activation pass: the counts behind top-1, top-5, all_nan and
// sdc, or the segmentation metrics. A few numbers per trial, whatever the dataset size, so one can
// be kept for every trial.
struct TrialOutcome {
  int64_t images = 0, top1_correct = 0, top5_correct = 0, all_nan_images = 0;
  int64_t differing = 0;  // images whose top-1 differs from the clean model's
  // Segmentation.
  SegmentationMetrics segmentation;
  int64_t pixels = 0, differing_pixels = 0, nan_pixels = 0;
};

TrialOutcome outcome_of_segmentation(const SegmentationEvalResult& r) {
  TrialOutcome o;
  o.images = r.images;
  o.segmentation = r.metrics();
  o.pixels = r.pixels;
  o.differing_pixels = r.differing_pixels;
  o.nan_pixels = r.all_nan_pixels;
  return o;
}

// "iou_0;iou_1;..." (percent, 4 decimals; "-" where a class is in neither truth nor prediction).
std::string class_iou_text(const std::vector<double>& class_iou) {
  std::string text;
  for (size_t c = 0; c < class_iou.size(); ++c)
    text += (c ? ";" : "") + (std::isnan(class_iou[c]) ? std::string("-") : fmt::format("{:.4f}", class_iou[c]));
  return text;
}

// A datasets with masks for task: segmentation (a tensor cache of version 2), with its limit.
std::unique_ptr<data::SegmentationDataset> open_segmentation_data(const data::DatasetSpec& spec,
                                                                  const std::string& source) {
  if (spec.format == "tensor-cache" && spec.paths.size() == 1 && !fsys::exists(spec.paths[0]))
    throw Error(source + ": field 'dataset': " + spec.paths[0] + " does not exist");
  if (spec.format != "tensor-cache" || spec.paths.size() != 1 || !data::is_segmentation_cache(spec.paths[0]))
    throw Error(source + ": field 'task': segmentation needs a dataset with masks, a tensor cache of version 2 "
                         "(datasets/FORMATS.md, e.g. datasets/make_fashion_mosaics.py); " +
                (spec.paths.empty() ? std::string("none given") : spec.paths[0] + " has none"));
  return data::limit_segmentation_dataset(data::open_segmentation_cache(spec.paths[0]), spec.limit);
}

// Keeps, of a per-trial side file (faults.csv, class_iou.csv), the header and the lines of recorded
// trials (key = the first three fields: config, ber, trial): a trial cut off before its row was
// written runs again and writes its lines again; a half-written last line is dropped.
void keep_lines_of_recorded_trials(const std::string& path, const std::string& header,
                                   const std::set<std::string>& done) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  text.erase(text.find_last_of('\n') == std::string::npos ? 0 : text.find_last_of('\n') + 1);
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // the header, written anew below (it may itself be cut off)
  std::string content = header + "\n";
  while (std::getline(in, line)) {
    const size_t a = line.find(','), b = line.find(',', a + 1), c = line.find(',', b + 1);
    if (c == std::string::npos) continue;
    const std::string key = line.substr(0, a) + "|" + line.substr(a + 1, b - a - 1) + "|" + line.substr(b + 1, c - b - 1);
    if (done.count(key)) content += line + "\n";
  }
  write_file_atomically(path, content);
}

TrialOutcome outcome_of(const EvalResult& r, const EvalResult& clean) {
  TrialOutcome o;
  o.images = r.images;
  o.top1_correct = r.top1_correct;
  o.top5_correct = r.top5_correct;
  o.all_nan_images = r.all_nan_images;
  for (size_t i = 0; i < r.predictions.size(); ++i) o.differing += r.predictions[i] != clean.predictions[i] ? 1 : 0;
  return o;
}

// One effective weight that differs from the clean one: (value id, element, bits of the value).
struct SignatureEntry {
  int value = 0;
  uint32_t bits = 0;
  int64_t element = 0;
  bool operator<(const SignatureEntry& o) const { return std::tie(value, element) < std::tie(o.value, o.element); }
  bool operator==(const SignatureEntry& o) const { return value == o.value && element == o.element && bits == o.bits; }
};
// Every effective weight the activation pass reads that differs (bit for bit) from the clean
// weights, sorted. Two trials with the same signature give the activation pass the same weights.
using Signature = std::vector<SignatureEntry>;

uint32_t bits_of(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

Signature trial_signature(const WeightSet& weights, const std::vector<std::vector<float>>& clean_read,
                          const WeightChanges& changes, const std::vector<bool>& read_by_pass) {
  Signature signature;
  for (const ValueChange& c : changes) {
    if (!read_by_pass[static_cast<size_t>(c.value)]) continue;
    const auto& now = weights.tensors[static_cast<size_t>(c.value)].data;
    const auto& clean = clean_read[static_cast<size_t>(c.value)];
    auto check = [&](int64_t e) {
      const uint32_t b = bits_of(now[static_cast<size_t>(e)]);
      if (b != bits_of(clean[static_cast<size_t>(e)])) signature.push_back({c.value, b, e});
    };
    if (c.all) {
      for (int64_t e = 0; e < static_cast<int64_t>(now.size()); ++e) check(e);
    } else {
      for (int64_t e : c.elements) check(e);
    }
  }
  std::sort(signature.begin(), signature.end());
  signature.erase(std::unique(signature.begin(), signature.end()), signature.end());
  return signature;
}

// Appends lines and flushes each, so a killed run keeps every finished trial.
class AppendFile {
 public:
  AppendFile(const std::string& path, const std::string& header) : path_(path) {
    const bool fresh = !fsys::exists(path) || fsys::file_size(path) == 0;
    file_ = std::fopen(path.c_str(), "a");
    if (!file_) throw Error(path + ": cannot open for appending: " + std::strerror(errno));
    if (fresh) line(header);
  }
  // Writes part of a line and flushes it, without the newline: only the kill tests use this.
  void partial(const std::string& text) {
    std::fputs(text.c_str(), file_);
    std::fflush(file_);
  }
  ~AppendFile() {
    if (file_) std::fclose(file_);
  }
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;
  void line(const std::string& text) {
    if (std::fputs(text.c_str(), file_) < 0 || std::fputc('\n', file_) == EOF || std::fflush(file_) != 0)
      throw Error(path_ + ": write failed: " + std::strerror(errno));
  }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

constexpr const char* kFaultsHeader = "config,ber,trial,tensor,element,bit,kind";

// The kill tests' hook (tests/campaign_kill_test.cpp): with FLIPSWEEP_KILL_AT=EVENT:N in the
// environment the process raises SIGKILL the N-th time it reaches EVENT, so that a test can stop a
// campaign at an exact point (during the clean pass, mid-trial, halfway through writing a row of
// trials.csv or faults.csv, before the summary) and check that --resume loses nothing. Events:
// config, clean, inject, row, row-half, faults-half, summary. Unset: no effect.
struct KillSwitch {
  std::string event;
  int64_t remaining = 0;
};
KillSwitch g_kill_switch;

void arm_kill_switch() {
  g_kill_switch = KillSwitch{};
  const char* text = std::getenv("FLIPSWEEP_KILL_AT");
  if (!text) return;
  const std::string value = text;
  const size_t colon = value.find(':');
  g_kill_switch.event = value.substr(0, colon);
  g_kill_switch.remaining = colon == std::string::npos ? 1 : std::atoll(value.c_str() + colon + 1);
}

// True the one time the armed event is due; the caller then calls die_now() (after a partial
// write, for the *-half events).
bool kill_due(const char* event) {
  return !g_kill_switch.event.empty() && g_kill_switch.event == event && --g_kill_switch.remaining == 0;
}

[[noreturn]] void die_now() {
  std::fflush(nullptr);
  std::raise(SIGKILL);
  std::abort();
}

void kill_point(const char* event) {
  if (kill_due(event)) die_now();
}

// SIGINT during a campaign: finish the block in progress, record it, stop. The handler puts the
// default action back, so a second Ctrl-C ends the process at once (rows already appended stay
// complete: each is written with one fputs and flushed).
volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_sigint(int) {
  g_interrupted = 1;
  std::signal(SIGINT, SIG_DFL);
}

class SigintGuard {
 public:
  SigintGuard() {
    g_interrupted = 0;
    previous_ = std::signal(SIGINT, on_sigint);
  }
  ~SigintGuard() { std::signal(SIGINT, previous_ == SIG_ERR ? SIG_DFL : previous_); }
  SigintGuard(const SigintGuard&) = delete;
  SigintGuard& operator=(const SigintGuard&) = delete;

 private:
  void (*previous_)(int) = SIG_DFL;
};

// Writes summary.csv and summary.md of a campaign folder from its rows, in campaign order when the
// config is known. The table says so when the folder holds a shard or an unfinished campaign, so
// that a partial table never looks complete. Returns the table.
std::string write_summaries(const std::string& folder, const CampaignConfig* config, const std::string& title,
                            std::vector<TrialRecord> records, std::vector<CleanRecord> clean) {
  std::string notes;
  if (config) {
    sort_in_campaign_order(records, *config);
    std::map<std::string, size_t> config_rank;
    for (const CampaignModel& model : config->models)
      for (const auto& format : config->formats) config_rank.emplace(model.name + "/" + format.name(), config_rank.size());
    std::stable_sort(clean.begin(), clean.end(), [&](const CleanRecord& a, const CleanRecord& b) {
      const auto ra = config_rank.find(a.config), rb = config_rank.find(b.config);
      return (ra == config_rank.end() ? config_rank.size() : ra->second) <
             (rb == config_rank.end() ? config_rank.size() : rb->second);
    });
    if (config->shard_count > 1)
      notes += fmt::format("shard {}: this folder holds trials t with t mod {} = {} only; `flipsweep merge OUT` with "
                           "the folders of all {} shards gives the campaign's table\n",
                           shard_name(config->shard_index, config->shard_count), config->shard_count,
                           config->shard_index, config->shard_count);
    notes += incompleteness_report(count_points(*config, records));
  }
  const auto points = summarize(records, clean);
  write_file_atomically(folder + "/summary.csv", summary_csv(points));
  std::string table = summary_markdown(title, points);
  if (!notes.empty()) table += "\n```\n" + notes + "```\n";
  write_file_atomically(folder + "/summary.md", table);
  return table;
}

}  // namespace

void run_campaign(const CampaignConfig& config, const CampaignOptions& options) {
  validate_campaign_config(config);
  arm_kill_switch();
  // A shard's rows go to their own folder: results/<name>/shard-<i>-of-<n> unless --out.
  const std::string default_out =
      "results/" + config.name +
      (config.shard_count > 1
           ? "/shard-" + std::to_string(config.shard_index + 1) + "-of-" + std::to_string(config.shard_count)
           : "");
  const std::string out_dir = options.out_dir.empty() ? default_out : options.out_dir;
  const std::string trials_path = out_dir + "/trials.csv";
  const std::string faults_path = out_dir + "/faults.csv";

  // Everything that can be wrong with the inputs fails here, before the first trial.
  std::vector<PreparedModel> models;
  for (const auto& entry : config.models) models.push_back(prepare_model(config, entry));
  const bool segmentation = config.task == Task::Segmentation;
  std::unique_ptr<data::SegmentationDataset> segmentation_data;
  std::unique_ptr<data::ImageDataset> classification_data;
  if (segmentation) {
    segmentation_data = open_segmentation_data(config.dataset, config.source);
  } else {
    if (config.dataset.format == "tensor-cache" && config.dataset.paths.size() == 1 &&
        data::is_segmentation_cache(config.dataset.paths[0]))
      throw Error(config.source + ": field 'task': " + config.dataset.paths[0] +
                  " holds segmentation masks; set task: segmentation");
    classification_data = open_configured_dataset(config.dataset, config.source);
  }
  const data::ImageDataset* dataset =
      segmentation ? static_cast<const data::ImageDataset*>(segmentation_data.get()) : classification_data.get();
  const auto image_format = data::preprocessed_format(dataset->format(), config.dataset.preprocess);
  for (const auto& p : models) {
    const Shape& input = p.model->graph.values[static_cast<size_t>(p.model->graph.inputs.at(0))].shape;
    const Shape image{1, image_format.channels, image_format.height, image_format.width};
    if (input != image)
      throw Error(config.source + ": model '" + p.entry->name + "' expects input " + shape_to_string(input) +
                  " per image, the dataset gives " + shape_to_string(image) + " after preprocessing");
    if (segmentation) {
      // One class score per mask pixel: [1, classes, H, W] with the masks' H × W (a resize or pad
      // in the preprocessing would need the model to undo it).
      const Shape& output = p.model->graph.values[static_cast<size_t>(p.model->graph.outputs.at(0))].shape;
      const data::ImageFormat masks = dataset->format();
      if (output.size() != 4 || output[2] != masks.height || output[3] != masks.width || output[1] < 1 ||
          output[1] > 255)
        throw Error(config.source + ": model '" + p.entry->name + "' outputs " + shape_to_string(output) +
                    " per image; segmentation needs [1, classes (1..255), " + std::to_string(masks.height) + ", " +
                    std::to_string(masks.width) + "], one score per class and mask pixel");
    }
  }
  for (const auto& p : models)
    for (const auto& format : config.formats)
      if (config.faults.model == FaultModel::ExactFlips) {
        bool found = false;
        for (int id : p.targets) found = found || p.model->graph.values[static_cast<size_t>(id)].name == config.faults.exact_tensor;
        if (!found)
          throw Error(config.source + ": field 'faults.tensor': '" + config.faults.exact_tensor + "' is not a fault target of " +
                      p.entry->path + " (" + format.name() + ")");
      }

  // The first model's backend is made before anything is written, so a backend that cannot be
  // had (--backend cuda without a device) fails before work, and config.yaml records what ran.
  BackendOptions backend_options;
  backend_options.batch_size = config.batch_size;
  backend_options.threads = config.threads;
  backend_options.trials_in_flight = config.trials_in_flight;
  backend_options.device = config.device;
  backend_options.tf32 = config.tf32;
  backend_options.shortcuts = config.shortcuts;
  std::string backend_note;
  std::unique_ptr<Backend> first_backend =
      make_backend(config.backend, *models.front().model, backend_options, CpuKernels::Fast, &backend_note);
  {
    std::error_code error;
    fsys::create_directories(out_dir, error);
    if (error) throw Error(out_dir + ": cannot create the output folder: " + error.message());
  }
  // What decides the rows besides the config's own fields: the model files' content and the data.
  CampaignConfig resolved_config = config;
  for (size_t i = 0; i < models.size(); ++i) resolved_config.models[i].content_sha256 = sha256_of_file(config.models[i].path);
  resolved_config.dataset_images = dataset->size();
  resolved_config.dataset_fingerprint = dataset_fingerprint(config.dataset.paths);
  resolved_config.fault_maps = kFaultMapScheme;
  resolved_config.save_faults = config.save_faults || options.save_faults;
  const bool save_faults = resolved_config.save_faults;
  resolved_config.backend = config.backend != BackendKind::Auto ? config.backend
                            : backend_note.empty()              ? BackendKind::Cuda
                                                                : BackendKind::Cpu;
  resolved_config.trials_in_flight = first_backend->trial_slots();

  // A resumed campaign must be the same campaign: refuse anything that would change the rows
  // already recorded (more BERs, trials, formats or models only add rows). config.yaml then
  // describes every recorded row: the recorded campaign extended by this run's additions.
  CampaignConfig written_config = resolved_config;
  std::vector<CleanRecord> clean_records;
  const std::string recorded_config_path = out_dir + "/config.yaml";
  if (options.resume && fsys::exists(recorded_config_path) && fsys::exists(trials_path)) {
    CampaignConfig recorded;
    try {
      recorded = load_campaign_config(recorded_config_path, ConfigUse::Recorded);
    } catch (const Error& e) {
      throw Error(std::string("cannot resume: ") + e.what());
    }
    const std::vector<std::string> differences = campaign_differences(recorded, resolved_config, true);
    if (!differences.empty()) {
      std::string message = out_dir + ": cannot resume: this run differs from the recorded campaign (" +
                            recorded_config_path + ") in what decides its results:";
      for (const std::string& d : differences) message += "\n  " + d;
      message += "\nrun it with the recorded settings, or as a new campaign with another --out";
      throw Error(message);
    }
    written_config = union_of(recorded, resolved_config);
  }
  if (options.resume && fsys::exists(out_dir + "/clean.csv")) clean_records = read_clean_csv(out_dir + "/clean.csv");

  std::set<std::string> done;
  std::vector<TrialRecord> records;
  if (fsys::exists(trials_path)) {
    if (!options.resume)
      throw Error(trials_path + " already exists: pass --resume to finish that campaign, or choose another --out");
    records = read_trials_csv(trials_path);
    for (const TrialRecord& r : records) {
      // Rows without the images column come from a flipsweep whose fault maps were drawn
      // differently (before the dyadic bands): the same trial numbers had other faults.
      if (r.images < 0)
        throw Error(out_dir + ": cannot resume: " + trials_path +
                    " was written by an older flipsweep (no images column) whose fault maps differ from this "
                    "one's; start a new campaign with another --out");
      if (r.images != dataset->size())
        throw Error(out_dir + ": cannot resume: " + trials_path + " holds trials scored on " + std::to_string(r.images) +
                    " images, this run would score " + std::to_string(dataset->size()) +
                    " (dataset or --limit changed); use another --out for a new campaign");
    }
    for (const auto& r : records) done.insert(trial_key(r.config, r.ber, r.trial));
    // Rewrite the file without a possibly half-written last line before appending.
    for (const TrialRecord& r : records)
      if (r.task != config.task)
        throw Error(out_dir + ": cannot resume: " + trials_path + " holds " +
                    (r.task == Task::Segmentation ? "segmentation" : "classification") + " trials, the config's task is " +
                    (segmentation ? "segmentation" : "classification"));
    std::string content = trials_csv_header(config.task) + "\n";
    for (const auto& r : records) content += trials_csv_row(r) + "\n";
    write_file_atomically(trials_path, content);
  }
  if (fsys::exists(faults_path)) {
    if (!options.resume)
      throw Error(faults_path + " already exists: pass --resume to finish that campaign, or choose another --out");
    // Keep only the faults of recorded trials: a trial cut off before its row was written is run
    // again and writes its faults again.
    keep_lines_of_recorded_trials(faults_path, kFaultsHeader, done);
  }
  if (fsys::exists(out_dir + "/class_iou.csv") && !options.resume)
    throw Error(out_dir + "/class_iou.csv already exists: pass --resume to finish that campaign, or choose another --out");
  kill_point("config");
  write_file_atomically(recorded_config_path, campaign_config_yaml(written_config));
  AppendFile trials_file(trials_path, trials_csv_header(config.task));
  // Segmentation: each trial's per-class IoU, one line per trial, written before its row.
  const std::string class_iou_path = out_dir + "/class_iou.csv";
  const std::string class_iou_header = "config,ber,trial,class_iou";
  if (segmentation && fsys::exists(class_iou_path)) keep_lines_of_recorded_trials(class_iou_path, class_iou_header, done);
  std::unique_ptr<AppendFile> class_iou_file;
  if (segmentation) class_iou_file = std::make_unique<AppendFile>(class_iou_path, class_iou_header);
  std::unique_ptr<AppendFile> faults_file;
  if (save_faults) faults_file = std::make_unique<AppendFile>(faults_path, kFaultsHeader);

  int64_t trials_in_share = 0;  // trial numbers of this shard (all of them unsharded)
  for (int64_t t = 0; t < config.trials; ++t) trials_in_share += trial_in_shard(t, config) ? 1 : 0;
  const int64_t total_trials =
      static_cast<int64_t>(models.size() * config.formats.size() * config.bers.size()) * trials_in_share;
  Progress progress("campaign " + config.name, total_trials, "trials", options.progress);
  int64_t trials_seen = 0;
  double fault_seconds = 0.0, pass_seconds = 0.0;  // this run's trials: O(faults) work vs activation passes
  int64_t image_trials = 0;
  // Trials of this campaign already recorded (--resume).
  std::set<std::string> planned_configs;
  for (const auto& p : models)
    for (const auto& format : config.formats) planned_configs.insert(p.entry->name + "/" + format.name());
  int64_t already_done = 0;
  for (const auto& r : records)
    already_done += planned_configs.count(r.config) && r.trial < config.trials && trial_in_shard(r.trial, config) &&
                    std::find(config.bers.begin(), config.bers.end(), r.ber) != config.bers.end();
  int64_t recorded_now = 0;
  const auto stop_if_interrupted = [&] {
    if (!g_interrupted) return;
    progress.finish();
    throw CampaignInterrupted(fmt::format(
        "interrupted: {} of {} trials recorded in {} ({} in this run); to finish the campaign run the same "
        "command with --resume",
        already_done + recorded_now, total_trials, trials_path, recorded_now));
  };
  const SigintGuard sigint_guard;
  const int threads = config.threads > 0 ? config.threads : omp_get_max_threads();
  std::cout << "campaign " << config.name << ": " << models.size() << " model(s) × " << config.formats.size()
            << " format(s) × " << config.bers.size() << " BER(s) × " << config.trials << " trials on " << dataset->size()
            << " images of " << dataset->name() << ", " << threads << " threads → " << out_dir << "\n";
  if (config.shard_count > 1)
    std::cout << "shard " << shard_name(config.shard_index, config.shard_count) << ": trials t with t mod "
              << config.shard_count << " = " << config.shard_index << ", " << total_trials << " of the campaign's "
              << total_trials / std::max<int64_t>(trials_in_share, 1) * config.trials << "\n";
  if (!backend_note.empty()) std::cout << "note: " << backend_note << "\n";
  if (options.resume && already_done > 0)
    std::cout << "resuming: " << already_done << " of " << total_trials << " trials already done in " << trials_path
              << ", " << total_trials - already_done << " to go\n";
  std::cout << "backend " << first_backend->description() << ", " << first_backend->trial_slots()
            << " trial(s) in flight\n"
            << std::flush;

  // A pending trial: its BER and number, and its position in the whole campaign (for progress).
  struct PendingTrial {
    double ber = 0.0;
    int64_t trial = 0;
    int64_t position = 0;
  };
  // What a trial of a block keeps between its injection and its row. A trial that takes a
  // shortcut has no slot; its outcome is the clean one, or shared with the trial it repeats
  // (possibly one of the same block, filled in once the block is evaluated).
  struct SlotTrial {
    TrialFaults faults;
    WeightChanges undo;
    int64_t nonfinite = 0;
    double seconds = 0.0;
    int slot = -1;
    std::string shortcut = "none";
    std::shared_ptr<TrialOutcome> outcome;
  };
  // Per trial number of the current configuration: the signature last evaluated in this run and
  // its outcome. Records are kept within a budget (a record costs its signature's entries plus
  // kRecordCost); past it a trial simply has no record and is evaluated.
  struct LastEvaluated {
    double ber = 0.0;
    Signature signature;
    std::shared_ptr<TrialOutcome> outcome;
  };
  constexpr size_t kSignatureBudget = size_t{4} << 20;  // entries (16 bytes each) kept per configuration
  constexpr size_t kRecordCost = 8;
  int64_t shortcut_clean = 0, shortcut_same = 0, shortcut_prefix = 0, shortcut_all_nan = 0;

  for (size_t model_index = 0; model_index < models.size(); ++model_index) {
    const PreparedModel& p = models[model_index];
    const Model& model = *p.model;
    WeightPreparation preparation(model);
    std::vector<bool> read_by_pass(model.graph.values.size(), false);
    for (int id : preparation.activation_weight_ids()) read_by_pass[static_cast<size_t>(id)] = true;
    // The resolved kind, so every model runs where the first one did.
    std::unique_ptr<Backend> backend =
        model_index == 0 ? std::move(first_backend) : make_backend(resolved_config.backend, model, backend_options);
    const int slot_count = std::max(1, backend->trial_slots());
    const std::string backend_description = backend->description();
    EvalOptions eval_options;
    eval_options.batch_size = config.batch_size;
    eval_options.progress = false;

    for (const auto& format : config.formats) {
      const std::string config_name = p.entry->name + "/" + format.name();
      FaultInjector injector(model, p.targets, format);
      backend->set_storage_format(format);  // the words in load_weights' changes are in this format
      FaultSpec spec = config.faults;
      spec.bits = parse_bit_selection(config.bits, format);

      // Trials not yet recorded (this shard's share), in campaign order.
      std::vector<PendingTrial> pending;
      for (double ber : config.bers)
        for (int64_t trial = 0; trial < config.trials; ++trial) {
          if (!trial_in_shard(trial, config)) continue;
          ++trials_seen;
          if (!done.count(trial_key(config_name, ber, trial))) pending.push_back({ber, trial, trials_seen});
        }
      const auto recorded_clean = std::find_if(clean_records.begin(), clean_records.end(),
                                                [&](const CleanRecord& c) { return c.config == config_name; });
      if (pending.empty() && recorded_clean != clean_records.end()) {
        progress.advance(trials_seen);
        continue;  // finished in an earlier run: no clean pass needed
      }

      stop_if_interrupted();
      // The clean model in this storage format, loaded whole into every slot.
      WeightSet weights = preparation.prepare_clean();
      injector.apply_clean_encoding(weights);
      WeightChanges encoded;
      for (int id : p.targets) {
        ValueChange whole;
        whole.value = id;
        whole.all = true;
        encoded.push_back(whole);
      }
      preparation.propagate(weights, encoded);
      for (int k = 0; k < slot_count; ++k) backend->load_weights(k, weights);
      // The fault-free result: top-1 predictions per image, or classes per pixel, to count what
      // trials change against.
      EvalResult clean;
      std::vector<uint8_t> clean_pixels;
      CleanRecord clean_record;
      clean_record.task = config.task;
      clean_record.config = config_name;
      clean_record.format = format.name();
      clean_record.saf = p.entry->saf;
      clean_record.backend = backend_description;
      TrialOutcome clean_result;
      if (segmentation) {
        SegmentationEvalResult r = evaluate_segmentation_block(*backend, {0}, *segmentation_data, config.dataset.preprocess,
                                                               eval_options, nullptr, true)
                                       .front();
        clean_result = outcome_of_segmentation(r);
        clean_pixels = std::move(r.predictions);
        clean_record.pixel_accuracy = clean_result.segmentation.pixel_accuracy;
        clean_record.mean_iou = clean_result.segmentation.mean_iou;
        clean_record.fw_iou = clean_result.segmentation.frequency_weighted_iou;
        clean_record.images = r.images;
      } else {
        clean = evaluate(*backend, 0, *dataset, config.dataset.preprocess, eval_options);
        clean_result = outcome_of(clean, clean);
        clean_record.top1 = clean.top1_percent();
        clean_record.top5 = clean.top5_percent();
        clean_record.images = clean.images;
      }
      if (recorded_clean != clean_records.end()) *recorded_clean = clean_record;
      else clean_records.push_back(clean_record);
      kill_point("clean");
      write_file_atomically(out_dir + "/clean.csv", clean_csv(clean_records));

      // For the shortcuts: the clean effective weights the activation pass reads, its clean
      // outcome, and what each trial number last evaluated.
      std::vector<std::vector<float>> clean_read(model.graph.values.size());
      if (config.shortcuts)
        for (size_t id = 0; id < read_by_pass.size(); ++id)
          if (read_by_pass[id]) clean_read[id] = weights.tensors[id].data;
      const auto clean_outcome = std::make_shared<TrialOutcome>(clean_result);
      std::unordered_map<int64_t, LastEvaluated> last;
      size_t signature_entries = 0;

      // The pending trials are cut into blocks of at most slot_count activation passes (trials
      // that take a shortcut need none). Rows are written when a block ends; a run of shortcuts
      // ends its block after this many.
      const size_t block_limit = static_cast<size_t>(slot_count) + 256;

      for (size_t next = 0; next < pending.size();) {
        const size_t block_first = next;
        std::vector<SlotTrial> block;
        std::vector<int> slots;
        // Each trial into its own slot; the host weights go back to clean after each.
        while (next < pending.size() && slots.size() < static_cast<size_t>(slot_count) && block.size() < block_limit) {
          const PendingTrial& t = pending[next++];
          block.emplace_back();
          SlotTrial& st = block.back();
          const auto start = std::chrono::steady_clock::now();
          spec.rate = t.ber;
          st.faults = injector.inject(weights, config.seed, static_cast<uint32_t>(t.trial), spec);
          kill_point("inject");
          const WeightChanges changes = preparation.propagate(weights, st.faults.parameter_changes);
          st.nonfinite = count_nonfinite(weights, changes, read_by_pass);
          bool evaluate_trial = true;
          if (config.shortcuts) {
            Signature signature = trial_signature(weights, clean_read, changes, read_by_pass);
            const auto found = last.find(t.trial);
            if (signature.empty()) {
              st.shortcut = "clean";
              st.outcome = clean_outcome;
              evaluate_trial = false;
            } else if (found != last.end() && found->second.signature == signature) {
              st.shortcut = "same-as-ber:" + format_number(found->second.ber);
              st.outcome = found->second.outcome;
              evaluate_trial = false;
            } else {
              st.outcome = std::make_shared<TrialOutcome>();
              if (found != last.end()) {
                signature_entries -= found->second.signature.size() + kRecordCost;
                last.erase(found);
              }
              if (signature_entries + signature.size() + kRecordCost <= kSignatureBudget) {
                signature_entries += signature.size() + kRecordCost;
                last[t.trial] = LastEvaluated{t.ber, std::move(signature), st.outcome};
              }
            }
          }
          if (evaluate_trial) {
            st.slot = static_cast<int>(slots.size());
            slots.push_back(st.slot);
            backend->load_weights(st.slot, weights, &changes);
          }
          injector.restore(weights, st.faults);
          st.undo = preparation.propagate(weights, st.faults.parameter_changes);
          st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        }

        // The block's fault corrections (trial-batched backends), then one pass over the dataset.
        double prepare_share = 0.0, eval_share = 0.0;
        if (!slots.empty()) {
          const auto prepare_start = std::chrono::steady_clock::now();
          backend->prepare_block(slots);
          prepare_share = std::chrono::duration<double>(std::chrono::steady_clock::now() - prepare_start).count() /
                          static_cast<double>(slots.size());
          const auto eval_start = std::chrono::steady_clock::now();
          std::vector<TrialOutcome> outcomes;
          if (segmentation) {
            for (const SegmentationEvalResult& r : evaluate_segmentation_block(
                     *backend, slots, *segmentation_data, config.dataset.preprocess, eval_options, &clean_pixels))
              outcomes.push_back(outcome_of_segmentation(r));
          } else {
            for (const EvalResult& r : evaluate_block(*backend, slots, *dataset, config.dataset.preprocess, eval_options))
              outcomes.push_back(outcome_of(r, clean));
          }
          eval_share = std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_start).count() /
                       static_cast<double>(slots.size());
          for (SlotTrial& st : block) {
            if (st.slot < 0) continue;
            const TrialOutcome& o = outcomes[static_cast<size_t>(st.slot)];
            if (st.outcome) *st.outcome = o;  // shared with later trials that repeat these weights
            else st.outcome = std::make_shared<TrialOutcome>(o);
            image_trials += o.images;
          }
        }

        for (size_t k = 0; k < block.size(); ++k) {
          const PendingTrial& t = pending[block_first + k];
          SlotTrial& st = block[k];
          const TrialOutcome& r = *st.outcome;
          double restore_seconds = 0.0;
          if (st.slot >= 0) {
            const std::string taken = backend->shortcut_taken(st.slot);
            if (!taken.empty()) st.shortcut = taken;
            shortcut_prefix += taken.rfind("clean-prefix:", 0) == 0;
            shortcut_all_nan += taken.find("all-nan") != std::string::npos;
            // The slot back to clean, the same O(faults) way the trial was applied.
            const auto restore_start = std::chrono::steady_clock::now();
            backend->load_weights(st.slot, weights, &st.undo);
            restore_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - restore_start).count();
          }

          TrialRecord record;
          record.config = config_name;
          record.format = format.name();
          record.saf = p.entry->saf;
          record.ber = t.ber;
          record.trial = t.trial;
          record.task = config.task;
          if (segmentation) {
            const auto share = [&](int64_t n) {
              return r.pixels ? 100.0 * static_cast<double>(n) / static_cast<double>(r.pixels) : 0.0;
            };
            record.pixel_accuracy = r.segmentation.pixel_accuracy;
            record.mean_iou = r.segmentation.mean_iou;
            record.fw_iou = r.segmentation.frequency_weighted_iou;
            record.sdc = share(r.differing_pixels);
            record.nan_pixels = share(r.nan_pixels);
            record.all_nan = r.pixels > 0 && r.nan_pixels == r.pixels;
          } else {
            // As EvalResult::top1_percent() and top5_percent() compute them.
            record.top1 = r.images ? 100.0 * static_cast<double>(r.top1_correct) / static_cast<double>(r.images) : 0.0;
            record.top5 = r.images ? 100.0 * static_cast<double>(r.top5_correct) / static_cast<double>(r.images) : 0.0;
            record.sdc = r.images ? 100.0 * static_cast<double>(r.differing) / static_cast<double>(r.images) : 0.0;
            record.all_nan = r.images > 0 && r.all_nan_images == r.images;
          }
          record.flips = st.faults.total_faults;
          record.nonfinite = st.nonfinite;
          record.shortcut = st.shortcut;
          record.images = r.images;
          for (size_t i = 0; i < st.faults.faults_per_target.size(); ++i)
            if (st.faults.faults_per_target[i] > 0)
              record.flips_per_tensor += (record.flips_per_tensor.empty() ? "" : ";") +
                                         model.graph.values[static_cast<size_t>(p.targets[i])].name + ":" +
                                         std::to_string(st.faults.faults_per_target[i]);
          if (st.slot >= 0) {
            record.seconds = st.seconds + prepare_share + eval_share + restore_seconds;
            fault_seconds += st.seconds + prepare_share + restore_seconds;
            pass_seconds += eval_share;
          } else {
            record.seconds = st.seconds;
            fault_seconds += st.seconds;
            (st.shortcut == "clean" ? shortcut_clean : shortcut_same) += 1;
          }

          if (faults_file)
            for (const auto& f : st.faults.records) {
              const std::string line = config_name + "," + format_number(t.ber) + "," + std::to_string(t.trial) + "," +
                                       model.graph.values[static_cast<size_t>(f.value)].name + "," +
                                       std::to_string(f.element) + "," + std::to_string(f.bit) + "," +
                                       fault_record_kind_name(f.kind);
              if (kill_due("faults-half")) {
                faults_file->partial(line.substr(0, line.size() / 2));
                die_now();
              }
              faults_file->line(line);
            }
          if (class_iou_file)
            class_iou_file->line(config_name + "," + format_number(t.ber) + "," + std::to_string(t.trial) + "," +
                                 class_iou_text(r.segmentation.class_iou));
          const std::string row = trials_csv_row(record);
          kill_point("row");
          if (kill_due("row-half")) {
            trials_file.partial(row.substr(0, row.size() / 2));
            die_now();
          }
          trials_file.line(row);
          records.push_back(as_recorded(record));
          ++recorded_now;
        }
        progress.advance(pending[next - 1].position);
        stop_if_interrupted();
      }
      progress.advance(trials_seen);
    }
  }
  progress.finish();

  // Campaign order (model, format, BER, trial) whatever order resumed runs appended rows in, so a
  // resumed campaign summarises exactly like an uninterrupted one.
  kill_point("summary");
  const std::string table = write_summaries(out_dir, &written_config, config.name, records, clean_records);
  plot_campaign(out_dir);
  std::cout << "\n" << table << "\nresults in " << out_dir << "/ (trials.csv, summary.csv, summary.md"
            << (save_faults ? ", faults.csv" : "") << ")\n";
  if (image_trials > 0) {
    // What the faults cost next to the activation passes (sampling, encoding, weight preparation,
    // slot patches, correction lists): the O(faults) part should stay a small share.
    const double total = fault_seconds + pass_seconds;
    std::cout << fmt::format("time: {:.2f} s in activation passes ({:.0f} image-trials/s), {:.3f} s on faults "
                             "(inject, prepare, restore: {:.2f} % of {:.2f} s)\n",
                             pass_seconds, pass_seconds > 0 ? static_cast<double>(image_trials) / pass_seconds : 0.0,
                             fault_seconds, total > 0 ? 100.0 * fault_seconds / total : 0.0, total);
  }
  if (shortcut_clean + shortcut_same > 0)
    std::cout << fmt::format("shortcuts: {} trial(s) without an activation pass ({} with the clean weights, {} with "
                             "the same trial's at an earlier BER); --no-shortcuts runs them all\n",
                             shortcut_clean + shortcut_same, shortcut_clean, shortcut_same);
  if (shortcut_prefix + shortcut_all_nan > 0)
    std::cout << fmt::format("shortcuts: {} trial(s) took the layers before their first changed one from the clean "
                             "computation their block shared (clean-prefix), {} skipped the layers after all "
                             "activations of an image tile were NaN (all-nan)\n",
                             shortcut_prefix, shortcut_all_nan);
}

std::string report_campaign(const std::string& folder) {
  const std::string trials_path = folder + "/trials.csv";
  if (!fsys::exists(trials_path)) throw Error(folder + ": no trials.csv (not a campaign folder?)");
  const auto records = read_trials_csv(trials_path);
  const std::vector<CleanRecord> clean =
      fsys::exists(folder + "/clean.csv") ? read_clean_csv(folder + "/clean.csv") : std::vector<CleanRecord>{};
  // The table is titled with the campaign's name, as `flipsweep run` titles it; the config also
  // says how many trials each point should have.
  std::string title = fsys::path(folder).filename().string();
  std::unique_ptr<CampaignConfig> config;
  if (fsys::exists(folder + "/config.yaml")) {
    try {
      config = std::make_unique<CampaignConfig>(load_campaign_config(folder + "/config.yaml", ConfigUse::Recorded));
      title = config->name;
    } catch (const Error& e) {
      std::cerr << "flipsweep: note: " << e.what() << "; the table cannot say whether the campaign is complete\n";
    }
  }
  const std::string table = write_summaries(folder, config.get(), title, records, clean);
  plot_campaign(folder);
  return table;
}

void plot_campaign(const std::string& folder) {
  const std::string script = std::string(FLIPSWEEP_SOURCE_DIR) + "/python/plot_results.py";
  if (!fsys::exists("/usr/bin/python3") || !fsys::exists(script)) {
    std::cerr << "flipsweep: no plot: needs /usr/bin/python3 and " << script << "\n";
    return;
  }
  // Single-quoted for the shell; a path containing a quote is refused rather than escaped.
  if (folder.find('\'') != std::string::npos || script.find('\'') != std::string::npos) {
    std::cerr << "flipsweep: no plot: the folder name contains a quote\n";
    return;
  }
  const std::string command = "/usr/bin/python3 '" + script + "' '" + folder + "'";
  const int status = std::system(command.c_str());
  // plot_results.py's exit status: 3 matplotlib missing, 4 nothing to plot (it said why).
  const int code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 0 || code == 4) return;
  if (code == 3) std::cerr << "flipsweep: no plot made (python3-matplotlib installs matplotlib)\n";
  else std::cerr << "flipsweep: no plot made (see the message above)\n";
}

}  // namespace flipsweep
