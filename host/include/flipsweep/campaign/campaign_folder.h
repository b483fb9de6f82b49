#pragma once
// What ties an output folder to the campaign it holds: the settings that decide its rows
// (checked on --resume and by merge), the union of what was asked over several runs, shards
// (a deterministic share of the trials per run), completeness, and merging shards.
#include <cstdint>
#include <string>
#include <vector>

#include "flipsweep/campaign/campaign.h"
#include "flipsweep/campaign/results.h"

namespace flipsweep {

// "i/n" with 1 <= i <= n: sets the 0-based index and the count. Error naming the problem.
void parse_shard(const std::string& text, int* index, int* count);
std::string shard_name(int index, int count);  // 1-based, "2/4"

// Trial t of every (configuration, BER) belongs to shard t mod n: every shard gets a piece of
// every point, a trial's BERs stay together (the same-as-ber shortcut works within a shard), and
// more trials added later keep the old assignment.
inline bool trial_in_shard(int64_t trial, const CampaignConfig& config) {
  return config.shard_count <= 1 || trial % config.shard_count == config.shard_index;
}

// Each setting that decides a trial's row and differs between the recorded campaign and this
// one, as "what: recorded X, now Y". BERs, trial counts, formats and models that are only added
// are not differences (a resume runs what is missing); a model whose file content (SHA-256),
// SAF or apply_saf changed is. Where/how trials run (backend, device, threads, batch size,
// trials in flight, shortcuts) never is. `compare_shard`: also the shard (resume: yes; merge: no).
std::vector<std::string> campaign_differences(const CampaignConfig& recorded, const CampaignConfig& now,
                                              bool compare_shard);

// The recorded campaign extended by what `now` asks for: its BERs, formats and models, then any
// new ones (BERs kept ascending when both lists are), the larger trial count; run settings from
// `now`. What config.yaml says after a resume, so that it describes every recorded row.
CampaignConfig union_of(const CampaignConfig& recorded, const CampaignConfig& now);

// Identifies dataset files without reading them whole (an ImageNet cache is many gigabytes):
// "sha256:" + SHA-256 over, per file, its size as decimal text, a newline, its first and last
// MiB (the whole file when smaller than 2 MiB).
std::string dataset_fingerprint(const std::vector<std::string>& paths);

// Trials expected and recorded at one (configuration, BER) point of a campaign or shard.
struct PointCount {
  std::string config;
  double ber = 0.0;
  int64_t expected = 0, recorded = 0;
};
// For every point of `config` (its shard's share only), in campaign order.
std::vector<PointCount> count_points(const CampaignConfig& config, const std::vector<TrialRecord>& records);
// "" when every point is complete; otherwise one line per incomplete point and a total.
std::string incompleteness_report(const std::vector<PointCount>& counts);

// Campaign order: configurations (models × formats, as listed), then BERs as listed, then trial.
// Rows of configurations or BERs the config does not list go last, in their first-seen order.
void sort_in_campaign_order(std::vector<TrialRecord>& records, const CampaignConfig& config);

// flipsweep merge: checks that `shards` are the shards 1..n of one campaign (same settings per
// campaign_differences and the same BERs, trials, formats and models), each complete, together
// covering every trial once; then writes into `out` config.yaml (without the shard), trials.csv
// in campaign order, clean.csv, faults.csv / class_iou.csv (when every shard has it),
// summary.csv/.md and the plot. Error naming the shard folder for anything missing, duplicated or inconsistent.
void merge_campaign_shards(const std::string& out, const std::vector<std::string>& shards);

}  // namespace flipsweep
