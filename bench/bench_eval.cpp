// Activation-pass throughput of the CPU backend on synthetic inputs: images/s for one model,
// batch size, thread count and tile size. bench/resnet20_vs_pytorch.py runs it beside PyTorch.
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
  std::string kernels = "fast";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    const char* value = argv[i + 1];
    if (key == "--model") model_path = value;
    else if (key == "--count") count = std::atoll(value);
    else if (key == "--batch") batch = std::atoll(value);
    else if (key == "--threads") threads = std::atoll(value);
    else if (key == "--tile") tile = std::atoll(value);
    else if (key == "--repeat") repeat = std::atoll(value);
    else if (key == "--kernels") kernels = value;
    else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      return 2;
    }
  }
  if (model_path.empty() || count < 1 || batch < 1 || repeat < 1 || (kernels != "fast" && kernels != "reference")) {
    std::fprintf(stderr,
                 "usage: flipsweep_bench_eval --model M.onnx [--count N] [--batch B] [--threads T] [--tile K] [--repeat R] "
                 "[--kernels fast|reference]\n");
    return 2;
  }
  try {
    flipsweep::Model model = flipsweep::load_onnx_model(model_path);
    flipsweep::BackendOptions options;
    options.batch_size = batch;
    options.threads = static_cast<int>(threads);
    options.tile = tile;
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
