#pragma once
// `flipsweep slurm`: a sharded campaign as a Slurm job array (one shard per array task, each run
// with --resume so that a requeued task continues where it stopped) and a merge job that runs
// once every task has succeeded (afterok).
#include <string>
#include <utility>
#include <vector>

namespace flipsweep {

struct SlurmOptions {
  std::string config_path;        // the campaign YAML
  int shards = 0;                 // n: array tasks 1..n, one shard each
  std::string out;                // campaign folder (default results/<name>); shards go below it
  std::string partition, time, account;
  int cpus_per_task = 0;          // 0: Slurm's default; otherwise also passed to run as --threads
  int gpus_per_task = 0;          // Slurm binds the GPUs (CUDA_VISIBLE_DEVICES): run uses device 0
  std::vector<std::string> extra;  // more sbatch options, one #SBATCH line each ("--mem=8G")
  std::string run_options;        // appended to every `flipsweep run` line ("--limit 1000")
  std::string flipsweep_binary;   // absolute path of the flipsweep that the jobs run
};

struct SlurmScripts {
  std::string folder;        // <out>/slurm
  std::string array_script;  // <out>/slurm/shards.sbatch
  std::string merge_script;  // <out>/slurm/merge.sbatch
  std::string out;           // the campaign folder (absolute)
  int shards = 0;
};

// Checks the config (as `run` would) and the options, then writes both scripts (executable,
// atomically). Error naming the option or file for anything wrong.
SlurmScripts write_slurm_scripts(const SlurmOptions& options);

// Submits the array, then the merge job with --dependency=afterok:<array job>; returns the two
// job ids. Error with sbatch's own message when it fails or is not installed.
std::pair<std::string, std::string> submit_slurm_scripts(const SlurmScripts& scripts);

// `value` as one single-quoted shell word.
std::string shell_quote(const std::string& value);

}  // namespace flipsweep
