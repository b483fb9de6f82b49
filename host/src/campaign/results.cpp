#include "flipsweep/campaign/results.h"

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "flipsweep/error.h"

namespace flipsweep {

std::string format_number(double value) {
  char buffer[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

namespace {

std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, separator)) fields.push_back(field);
  if (!line.empty() && line.back() == separator) fields.emplace_back();
  return fields;
}

double parse_double(const std::string& text, const std::string& where) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') throw Error(where + ": '" + text + "' is not a number");
  return v;
}

int64_t parse_int(const std::string& text, const std::string& where) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0') throw Error(where + ": '" + text + "' is not an integer");
  return v;
}

// `quoted_last`: the last column may be a CSV-quoted field holding commas (and "" for a quote).
std::vector<std::vector<std::string>> read_csv(const std::string& path, const std::string& header,
                                               bool quoted_last = false) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  // Every complete row ends with a newline; text after the last one is a row an interrupted
  // append left half-written, and that trial is simply run again.
  text.erase(text.find_last_of('\n') == std::string::npos ? 0 : text.find_last_of('\n') + 1);
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != header) throw Error(path + ": unexpected header (not written by this flipsweep?)");
  const size_t columns = split(header, ',').size();
  std::vector<std::vector<std::string>> rows;
  int number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    auto fields = split(line, ',');
    if (quoted_last && fields.size() >= columns && !fields[columns - 1].empty() && fields[columns - 1][0] == '"') {
      std::string last = fields[columns - 1];
      for (size_t i = columns; i < fields.size(); ++i) last += "," + fields[i];
      fields.resize(columns);
      if (last.size() < 2 || last.back() != '"')
        throw Error(path + ":" + std::to_string(number) + ": unterminated quoted field");
      std::string unquoted;
      for (size_t i = 1; i + 1 < last.size(); ++i) {
        unquoted += last[i];
        if (last[i] == '"' && i + 2 < last.size() && last[i + 1] == '"') ++i;
      }
      fields[columns - 1] = unquoted;
    }
    if (fields.size() != columns)
      throw Error(path + ":" + std::to_string(number) + ": expected " + std::to_string(columns) + " fields");
    rows.push_back(std::move(fields));
  }
  return rows;
}

// Two-sided 95% Student-t quantiles for 1..30 degrees of freedom; the normal 1.96 beyond.
double t_quantile_975(int64_t dof) {
  static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                 2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                 2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (dof < 1) return 0.0;
  if (dof <= 30) return table[dof - 1];
  return 1.96;
}

}  // namespace

namespace {

const char* const kTrialsHeaderV1 =
    "config,format,saf,ber,trial,top1,top5,sdc,flips,nonfinite,all_nan,seconds,flips_per_tensor";

}  // namespace

const char* const kTrialsHeaderV2 =
    "config,format,saf,ber,trial,top1,top5,sdc,flips,nonfinite,all_nan,seconds,flips_per_tensor,shortcut";

// Segmentation campaigns: the per-pixel metrics in place of top-1/top-5, sdc = error propagation.
const char* const kSegmentationTrialsHeader =
    "config,format,saf,ber,trial,pixel_accuracy,mean_iou,fw_iou,sdc,nan_pixels,flips,nonfinite,all_nan,seconds,"
    "flips_per_tensor,shortcut,images";

std::string trials_csv_header(Task task) {
  return task == Task::Segmentation ? std::string(kSegmentationTrialsHeader) : std::string(kTrialsHeaderV2) + ",images";
}

std::string trials_csv_row(const TrialRecord& r) {
  std::ostringstream out;
  char numbers[200];
  if (r.task == Task::Segmentation) {
    std::snprintf(numbers, sizeof numbers, "%.4f,%.4f,%.4f,%.4f,%.4f,%lld,%lld,%d,%.3f", r.pixel_accuracy, r.mean_iou,
                  r.fw_iou, r.sdc, r.nan_pixels, static_cast<long long>(r.flips), static_cast<long long>(r.nonfinite),
                  r.all_nan ? 1 : 0, r.seconds);
    out << r.config << ',' << r.format << ',' << r.saf << ',' << format_number(r.ber) << ',' << r.trial << ',' << numbers
        << ',' << r.flips_per_tensor << ',' << r.shortcut << ',';
    if (r.images >= 0) out << r.images;
    return out.str();
  }
  std::snprintf(numbers, sizeof numbers, "%.4f,%.4f,%.4f,%lld,%lld,%d,%.3f", r.top1, r.top5, r.sdc,
                static_cast<long long>(r.flips), static_cast<long long>(r.nonfinite), r.all_nan ? 1 : 0, r.seconds);
  out << r.config << ',' << r.format << ',' << r.saf << ',' << format_number(r.ber) << ',' << r.trial << ',' << numbers
      << ',' << r.flips_per_tensor << ',' << r.shortcut << ',';
  if (r.images >= 0) out << r.images;  // empty: not known
  return out.str();
}

namespace {

// none, clean, same-as-ber:<ber>, or what a pass skipped: clean-prefix:<node> and/or all-nan,
// joined by ';'.
void check_shortcut(const std::string& shortcut, const std::string& where) {
  if (shortcut == "none" || shortcut == "clean") return;
  const std::string same = "same-as-ber:";
  if (shortcut.rfind(same, 0) == 0 && shortcut.size() > same.size()) return;
  bool known = !shortcut.empty();
  size_t begin = 0;
  while (known && begin <= shortcut.size()) {
    const size_t end = std::min(shortcut.find(';', begin), shortcut.size());
    const std::string part = shortcut.substr(begin, end - begin);
    const std::string prefix = "clean-prefix:";
    known = part == "all-nan" || (part.rfind(prefix, 0) == 0 && part.size() > prefix.size());
    begin = end + 1;
  }
  if (!known)
    throw Error(where + ": unknown shortcut '" + shortcut +
                "' (none, clean, same-as-ber:<ber>, clean-prefix:<node>, all-nan)");
}

TrialRecord parse_segmentation_trial_fields(const std::vector<std::string>& f, const std::string& where) {
  TrialRecord r;
  r.task = Task::Segmentation;
  r.config = f[0];
  r.format = f[1];
  r.saf = f[2];
  r.ber = parse_double(f[3], where);
  r.trial = parse_int(f[4], where);
  r.pixel_accuracy = parse_double(f[5], where);
  r.mean_iou = parse_double(f[6], where);
  r.fw_iou = parse_double(f[7], where);
  r.sdc = parse_double(f[8], where);
  r.nan_pixels = parse_double(f[9], where);
  r.flips = parse_int(f[10], where);
  r.nonfinite = parse_int(f[11], where);
  r.all_nan = parse_int(f[12], where) != 0;
  r.seconds = parse_double(f[13], where);
  r.flips_per_tensor = f[14];
  r.shortcut = f[15];
  check_shortcut(r.shortcut, where);
  r.images = f[16].empty() ? -1 : parse_int(f[16], where);
  if (!f[16].empty() && r.images < 0) throw Error(where + ": images must be 0 or more, got " + f[16]);
  return r;
}

TrialRecord parse_trial_fields(const std::vector<std::string>& f, const std::string& where) {
  if (f.size() == 17) return parse_segmentation_trial_fields(f, where);
  TrialRecord r;
  r.config = f[0];
  r.format = f[1];
  r.saf = f[2];
  r.ber = parse_double(f[3], where);
  r.trial = parse_int(f[4], where);
  r.top1 = parse_double(f[5], where);
  r.top5 = parse_double(f[6], where);
  r.sdc = parse_double(f[7], where);
  r.flips = parse_int(f[8], where);
  r.nonfinite = parse_int(f[9], where);
  r.all_nan = parse_int(f[10], where) != 0;
  r.seconds = parse_double(f[11], where);
  r.flips_per_tensor = f[12];
  r.shortcut = f.size() > 13 ? f[13] : std::string("none");
  check_shortcut(r.shortcut, where);
  r.images = f.size() > 14 && !f[14].empty() ? parse_int(f[14], where) : -1;
  if (f.size() > 14 && !f[14].empty() && r.images < 0) throw Error(where + ": images must be 0 or more, got " + f[14]);
  return r;
}

}  // namespace

TrialRecord as_recorded(const TrialRecord& record) {
  return parse_trial_fields(split(trials_csv_row(record), ','), "trial record");
}

std::vector<TrialRecord> read_trials_csv(const std::string& path) {
  std::string first_line;
  {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw Error(path + ": cannot open: " + std::strerror(errno));
    std::getline(file, first_line);
  }
  // Files from before the shortcut column (every trial there ran its activation pass) or the
  // images column; segmentation campaigns' own columns.
  const std::string header = first_line == kTrialsHeaderV1                 ? std::string(kTrialsHeaderV1)
                             : first_line == kTrialsHeaderV2               ? std::string(kTrialsHeaderV2)
                             : first_line == kSegmentationTrialsHeader     ? std::string(kSegmentationTrialsHeader)
                                                                           : trials_csv_header();
  std::vector<TrialRecord> out;
  int line = 1;
  for (const auto& f : read_csv(path, header)) out.push_back(parse_trial_fields(f, path + ":" + std::to_string(++line)));
  return out;
}

namespace {

const char* const kCleanHeaderV1 = "config,format,saf,top1,top5,images";
const char* const kCleanHeader = "config,format,saf,top1,top5,images,backend";
const char* const kSegmentationCleanHeader = "config,format,saf,pixel_accuracy,mean_iou,fw_iou,images,backend";

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '\n') continue;
    quoted += c;
    if (c == '"') quoted += '"';
  }
  return quoted + "\"";
}

}  // namespace

std::string clean_csv(const std::vector<CleanRecord>& records) {
  std::ostringstream out;
  const bool segmentation = !records.empty() && records.front().task == Task::Segmentation;
  out << (segmentation ? kSegmentationCleanHeader : kCleanHeader) << "\n";
  for (const auto& r : records) {
    if (segmentation) {
      char numbers[100];
      std::snprintf(numbers, sizeof numbers, "%.4f,%.4f,%.4f,%lld", r.pixel_accuracy, r.mean_iou, r.fw_iou,
                    static_cast<long long>(r.images));
      out << r.config << ',' << r.format << ',' << r.saf << ',' << numbers << ',' << csv_field(r.backend) << '\n';
      continue;
    }
    char numbers[80];
    std::snprintf(numbers, sizeof numbers, "%.4f,%.4f,%lld", r.top1, r.top5, static_cast<long long>(r.images));
    out << r.config << ',' << r.format << ',' << r.saf << ',' << numbers << ',' << csv_field(r.backend) << '\n';
  }
  return out.str();
}

std::vector<CleanRecord> read_clean_csv(const std::string& path) {
  std::string first_line;
  {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw Error(path + ": cannot open: " + std::strerror(errno));
    std::getline(file, first_line);
  }
  const bool with_backend = first_line == kCleanHeader;
  std::vector<CleanRecord> out;
  int line = 1;
  if (first_line == kSegmentationCleanHeader) {
    for (const auto& f : read_csv(path, kSegmentationCleanHeader, true)) {
      const std::string where = path + ":" + std::to_string(++line);
      CleanRecord r;
      r.task = Task::Segmentation;
      r.config = f[0];
      r.format = f[1];
      r.saf = f[2];
      r.pixel_accuracy = parse_double(f[3], where);
      r.mean_iou = parse_double(f[4], where);
      r.fw_iou = parse_double(f[5], where);
      r.images = parse_int(f[6], where);
      r.backend = f[7];
      out.push_back(r);
    }
    return out;
  }
  for (const auto& f : read_csv(path, with_backend ? kCleanHeader : kCleanHeaderV1, with_backend)) {
    const std::string where = path + ":" + std::to_string(++line);
    CleanRecord r;
    r.config = f[0];
    r.format = f[1];
    r.saf = f[2];
    r.top1 = parse_double(f[3], where);
    r.top5 = parse_double(f[4], where);
    r.images = parse_int(f[5], where);
    r.backend = with_backend ? f[6] : std::string();
    out.push_back(r);
  }
  return out;
}

std::vector<PointSummary> summarize(const std::vector<TrialRecord>& trials, const std::vector<CleanRecord>& clean) {
  std::vector<std::pair<std::string, double>> order;
  std::map<std::pair<std::string, double>, std::vector<const TrialRecord*>> groups;
  for (const auto& t : trials) {
    auto key = std::make_pair(t.config, t.ber);
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(&t);
  }
  std::vector<PointSummary> points;
  for (const auto& key : order) {
    const auto& rows = groups[key];
    PointSummary p;
    p.task = rows.front()->task;
    const bool segmentation = p.task == Task::Segmentation;
    p.config = key.first;
    p.ber = key.second;
    p.format = rows.front()->format;
    p.saf = rows.front()->saf;
    p.trials = static_cast<int64_t>(rows.size());
    for (const auto& c : clean)
      if (c.config == p.config) p.clean_top1 = segmentation ? c.mean_iou : c.top1;
    std::vector<double> top1;  // the primary metric
    for (const auto* r : rows) {
      top1.push_back(segmentation ? r->mean_iou : r->top1);
      p.top5_mean += r->top5;
      p.pixel_accuracy_mean += r->pixel_accuracy;
      p.fw_iou_mean += r->fw_iou;
      p.nan_pixels_mean += r->nan_pixels;
      p.sdc_mean += r->sdc;
      p.flips_mean += static_cast<double>(r->flips);
      p.all_nan_share += r->all_nan ? 1.0 : 0.0;
    }
    const double n = static_cast<double>(rows.size());
    p.top5_mean /= n;
    p.pixel_accuracy_mean /= n;
    p.fw_iou_mean /= n;
    p.nan_pixels_mean /= n;
    p.sdc_mean /= n;
    p.flips_mean /= n;
    p.all_nan_share /= n;
    for (double v : top1) p.mean += v;
    p.mean /= n;
    double squares = 0.0;
    for (double v : top1) squares += (v - p.mean) * (v - p.mean);
    // One trial has no spread to speak of: NaN, written as nothing rather than a misleading 0.
    p.std = rows.size() > 1 ? std::sqrt(squares / (n - 1.0)) : std::nan("");
    p.ci95 = rows.size() > 1 ? t_quantile_975(p.trials - 1) * p.std / std::sqrt(n) : std::nan("");
    std::sort(top1.begin(), top1.end());
    p.min = top1.front();
    p.max = top1.back();
    const size_t mid = top1.size() / 2;
    p.median = top1.size() % 2 ? top1[mid] : 0.5 * (top1[mid - 1] + top1[mid]);
    points.push_back(p);
  }
  return points;
}

std::string summary_csv(const std::vector<PointSummary>& points) {
  std::ostringstream out;
  const bool segmentation = !points.empty() && points.front().task == Task::Segmentation;
  if (segmentation)
    out << "config,format,saf,ber,trials,clean_miou,miou_mean,miou_std,miou_ci95,miou_median,miou_min,miou_max,"
           "pixel_accuracy_mean,fw_iou_mean,sdc_mean,nan_pixels_mean,flips_mean,all_nan_share\n";
  else
    out << "config,format,saf,ber,trials,clean_top1,top1_mean,top1_std,top1_ci95,top1_median,top1_min,top1_max,"
           "top5_mean,sdc_mean,flips_mean,all_nan_share\n";
  for (const auto& p : points) {
    if (segmentation) {
      char numbers[300], spread[64] = ",";
      if (std::isfinite(p.std)) std::snprintf(spread, sizeof spread, "%.4f,%.4f", p.std, p.ci95);
      std::snprintf(numbers, sizeof numbers, "%lld,%.4f,%.4f,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.2f,%.4f",
                    static_cast<long long>(p.trials), p.clean_top1, p.mean, spread, p.median, p.min, p.max,
                    p.pixel_accuracy_mean, p.fw_iou_mean, p.sdc_mean, p.nan_pixels_mean, p.flips_mean, p.all_nan_share);
      out << p.config << ',' << p.format << ',' << p.saf << ',' << format_number(p.ber) << ',' << numbers << '\n';
      continue;
    }
    char numbers[256], spread[64] = ",";
    if (std::isfinite(p.std)) std::snprintf(spread, sizeof spread, "%.4f,%.4f", p.std, p.ci95);
    std::snprintf(numbers, sizeof numbers, "%lld,%.4f,%.4f,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.2f,%.4f",
                  static_cast<long long>(p.trials), p.clean_top1, p.mean, spread, p.median, p.min, p.max,
                  p.top5_mean, p.sdc_mean, p.flips_mean, p.all_nan_share);
    out << p.config << ',' << p.format << ',' << p.saf << ',' << format_number(p.ber) << ',' << numbers << '\n';
  }
  return out.str();
}

std::string summary_markdown(const std::string& title, const std::vector<PointSummary>& points) {
  std::vector<double> bers;
  std::vector<std::string> configs;
  for (const auto& p : points) {
    if (std::find(bers.begin(), bers.end(), p.ber) == bers.end()) bers.push_back(p.ber);
    if (std::find(configs.begin(), configs.end(), p.config) == configs.end()) configs.push_back(p.config);
  }
  std::sort(bers.begin(), bers.end());
  std::ostringstream out;
  const bool segmentation = !points.empty() && points.front().task == Task::Segmentation;
  const std::string metric = segmentation ? "Mean IoU" : "Top-1";
  out << "### " << title << "\n\n" << (segmentation ? "Mean IoU" : "Top-1 accuracy")
      << " (%) before faults and after, mean ± std over trials.\n\n"
      << "| Datatype | SAF | " << metric << " (%) |";
  for (double b : bers) out << " After " << metric << " (%) BER " << format_number(b) << " |";
  out << "\n|---|---|---|";
  for (size_t i = 0; i < bers.size(); ++i) out << "---|";
  out << "\n";
  for (const auto& config : configs) {
    const PointSummary* first = nullptr;
    for (const auto& p : points)
      if (p.config == config && !first) first = &p;
    std::string datatype = first->format;
    std::transform(datatype.begin(), datatype.end(), datatype.begin(), ::toupper);
    char clean[32];
    std::snprintf(clean, sizeof clean, "%.2f", first->clean_top1);
    out << "| " << datatype << " | " << first->saf << " | " << clean << " |";
    for (double b : bers) {
      const PointSummary* cell = nullptr;
      for (const auto& p : points)
        if (p.config == config && p.ber == b) cell = &p;
      char text[64] = "–";
      if (cell && std::isfinite(cell->std)) std::snprintf(text, sizeof text, "%.2f ± %.2f", cell->mean, cell->std);
      else if (cell) std::snprintf(text, sizeof text, "%.2f (1 trial)", cell->mean);
      out << ' ' << text << " |";
    }
    out << "\n";
  }
  return out.str();
}

void write_file_atomically(const std::string& path, const std::string& content) {
  // Every failure names the file and the system's reason (permission denied, no space left, ...).
  const std::string temporary = path + ".tmp";
  std::FILE* out = std::fopen(temporary.c_str(), "wb");
  if (!out) throw Error(temporary + ": cannot create: " + std::strerror(errno));
  const bool written = std::fwrite(content.data(), 1, content.size(), out) == content.size() && std::fflush(out) == 0;
  const int write_errno = errno;
  if (std::fclose(out) != 0 || !written) {
    const std::string reason = std::strerror(written ? errno : write_errno);
    std::remove(temporary.c_str());
    throw Error(temporary + ": write failed: " + reason);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    throw Error(path + ": cannot replace with " + temporary + ": " + reason);
  }
}

}  // namespace flipsweep
