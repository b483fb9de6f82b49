#pragma once
// A fault campaign: for every configuration (model × storage format), every BER and every
// trial, inject the trial's faults into the stored weights, prepare effective weights in
// O(faults), run the activation pass over the dataset and record what happened. Trials run in
// blocks of up to the backend's trial slots: each trial of a block is loaded into its own slot
// and the dataset is streamed once for the whole block. Results are
// appended trial by trial, so an interrupted campaign loses nothing and `resume` finishes it
// with the same numbers an uninterrupted run gives.
#include <cstdint>
#include <string>
#include <vector>

#include "flipsweep/backend/backend_factory.h"
#include "flipsweep/campaign/results.h"
#include "flipsweep/core/storage_formats.h"
#include "flipsweep/data/dataset.h"
#include "flipsweep/faults/fault_injector.h"
#include "flipsweep/faults/targets.h"

namespace flipsweep {

struct CampaignModel {
  std::string name;        // short label used in results ("tanh")
  std::string path;        // ONNX file
  std::string saf = "none";  // the model's SAF: in its graph, or applied by flipsweep (apply_saf)
  bool apply_saf = false;
  // SHA-256 of the model file, filled in by run_campaign and recorded in config.yaml, so that a
  // resume or a merge can tell a changed model from a moved one. Empty: not known.
  std::string content_sha256;
};

struct CampaignConfig {
  std::string source;  // the YAML file, for messages
  std::string name;
  // classification (top-1/top-5) or segmentation (per-pixel metrics; the dataset must hold masks:
  // a tensor cache of version 2).
  Task task = Task::Classification;
  uint64_t seed = 1;
  int64_t trials = 10;
  std::vector<double> bers;
  std::vector<core::StorageFormat> formats;
  std::vector<CampaignModel> models;
  data::DatasetSpec dataset;
  TargetSpec targets;
  std::string bits = "all";  // bit selection within a stored word (parse_bit_selection)
  FaultSpec faults;          // model and exact-fault fields; rates come from `bers`
  int64_t batch_size = 256;
  int threads = 0;
  // Where trials run. None of these changes a result; a resumed campaign may change them.
  BackendKind backend = BackendKind::Auto;
  int device = 0;            // CUDA device index
  bool tf32 = false;         // CUDA: TF32 in the dense library calls
  int trials_in_flight = 0;  // trials evaluated together (one dataset pass per block); 0 = backend default
  // Reuse a result instead of an activation pass when a trial's effective weights are the clean
  // ones, or those of the same trial at a BER evaluated earlier in the run (`shortcut` column).
  bool shortcuts = true;
  // This run's share of the trials (--shard i/n): trial t belongs to shard t mod shard_count
  // (shard_index is 0-based; written 1-based, "2/4"). 0 of 1: the whole campaign.
  int shard_index = 0;
  int shard_count = 1;
  // What the dataset was, filled in by run_campaign and recorded in config.yaml: the number of
  // images the trials see (after the limit) and a fingerprint of the files (dataset_fingerprint).
  int64_t dataset_images = -1;
  std::string dataset_fingerprint;
  // The fault-map scheme the rows were drawn with (kFaultMapScheme; empty in folders written
  // before the scheme was recorded), and whether every fault is written to faults.csv (config
  // field save_faults, or --save-faults). Both recorded in config.yaml; a resume must keep them.
  std::string fault_maps;
  bool save_faults = false;
};

// The fault-map scheme of this flipsweep (docs/CAMPAIGNS.md, "Fault maps, exactly").
inline constexpr const char* kFaultMapScheme = "dyadic-bands-1";

enum class ConfigUse {
  Run,       // a config to run: model files must exist
  Recorded,  // an output folder's config.yaml (resume, merge, report): files need not exist here
};

// Parses and validates a campaign file; every problem is an Error naming the file and field,
// raised before any work starts.
CampaignConfig load_campaign_config(const std::string& path, ConfigUse use = ConfigUse::Run);

// Checks values that the command line may have overridden (BER range, trials, ...).
void validate_campaign_config(const CampaignConfig& config);

// The resolved config as YAML (what results/<name>/config.yaml holds). The settings that never
// change a result (backend, device, tf32, trials_in_flight, shortcuts) come last, one top-level
// line each.
std::string campaign_config_yaml(const CampaignConfig& config);


struct CampaignOptions {
  std::string out_dir;  // default results/<name>
  bool resume = false;
  bool save_faults = false;
  bool progress = true;
};

// Thrown by run_campaign after SIGINT (Ctrl-C): the trials of the block in progress are finished
// and recorded, then the campaign stops; what() says how many trials are recorded and how to
// continue (--resume). A second SIGINT ends the process at once.
class CampaignInterrupted : public Error {
 public:
  explicit CampaignInterrupted(const std::string& message) : Error(message) {}
};

// Runs the campaign and writes config.yaml, clean.csv, trials.csv (appended per trial),
// faults.csv (with save_faults), summary.csv and summary.md into the output folder. Prints the
// summary table to stdout.
void run_campaign(const CampaignConfig& config, const CampaignOptions& options);

// Rebuilds summary.csv and summary.md of a campaign folder from trials.csv and clean.csv alone,
// prints the table and makes the plot. Returns the table.
std::string report_campaign(const std::string& folder);

// Runs python/plot_results.py on a campaign folder when /usr/bin/python3 and matplotlib are
// there; otherwise prints why no plot was made. Never fails the campaign.
void plot_campaign(const std::string& folder);

}  // namespace flipsweep
