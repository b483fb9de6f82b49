// Whole-network parity with PyTorch: golden files exported and run by python/make_golden.py
// (committed, so these run without PyTorch), ResNet18 and torchvision's models generated at test
// time when PyTorch is importable, and PyTorch's NaN/Inf behaviour on small cases.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <limits>
#include <map>
#include <cstring>

#include "flipsweep/backend/backend.h"
#include "flipsweep/backend/backend_factory.h"
#include "flipsweep/backend/reference_interpreter.h"
#include "flipsweep/error.h"
#include "flipsweep/ops/reference_ops.h"
#include "flipsweep/model/weight_preparation.h"
#include "test_support.h"

namespace flipsweep {
namespace {

using testing::load_case_tensors;
using testing::relative_l2_error;
using testing::source_path;
using testing::tensors_match;

struct BackendRun {
  CpuKernels kernels;
  int64_t batch;
  int64_t tile;
  int threads;
};

Tensor run_backend(const Model& model, const Tensor& input, const BackendRun& how) {
  BackendOptions options;
  options.batch_size = how.batch;
  options.tile = how.tile;
  options.threads = how.threads;
  auto backend = make_cpu_backend(model, options, 1, how.kernels);
  backend->load_weights(0, WeightPreparation(model).prepare_clean());
  const int64_t images = input.dim(0);
  const int64_t image_size = input.size() / images;
  Tensor logits(Shape{images, backend->output_size()});
  for (int64_t first = 0; first < images; first += how.batch) {
    const int64_t n = std::min(how.batch, images - first);
    backend->run({0}, input.ptr() + first * image_size, n, logits.ptr() + first * backend->output_size());
  }
  return logits;
}

std::vector<int64_t> row_argmax(const Tensor& logits) {
  std::vector<int64_t> out;
  const int64_t cols = logits.dim(1);
  for (int64_t r = 0; r < logits.dim(0); ++r) out.push_back(reference::argmax(logits.ptr() + r * cols, cols));
  return out;
}

void expect_parity(const std::string& dir, const BackendRun& how) {
  Model model = load_onnx_model(dir + "/model.onnx");
  Tensor input = load_case_tensors(dir, "input").at(0);
  Tensor expected = load_case_tensors(dir, "output").at(0);
  Tensor actual = run_backend(model, input, how);
  ASSERT_EQ(actual.shape, expected.shape);
  const double error = relative_l2_error(actual, expected);
  EXPECT_LE(error, 1e-4) << dir << ": ||flipsweep - PyTorch|| / ||PyTorch|| = " << error;
  EXPECT_EQ(row_argmax(actual), row_argmax(expected)) << dir;
}

const BackendRun kRuns[] = {
    {CpuKernels::Fast, 8, 0, 2},       // automatic tile
    {CpuKernels::Fast, 8, 3, 2},       // tiles that do not divide the batch: a padded last tile
    {CpuKernels::Fast, 5, 0, 1},       // batch smaller than the data set, one thread
    {CpuKernels::Reference, 8, 0, 2},  // reference kernels only
};

TEST(GoldenParity, ResNet20MatchesPyTorch) {
  for (const auto& how : kRuns) expect_parity(source_path("tests/golden/resnet20_cifar"), how);
}

TEST(GoldenParity, ResNet20WithTanhOnWeightsMatchesPyTorch) {
  const std::string dir = source_path("tests/golden/resnet20_tanh_saf");
  Model model = load_onnx_model(dir + "/model.onnx");
  // Tanh on each conv/linear weight depends only on parameters: weight preparation, not the
  // activation pass.
  EXPECT_EQ(model.graph.weight_nodes.size(), 22u);
  for (const Node& n : model.graph.weight_nodes) EXPECT_EQ(n.op, OpType::Tanh);
  for (const Node& n : model.graph.activation_nodes) EXPECT_NE(n.op, OpType::Tanh);
  for (const auto& how : kRuns) expect_parity(dir, how);
}

// Per-pixel argmax over the class axis of [N, C, H, W] logits, in torch.argmax(dim=1) order
// (image, row, column) and with its rules (first maximum wins, NaN ranks highest).
std::vector<int64_t> pixel_argmax(const Tensor& logits) {
  const int64_t images = logits.dim(0), classes = logits.dim(1), pixels = logits.dim(2) * logits.dim(3);
  std::vector<int64_t> out;
  std::vector<float> column(static_cast<size_t>(classes));
  for (int64_t n = 0; n < images; ++n)
    for (int64_t p = 0; p < pixels; ++p) {
      for (int64_t c = 0; c < classes; ++c)
        column[static_cast<size_t>(c)] = logits.data[static_cast<size_t>((n * classes + c) * pixels + p)];
      out.push_back(reference::argmax(column.data(), classes));
    }
  return out;
}

std::string scientific(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3e", value);
  return text;
}

int64_t count_differences(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  int64_t differ = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) differ += a[i] != b[i];
  return differ + static_cast<int64_t>(std::max(a.size(), b.size()) - std::min(a.size(), b.size()));
}

// Small U-Nets (python/flipsweep_models.py unet): Conv+BN+activation blocks, MaxPool down,
// ConvTranspose or nearest Resize up, Concat skips, 1x1 head; per-pixel logits [2, 2, 32, 32].
// The reference interpreter and the fast CPU backend must both match PyTorch.
TEST(GoldenParity, UNetEncoderDecoderMatchesPyTorch) {
  const BackendRun runs[] = {
      {CpuKernels::Fast, 2, 0, 2},       // automatic tile
      {CpuKernels::Fast, 2, 1, 1},       // one image per tile
      {CpuKernels::Fast, 1, 0, 1},       // batch 1: two backend calls
      {CpuKernels::Reference, 2, 0, 1},  // reference kernels behind the backend interface
  };
  for (const char* name : {"unet_relu_transpose", "unet_hardsigmoid_nearest"}) {
    const std::string dir = source_path(std::string("tests/golden/") + name);
    SCOPED_TRACE(dir);
    Model model = load_onnx_model(dir + "/model.onnx");
    Tensor input = load_case_tensors(dir, "input").at(0);
    Tensor expected = load_case_tensors(dir, "output").at(0);
    ASSERT_EQ(expected.shape, (Shape{2, 2, 32, 32}));
    const std::vector<int64_t> expected_argmax = pixel_argmax(expected);
    // Both classes occur, so the argmax comparison can see swapped classes or pixels.
    EXPECT_GT(std::count(expected_argmax.begin(), expected_argmax.end(), 0), 100);
    EXPECT_GT(std::count(expected_argmax.begin(), expected_argmax.end(), 1), 100);

    auto outputs = run_reference_graph(model, WeightPreparation(model).prepare_clean(), {input});
    ASSERT_EQ(outputs.size(), 1u);
    ASSERT_EQ(outputs[0].shape, expected.shape);
    const double reference_error = relative_l2_error(outputs[0], expected);
    RecordProperty(std::string(name) + "_reference_error", scientific(reference_error));
    EXPECT_LE(reference_error, 1e-4) << "reference graph: ||flipsweep - PyTorch|| / ||PyTorch|| = " << reference_error;
    EXPECT_EQ(count_differences(pixel_argmax(outputs[0]), expected_argmax), 0) << "reference graph";

    for (const BackendRun& how : runs) {
      SCOPED_TRACE("backend batch " + std::to_string(how.batch) + " tile " + std::to_string(how.tile) +
                   (how.kernels == CpuKernels::Fast ? " fast" : " reference"));
      // The backend's output_size() is per image: num_classes * H * W logits.
      Tensor actual = run_backend(model, input, how);
      ASSERT_EQ(actual.shape, (Shape{2, 2 * 32 * 32}));
      actual.shape = expected.shape;
      const double error = relative_l2_error(actual, expected);
      if (how.kernels == CpuKernels::Fast && how.tile == 0 && how.batch == 2)
        RecordProperty(std::string(name) + "_fast_error", scientific(error));
      EXPECT_LE(error, 1e-4) << "||flipsweep - PyTorch|| / ||PyTorch|| = " << error;
      EXPECT_EQ(count_differences(pixel_argmax(actual), expected_argmax), 0) << "pixels with a different argmax";
    }
  }
}

bool pytorch_available() {
  return std::system(FLIPSWEEP_PYTHON " -c 'import torch, torchvision, onnx' > /dev/null 2>&1") == 0;
}

// Seed 002's pruning round trip: a U-Net channel-pruned by filter norm in PyTorch
// (flipsweep_models.prune_unet_channels, half of each block's inner channels: 16 → 8, 32 → 16,
// 64 → 32), exported, then run by flipsweep — reference graph and fast backend — against PyTorch's
// output (generated at test time: python/make_golden.py zoo_unet_pruned).
TEST(GoldenParity, ChannelPrunedUNetMatchesPyTorch) {
  if (!pytorch_available()) GTEST_SKIP() << "python3-torch is not installed (scripts/install-deps.sh installs it)";
  const std::string dir = testing::torchvision_case("unet_pruned");
  ASSERT_FALSE(dir.empty());
  Model model = load_onnx_model(dir + "/model.onnx");
  std::map<std::string, Shape> shape_of;
  for (int id : model.graph.parameters) shape_of[model.graph.values[static_cast<size_t>(id)].name] = model.stored[static_cast<size_t>(id)].shape;
  EXPECT_EQ(shape_of["encoders.0.conv1.weight"], (Shape{8, 1, 3, 3}));
  EXPECT_EQ(shape_of["encoders.0.conv2.weight"], (Shape{16, 8, 3, 3}));
  EXPECT_EQ(shape_of["bottleneck.conv1.weight"], (Shape{32, 32, 3, 3}));
  EXPECT_EQ(shape_of["decoders.1.bn1.running_var"], (Shape{8}));
  const Tensor input = load_case_tensors(dir, "input").at(0);
  const Tensor expected = load_case_tensors(dir, "output").at(0);
  ASSERT_EQ(expected.shape, (Shape{2, 3, 32, 32}));
  const std::vector<int64_t> expected_argmax = pixel_argmax(expected);
  auto outputs = run_reference_graph(model, WeightPreparation(model).prepare_clean(), {input});
  EXPECT_LE(relative_l2_error(outputs.at(0), expected), 1e-4) << "reference graph";
  EXPECT_EQ(count_differences(pixel_argmax(outputs.at(0)), expected_argmax), 0) << "reference graph";
  for (const BackendRun& how : {BackendRun{CpuKernels::Fast, 2, 0, 2}, BackendRun{CpuKernels::Fast, 2, 1, 1}}) {
    SCOPED_TRACE("fast, tile " + std::to_string(how.tile));
    Tensor actual = run_backend(model, input, how);
    actual.shape = expected.shape;
    EXPECT_LE(relative_l2_error(actual, expected), 1e-4);
    EXPECT_EQ(count_differences(pixel_argmax(actual), expected_argmax), 0) << "pixels with a different argmax";
  }
}

TEST(GoldenParity, ResNet18MatchesPyTorch) {
  if (!pytorch_available())
    GTEST_SKIP() << "python3-torch is not installed (scripts/install-deps.sh installs it); ResNet18 parity not run";
  const std::string out_dir = testing::binary_path("golden");
  const std::string dir = out_dir + "/resnet18";
  if (!std::filesystem::exists(dir + "/test_data_set_0/output_0.pb")) {
    const std::string command = std::string(FLIPSWEEP_PYTHON " ") + source_path("python/make_golden.py") + " resnet18 " +
                                out_dir + " > " + out_dir + "_resnet18.log 2>&1";
    std::filesystem::create_directories(out_dir);
    ASSERT_EQ(std::system(command.c_str()), 0) << "failed: " << command;
  }
  Model model = load_onnx_model(dir + "/model.onnx");
  // torch deduplicates identical initializers through Identity nodes; every state_dict name must
  // still be its own parameter.
  EXPECT_EQ(model.graph.parameters.size(), 102u);
  expect_parity(dir, {CpuKernels::Fast, 2, 0, 2});
  expect_parity(dir, {CpuKernels::Fast, 2, 1, 1});
}

// torchvision 0.14's classification models with random weights (BatchNorm statistics measured on
// a calibration batch), exported by python/export_onnx.py's export() and run by PyTorch at test
// time (python/make_golden.py zoo_<name>; nothing is downloaded). Each must load (ShuffleNet's
// channel shuffle needs the shape arithmetic folded at load) and agree with PyTorch on the
// reference graph, the fast CPU backend and the trial-batched plan (host runtime): relative
// L2 <= 1e-4, identical argmax (the generator picks an input whose top-2 margins are >= 1e-3 of
// max |logit|).
class TorchvisionParity : public ::testing::TestWithParam<const char*> {};

TEST_P(TorchvisionParity, MatchesPyTorch) {
  const std::string name = GetParam();
  if (!pytorch_available())
    GTEST_SKIP() << "python3-torch/python3-torchvision are not installed (scripts/install-deps.sh installs them); "
                 << name << " parity not run";
  const std::string dir = testing::torchvision_case(name);
  ASSERT_FALSE(dir.empty());
  Model model = load_onnx_model(dir + "/model.onnx");
  const Tensor input = load_case_tensors(dir, "input").at(0);
  const Tensor expected = load_case_tensors(dir, "output").at(0);

  WeightSet weights = WeightPreparation(model).prepare_clean();
  const Tensor reference_logits = run_reference_graph(model, weights, {input}).at(0);
  ASSERT_EQ(reference_logits.shape, expected.shape);
  const double reference_error = relative_l2_error(reference_logits, expected);
  RecordProperty("reference_error", scientific(reference_error));
  EXPECT_LE(reference_error, 1e-4) << "reference graph: ||flipsweep - PyTorch|| / ||PyTorch||";
  EXPECT_EQ(row_argmax(reference_logits), row_argmax(expected)) << "reference graph";

  // Batch 2 in one tile, and one image per tile (other batch sizes than the export's).
  for (const BackendRun& how : {BackendRun{CpuKernels::Fast, 2, 0, 2}, BackendRun{CpuKernels::Fast, 1, 1, 1}}) {
    SCOPED_TRACE("fast kernels, batch " + std::to_string(how.batch));
    const Tensor fast = run_backend(model, input, how);
    ASSERT_EQ(fast.shape, expected.shape);
    const double error = relative_l2_error(fast, expected);
    if (how.batch == 2) RecordProperty("fast_error", scientific(error));
    EXPECT_LE(error, 1e-4) << "fast CPU backend: ||flipsweep - PyTorch|| / ||PyTorch||";
    EXPECT_EQ(row_argmax(fast), row_argmax(expected)) << "fast CPU backend";
  }

  // Every convolution gets a fast oneDNN kernel (the planner picks layouts for it; a reference
  // implementation would run ~100x slower than the rest).
  BackendOptions plan_options;
  plan_options.batch_size = 64;
  for (const CpuPlanEntry& e : describe_cpu_plan(model, plan_options))
    if (e.kind == "conv") EXPECT_NE(e.implementation.rfind("ref", 0), 0u) << e.node << " runs in " << e.implementation;

  // The trial-batched plan (the CUDA backend's code path) on the host runtime.
  BackendOptions options;
  options.batch_size = input.dim(0);
  options.threads = 2;
  auto plan = make_host_plan_backend(model, options);
  plan->load_weights(0, weights);
  Tensor planned(Shape{input.dim(0), plan->output_size()});
  plan->run({0}, input.ptr(), input.dim(0), planned.ptr());
  planned.shape = expected.shape;
  const double plan_error = relative_l2_error(planned, expected);
  RecordProperty("trial_plan_error", scientific(plan_error));
  EXPECT_LE(plan_error, 1e-4) << "trial-batched plan: ||flipsweep - PyTorch|| / ||PyTorch||";
  EXPECT_EQ(row_argmax(planned), row_argmax(expected)) << "trial-batched plan";
}

INSTANTIATE_TEST_SUITE_P(Zoo, TorchvisionParity,
                         ::testing::Values("resnet18", "resnet50", "vgg11_bn", "mobilenet_v2", "mobilenet_v3_small",
                                           "densenet121", "squeezenet1_1", "shufflenet_v2_x0_5", "efficientnet_b0"),
                         [](const ::testing::TestParamInfo<const char*>& model) { return std::string(model.param); });

// PyTorch's NaN/Inf behaviour: ReLU and max-pool propagate NaN, 0·Inf in a conv is NaN,
// BatchNorm with a negative running_var or an Inf weight, SAFs on Inf/NaN weights.
TEST(GoldenParity, NanAndInfBehaveAsInPyTorch) {
  const std::string root = source_path("tests/golden/nan_inf_semantics");
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    const std::string dir = entry.path().string();
    SCOPED_TRACE(dir);
    Model model = load_onnx_model(dir + "/model.onnx");
    auto inputs = load_case_tensors(dir, "input");
    auto expected = load_case_tensors(dir, "output");
    WeightSet weights = WeightPreparation(model).prepare_clean();
    auto outputs = run_reference_graph(model, weights, inputs);
    ASSERT_EQ(outputs.size(), expected.size());
    for (size_t k = 0; k < outputs.size(); ++k) EXPECT_TRUE(tensors_match(outputs[k], expected[k], 1e-5, 1e-6));
    if (inputs.size() == 1 && expected.size() == 1) {
      Tensor fast = run_backend(model, inputs[0], {CpuKernels::Fast, inputs[0].dim(0), 0, 2});
      fast.shape = expected[0].shape;
      EXPECT_TRUE(tensors_match(fast, expected[0], 1e-5, 1e-6)) << "fast CPU kernels";
    }
    ++cases;
  }
  EXPECT_GE(cases, 4);
}

float json_float(const nlohmann::json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "nan") return NAN;
    if (s == "inf") return INFINITY;
    if (s == "-inf") return -INFINITY;
    throw Error("argmax_cases.json: unexpected value " + s);
  }
  return v.get<float>();
}

TEST(GoldenParity, ArgmaxAndTopKFollowTorch) {
  std::ifstream in(source_path("tests/golden/nan_inf_semantics/argmax_cases.json"));
  ASSERT_TRUE(in.good());
  nlohmann::json doc = nlohmann::json::parse(in);
  const int64_t k = doc["k"].get<int64_t>();
  int checked = 0;
  for (const auto& c : doc["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    std::vector<float> logits;
    for (const auto& v : c["logits"]) logits.push_back(json_float(v));
    const int64_t n = static_cast<int64_t>(logits.size());
    EXPECT_EQ(reference::argmax(logits.data(), n), c["argmax"].get<int64_t>());
    if (c["tie_at_topk_boundary"].get<bool>()) continue;
    std::vector<int64_t> expected_set = c["topk_index_set"].get<std::vector<int64_t>>();
    for (int64_t label = 0; label < n; ++label) {
      const bool expected = std::find(expected_set.begin(), expected_set.end(), label) != expected_set.end();
      EXPECT_EQ(reference::in_top_k(logits.data(), n, label, k), expected) << "label " << label;
    }
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

TEST(GoldenParity, DeduplicatedInitializersGetTheirOwnStorage) {
  Model model = load_onnx_model(source_path("tests/golden/nan_inf_semantics/saf_special_weights/model.onnx"));
  const Tensor& shared = model.parameter("heads.0.bias");
  for (const char* name : {"heads.1.bias", "heads.2.bias", "heads.3.bias", "heads.4.bias"}) {
    const Tensor& copy = model.parameter(name);
    EXPECT_EQ(copy.data, shared.data) << name;
    EXPECT_NE(copy.ptr(), shared.ptr()) << name << " must not alias heads.0.bias";
  }
}

// Patching a few parameter elements and propagating through weight preparation must give exactly
// what a full preparation of the faulted parameters gives, and a backend patched with the
// changes must produce the same logits as one loaded whole.
TEST(WeightPreparation, PatchingEqualsFullPreparation) {
  const std::string dir = source_path("tests/golden/resnet20_tanh_saf");
  Model model = load_onnx_model(dir + "/model.onnx");
  WeightPreparation prep(model);
  WeightSet patched = prep.prepare_clean();

  const int conv1 = model.graph.find_value("conv1.weight");
  const int fc = model.graph.find_value("fc.weight");
  const int bn = model.graph.find_value("layer2.0.bn1.running_var");
  ASSERT_GE(conv1, 0);
  ASSERT_GE(fc, 0);
  ASSERT_GE(bn, 0);
  WeightChanges faults = {{conv1, false, {0, 17, 400}, {}, {}}, {fc, false, {5}, {}, {}}, {bn, false, {3}, {}, {}}};
  patched.tensors[static_cast<size_t>(conv1)].data[0] = INFINITY;
  patched.tensors[static_cast<size_t>(conv1)].data[17] = NAN;
  patched.tensors[static_cast<size_t>(conv1)].data[400] = -3.0e38f;
  patched.tensors[static_cast<size_t>(fc)].data[5] = 1.5f;
  patched.tensors[static_cast<size_t>(bn)].data[3] = -1.0f;
  WeightChanges all_changes = prep.propagate(patched, faults);

  Model faulted_model = model;
  for (const auto& c : faults)
    for (int64_t e : c.elements)
      faulted_model.stored[static_cast<size_t>(c.value)].data[static_cast<size_t>(e)] =
          patched.tensors[static_cast<size_t>(c.value)].data[static_cast<size_t>(e)];
  WeightSet full = WeightPreparation(faulted_model).prepare_clean();
  for (size_t id = 0; id < full.tensors.size(); ++id) {
    const auto& a = patched.tensors[id].data;
    const auto& b = full.tensors[id].data;
    ASSERT_EQ(a.size(), b.size());
    // Empty tensors may have null data(); memcmp on null is undefined even for 0 bytes.
    if (!a.empty()) EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << model.graph.values[id].name;
  }
  // conv1.weight, its Tanh output, fc.weight, its Tanh output, the running var: 5 changed values.
  EXPECT_EQ(all_changes.size(), 5u);
  const int tanh_conv1 = model.graph.find_value("/conv1/Tanh_output_0");
  bool found = false;
  for (const auto& c : all_changes)
    if (c.value == tanh_conv1) {
      found = true;
      EXPECT_FALSE(c.all);
      EXPECT_EQ(c.elements, (std::vector<int64_t>{0, 17, 400}));
    }
  EXPECT_TRUE(found);

  Tensor input = load_case_tensors(dir, "input").at(0);
  BackendOptions options;
  options.batch_size = input.dim(0);
  options.threads = 2;
  auto incremental = make_cpu_backend(model, options);
  incremental->load_weights(0, prep.prepare_clean());
  incremental->load_weights(0, patched, &all_changes);
  auto whole = make_cpu_backend(model, options);
  whole->load_weights(0, full);
  std::vector<float> a(static_cast<size_t>(input.dim(0) * 10)), b(a.size());
  incremental->run({0}, input.ptr(), input.dim(0), a.data());
  whole->run({0}, input.ptr(), input.dim(0), b.data());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  // The faults matter: conv1 has an Inf and a NaN weight, so logits are no longer finite.
  EXPECT_TRUE(std::any_of(a.begin(), a.end(), [](float v) { return std::isnan(v); }));
}

TEST(CpuBackend, RunsManyTrialSlotsAtOnce) {
  const std::string dir = source_path("tests/golden/resnet20_cifar");
  Model model = load_onnx_model(dir + "/model.onnx");
  Tensor input = load_case_tensors(dir, "input").at(0);
  Tensor expected = load_case_tensors(dir, "output").at(0);
  BackendOptions options;
  options.batch_size = input.dim(0);
  options.threads = 2;
  auto backend = make_cpu_backend(model, options, 3);
  WeightPreparation prep(model);
  WeightSet clean = prep.prepare_clean();
  WeightSet zeroed = clean;
  const int fc_bias = model.graph.find_value("fc.bias");
  const int fc_weight = model.graph.find_value("fc.weight");
  std::fill(zeroed.tensors[static_cast<size_t>(fc_weight)].data.begin(), zeroed.tensors[static_cast<size_t>(fc_weight)].data.end(), 0.0f);
  backend->load_weights(0, clean);
  backend->load_weights(1, zeroed);
  backend->load_weights(2, clean);
  const int64_t n = input.dim(0), classes = backend->output_size();
  std::vector<float> out(static_cast<size_t>(3 * n * classes));
  backend->run({0, 1, 2}, input.ptr(), n, out.data());
  Tensor slot0(Shape{n, classes}, std::vector<float>(out.begin(), out.begin() + n * classes));
  EXPECT_LE(relative_l2_error(slot0, expected), 1e-4);
  // Slot 1 has a zero classifier: its logits are exactly the bias.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < classes; ++c)
      EXPECT_EQ(out[static_cast<size_t>((n + i) * classes + c)], clean.tensors[static_cast<size_t>(fc_bias)].data[static_cast<size_t>(c)]);
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + n * classes, out.begin() + 2 * n * classes));
  EXPECT_THROW(backend->run({3}, input.ptr(), n, out.data()), Error);
}

// Clean-prefix sharing: per tile, the layers before a slot's first changed one run once for all
// slots; and the all-NaN shortcut. Slots changed at the first layer, a middle one (a NaN: every
// later activation is NaN, so the rest is skipped), a BatchNorm variance, the last layer, two
// places, or not at all give the same bits as a backend without shortcuts (NaN where it has NaN)
// and as each slot run alone; each reports what it skipped; a new clean reference (a whole load of
// other weights) is followed. ResNet20 (residual adds), and the U-Nets (skip Concats, ConvTranspose and
// Resize on the reference path).
TEST(CpuBackend, CleanPrefixSharingGivesTheSameBits) {
  for (const char* name : {"resnet20_cifar", "unet_relu_transpose", "unet_hardsigmoid_nearest"}) {
    SCOPED_TRACE(name);
    const std::string dir = source_path(std::string("tests/golden/") + name);
    Model model = load_onnx_model(dir + "/model.onnx");
    Tensor input = load_case_tensors(dir, "input").at(0);
    const int64_t n = input.dim(0);
    // Weights in the order the layers read them.
    std::vector<int> params;
    for (const Node& node : model.graph.activation_nodes)
      for (int id : node.inputs)
        if (id >= 0 && model.graph.values[static_cast<size_t>(id)].kind == ValueKind::Parameter &&
            std::find(params.begin(), params.end(), id) == params.end())
          params.push_back(id);
    ASSERT_GE(params.size(), 4u);
    int variance = -1;
    for (int id : params)
      if (model.graph.values[static_cast<size_t>(id)].name.find("running_var") != std::string::npos && variance < 0)
        variance = id;
    WeightSet clean = WeightPreparation(model).prepare_clean();
    auto changed = [&](std::vector<std::pair<int, float>> edits, WeightChanges* changes) {
      WeightSet w = clean;
      for (auto [id, value] : edits) {
        w.tensors[static_cast<size_t>(id)].data[1] = value;
        ValueChange c;
        c.value = id;
        c.elements = {1};
        changes->push_back(c);
      }
      return w;
    };
    const int first = params.front(), middle = params[params.size() / 2], last = params.back();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<std::vector<std::pair<int, float>>> edits = {
        {},                                      // clean
        {{first, 0.75f}},                        // the first layer: nothing to share
        {{middle, nan}},                         // a NaN half-way
        {{last, 3.0f}},                          // the last layer: almost everything shared
        {{middle, -2.0f}, {last, 0.5f}},         // two layers: from the first of them
        {{variance >= 0 ? variance : middle, 9.0f}},
    };
    const int slots = static_cast<int>(edits.size());
    BackendOptions options;
    options.batch_size = n;
    options.tile = 1;  // several tiles, so several work items per run
    options.threads = 2;
    auto shared = make_cpu_backend(model, options, slots);
    options.shortcuts = false;
    auto plain = make_cpu_backend(model, options, slots);
    std::vector<int> all(static_cast<size_t>(slots));
    std::iota(all.begin(), all.end(), 0);
    const int64_t outputs = n * shared->output_size();
    auto run_all = [&](Backend& b) {
      std::vector<float> out(static_cast<size_t>(slots * outputs));
      b.run(all, input.ptr(), n, out.data());
      return out;
    };
    for (int round = 0; round < 2; ++round) {
      SCOPED_TRACE(round == 0 ? "clean reference" : "a new reference");
      if (round == 1) clean.tensors[static_cast<size_t>(last)].data[0] *= 2.0f;  // other "clean" weights
      for (int k = 0; k < slots; ++k) {
        shared->load_weights(k, clean);
        plain->load_weights(k, clean);
        WeightChanges changes;
        WeightSet w = changed(edits[static_cast<size_t>(k)], &changes);
        if (changes.empty()) continue;
        shared->load_weights(k, w, &changes);
        plain->load_weights(k, w, &changes);
      }
      // The same bits, except that a tile cut short as all NaN may hold another NaN.
      auto same = [](const float* x, const float* y, int64_t count) {
        for (int64_t i = 0; i < count; ++i)
          if (std::memcmp(&x[i], &y[i], sizeof(float)) != 0 && !(std::isnan(x[i]) && std::isnan(y[i]))) return false;
        return true;
      };
      const std::vector<float> a = run_all(*shared), b = run_all(*plain);
      ASSERT_TRUE(same(a.data(), b.data(), static_cast<int64_t>(a.size()))) << "shortcut and full runs differ";
      EXPECT_TRUE(std::all_of(a.begin() + 2 * outputs, a.begin() + 3 * outputs, [](float v) { return std::isnan(v); }));
      EXPECT_FALSE(std::any_of(a.begin() + 4 * outputs, a.begin() + 5 * outputs, [](float v) { return std::isnan(v); }));
      for (int k = 0; k < slots; ++k) {
        std::vector<float> alone(static_cast<size_t>(outputs));
        shared->run({k}, input.ptr(), n, alone.data());
        EXPECT_TRUE(same(alone.data(), a.data() + k * outputs, outputs)) << "slot " << k;
      }
      // What each slot shared: everything, nothing, or the layers before its first changed one.
      shared->run(all, input.ptr(), n, std::vector<float>(a.size()).data());
      plain->run(all, input.ptr(), n, std::vector<float>(a.size()).data());
      EXPECT_EQ(shared->shortcut_taken(0), "clean-prefix:(whole pass)");
      EXPECT_EQ(shared->shortcut_taken(1), "");
      for (int k : {2, 3, 4}) EXPECT_EQ(shared->shortcut_taken(k).rfind("clean-prefix:", 0), 0u) << k;
      // Both first change `middle`; slot 2's NaN there makes every later activation NaN.
      EXPECT_EQ(shared->shortcut_taken(2), shared->shortcut_taken(4) + ";all-nan");
      EXPECT_NE(shared->shortcut_taken(3), shared->shortcut_taken(2));
      for (int k = 0; k < slots; ++k) EXPECT_EQ(plain->shortcut_taken(k), "") << k;
    }
  }
}

}  // namespace
}  // namespace flipsweep
