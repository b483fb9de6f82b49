// Activation-pass throughput of the CPU backend on synthetic inputs: images/s for one model,
// batch size, thread count and tile size. bench/resnet20_vs_pytorch.py runs it beside PyTorch.
// With --layers instead: every layer of the fast plan against the reference kernels on the same
// tile (time_cpu_layers), and the layers where the fast path is slower.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "flipsweep/backend/backend.h"
#include "flipsweep/error.h"
#include "flipsweep/graph/onnx_import.h"
#include "flipsweep/model/weight_preparation.h"

int main(int argc, char** argv) {
  std::string model_path;
  long long count = 10000, batch = 64, threads = 0, tile = 0, repeat = 3;
  double slower_than = 1.10;  // --layers: a layer counts as slower past this ratio (and 20 us)
  std::string kernels = "fast";
  bool layers = false;
  for (int i = 1; i < argc; ++i) {
    std::string key = argv[i];
    if (key == "--layers") {
      layers = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "option %s needs a value\n", key.c_str());
      return 2;
    }
    const char* value = argv[++i];
    if (key == "--model") model_path = value;
    else if (key == "--count") count = std::atoll(value);
    else if (key == "--batch") batch = std::atoll(value);
    else if (key == "--threads") threads = std::atoll(value);
    else if (key == "--tile") tile = std::atoll(value);
    else if (key == "--repeat") repeat = std::atoll(value);
    else if (key == "--kernels") kernels = value;
    else if (key == "--slower-than") slower_than = std::atof(value);
    else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      return 2;
    }
  }
  if (model_path.empty() || count < 1 || batch < 1 || repeat < 1 || (kernels != "fast" && kernels != "reference")) {
    std::fprintf(stderr,
                 "usage: flipsweep_bench_eval --model M.onnx [--count N] [--batch B] [--threads T] [--tile K] [--repeat R] "
                 "[--kernels fast|reference]\n"
                 "       flipsweep_bench_eval --model M.onnx --layers [--batch B] [--tile K] [--repeat R] [--slower-than X]\n");
    return 2;
  }
  try {
    flipsweep::Model model = flipsweep::load_onnx_model(model_path);
    flipsweep::BackendOptions options;
    options.batch_size = batch;
    options.threads = static_cast<int>(threads);
    options.tile = tile;
    if (layers) {
      const auto timings = flipsweep::time_cpu_layers(model, options, static_cast<int>(repeat));
      double fast = 0.0, reference = 0.0;
      int slower = 0;
      std::printf("%-10s %12s %12s %7s  %s\n", "kind", "fast_us", "reference_us", "ratio", "nodes");
      for (const auto& t : timings) {
        const double ratio = t.fast_seconds / std::max(t.reference_seconds, 1e-12);
        const bool is_slower = ratio > slower_than && t.fast_seconds - t.reference_seconds > 20e-6;
        slower += is_slower;
        fast += t.fast_seconds;
        reference += t.reference_seconds;
        std::printf("%-10s %12.1f %12.1f %7.2f  %s%s\n", t.kind.c_str(), t.fast_seconds * 1e6, t.reference_seconds * 1e6,
                    ratio, t.nodes.c_str(), is_slower ? "   <-- slower than reference" : "");
      }
      std::printf("flipsweep layers=%zu slower_layers=%d fast_us=%.1f reference_us=%.1f\n", timings.size(), slower,
                  fast * 1e6, reference * 1e6);
      return 0;
    }
    auto backend = flipsweep::make_cpu_backend(
        model, options, 1, kernels == "fast" ? flipsweep::CpuKernels::Fast : flipsweep::CpuKernels::Reference);
    backend->load_weights(0, flipsweep::WeightPreparation(model).prepare_clean());
    const auto& shape = model.graph.values[static_cast<size_t>(model.graph.inputs[0])].shape;
    const int64_t image_size = flipsweep::element_count(shape);
    std::vector<float> images(static_cast<size_t>(batch * image_size));
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& x : images) x = normal(rng);
    std::vector<float> logits(static_cast<size_t>(batch * backend->output_size()));
    double best = 0.0;
    for (long long r = 0; r < repeat; ++r) {
      auto start = std::chrono::steady_clock::now();
      for (long long done = 0; done < count; done += batch) {
        const long long n = std::min(batch, count - done);
        backend->run({0}, images.data(), n, logits.data());
      }
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = std::max(best, static_cast<double>(count) / seconds);
    }
    std::printf("flipsweep images_per_second=%.1f batch=%lld threads=%lld tile=%lld kernels=%s\n", best, batch, threads,
                tile, kernels.c_str());
  } catch (const flipsweep::Error& e) {
    std::fprintf(stderr, "flipsweep_bench_eval: %s\n", e.what());
    return 1;
  }
  return 0;
}
