// The trial-batched plan (the CUDA backend's code path) executed by the host runtime: clean models
// against PyTorch's goldens, faulted blocks of trials against the CPU backend slot by slot (NaN
// positions and Inf signs included), the device decoding of faulted words against the host's
// weight preparation bit for bit, fan-out only where a trial's weights change, and the memory plan.
#include <cmath>
#include <cstring>
#include <filesystem>

#include "flipsweep/backend/backend.h"
#include "flipsweep/backend/backend_factory.h"
#include "flipsweep/batched/host_runtime.h"
#include "flipsweep/batched/plan_backend.h"
#include "flipsweep/data/dataset.h"
#include "flipsweep/error.h"
#include "flipsweep/eval/evaluate.h"
#include "flipsweep/faults/fault_injector.h"
#include "flipsweep/faults/targets.h"
#include "flipsweep/model/weight_transform.h"
#include "flipsweep/ops/reference_ops.h"
#include "flipsweep/model/weight_preparation.h"
#include "test_support.h"

#if defined(FLIPSWEEP_WITH_CUDA)
#include "flipsweep_cuda/cuda_backend.h"
#include "flipsweep_cuda/device.h"
#endif

namespace flipsweep {
namespace {

using testing::load_case_tensors;
using testing::source_path;
using testing::tensors_match;

Tensor run_on(Backend& backend, const std::vector<int>& slots, const Tensor& input) {
  const int64_t n = input.dim(0);
  Tensor out(Shape{static_cast<int64_t>(slots.size()) * n, backend.output_size()});
  backend.run(slots, input.ptr(), n, out.ptr());
  return out;
}

Tensor slice_rows(const Tensor& t, int64_t first, int64_t count) {
  const int64_t width = t.size() / t.dim(0);
  Tensor out(Shape{count, width});
  std::copy(t.data.begin() + first * width, t.data.begin() + (first + count) * width, out.data.begin());
  return out;
}

void expect_same_argmax(const Tensor& a, const Tensor& b, const std::string& what) {
  const int64_t rows = a.dim(0), width = a.size() / rows;
  for (int64_t r = 0; r < rows; ++r)
    EXPECT_EQ(reference::argmax(a.ptr() + r * width, width), reference::argmax(b.ptr() + r * width, width))
        << what << ", row " << r;
}

// Trial t's rows (n images each) of the plan's output against the CPU backend's: values within
// 2e-3 relative (NaN where NaN, infinities alike) and the same argmax.
void expect_trials_match(const Tensor& from_plan, const Tensor& from_cpu, int64_t n, int trials) {
  for (int t = 0; t < trials; ++t) {
    SCOPED_TRACE("trial " + std::to_string(t));
    const Tensor a = slice_rows(from_plan, t * n, n), b = slice_rows(from_cpu, t * n, n);
    EXPECT_TRUE(tensors_match(a, b, 2e-3, 1e-3));
    expect_same_argmax(a, b, "argmax");
  }
}

// Loads `trials` slots of every backend with the clean encoding of `format`, then slot t with
// trial t's faults (seed `seed`); every backend gets the same weights and changes. Returns the
// number of faults injected.
int64_t load_faulted_slots(const Model& model, const core::StorageFormat& format, const TargetSpec& targets,
                           const FaultSpec& spec, uint64_t seed, int trials, const std::vector<Backend*>& backends) {
  WeightPreparation preparation(model);
  FaultInjector injector(model, select_fault_targets(model, targets), format);
  WeightSet weights = preparation.prepare_clean();
  injector.apply_clean_encoding(weights);
  WeightChanges encoded;
  for (int id : injector.targets()) encoded.push_back(ValueChange{id, true, {}, {}, {}});
  preparation.propagate(weights, encoded);
  for (Backend* b : backends) {
    b->set_storage_format(format);
    for (int t = 0; t < trials; ++t) b->load_weights(t, weights);
  }
  int64_t faults = 0;
  for (int t = 0; t < trials; ++t) {
    TrialFaults f = injector.inject(weights, seed, static_cast<uint32_t>(t), spec);
    faults += f.total_faults;
    const WeightChanges changes = preparation.propagate(weights, f.parameter_changes);
    for (Backend* b : backends) b->load_weights(t, weights, &changes);
    injector.restore(weights, f);
    preparation.propagate(weights, f.parameter_changes);
  }
  return faults;
}

TEST(TrialPlan, CleanGoldensMatchPyTorch) {
  for (const char* name : {"resnet20_cifar", "resnet20_tanh_saf", "unet_relu_transpose", "unet_hardsigmoid_nearest"}) {
    SCOPED_TRACE(name);
    const std::string dir = source_path(std::string("tests/golden/") + name);
    Model model = load_onnx_model(dir + "/model.onnx");
    const Tensor input = load_case_tensors(dir, "input")[0];
    const Tensor expected = load_case_tensors(dir, "output")[0];
    BackendOptions options;
    options.batch_size = input.dim(0);
    options.threads = 2;
    auto backend = make_host_plan_backend(model, options);
    backend->load_weights(0, WeightPreparation(model).prepare_clean());
    Tensor out = run_on(*backend, {0}, input);
    out.shape = expected.shape;
    EXPECT_LE(testing::relative_l2_error(out, expected), 1e-4);
    if (expected.rank() == 2) expect_same_argmax(out, expected, name);
  }
}

TEST(TrialPlan, NanAndInfBehaveLikeTheCpuBackend) {
  const std::string root = source_path("tests/golden/nan_inf_semantics");
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    const std::string dir = entry.path().string();
    SCOPED_TRACE(dir);
    Model model = load_onnx_model(dir + "/model.onnx");
    const auto inputs = load_case_tensors(dir, "input");
    if (inputs.size() != 1) continue;
    BackendOptions options;
    options.batch_size = inputs[0].dim(0);
    options.threads = 2;
    const WeightSet weights = WeightPreparation(model).prepare_clean();
    auto cpu = make_cpu_backend(model, options);
    cpu->load_weights(0, weights);
    auto plan = make_host_plan_backend(model, options);
    plan->load_weights(0, weights);
    EXPECT_TRUE(tensors_match(run_on(*plan, {0}, inputs[0]), run_on(*cpu, {0}, inputs[0]), 1e-5, 1e-6));
    ++cases;
  }
  EXPECT_GE(cases, 4);
}

struct FaultedBlockCase {
  const char* model;
  const char* format;
  const char* bits;
  double ber;
};

// Every slot of a block holds its own trial's faults; each slot's outputs must be what the CPU
// backend computes with that trial's weights, NaN and Inf included, and every faulted word the
// runtime decoded must equal the host's effective weight bit for bit.
TEST(TrialPlan, FaultedBlocksMatchTheCpuBackendSlotBySlot) {
  const FaultedBlockCase cases[] = {
      {"resnet20_cifar", "fp32", "exponent", 2e-4},  // Inf/NaN weights: exact recomputation paths
      {"resnet20_cifar", "fp16", "all", 1e-3},
      {"resnet20_tanh_saf", "fp32", "all", 3e-4},    // tanh on the weights: decode + SAF on the "device"
      {"resnet20_tanh_saf", "q2.5", "all", 1e-3},
      {"resnet20_cifar", "int8-channel", "all", 1e-3},
      {"resnet20_cifar", "fp32", "mantissa", 0.2},   // so many changes that trials use their own weights
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.model) + " " + c.format + " " + c.bits);
    const std::string dir = source_path(std::string("tests/golden/") + c.model);
    Model model = load_onnx_model(dir + "/model.onnx");
    const Tensor input = load_case_tensors(dir, "input")[0];
    const core::StorageFormat format = core::StorageFormat::parse(c.format);
    TargetSpec targets;
    targets.roles = {ParameterRole::ConvWeight, ParameterRole::LinearWeight, ParameterRole::BatchNormAffine};
    const int trials = 5;
    BackendOptions options;
    options.batch_size = input.dim(0);
    options.threads = 2;
    options.trials_in_flight = trials;
    auto plan = make_host_plan_backend(model, options);
    auto cpu = make_cpu_backend(model, options, trials);
    FaultSpec spec;
    spec.rate = c.ber;
    spec.bits = parse_bit_selection(c.bits, format);
    const int64_t faults = load_faulted_slots(model, format, targets, spec, 11, trials, {plan.get(), cpu.get()});
    ASSERT_GT(faults, 0);
    const std::vector<int> slots{0, 1, 2, 3, 4};
    const Tensor from_plan = run_on(*plan, slots, input);
    const Tensor from_cpu = run_on(*cpu, slots, input);
    const int64_t n = input.dim(0);
    expect_trials_match(from_plan, from_cpu, n, trials);
    auto& backend = dynamic_cast<batched::PlanBackend<batched::HostRuntime>&>(*plan);
    const auto decoded = backend.decoded_corrections();
    ASSERT_FALSE(decoded.empty());
    int64_t mismatched = 0;
    for (const auto& [device, host] : decoded) mismatched += std::memcmp(&device, &host, sizeof device) != 0;
    EXPECT_EQ(mismatched, 0) << "of " << decoded.size() << " decoded corrections";
    int decoded_from_words = 0;
    for (const auto& correction : backend.last_block().corrections) decoded_from_words += correction.program >= 0;
    EXPECT_GT(decoded_from_words, 0) << "no correction was decoded from its stored word";
    if (c.ber >= 0.1) {
      size_t own = 0;
      for (const auto& s : backend.last_block().steps) own += s.own_weights.size();
      EXPECT_GT(own, 0u) << "dense per-trial weights were expected at this fault rate";
    }
  }
}

// The ops torchvision's ShuffleNetV2 (Transpose, Slice, ReduceMean) and DenseNet (Concat of up to
// 25 inputs, zero Pads) add to the plan, under faults: slot by slot as the CPU backend computes.
TEST(TrialPlan, TorchvisionModelsWithFaultsMatchTheCpuBackend) {
  for (const char* name : {"shufflenet_v2_x0_5", "densenet121"}) {
    SCOPED_TRACE(name);
    const std::string dir = testing::torchvision_case(name);
    if (dir.empty()) GTEST_SKIP() << "python3-torch/python3-torchvision are not installed; torchvision models not run";
    Model model = load_onnx_model(dir + "/model.onnx");
    const Tensor input = load_case_tensors(dir, "input")[0];
    const core::StorageFormat format = core::StorageFormat::parse("fp32");
    TargetSpec targets;
    targets.roles = {ParameterRole::ConvWeight, ParameterRole::LinearWeight, ParameterRole::BatchNormAffine};
    const int trials = 3;
    BackendOptions options;
    options.batch_size = input.dim(0);
    options.threads = 2;
    options.trials_in_flight = trials;
    auto plan = make_host_plan_backend(model, options);
    auto cpu = make_cpu_backend(model, options, trials);
    FaultSpec spec;
    // Hundreds of flips per trial, in mantissas: weights change everywhere but stay of their size
    // (an exponent flip to 1e32 makes both backends' sums cancel to a few 1e-3 apart, which is
    // not what this test is about; FaultedBlocksMatchTheCpuBackendSlotBySlot covers Inf/NaN).
    spec.rate = 1e-6;
    spec.bits = parse_bit_selection("mantissa", format);
    ASSERT_GT(load_faulted_slots(model, format, targets, spec, 5, trials, {plan.get(), cpu.get()}), 0);
    const std::vector<int> slots{0, 1, 2};
    const Tensor from_plan = run_on(*plan, slots, input);
    const Tensor from_cpu = run_on(*cpu, slots, input);
    const int64_t n = input.dim(0);
    expect_trials_match(from_plan, from_cpu, n, trials);
    // The trials differ from each other, so the faults reached the outputs through the new steps.
    EXPECT_NE(slice_rows(from_cpu, 0, n).data, slice_rows(from_cpu, n, n).data);
  }
}

// Where a correction's difference is not exact the output element is recomputed directly: an
// Inf input under a weight whose sign a fault flips gives -Inf (not Inf + (-3w)·Inf = NaN), an Inf
// weight over a padded tap contributes nothing (as in oneDNN), and a clean trial stays clean.
TEST(TrialPlan, NonFiniteCorrectionsAreRecomputedDirectly) {
  Model model = load_onnx_model(source_path("tests/golden/nan_inf_semantics/conv_inf_times_zero/model.onnx"));
  const int weight = model.graph.find_value("weight");
  ASSERT_GE(weight, 0);
  WeightSet clean = WeightPreparation(model).prepare_clean();
  auto& w = clean.tensors[static_cast<size_t>(weight)].data;
  for (size_t e = 0; e < w.size(); ++e) w[e] = 0.1f * static_cast<float>(static_cast<int>(e % 7) - 3) + 0.05f;
  Tensor input(Shape{2, 2, 5, 5});
  for (int64_t i = 0; i < input.size(); ++i) input.data[static_cast<size_t>(i)] = 0.01f * static_cast<float>(i % 13) - 0.05f;
  input.data[(0 * 2 + 0) * 25 + 2 * 5 + 2] = INFINITY;   // image 0, channel 0, pixel (2, 2)
  input.data[(1 * 2 + 1) * 25 + 0 * 5 + 0] = -INFINITY;  // image 1, channel 1, a corner

  BackendOptions options;
  options.batch_size = 2;
  options.threads = 2;
  options.trials_in_flight = 3;
  auto plan = make_host_plan_backend(model, options);
  auto cpu = make_cpu_backend(model, options, 3);
  for (int t = 0; t < 3; ++t) {
    plan->load_weights(t, clean);
    cpu->load_weights(t, clean);
  }
  WeightSet faulted = clean;
  auto& fw = faulted.tensors[static_cast<size_t>(weight)].data;
  const int64_t center = ((1 * 2 + 0) * 3 + 1) * 3 + 1;  // o=1, c=0, tap (1, 1): reads the Inf input
  fw[static_cast<size_t>(center)] = -2.0f * fw[static_cast<size_t>(center)];
  WeightChanges sign_flip{ValueChange{weight, false, {center}, {}, {}}};
  plan->load_weights(1, faulted, &sign_flip);
  cpu->load_weights(1, faulted, &sign_flip);
  fw = clean.tensors[static_cast<size_t>(weight)].data;
  const int64_t corner = ((2 * 2 + 1) * 3 + 0) * 3 + 0;  // o=2, c=1, tap (0, 0): padded at the border
  fw[static_cast<size_t>(corner)] = INFINITY;
  WeightChanges inf_weight{ValueChange{weight, false, {corner}, {}, {}}};
  plan->load_weights(2, faulted, &inf_weight);
  cpu->load_weights(2, faulted, &inf_weight);

  const Tensor a = run_on(*plan, {0, 1, 2}, input);
  // Trials 0 and 1 against the CPU backend, NaN and Inf included.
  EXPECT_TRUE(tensors_match(slice_rows(a, 0, 4), run_on(*cpu, {0, 1}, input), 1e-5, 1e-6));
  // The element this is about: trial 1, image 0, channel 1, pixel (2, 2) reads the Inf input
  // through the flipped weight, so it is Inf with that weight's sign.
  const float flipped = a.data[static_cast<size_t>(((1 * 2 + 0) * 3 + 1) * 25 + 2 * 5 + 2)];
  EXPECT_TRUE(std::isinf(flipped)) << flipped;
  EXPECT_EQ(flipped > 0, -2.0f * clean.tensors[static_cast<size_t>(weight)].data[static_cast<size_t>(center)] > 0);
  // Trial 2, image 0, channel 2: the Inf weight's tap (0, 0) falls on padding in row 0 and
  // column 0, which then stay finite (oneDNN's blocked kernels skip padded taps; its im2col path,
  // which the CPU backend takes for this tiny conv, multiplies the zero padding and gives NaN —
  // PyTorch 1.13 is split the same way, see docs/ARCHITECTURE.md), and it makes every other output
  // of that channel infinite.
  for (int64_t oh = 0; oh < 5; ++oh)
    for (int64_t ow = 0; ow < 5; ++ow) {
      const float v = a.data[static_cast<size_t>(((2 * 2 + 0) * 3 + 2) * 25 + oh * 5 + ow)];
      if (oh == 0 || ow == 0)
        EXPECT_TRUE(std::isfinite(v)) << oh << "," << ow << ": " << v;
      else
        EXPECT_FALSE(std::isfinite(v)) << oh << "," << ow << ": " << v;
    }
}

// A trial that changes only the classifier shares every layer before it with the clean trial:
// those run once, and only the classifier fans out.
TEST(TrialPlan, LayersBeforeTheFirstChangedOneRunOnce) {
  const std::string dir = source_path("tests/golden/resnet20_cifar");
  Model model = load_onnx_model(dir + "/model.onnx");
  const Tensor input = load_case_tensors(dir, "input")[0];
  BackendOptions options;
  options.batch_size = input.dim(0);
  options.threads = 2;
  options.trials_in_flight = 2;
  auto plan = make_host_plan_backend(model, options);
  auto cpu = make_cpu_backend(model, options, 2);
  WeightSet weights = WeightPreparation(model).prepare_clean();
  for (int t = 0; t < 2; ++t) {
    plan->load_weights(t, weights);
    cpu->load_weights(t, weights);
  }
  const int fc = model.graph.find_value("fc.weight");
  ASSERT_GE(fc, 0);
  weights.tensors[static_cast<size_t>(fc)].data[3] = INFINITY;
  weights.tensors[static_cast<size_t>(fc)].data[70] *= -3.0f;
  ValueChange change{fc, false, {3, 70}, {}, {}};
  WeightChanges changes{change};
  plan->load_weights(1, weights, &changes);
  cpu->load_weights(1, weights, &changes);
  const Tensor a = run_on(*plan, {0, 1}, input), b = run_on(*cpu, {0, 1}, input);
  EXPECT_TRUE(tensors_match(a, b, 1e-4, 1e-5));
  auto& backend = dynamic_cast<batched::PlanBackend<batched::HostRuntime>&>(*plan);
  const auto& block = backend.last_block();
  const auto& steps = backend.plan().steps();
  int per_trial = 0;
  for (size_t s = 0; s < steps.size(); ++s) {
    const bool reads_fc = steps[s].weight == fc;
    EXPECT_EQ(block.steps[s].per_trial, reads_fc) << steps[s].name;
    per_trial += block.steps[s].per_trial;
  }
  EXPECT_EQ(per_trial, 1);
}

// A block whose only change is in a shortcut (downsample) branch: the conv that absorbs the
// residual Add reads a shared input but a per-trial residual, so its dense pass runs once and
// fans out. (It once ran over T copies of an input that holds one.) Also the same with the
// downsample's BatchNorm, and with the block of three where the clean trial sits last.
TEST(TrialPlan, ChangesOnlyInAShortcutBranchFanOutCorrectly) {
  const std::string dir = source_path("tests/golden/resnet20_cifar");
  Model model = load_onnx_model(dir + "/model.onnx");
  const Tensor input = load_case_tensors(dir, "input")[0];
  for (const char* name : {"layer2.0.downsample.0.weight", "layer3.0.downsample.1.weight"}) {
    SCOPED_TRACE(name);
    BackendOptions options;
    options.batch_size = input.dim(0);
    options.threads = 2;
    options.trials_in_flight = 3;
    auto plan = make_host_plan_backend(model, options);
    auto cpu = make_cpu_backend(model, options, 3);
    WeightSet weights = WeightPreparation(model).prepare_clean();
    for (int t = 0; t < 3; ++t) {
      plan->load_weights(t, weights);
      cpu->load_weights(t, weights);
    }
    const int id = model.graph.find_value(name);
    ASSERT_GE(id, 0);
    weights.tensors[static_cast<size_t>(id)].data[5] *= -4.0f;
    WeightChanges changes{ValueChange{id, false, {5}, {}, {}}};
    plan->load_weights(1, weights, &changes);
    cpu->load_weights(1, weights, &changes);
    EXPECT_TRUE(tensors_match(run_on(*plan, {0, 1, 2}, input), run_on(*cpu, {0, 1, 2}, input), 1e-4, 1e-5));
  }
}

TEST(TrialPlan, WholeLoadsOfUnrelatedWeightsKeepEverySlotExact) {
  const std::string dir = source_path("tests/golden/unet_relu_transpose");
  Model model = load_onnx_model(dir + "/model.onnx");
  const Tensor input = load_case_tensors(dir, "input")[0];
  BackendOptions options;
  options.batch_size = input.dim(0);
  options.threads = 2;
  options.trials_in_flight = 2;
  auto plan = make_host_plan_backend(model, options);
  auto cpu = make_cpu_backend(model, options, 2);
  const WeightSet clean = WeightPreparation(model).prepare_clean();
  WeightSet scaled = clean;
  for (auto& t : scaled.tensors)
    for (float& v : t.data) v *= 1.5f;
  plan->load_weights(0, clean);
  // Far from the first: becomes the clean reference and slot 0 is re-expressed against it. The
  // scaled network amplifies rounding differences, hence the looser tolerance.
  plan->load_weights(1, scaled);
  cpu->load_weights(0, clean);
  cpu->load_weights(1, scaled);
  EXPECT_TRUE(tensors_match(run_on(*plan, {0, 1}, input), run_on(*cpu, {0, 1}, input), 2e-3, 1e-4));
  EXPECT_TRUE(tensors_match(run_on(*plan, {1}, input), run_on(*cpu, {1}, input), 2e-3, 1e-4));
}

// Raw images resident in the runtime's memory or uploaded batch by batch: the same scores, and
// both equal to the CPU backend's (host-preprocessed) evaluation.
TEST(TrialPlan, ResidentAndStreamedDatasetsScoreAlike) {
  if (!std::filesystem::exists(std::string(data::kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  Model model = load_onnx_model(source_path("models/fashion-mnist/resnet20_tanh.onnx"));
  data::DatasetSpec spec = data::parse_dataset_spec("fashion-mnist-test");
  spec.limit = 100;
  spec.preprocess.mean = {0.2860f};
  spec.preprocess.std = {0.3530f};
  auto dataset = data::open_dataset(spec);
  BackendOptions options;
  options.batch_size = 32;  // several batches, the last one short
  options.threads = 2;
  const WeightSet weights = WeightPreparation(model).prepare_clean();
  EvalOptions eval;
  eval.batch_size = 32;
  eval.progress = false;
  std::vector<EvalResult> results;
  for (size_t budget : {size_t{1} << 30, size_t{0}}) {
    batched::PlanBackend<batched::HostRuntime> plan(model, options, std::make_unique<batched::HostRuntime>(2, budget), 1);
    plan.load_weights(0, weights, nullptr);
    results.push_back(evaluate(plan, 0, *dataset, spec.preprocess, eval));
    EXPECT_EQ(plan.keeps_dataset_resident(), budget > 0);
  }
  auto cpu = make_cpu_backend(model, options);
  cpu->load_weights(0, weights);
  results.push_back(evaluate(*cpu, 0, *dataset, spec.preprocess, eval));
  for (size_t k = 1; k < results.size(); ++k) {
    EXPECT_EQ(results[k].predictions, results[0].predictions) << k;
    EXPECT_EQ(results[k].top5_correct, results[0].top5_correct) << k;
  }
  EXPECT_GT(results[0].top1_correct, 80);
}

// The CUDA backend on a real device: the same faulted blocks as above, slot by slot against the
// CPU backend (NaN/Inf positions, argmax), strict FP32 and TF32. Skips without a GPU.
TEST(CudaBackend, FaultedBlocksMatchTheCpuBackendSlotBySlot) {
#if !defined(FLIPSWEEP_WITH_CUDA)
  GTEST_SKIP() << "built without CUDA (FLIPSWEEP_CUDA=OFF or no nvcc)";
#else
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  for (const char* name : {"resnet20_cifar", "resnet20_tanh_saf", "unet_relu_transpose"})
    for (const char* format_name : {"fp32", "fp16"})
      for (bool tf32 : {false, true}) {
        SCOPED_TRACE(std::string(name) + " " + format_name + (tf32 ? " tf32" : " strict"));
        const std::string dir = source_path(std::string("tests/golden/") + name);
        Model model = load_onnx_model(dir + "/model.onnx");
        const Tensor input = load_case_tensors(dir, "input")[0];
        const core::StorageFormat format = core::StorageFormat::parse(format_name);
        const int trials = 4;
        BackendOptions options;
        options.batch_size = input.dim(0);
        options.threads = 2;
        options.trials_in_flight = trials;
        options.tf32 = tf32;
        auto gpu = cuda::make_cuda_backend(model, options);
        auto cpu = make_cpu_backend(model, options, trials);
        FaultSpec spec;
        spec.rate = 3e-4;
        ASSERT_GT(load_faulted_slots(model, format, TargetSpec{}, spec, 5, trials, {gpu.get(), cpu.get()}), 0);
        const std::vector<int> slots{0, 1, 2, 3};
        const Tensor a = run_on(*gpu, slots, input), b = run_on(*cpu, slots, input);
        const double rtol = tf32 ? 2e-2 : 2e-3;
        EXPECT_TRUE(tensors_match(a, b, rtol, rtol));
        if (!tf32 && std::string(name).rfind("resnet", 0) == 0) expect_same_argmax(a, b, "argmax");
        // A trial's outputs must not depend on which trials share its block: each slot alone
        // gives the same bits (the library calls then see other batch sizes).
        const int64_t n = input.dim(0);
        for (int t = 0; t < trials; ++t) {
          const Tensor alone = run_on(*gpu, {t}, input);
          const Tensor in_block = slice_rows(a, t * n, n);
          EXPECT_EQ(std::memcmp(alone.ptr(), in_block.ptr(), sizeof(float) * static_cast<size_t>(alone.size())), 0)
              << "slot " << t << " alone differs from the block";
        }
      }
#endif
}

}  // namespace
}  // namespace flipsweep
