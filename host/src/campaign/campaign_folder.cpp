#include "flipsweep/campaign/campaign_folder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "flipsweep/error.h"
#include "flipsweep/util/sha256.h"

namespace flipsweep {

namespace fsys = std::filesystem;

void parse_shard(const std::string& text, int* index, int* count) {
  const size_t slash = text.find('/');
  char* end = nullptr;
  const long i = slash == std::string::npos ? 0 : std::strtol(text.c_str(), &end, 10);
  const bool first_ok = slash != std::string::npos && end == text.c_str() + slash && slash > 0;
  const char* second = first_ok ? text.c_str() + slash + 1 : nullptr;
  const long n = first_ok ? std::strtol(second, &end, 10) : 0;
  if (!first_ok || end == second || *end != '\0' || n < 1 || n > 1000000 || i < 1 || i > n)
    throw Error("shard '" + text + "' is not i/n with 1 <= i <= n (e.g. 2/4)");
  *index = static_cast<int>(i - 1);
  *count = static_cast<int>(n);
}

std::string shard_name(int index, int count) { return std::to_string(index + 1) + "/" + std::to_string(count); }

namespace {

template <typename T, typename Format>
std::string join(const std::vector<T>& values, Format format) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + format(values[i]);
  return text + "]";
}

std::string join_strings(const std::vector<std::string>& values) {
  return join(values, [](const std::string& s) { return s; });
}

std::string join_floats(const std::vector<float>& values) {
  return join(values, [](float v) { return format_number(v); });
}

std::string roles_text(const TargetSpec& targets) {
  std::vector<std::string> names;
  for (ParameterRole role : targets.roles) names.push_back(parameter_role_name(role));
  return join_strings(names);
}

std::string faults_text(const FaultSpec& faults) {
  std::string text = fault_model_name(faults.model);
  if (faults.model == FaultModel::ExactFlips)
    text += fmt::format(" (tensor {}, bit {}, count {})", faults.exact_tensor, faults.exact_bit, faults.exact_count);
  return text;
}

std::string preprocess_text(const data::Preprocess& p) {
  return fmt::format("mean {}, std {}, pad {}, pad_value {}, resize {}x{}, channels {}", join_floats(p.mean),
                     join_floats(p.std), p.pad, p.pad_value, p.resize_height, p.resize_width, p.channels);
}

bool is_ascending(const std::vector<double>& values) { return std::is_sorted(values.begin(), values.end()); }

}  // namespace

std::vector<std::string> campaign_differences(const CampaignConfig& recorded, const CampaignConfig& now,
                                              bool compare_shard) {
  std::vector<std::string> differences;
  const auto differ = [&](const std::string& what, const std::string& before, const std::string& after) {
    if (before != after) differences.push_back(what + ": recorded " + before + ", now " + after);
  };
  const auto task_name = [](Task t) { return std::string(t == Task::Segmentation ? "segmentation" : "classification"); };
  differ("task", task_name(recorded.task), task_name(now.task));
  // Rows drawn with another fault-map scheme (before dyadic bands: no fault_maps line) are other
  // faults for the same trial numbers; they cannot be mixed with new ones.
  differ("fault maps", recorded.fault_maps.empty() ? "an older scheme (no fault_maps line)" : recorded.fault_maps,
         now.fault_maps.empty() ? "an older scheme (no fault_maps line)" : now.fault_maps);
  differ("faults.csv (--save-faults)", recorded.save_faults ? "on" : "off", now.save_faults ? "on" : "off");
  differ("seed", std::to_string(recorded.seed), std::to_string(now.seed));
  differ("targets.roles", roles_text(recorded.targets), roles_text(now.targets));
  differ("targets.include", join_strings(recorded.targets.include), join_strings(now.targets.include));
  differ("targets.exclude", join_strings(recorded.targets.exclude), join_strings(now.targets.exclude));
  differ("targets.bits", recorded.bits, now.bits);
  differ("faults", faults_text(recorded.faults), faults_text(now.faults));
  differ("dataset.format", recorded.dataset.format, now.dataset.format);
  // Moving the data is not a change; its content is (when both runs recorded a fingerprint).
  if (!recorded.dataset_fingerprint.empty() && !now.dataset_fingerprint.empty())
    differ("dataset files (fingerprint)", recorded.dataset_fingerprint, now.dataset_fingerprint);
  else
    differ("dataset.paths", join_strings(recorded.dataset.paths), join_strings(now.dataset.paths));
  differ("dataset.limit", std::to_string(recorded.dataset.limit), std::to_string(now.dataset.limit));
  if (recorded.dataset_images >= 0 && now.dataset_images >= 0)
    differ("images per trial", std::to_string(recorded.dataset_images), std::to_string(now.dataset_images));
  differ("dataset.preprocess", preprocess_text(recorded.dataset.preprocess), preprocess_text(now.dataset.preprocess));
  for (const CampaignModel& before : recorded.models)
    for (const CampaignModel& after : now.models) {
      if (before.name != after.name) continue;
      const std::string what = "model '" + before.name + "' ";
      differ(what + "saf", before.saf, after.saf);
      differ(what + "apply_saf", before.apply_saf ? "true" : "false", after.apply_saf ? "true" : "false");
      if (!before.content_sha256.empty() && !after.content_sha256.empty()) {
        if (before.content_sha256 != after.content_sha256)
          differences.push_back(what + "file content (sha256): recorded " + before.content_sha256 + " (" + before.path +
                                "), now " + after.content_sha256 + " (" + after.path + ")");
      } else
        differ(what + "path", before.path, after.path);
    }
  if (compare_shard)
    differ("shard", recorded.shard_count > 1 ? shard_name(recorded.shard_index, recorded.shard_count) : "none",
           now.shard_count > 1 ? shard_name(now.shard_index, now.shard_count) : "none");
  return differences;
}

CampaignConfig union_of(const CampaignConfig& recorded, const CampaignConfig& now) {
  CampaignConfig merged = now;
  merged.bers = recorded.bers;
  for (double ber : now.bers)
    if (std::find(merged.bers.begin(), merged.bers.end(), ber) == merged.bers.end()) merged.bers.push_back(ber);
  if (is_ascending(recorded.bers) && is_ascending(now.bers)) std::sort(merged.bers.begin(), merged.bers.end());
  merged.formats = recorded.formats;
  for (const auto& format : now.formats) {
    bool known = false;
    for (const auto& f : merged.formats) known = known || f.name() == format.name();
    if (!known) merged.formats.push_back(format);
  }
  merged.models = recorded.models;
  for (const CampaignModel& model : now.models) {
    bool replaced = false;
    for (CampaignModel& m : merged.models)
      if (m.name == model.name) {
        m = model;  // this run's path and hash (same content, by campaign_differences)
        replaced = true;
      }
    if (!replaced) merged.models.push_back(model);
  }
  merged.trials = std::max(recorded.trials, now.trials);
  if (merged.dataset_images < 0) merged.dataset_images = recorded.dataset_images;
  if (merged.dataset_fingerprint.empty()) merged.dataset_fingerprint = recorded.dataset_fingerprint;
  return merged;
}

std::string dataset_fingerprint(const std::vector<std::string>& paths) {
  constexpr size_t kEdge = size_t{1} << 20;
  Sha256 hash;
  std::vector<unsigned char> buffer(kEdge);
  for (const std::string& path : paths) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) throw Error(path + ": cannot open: " + std::strerror(errno));
    std::fseek(file, 0, SEEK_END);
    const long size = std::ftell(file);
    const std::string size_text = std::to_string(size) + "\n";
    hash.update(size_text.data(), size_text.size());
    const auto read_at = [&](long offset, size_t count) {
      if (std::fseek(file, offset, SEEK_SET) != 0 || std::fread(buffer.data(), 1, count, file) != count) {
        const std::string reason = std::strerror(errno);
        std::fclose(file);
        throw Error(path + ": read failed: " + reason);
      }
      hash.update(buffer.data(), count);
    };
    const size_t whole = static_cast<size_t>(std::max(size, 0L));
    if (whole < 2 * kEdge) {
      for (size_t offset = 0; offset < whole; offset += kEdge)
        read_at(static_cast<long>(offset), std::min(kEdge, whole - offset));
    } else {
      read_at(0, kEdge);
      read_at(static_cast<long>(whole - kEdge), kEdge);
    }
    std::fclose(file);
  }
  return "sha256:" + hash.hex_digest();
}

std::vector<PointCount> count_points(const CampaignConfig& config, const std::vector<TrialRecord>& records) {
  std::map<std::pair<std::string, double>, std::set<int64_t>> seen;
  for (const TrialRecord& r : records)
    if (r.trial >= 0 && r.trial < config.trials && trial_in_shard(r.trial, config)) seen[{r.config, r.ber}].insert(r.trial);
  int64_t expected = 0;
  for (int64_t t = 0; t < config.trials; ++t) expected += trial_in_shard(t, config) ? 1 : 0;
  std::vector<PointCount> counts;
  for (const CampaignModel& model : config.models)
    for (const auto& format : config.formats)
      for (double ber : config.bers) {
        PointCount c;
        c.config = model.name + "/" + format.name();
        c.ber = ber;
        c.expected = expected;
        const auto found = seen.find({c.config, ber});
        c.recorded = found == seen.end() ? 0 : static_cast<int64_t>(found->second.size());
        counts.push_back(c);
      }
  return counts;
}

std::string incompleteness_report(const std::vector<PointCount>& counts) {
  int64_t expected = 0, recorded = 0;
  std::vector<std::string> lines;
  for (const PointCount& c : counts) {
    expected += c.expected;
    recorded += c.recorded;
    if (c.recorded < c.expected)
      lines.push_back(fmt::format("  {} BER {}: {} of {} trials", c.config, format_number(c.ber), c.recorded, c.expected));
  }
  if (lines.empty()) return "";
  std::string text = fmt::format("unfinished: {} of {} trials recorded; incomplete points:\n", recorded, expected);
  const size_t shown = std::min<size_t>(lines.size(), 12);
  for (size_t i = 0; i < shown; ++i) text += lines[i] + "\n";
  if (lines.size() > shown) text += fmt::format("  ... and {} more\n", lines.size() - shown);
  return text;
}

void sort_in_campaign_order(std::vector<TrialRecord>& records, const CampaignConfig& config) {
  std::map<std::string, size_t> config_rank;
  for (const CampaignModel& model : config.models)
    for (const auto& format : config.formats) config_rank.emplace(model.name + "/" + format.name(), config_rank.size());
  // Unlisted configurations and BERs go last, in the order they first appear.
  std::map<std::string, size_t> unlisted_configs;
  std::map<double, size_t> unlisted_bers;
  for (const TrialRecord& r : records) {
    if (!config_rank.count(r.config)) unlisted_configs.emplace(r.config, config_rank.size() + unlisted_configs.size());
    if (std::find(config.bers.begin(), config.bers.end(), r.ber) == config.bers.end())
      unlisted_bers.emplace(r.ber, config.bers.size() + unlisted_bers.size());
  }
  const auto rank = [&](const TrialRecord& r) {
    const auto listed = config_rank.find(r.config);
    const size_t c = listed != config_rank.end() ? listed->second : unlisted_configs.at(r.config);
    const auto ber = std::find(config.bers.begin(), config.bers.end(), r.ber);
    const size_t b = ber != config.bers.end() ? static_cast<size_t>(ber - config.bers.begin()) : unlisted_bers.at(r.ber);
    return std::make_tuple(c, b, r.trial);
  };
  std::stable_sort(records.begin(), records.end(),
                   [&](const TrialRecord& a, const TrialRecord& b) { return rank(a) < rank(b); });
}

namespace {

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string trial_key(const std::string& config, double ber, int64_t trial) {
  return config + "|" + format_number(ber) + "|" + std::to_string(trial);
}

struct Shard {
  std::string folder;
  CampaignConfig config;
  std::vector<TrialRecord> records;
};

}  // namespace

void merge_campaign_shards(const std::string& out, const std::vector<std::string>& folders) {
  if (folders.empty()) throw Error("merge: no shard folders given");
  std::vector<Shard> shards;
  for (const std::string& folder : folders) {
    Shard shard;
    shard.folder = folder;
    const std::string config_path = folder + "/config.yaml";
    if (!fsys::exists(config_path)) throw Error(folder + ": no config.yaml (not a campaign folder?)");
    shard.config = load_campaign_config(config_path, ConfigUse::Recorded);
    if (shard.config.shard_count <= 1)
      throw Error(config_path + ": not a shard (no 'shard: i/n'); merge combines the folders of `run --shard i/n`");
    shards.push_back(std::move(shard));
  }
  const Shard& first = shards.front();
  const int count = first.config.shard_count;
  std::vector<const Shard*> by_index(static_cast<size_t>(count), nullptr);
  for (const Shard& shard : shards) {
    if (shard.config.shard_count != count)
      throw Error(shard.folder + " is shard " + shard_name(shard.config.shard_index, shard.config.shard_count) + ", but " +
                  first.folder + " is shard " + shard_name(first.config.shard_index, count) +
                  ": shards of one campaign share the same n");
    const Shard*& slot = by_index[static_cast<size_t>(shard.config.shard_index)];
    if (slot)
      throw Error(slot->folder + " and " + shard.folder + " are both shard " + shard_name(shard.config.shard_index, count));
    slot = &shard;
  }
  std::vector<std::string> missing;
  for (int i = 0; i < count; ++i)
    if (!by_index[static_cast<size_t>(i)]) missing.push_back(shard_name(i, count));
  if (!missing.empty())
    throw Error("merge: shard(s) " + join_strings(missing) + " missing; every shard 1.." + std::to_string(count) +
                " of the campaign must be given");

  // One campaign: the same result-deciding settings and the same points.
  const auto names = [](const CampaignConfig& c) {
    std::vector<std::string> formats, models;
    for (const auto& f : c.formats) formats.push_back(f.name());
    for (const auto& m : c.models) models.push_back(m.name);
    return std::make_tuple(c.name, join(c.bers, [](double b) { return format_number(b); }), c.trials,
                           join_strings(formats), join_strings(models));
  };
  for (const Shard& shard : shards) {
    std::vector<std::string> differences = campaign_differences(first.config, shard.config, false);
    if (names(shard.config) != names(first.config))
      differences.push_back("name, BERs, trials, formats or models differ");
    if (!differences.empty()) {
      std::string message = shard.folder + " is not a shard of the same campaign as " + first.folder + ":";
      for (const std::string& d : differences) message += "\n  " + d;
      throw Error(message);
    }
  }

  // Every trial of every shard exactly once, and nothing outside a shard's share.
  std::vector<TrialRecord> records;
  std::set<std::string> keys;
  for (Shard& shard : shards) {
    const std::string trials_path = shard.folder + "/trials.csv";
    if (!fsys::exists(trials_path))
      throw Error(shard.folder + ": no trials.csv: shard " + shard_name(shard.config.shard_index, count) +
                  " has not run; run it (run CONFIG --shard " + shard_name(shard.config.shard_index, count) + ")");
    shard.records = read_trials_csv(trials_path);
    for (const TrialRecord& r : shard.records) {
      if (!trial_in_shard(r.trial, shard.config))
        throw Error(trials_path + ": trial " + std::to_string(r.trial) + " does not belong to shard " +
                    shard_name(shard.config.shard_index, count));
      if (!keys.insert(trial_key(r.config, r.ber, r.trial)).second)
        throw Error(trials_path + ": " + r.config + " BER " + format_number(r.ber) + " trial " + std::to_string(r.trial) +
                    " is recorded twice");
      records.push_back(r);
    }
    const std::string unfinished = incompleteness_report(count_points(shard.config, shard.records));
    if (!unfinished.empty())
      throw Error(shard.folder + ": shard " + shard_name(shard.config.shard_index, count) + " is " + unfinished +
                  "finish it with `flipsweep run CONFIG --shard " + shard_name(shard.config.shard_index, count) +
                  " --out " + shard.folder + " --resume`");
  }
  CampaignConfig merged = first.config;
  merged.shard_index = 0;
  merged.shard_count = 1;
  sort_in_campaign_order(records, merged);

  // Clean accuracy: every shard evaluated every configuration; they agree unless the shards ran
  // on different backends, which is worth a note.
  std::vector<CleanRecord> clean;
  for (const Shard& shard : shards) {
    const std::string clean_path = shard.folder + "/clean.csv";
    if (!fsys::exists(clean_path)) throw Error(shard.folder + ": no clean.csv");
    for (const CleanRecord& c : read_clean_csv(clean_path)) {
      const auto same = std::find_if(clean.begin(), clean.end(), [&](const CleanRecord& k) { return k.config == c.config; });
      if (same == clean.end()) {
        clean.push_back(c);
      } else {
        // The task's own metric: top-1, or mean IoU and pixel accuracy.
        const bool segmentation = c.task == Task::Segmentation;
        const double mine = segmentation ? c.mean_iou : c.top1, theirs = segmentation ? same->mean_iou : same->top1;
        if (mine != theirs || same->top5 != c.top5 || same->pixel_accuracy != c.pixel_accuracy ||
            same->images != c.images)
          std::cerr << "flipsweep: note: " << shard.folder << " scored " << c.config << " clean at "
                    << format_number(mine) << " %, " << first.folder << " at " << format_number(theirs)
                    << " % (different backends?); clean.csv keeps the first\n";
      }
    }
  }
  std::map<std::string, size_t> config_rank;
  for (const CampaignModel& model : merged.models)
    for (const auto& format : merged.formats) config_rank.emplace(model.name + "/" + format.name(), config_rank.size());
  std::stable_sort(clean.begin(), clean.end(), [&](const CleanRecord& a, const CleanRecord& b) {
    return config_rank[a.config] < config_rank[b.config];
  });

  // Per-trial side files (faults.csv with --save-faults, class_iou.csv of segmentation
  // campaigns): merged, trials in campaign order, when every shard has the file.
  std::map<std::string, std::string> side_files;  // name → merged content
  for (const char* name : {"faults.csv", "class_iou.csv"}) {
    size_t present = 0;
    for (const Shard& shard : shards) present += fsys::exists(shard.folder + "/" + name) ? 1 : 0;
    if (present == 0) continue;
    if (present < shards.size()) {
      std::cerr << "flipsweep: note: only " << present << " of " << shards.size() << " shards have " << name
                << "; it is not merged\n";
      continue;
    }
    std::map<std::string, std::string> lines_of_trial;
    std::string header;
    for (const Shard& shard : shards) {
      std::istringstream in(read_whole_file(shard.folder + "/" + name));
      std::string line;
      std::getline(in, line);
      header = line;
      while (std::getline(in, line)) {
        const size_t a = line.find(','), b = line.find(',', a + 1), c = line.find(',', b + 1);
        if (c == std::string::npos) continue;
        const std::string key = line.substr(0, a) + "|" + line.substr(a + 1, b - a - 1) + "|" + line.substr(b + 1, c - b - 1);
        lines_of_trial[key] += line + "\n";
      }
    }
    std::string content = header + "\n";
    for (const TrialRecord& r : records) {
      const auto found = lines_of_trial.find(trial_key(r.config, r.ber, r.trial));
      // Every trial has its class IoU line, and every trial with faults its fault lines.
      const bool needed = std::string(name) == "class_iou.csv" || r.flips > 0;
      if (needed && found == lines_of_trial.end())
        throw Error("merge: no " + std::string(name) + " line for " + r.config + " BER " + format_number(r.ber) +
                    " trial " + std::to_string(r.trial) + " in the shards' " + name +
                    " files (a shard resumed with and without --save-faults?)");
      if (found != lines_of_trial.end()) content += found->second;
    }
    side_files[name] = content;
  }

  for (const std::string& folder : folders)
    if (fsys::exists(out) && fsys::exists(folder) && fsys::equivalent(out, folder))
      throw Error("merge: the output folder " + out + " is one of the shards; choose another");
  if (fsys::exists(out + "/trials.csv") && !fsys::exists(out + "/merged-from.txt"))
    throw Error(out + "/trials.csv already exists and is not the result of a merge; choose another output folder");
  std::error_code error;
  fsys::create_directories(out, error);
  if (error) throw Error(out + ": cannot create the output folder: " + error.message());

  // The marker first: a merge cut short (a requeued Slurm job) may then simply run again.
  std::string sources;
  for (const std::string& folder : folders) sources += folder + "\n";
  write_file_atomically(out + "/merged-from.txt", sources);
  write_file_atomically(out + "/config.yaml", campaign_config_yaml(merged));
  std::string trials = trials_csv_header(merged.task) + "\n";
  for (const TrialRecord& r : records) trials += trials_csv_row(r) + "\n";
  write_file_atomically(out + "/trials.csv", trials);
  write_file_atomically(out + "/clean.csv", clean_csv(clean));
  for (const char* name : {"faults.csv", "class_iou.csv"}) {
    const auto merged_file = side_files.find(name);
    if (merged_file != side_files.end()) write_file_atomically(out + "/" + name, merged_file->second);
    else if (fsys::exists(out + "/" + name)) fsys::remove(out + "/" + name);
  }
  const auto points = summarize(records, clean);
  write_file_atomically(out + "/summary.csv", summary_csv(points));
  const std::string table = summary_markdown(merged.name, points);
  write_file_atomically(out + "/summary.md", table);
  plot_campaign(out);
  std::cout << table << "\nmerged " << shards.size() << " shards, " << records.size() << " trials → " << out << "/\n";
}

}  // namespace flipsweep
