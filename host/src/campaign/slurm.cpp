#include "flipsweep/campaign/slurm.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "flipsweep/campaign/campaign.h"
#include "flipsweep/campaign/results.h"
#include "flipsweep/error.h"

namespace flipsweep {

namespace fsys = std::filesystem;

std::string shell_quote(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) quoted += c == '\'' ? std::string("'\"'\"'") : std::string(1, c);
  return quoted + "'";
}

namespace {

// Characters that would end an #SBATCH line or change its meaning.
void check_sbatch_value(const std::string& value, const std::string& option) {
  if (value.find_first_of("\n\r") != std::string::npos)
    throw Error(option + ": '" + value + "' must be one line");
}

std::string absolute(const std::string& path) { return fsys::absolute(path).lexically_normal().string(); }

std::string common_header(const SlurmOptions& o, const std::string& job_name, const std::string& log) {
  std::string text = "#!/bin/bash\n";
  text += "#SBATCH --job-name=" + job_name + "\n";
  text += "#SBATCH --output=" + log + "\n";
  if (!o.partition.empty()) text += "#SBATCH --partition=" + o.partition + "\n";
  if (!o.time.empty()) text += "#SBATCH --time=" + o.time + "\n";
  if (!o.account.empty()) text += "#SBATCH --account=" + o.account + "\n";
  return text;
}

// stdout of `command` (stderr goes to the terminal: sites print notices there).
std::pair<int, std::string> run_capture(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw Error("cannot run: " + command);
  std::array<char, 4096> buffer{};
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// sbatch --parsable prints "jobid" or "jobid;cluster" on its last line of stdout.
std::string job_id_of(const std::string& output) {
  std::string last, line;
  std::istringstream in(output);
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  last = last.substr(0, last.find(';'));
  if (last.empty() || last.find_first_not_of("0123456789") != std::string::npos)
    throw Error("sbatch printed no job id: " + output);
  return last;
}

}  // namespace

SlurmScripts write_slurm_scripts(const SlurmOptions& o) {
  if (o.shards < 2)
    throw Error("--shards must be at least 2, got " + std::to_string(o.shards) + " (one shard is the campaign: run it)");
  if (o.cpus_per_task < 0) throw Error("--cpus-per-task must be 0 (Slurm's default) or more");
  if (o.gpus_per_task < 0) throw Error("--gpus-per-task must be 0 (none) or more");
  check_sbatch_value(o.partition, "--partition");
  check_sbatch_value(o.time, "--time");
  check_sbatch_value(o.account, "--account");
  check_sbatch_value(o.run_options, "--run-options");
  for (const std::string& e : o.extra) {
    check_sbatch_value(e, "--extra");
    if (e.rfind("-", 0) != 0) throw Error("--extra: '" + e + "' is not an sbatch option (e.g. --mem=8G)");
  }
  // The config must be one that `run` accepts; checking it here saves a queue wait for an error.
  const CampaignConfig config = load_campaign_config(o.config_path);
  if (o.shards > config.trials)
    throw Error("--shards " + std::to_string(o.shards) + " is more than the " + std::to_string(config.trials) +
                " trials of " + o.config_path + ": shard i runs trials t with t mod n = i-1, so some shards would "
                "have nothing to do");

  SlurmScripts s;
  s.out = absolute(o.out.empty() ? "results/" + config.name : o.out);
  // #SBATCH lines take no quoting, and Slurm reads % in --output as a file-name pattern.
  if (s.out.find_first_of(" \t%") != std::string::npos)
    throw Error("--out " + s.out + ": Slurm's #SBATCH --output cannot take a path with spaces or '%'; choose another folder");
  s.folder = s.out + "/slurm";
  s.array_script = s.folder + "/shards.sbatch";
  s.merge_script = s.folder + "/merge.sbatch";
  s.shards = o.shards;
  const std::string n = std::to_string(o.shards);
  const std::string binary = shell_quote(absolute(o.flipsweep_binary));
  const std::string shard_folder = [&] {
    return shell_quote(s.out) + "/shard-\"$i\"-of-" + n;
  }();

  std::string array = common_header(o, "flipsweep-" + config.name, s.folder + "/shard-%a-of-" + n + ".log");
  array += "#SBATCH --array=1-" + n + "\n#SBATCH --requeue\n";
  if (o.cpus_per_task > 0) array += "#SBATCH --cpus-per-task=" + std::to_string(o.cpus_per_task) + "\n";
  if (o.gpus_per_task > 0) array += "#SBATCH --gpus-per-task=" + std::to_string(o.gpus_per_task) + "\n";
  for (const std::string& e : o.extra) array += "#SBATCH " + e + "\n";
  array += "# Written by `flipsweep slurm`: array task i runs shard i/" + n + " of campaign " + config.name +
           " into its own folder. --resume: a requeued or\n# restarted task continues where it stopped. Slurm binds "
           "the task's GPUs (CUDA_VISIBLE_DEVICES), so device 0 is the task's own.\n";
  array += "set -euo pipefail\ni=\"$SLURM_ARRAY_TASK_ID\"\n";
  array += "exec " + binary + " run " + shell_quote(absolute(o.config_path)) + " --shard \"$i/" + n + "\" --out " +
           shard_folder + " --resume --no-progress" +
           (o.cpus_per_task > 0 ? " --threads \"$SLURM_CPUS_PER_TASK\"" : "") +
           (o.run_options.empty() ? "" : " " + o.run_options) + "\n";

  std::string merge = common_header(o, "flipsweep-" + config.name + "-merge", s.folder + "/merge.log");
  merge += "#SBATCH --cpus-per-task=1\n";
  merge += "# Written by `flipsweep slurm`: merges the " + n + " shard folders once every array task succeeded.\n";
  merge += "set -euo pipefail\nexec " + binary + " merge " + shell_quote(s.out);
  for (int i = 1; i <= o.shards; ++i) merge += " " + shell_quote(s.out + "/shard-" + std::to_string(i) + "-of-" + n);
  merge += "\n";

  std::error_code error;
  fsys::create_directories(s.folder, error);
  if (error) throw Error(s.folder + ": cannot create the folder: " + error.message());
  write_file_atomically(s.array_script, array);
  write_file_atomically(s.merge_script, merge);
  for (const std::string& script : {s.array_script, s.merge_script})
    fsys::permissions(script, fsys::perms::owner_exec | fsys::perms::group_exec, fsys::perm_options::add);
  return s;
}

std::pair<std::string, std::string> submit_slurm_scripts(const SlurmScripts& s) {
  const auto [found, where] = run_capture("command -v sbatch 2>/dev/null");
  if (found != 0)
    throw Error("sbatch is not on PATH (not a Slurm login node?); the scripts are written: submit " + s.array_script +
                ", then " + s.merge_script + " with --dependency=afterok:<the array's job id>");
  const auto [array_status, array_output] = run_capture("sbatch --parsable " + shell_quote(s.array_script));
  if (array_status != 0) throw Error("sbatch " + s.array_script + " failed: " + array_output);
  std::string array_id;
  try {
    array_id = job_id_of(array_output);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (the array may be queued: check squeue before submitting again)");
  }
  const auto [merge_status, merge_output] =
      run_capture("sbatch --parsable --dependency=afterok:" + array_id + " " + shell_quote(s.merge_script));
  if (merge_status != 0)
    throw Error("sbatch " + s.merge_script + " failed (the shards, job " + array_id + ", are queued): " + merge_output);
  return {array_id, job_id_of(merge_output)};
}

}  // namespace flipsweep
