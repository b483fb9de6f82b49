// Fault sampling plus weight preparation per trial for a ResNet18-sized parameter set (the conv
// and linear weights of torchvision's ResNet18, 11.7M fp32 values), against a per-bit Bernoulli
// mask generator in the same run, and against one trial's activation pass.
//
//   ./build/bench/flipsweep_bench_fault_sampling [--model M.onnx --images N]
//
// Prints per-trial times and the ratios; appends a row per BER to
// bench/results/fault_sampling.csv with the machine's name.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "flipsweep/backend/backend.h"
#include "flipsweep/core/philox.h"
#include "flipsweep/error.h"
#include "flipsweep/faults/fault_injector.h"
#include "flipsweep/graph/onnx_import.h"
#include "flipsweep/model/weight_preparation.h"

namespace fs = flipsweep;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// torchvision ResNet18's conv and fc weight shapes (11,678,912 values).
fs::Model resnet18_sized_parameters() {
  const std::vector<fs::Shape> shapes = {
      {64, 3, 7, 7},     {64, 64, 3, 3},    {64, 64, 3, 3},    {64, 64, 3, 3},    {64, 64, 3, 3},
      {128, 64, 3, 3},   {128, 128, 3, 3},  {128, 64, 1, 1},   {128, 128, 3, 3},  {128, 128, 3, 3},
      {256, 128, 3, 3},  {256, 256, 3, 3},  {256, 128, 1, 1},  {256, 256, 3, 3},  {256, 256, 3, 3},
      {512, 256, 3, 3},  {512, 512, 3, 3},  {512, 256, 1, 1},  {512, 512, 3, 3},  {512, 512, 3, 3},
      {1000, 512}};
  fs::Model model;
  model.path = "resnet18-sized";
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (size_t i = 0; i < shapes.size(); ++i) {
    const std::string name = "w" + std::to_string(i);
    const int id = static_cast<int>(model.graph.values.size());
    model.graph.values.push_back(fs::Value{name, fs::ValueKind::Parameter, shapes[i]});
    model.graph.value_ids[name] = id;
    model.graph.parameters.push_back(id);
    fs::Tensor t(shapes[i]);
    for (float& v : t.data) v = normal(rng);
    model.stored.push_back(std::move(t));
  }
  return model;
}

// The naive alternative: one uniform per stored bit, compared against the BER.
int64_t bernoulli_mask_flips(uint64_t bits, double ber, uint32_t trial) {
  fs::core::PhiloxStream stream(fs::core::PhiloxKey{{7, 0}}, trial, 0, 0);
  const uint32_t threshold = static_cast<uint32_t>(ber * 4294967296.0);
  int64_t flips = 0;
  for (uint64_t b = 0; b < bits; ++b) flips += stream.next_word() < threshold ? 1 : 0;
  return flips;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path = "models/fashion-mnist/resnet20_none.onnx";
  long long images = 10000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--model") model_path = argv[i + 1];
    else if (key == "--images") images = std::atoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: flipsweep_bench_fault_sampling [--model M.onnx] [--images N]\n");
      return 2;
    }
  }
  try {
    fs::Model model = resnet18_sized_parameters();
    const int64_t values = model.parameter_count();
    fs::WeightPreparation preparation(model);
    fs::FaultInjector injector(model, model.graph.parameters, fs::core::StorageFormat::fp32());
    fs::WeightSet weights = preparation.prepare_clean();
    injector.apply_clean_encoding(weights);

    // One trial's activation pass, for scale: the campaign model over `images` inputs.
    double activation_seconds = 0.0;
    {
      fs::Model net = fs::load_onnx_model(model_path);
      fs::BackendOptions options;
      options.batch_size = 256;
      auto backend = fs::make_cpu_backend(net, options);
      backend->load_weights(0, fs::WeightPreparation(net).prepare_clean());
      const int64_t image_size = fs::element_count(net.graph.values[static_cast<size_t>(net.graph.inputs[0])].shape);
      std::vector<float> batch(static_cast<size_t>(256 * image_size), 0.5f), logits(static_cast<size_t>(256 * backend->output_size()));
      const auto start = std::chrono::steady_clock::now();
      for (long long done = 0; done < images; done += 256)
        backend->run({0}, batch.data(), std::min<long long>(256, images - done), logits.data());
      activation_seconds = seconds_since(start);
    }

    char host[256] = "?";
    gethostname(host, sizeof host);
    std::ofstream csv("bench/results/fault_sampling.csv", std::ios::app);
    if (csv.tellp() == 0)
      csv << "machine,values,ber,trials,flips_per_trial,sampling_and_preparation_s,bernoulli_mask_s,speedup,"
             "activation_pass_s,activation_images,share_of_activation_pass\n";
    std::printf("%lld fp32 values (%lld bits); one trial's activation pass: %s over %lld images = %.3f s\n",
                static_cast<long long>(values), static_cast<long long>(values * 32), model_path.c_str(), images,
                activation_seconds);
    for (double ber : {1e-5, 1e-7}) {
      const int trials = 200;
      int64_t flips = 0;
      const auto start = std::chrono::steady_clock::now();
      for (int t = 0; t < trials; ++t) {
        fs::FaultSpec spec;
        spec.rate = ber;
        fs::TrialFaults faults = injector.inject(weights, 1, static_cast<uint32_t>(t), spec);
        preparation.propagate(weights, faults.parameter_changes);
        injector.restore(weights, faults);
        preparation.propagate(weights, faults.parameter_changes);
        flips += faults.total_faults;
      }
      const double ours = seconds_since(start) / trials;
      const auto mask_start = std::chrono::steady_clock::now();
      const int mask_trials = 2;
      int64_t mask_flips = 0;
      for (int t = 0; t < mask_trials; ++t) mask_flips += bernoulli_mask_flips(static_cast<uint64_t>(values) * 32, ber, static_cast<uint32_t>(t));
      const double mask = seconds_since(mask_start) / mask_trials;
      const double share = ours / activation_seconds;
      std::printf("BER %g: %.1f flips/trial; sampling + preparation %.6f s/trial; per-bit Bernoulli mask %.3f s/trial "
                  "(%.1f flips); speedup %.0fx; %.4f%% of one trial's activation pass\n",
                  ber, static_cast<double>(flips) / trials, ours, mask, static_cast<double>(mask_flips) / mask_trials,
                  mask / ours, 100.0 * share);
      csv << host << ',' << values << ',' << ber << ',' << trials << ',' << static_cast<double>(flips) / trials << ','
          << ours << ',' << mask << ',' << mask / ours << ',' << activation_seconds << ',' << images << ',' << share << '\n';
    }
  } catch (const fs::Error& e) {
    std::fprintf(stderr, "flipsweep_bench_fault_sampling: %s\n", e.what());
    return 1;
  }
  return 0;
}
