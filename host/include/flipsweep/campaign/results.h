#pragma once
// Campaign result files: one CSV row per trial (appended as each trial ends), the clean accuracy
// of each configuration, and the summaries rebuilt from those rows alone.
#include <cstdint>
#include <string>
#include <vector>

namespace flipsweep {

// What a campaign measures: top-1/top-5 of a classifier, or per-pixel metrics of a segmenter
// (eval/segmentation_metrics.h). The files' columns follow the task.
enum class Task { Classification, Segmentation };

struct TrialRecord {
  Task task = Task::Classification;
  std::string config;  // "<model>/<format>"
  std::string format;
  std::string saf;
  double ber = 0.0;
  int64_t trial = 0;
  double top1 = 0.0;  // percent (classification)
  double top5 = 0.0;  // percent (classification)
  // Segmentation, percent: pixel accuracy, mean IoU, frequency-weighted IoU, pixels whose logits
  // were all NaN.
  double pixel_accuracy = 0.0, mean_iou = 0.0, fw_iou = 0.0, nan_pixels = 0.0;
  // Percent of images (segmentation: pixels) whose prediction differs from the fault-free
  // model's: silent data corruption, or error propagation.
  double sdc = 0.0;
  int64_t flips = 0;  // faults injected (flips, or stuck cells)
  int64_t nonfinite = 0;  // non-finite effective weights
  bool all_nan = false;   // every logit of every image (and pixel) was NaN
  double seconds = 0.0;
  std::string flips_per_tensor;  // "name:count;name:count" for tensors with faults
  // The shortcut the trial took: "none" (evaluated in full), "clean" (its effective weights are
  // the clean ones), "same-as-ber:<ber>" (the same trial's effective weights at that BER,
  // evaluated earlier in the same run), or what the pass skipped: "clean-prefix:<node>" (evaluated
  // from that node on, the layers before taken from the clean computation its block shared) and/or
  // "all-nan" (a tile was all NaN after a layer from which NaN reaches every output), joined by
  // ';'. Never changes the other columns.
  std::string shortcut = "none";
  int64_t images = -1;  // images the trial was scored on; -1 in files from before the column
};

struct CleanRecord {
  std::string config, format, saf;
  double top1 = 0.0, top5 = 0.0;  // classification
  int64_t images = 0;
  std::string backend;  // Backend::description() of what evaluated it; empty in files from before the column
  Task task = Task::Classification;
  double pixel_accuracy = 0.0, mean_iou = 0.0, fw_iou = 0.0;  // segmentation
};

struct PointSummary {
  Task task = Task::Classification;
  std::string config, format, saf;
  double ber = 0.0;
  int64_t trials = 0;
  double clean_top1 = 0.0;  // the primary metric of the fault-free model (top-1, or mean IoU)
  // The primary metric over trials (top-1 %, or mean IoU % for segmentation); std and ci95 are
  // NaN for a point with one trial (written as empty fields / omitted).
  double mean = 0.0, std = 0.0, ci95 = 0.0, median = 0.0, min = 0.0, max = 0.0;
  double top5_mean = 0.0, sdc_mean = 0.0, flips_mean = 0.0, all_nan_share = 0.0;
  double pixel_accuracy_mean = 0.0, fw_iou_mean = 0.0, nan_pixels_mean = 0.0;  // segmentation
};

// Shortest decimal that reads back as the same double ("1e-05", "0.25").
std::string format_number(double value);

std::string trials_csv_header(Task task = Task::Classification);
std::string trials_csv_row(const TrialRecord& r);
// The record as trials.csv holds it (numbers rounded as written): summaries are computed from
// these, so a resumed campaign, which reads earlier trials back, summarises identically.
TrialRecord as_recorded(const TrialRecord& record);
// Reads a trials.csv written by flipsweep; Error naming file and line for anything malformed.
// Files written before the `shortcut` column are read with shortcut "none", before the `images`
// column with images -1.
std::vector<TrialRecord> read_trials_csv(const std::string& path);

// clean.csv: config,format,saf,top1,top5,images,backend (the backend field CSV-quoted when it holds
// a comma). read_clean_csv also reads files written before the backend column.
std::string clean_csv(const std::vector<CleanRecord>& records);
std::vector<CleanRecord> read_clean_csv(const std::string& path);

// One summary per (config, BER), in the order configurations and BERs first appear.
std::vector<PointSummary> summarize(const std::vector<TrialRecord>& trials, const std::vector<CleanRecord>& clean);
std::string summary_csv(const std::vector<PointSummary>& points);
// Laid out like seed 001's Tables I–III: datatype, SAF, clean top-1, then mean ± std per BER.
std::string summary_markdown(const std::string& title, const std::vector<PointSummary>& points);

// Writes `content` to `path` through a temporary file and a rename: never half-written.
void write_file_atomically(const std::string& path, const std::string& content);

}  // namespace flipsweep
