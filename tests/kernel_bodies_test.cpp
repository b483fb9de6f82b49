// Kernel bodies of the trial-batched activation pass (host/include/flipsweep/kernels/*.h) run
// through kernels::host_launch and compared with the reference kernels (reference::run_op,
// data::preprocess_batch), on random data with NaN, +Inf and -Inf sprinkled in. Each table row
// names its op, parameters, trial count T, which operands are shared by all trials (trial stride
// 0) or per-trial (T copies), and its tolerance; the expected result of trial t is the reference
// op on trial t's operands. NaN positions and Inf signs must match; finite values within the
// stated tolerance (0 = exact, used wherever the body does the reference's float operations in
// the reference's order, which is everywhere below). Guard values after every output buffer catch
// writes past its end. The last test runs a few bodies on a GPU (skipped without one) and asks for
// the same bits as host_launch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "flipsweep/data/preprocess.h"
#include "flipsweep/kernels/concat.h"
#include "flipsweep/kernels/direct_conv.h"
#include "flipsweep/kernels/elementwise.h"
#include "flipsweep/kernels/epilogue.h"
#include "flipsweep/kernels/host_launch.h"
#include "flipsweep/kernels/pooling.h"
#include "flipsweep/kernels/preprocess.h"
#include "flipsweep/kernels/resize.h"
#include "flipsweep/kernels/strided_copy.h"
#include "flipsweep/kernels/scoring.h"
#include "flipsweep/ops/reference_ops.h"
#include "flipsweep/ops/shapes.h"
#include "test_support.h"

#if defined(FLIPSWEEP_WITH_CUDA)
#include "flipsweep_cuda/device.h"
#include "flipsweep_cuda/device_buffer.h"
#include "flipsweep_cuda/launchers.h"
#endif

namespace flipsweep {
namespace {

using kernels::host_launch;

// ---------------------------------------------------------------------------------------------
// Operands, guarded outputs, reference over trials

enum class Specials { None, Sprinkled };

std::vector<float> random_values(int64_t count, std::mt19937& rng, Specials specials) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& x : v) {
    x = normal(rng);
    if (specials == Specials::Sprinkled) {
      const float u = uniform(rng);
      if (u < 0.02f) x = NAN;
      else if (u < 0.03f) x = INFINITY;
      else if (u < 0.04f) x = -INFINITY;
    }
  }
  return v;
}

// One operand of a batched body: `copies` = 1 (shared by all trials, trial stride 0) or T.
struct Operand {
  Shape shape;  // one trial's shape
  int64_t copies = 1;
  std::vector<float> data;

  int64_t size() const { return element_count(shape); }
  int64_t trial_stride() const { return copies == 1 ? 0 : size(); }
  const float* ptr() const { return data.data(); }
  Tensor trial(int64_t t) const {
    const int64_t copy = copies == 1 ? 0 : t;
    return Tensor(shape, std::vector<float>(data.begin() + copy * size(), data.begin() + (copy + 1) * size()));
  }
};

Operand make_operand(Shape shape, int64_t copies, std::mt19937& rng, Specials specials = Specials::Sprinkled) {
  Operand op;
  op.shape = std::move(shape);
  op.copies = copies;
  op.data = random_values(op.size() * copies, rng, specials);
  return op;
}

// An output buffer with guard values after it.
constexpr int64_t kGuard = 19;
constexpr float kGuardValue = -12345.5f;

struct GuardedOutput {
  std::vector<float> buffer;
  int64_t count;
  explicit GuardedOutput(int64_t n, float fill = 777.0f) : buffer(static_cast<size_t>(n + kGuard), fill), count(n) {
    for (int64_t i = n; i < n + kGuard; ++i) buffer[static_cast<size_t>(i)] = kGuardValue;
  }
  float* ptr() { return buffer.data(); }
  bool guard_intact() const {
    for (int64_t i = count; i < count + kGuard; ++i)
      if (buffer[static_cast<size_t>(i)] != kGuardValue) return false;
    return true;
  }
  Tensor tensor(const Shape& shape) const {
    return Tensor(shape, std::vector<float>(buffer.begin(), buffer.begin() + count));
  }
};

// Shape of T trials stacked along the batch axis.
Shape stacked(Shape shape, int64_t trials) {
  shape[0] *= trials;
  return shape;
}

// The reference op run once per trial on that trial's operands (nullptr = absent optional input),
// outputs concatenated trial-major.
Tensor reference_over_trials(OpType op, const OpParams& params, const std::vector<const Operand*>& operands,
                             int64_t trials) {
  Tensor result;
  for (int64_t t = 0; t < trials; ++t) {
    std::vector<Tensor> inputs;
    inputs.reserve(operands.size());
    for (const Operand* o : operands) inputs.push_back(o ? o->trial(t) : Tensor());
    std::vector<const Tensor*> pointers;
    for (size_t j = 0; j < operands.size(); ++j) pointers.push_back(operands[j] ? &inputs[j] : nullptr);
    std::vector<Tensor> outputs;
    reference::run_op(op, params, pointers, outputs);
    if (t == 0) result.shape = stacked(outputs[0].shape, trials);
    result.data.insert(result.data.end(), outputs[0].data.begin(), outputs[0].data.end());
  }
  return result;
}

// Every output must be produced: a NaN or Inf somewhere in the expected output keeps the test
// honest about specials; the fill value 777 never occurs in random data.
void expect_matches(const GuardedOutput& out, const Tensor& expected, double rtol, double atol, const std::string& name) {
  EXPECT_TRUE(out.guard_intact()) << name << ": wrote past the end of the output";
  ASSERT_EQ(out.count, expected.size()) << name;
  EXPECT_TRUE(testing::tensors_match(out.tensor(expected.shape), expected, rtol, atol)) << name;
}

// ---------------------------------------------------------------------------------------------
// Unary

struct UnaryCase {
  const char* name;
  OpType op;
  OpParams params;
  core::PointwiseStep step;
  int64_t trials;
  bool shared_input;
  double tolerance;
};

TEST(KernelBodies, UnaryMatchesReferenceOps) {
  const UnaryCase cases[] = {
      {"relu T1", OpType::Relu, std::monostate{}, {core::PointwiseOp::Relu}, 1, false, 0},
      {"relu T3 shared", OpType::Relu, std::monostate{}, {core::PointwiseOp::Relu}, 3, true, 0},
      {"leaky T3", OpType::LeakyRelu, ActivationParams{0.1f, 0}, {core::PointwiseOp::LeakyRelu, 0.1f}, 3, false, 0},
      {"clip T3", OpType::Clip, ClipParams{-1.0f, 2.0f}, {core::PointwiseOp::Clip, -1.0f, 2.0f}, 3, false, 0},
      {"sigmoid T3", OpType::Sigmoid, std::monostate{}, {core::PointwiseOp::Sigmoid}, 3, false, 0},
      {"hardsigmoid T3", OpType::HardSigmoid, ActivationParams{0.2f, 0.5f}, {core::PointwiseOp::HardSigmoid, 0.2f, 0.5f},
       3, true, 0},
      {"tanh T3", OpType::Tanh, std::monostate{}, {core::PointwiseOp::Tanh}, 3, false, 0},
      {"softsign T1", OpType::Softsign, std::monostate{}, {core::PointwiseOp::Softsign}, 1, false, 0},
      {"atan T3", OpType::Atan, std::monostate{}, {core::PointwiseOp::Atan}, 3, false, 0},
  };
  std::mt19937 rng(11);
  for (const UnaryCase& c : cases) {
    const Operand x = make_operand({2, 3, 5, 4}, c.shared_input ? 1 : c.trials, rng);
    const Tensor expected = reference_over_trials(c.op, c.params, {&x}, c.trials);
    GuardedOutput out(expected.size());
    kernels::UnaryBody body;
    body.x = x.ptr();
    body.x_trial_stride = x.trial_stride();
    body.y = out.ptr();
    body.per_trial = x.size();
    body.step = c.step;
    host_launch(out.count, body);
    expect_matches(out, expected, c.tolerance, c.tolerance, c.name);
  }
}

// ---------------------------------------------------------------------------------------------
// Binary (broadcasting)

struct BinaryCase {
  const char* name;
  OpType op;
  kernels::BinaryOp body_op;
  Shape a, b;
  int64_t a_copies, b_copies;  // 1 = shared, else T
  int64_t trials;
  double tolerance;
};

TEST(KernelBodies, BinaryBroadcastingMatchesReference) {
  using kernels::BinaryOp;
  const BinaryCase cases[] = {
      {"add same shape T1", OpType::Add, BinaryOp::Add, {2, 3, 4, 5}, {2, 3, 4, 5}, 1, 1, 1, 0},
      {"add residual T3 per-trial", OpType::Add, BinaryOp::Add, {2, 3, 4, 5}, {2, 3, 4, 5}, 3, 3, 3, 0},
      {"add shared+per-trial T3", OpType::Add, BinaryOp::Add, {2, 3, 4, 5}, {2, 3, 4, 5}, 1, 3, 3, 0},
      {"sub channel weight T3", OpType::Sub, BinaryOp::Sub, {2, 3, 4, 5}, {3, 1, 1}, 3, 1, 3, 0},
      {"mul per-trial weight T3", OpType::Mul, BinaryOp::Mul, {2, 3, 4, 5}, {3, 1, 1}, 3, 3, 3, 0},
      {"div weight first T3", OpType::Div, BinaryOp::Div, {1, 5}, {2, 3, 4, 5}, 3, 1, 3, 0},
      {"div both broadcast T3", OpType::Div, BinaryOp::Div, {2, 1, 4, 1}, {1, 3, 1, 5}, 3, 3, 3, 0},
      {"mul scalar T3", OpType::Mul, BinaryOp::Mul, {2, 3, 4, 5}, {}, 3, 3, 3, 0},
      {"add rank 6 T3", OpType::Add, BinaryOp::Add, {2, 1, 3, 2, 1, 3}, {2, 2, 1, 1, 2, 1}, 3, 1, 3, 0},
  };
  std::mt19937 rng(12);
  for (const BinaryCase& c : cases) {
    const Operand a = make_operand(c.a, c.a_copies, rng);
    const Operand b = make_operand(c.b, c.b_copies, rng);
    const Tensor expected = reference_over_trials(c.op, std::monostate{}, {&a, &b}, c.trials);
    const Shape per_trial = broadcast_shapes(c.a, c.b);
    GuardedOutput out(expected.size());
    kernels::BinaryBody body;
    body.op = c.body_op;
    kernels::set_binary_shapes(body, per_trial, c.a, c.b);
    body.a.data = a.ptr();
    body.a.trial_stride = a.trial_stride();
    body.b.data = b.ptr();
    body.b.trial_stride = b.trial_stride();
    body.y = out.ptr();
    host_launch(out.count, body);
    // The reference output of T trials is the T per-trial outputs one after the other.
    Tensor flat(Shape{expected.size()}, expected.data);
    expect_matches(out, flat, c.tolerance, c.tolerance, c.name);
  }
}

// ---------------------------------------------------------------------------------------------
// Pooling

struct PoolCase {
  const char* name;
  OpType op;
  PoolParams params;
  Shape x;
  int64_t trials;
  bool shared_input;
  double tolerance;
};

PoolParams pool(std::vector<int64_t> kernel, std::vector<int64_t> strides, std::vector<int64_t> pads_begin,
                std::vector<int64_t> pads_end, bool ceil_mode = false, bool count_include_pad = false,
                std::vector<int64_t> dilations = {}) {
  PoolParams p;
  p.kernel_shape = std::move(kernel);
  p.strides = std::move(strides);
  p.pads_begin = std::move(pads_begin);
  p.pads_end = std::move(pads_end);
  p.ceil_mode = ceil_mode;
  p.count_include_pad = count_include_pad;
  p.dilations = std::move(dilations);
  return p;
}

TEST(KernelBodies, PoolingMatchesReference) {
  const PoolCase cases[] = {
      {"max 3x3 s2 p1 T1", OpType::MaxPool, pool({3, 3}, {2, 2}, {1, 1}, {1, 1}), {2, 3, 9, 8}, 1, false, 0},
      {"max 3x3 s2 p1 T3 shared", OpType::MaxPool, pool({3, 3}, {2, 2}, {1, 1}, {1, 1}), {2, 3, 9, 8}, 3, true, 0},
      {"max ceil dilated T3", OpType::MaxPool, pool({2, 3}, {2, 2}, {0, 1}, {1, 0}, true, false, {2, 1}), {2, 2, 10, 9},
       3, false, 0},
      {"max 1-D T3", OpType::MaxPool, pool({3}, {2}, {1}, {1}), {2, 3, 11}, 3, false, 0},
      {"avg 2x2 s2 T3", OpType::AveragePool, pool({2, 2}, {2, 2}, {0, 0}, {0, 0}), {2, 3, 8, 8}, 3, false, 0},
      {"avg pad exclude T3", OpType::AveragePool, pool({3, 3}, {2, 2}, {1, 1}, {1, 1}), {2, 3, 9, 8}, 3, false, 0},
      {"avg pad include T3", OpType::AveragePool, pool({3, 3}, {2, 2}, {1, 1}, {1, 1}, false, true), {2, 3, 9, 8}, 3,
       true, 0},
      {"avg ceil include T3", OpType::AveragePool, pool({3, 3}, {2, 2}, {1, 0}, {1, 0}, true, true), {2, 2, 8, 10}, 3,
       false, 0},
      {"avg ceil exclude T3", OpType::AveragePool, pool({3, 2}, {2, 3}, {0, 1}, {0, 1}, true, false), {2, 2, 8, 10}, 3,
       false, 0},
  };
  std::mt19937 rng(13);
  for (const PoolCase& c : cases) {
    const Operand x = make_operand(c.x, c.shared_input ? 1 : c.trials, rng);
    const Tensor expected = reference_over_trials(c.op, c.params, {&x}, c.trials);
    GuardedOutput out(expected.size());
    kernels::Pool2dBody body = kernels::make_pool2d_body(
        c.op == OpType::MaxPool ? kernels::PoolKind::Max : kernels::PoolKind::Average, c.params, c.x);
    body.x = x.ptr();
    body.x_trial_stride = x.trial_stride();
    body.y = out.ptr();
    host_launch(out.count, body);
    expect_matches(out, expected, c.tolerance, c.tolerance, c.name);
  }
}

TEST(KernelBodies, MaxPoolPropagatesTheFirstNaNAndIgnoresPadding) {
  // One 3x3 window over a 2x2 input with padding 1: -Inf at every input position must win over
  // the padding (padding is never selected), and a NaN after an +Inf wins.
  Operand x{{1, 1, 2, 2}, 1, {-INFINITY, -INFINITY, -INFINITY, -INFINITY}};
  Operand nan_case{{1, 1, 2, 2}, 1, {INFINITY, 1.0f, NAN, 2.0f}};
  const PoolParams p = pool({3, 3}, {1, 1}, {1, 1}, {1, 1});
  for (const Operand* operand : {&x, &nan_case}) {
    const Tensor expected = reference_over_trials(OpType::MaxPool, p, {operand}, 1);
    GuardedOutput out(expected.size());
    kernels::Pool2dBody body = kernels::make_pool2d_body(kernels::PoolKind::Max, p, operand->shape);
    body.x = operand->ptr();
    body.y = out.ptr();
    host_launch(out.count, body);
    expect_matches(out, expected, 0, 0, "max pool specials");
  }
}

TEST(KernelBodies, GlobalAveragePoolMatchesReference) {
  std::mt19937 rng(14);
  for (int64_t trials : {1, 3})
    for (bool shared : {false, true}) {
      const Operand x = make_operand({2, 5, 7, 6}, shared ? 1 : trials, rng);
      const Tensor expected = reference_over_trials(OpType::GlobalAveragePool, std::monostate{}, {&x}, trials);
      GuardedOutput out(expected.size());
      kernels::GlobalAveragePoolBody body;
      body.x = x.ptr();
      body.x_trial_stride = x.trial_stride();
      body.y = out.ptr();
      body.planes_per_trial = 2 * 5;
      body.plane_size = 7 * 6;
      host_launch(out.count, body);
      expect_matches(out, expected, 0, 0, "global average pool T" + std::to_string(trials));
    }
}

// ReduceMean over trailing axes (double accumulation, as the reference) and the strided copies of
// Transpose and Slice, per trial and with one input shared by every trial.
TEST(KernelBodies, ReduceMeanAndStridedCopiesMatchReference) {
  std::mt19937 rng(15);
  for (int64_t trials : {1, 3})
    for (bool shared : {false, true}) {
      SCOPED_TRACE("T" + std::to_string(trials) + (shared ? " shared" : ""));
      const Operand x = make_operand({2, 6, 5, 4}, shared ? 1 : trials, rng);
      {
        ReduceParams p;
        p.axes = {2, 3};
        p.keepdims = false;
        const Tensor expected = reference_over_trials(OpType::ReduceMean, p, {&x}, trials);
        GuardedOutput out(expected.size());
        kernels::ReduceMeanPlanesBody body;
        body.x = x.ptr();
        body.x_trial_stride = x.trial_stride();
        body.y = out.ptr();
        body.planes_per_trial = 2 * 6;
        body.plane_size = 5 * 4;
        host_launch(out.count, body);
        expect_matches(out, expected, 0, 0, "reduce mean");
      }
      SliceParams slice;
      slice.starts = {5, 1};
      slice.ends = {-100, 4};
      slice.axes = {1, 3};
      slice.steps = {-2, 2};
      TransposeParams transpose;
      transpose.perm = {0, 2, 3, 1};
      for (const OpParams& params : {OpParams{slice}, OpParams{transpose}}) {
        const bool is_slice = std::holds_alternative<SliceParams>(params);
        const OpType op = is_slice ? OpType::Slice : OpType::Transpose;
        const Tensor expected = reference_over_trials(op, params, {&x}, trials);
        GuardedOutput out(expected.size());
        kernels::StridedCopyBody body = kernels::make_strided_copy_body(
            is_slice ? slice_view(slice, x.shape) : transpose_view(transpose, x.shape));
        body.x = x.ptr();
        body.x_trial_stride = x.trial_stride();
        body.y = out.ptr();
        host_launch(out.count, body);
        expect_matches(out, expected, 0, 0, is_slice ? "slice" : "transpose");
      }
    }
}

// ---------------------------------------------------------------------------------------------
// Concat

struct ConcatCase {
  const char* name;
  std::vector<Shape> inputs;
  std::vector<bool> shared;
  int64_t axis;
  int64_t trials;
};

TEST(KernelBodies, ConcatMatchesReference) {
  const ConcatCase cases[] = {
      {"channels T1", {{2, 3, 4, 5}, {2, 2, 4, 5}}, {false, false}, 1, 1},
      {"channels T3 mixed sharing", {{2, 3, 4, 5}, {2, 1, 4, 5}, {2, 4, 4, 5}}, {true, false, true}, 1, 3},
      {"height T3", {{2, 3, 4, 5}, {2, 3, 2, 5}}, {false, true}, 2, 3},
      {"last axis negative T3", {{2, 3, 4, 1}, {2, 3, 4, 3}, {2, 3, 4, 2}}, {false, false, true}, -1, 3},
      {"2-D features T3 with empty input", {{2, 4}, {2, 0}, {2, 6}}, {false, true, false}, 1, 3},
      {"eight inputs T3", {{1, 1, 3}, {1, 2, 3}, {1, 1, 3}, {1, 3, 3}, {1, 1, 3}, {1, 1, 3}, {1, 2, 3}, {1, 1, 3}},
       {true, false, true, false, true, false, true, false}, 1, 3},
  };
  std::mt19937 rng(15);
  for (const ConcatCase& c : cases) {
    std::vector<Operand> operands;
    for (size_t j = 0; j < c.inputs.size(); ++j) operands.push_back(make_operand(c.inputs[j], c.shared[j] ? 1 : c.trials, rng));
    std::vector<const Operand*> pointers;
    for (const Operand& o : operands) pointers.push_back(&o);
    const Tensor expected = reference_over_trials(OpType::Concat, ConcatParams{c.axis}, pointers, c.trials);
    GuardedOutput out(expected.size());
    std::vector<std::vector<int64_t>> shapes(c.inputs.begin(), c.inputs.end());
    kernels::ConcatBody body = kernels::make_concat_body(shapes, c.axis);
    for (size_t j = 0; j < operands.size(); ++j) {
      body.inputs[j].data = operands[j].ptr();
      body.inputs[j].trial_stride = operands[j].trial_stride();
    }
    body.y = out.ptr();
    host_launch(out.count, body);
    expect_matches(out, expected, 0, 0, c.name);
  }
}

// ---------------------------------------------------------------------------------------------
// Resize

struct ResizeCase {
  const char* name;
  ResizeParams params;
  Shape x;
  int64_t trials;
  bool shared_input;
};

ResizeParams resize(ResizeMode mode, CoordinateTransform transform, NearestRounding rounding,
                    std::vector<float> scales, std::vector<int64_t> sizes = {}) {
  ResizeParams p;
  p.mode = mode;
  p.coordinate_transform = transform;
  p.nearest_rounding = rounding;
  p.scales = std::move(scales);
  p.sizes = std::move(sizes);
  return p;
}

TEST(KernelBodies, ResizeMatchesReferenceBitForBit) {
  using CT = CoordinateTransform;
  using NR = NearestRounding;
  const ResizeMode N = ResizeMode::Nearest, L = ResizeMode::Linear;
  std::vector<ResizeCase> cases = {
      {"linear identity copy", resize(L, CT::HalfPixel, NR::RoundPreferFloor, {1, 1, 1, 1}), {2, 3, 5, 4}, 3, false},
      {"linear keeps H blends W", resize(L, CT::HalfPixel, NR::RoundPreferFloor, {1, 1, 1, 2}), {2, 3, 5, 4}, 3, false},
      {"linear sizes align corners", resize(L, CT::AlignCorners, NR::RoundPreferFloor, {}, {2, 3, 7, 9}), {2, 3, 5, 4},
       3, true},
      {"linear scales align corners down", resize(L, CT::AlignCorners, NR::RoundPreferFloor, {1, 1, 0.6f, 0.6f}),
       {2, 3, 5, 6}, 3, false},
      {"linear pytorch half pixel", resize(L, CT::PytorchHalfPixel, NR::RoundPreferFloor, {}, {2, 3, 1, 7}),
       {2, 3, 5, 4}, 1, false},
      {"linear asymmetric", resize(L, CT::Asymmetric, NR::RoundPreferFloor, {1, 1, 2.5f, 1.5f}), {2, 3, 4, 4}, 3, false},
  };
  const CT transforms[] = {CT::HalfPixel, CT::PytorchHalfPixel, CT::AlignCorners, CT::Asymmetric, CT::TfHalfPixelForNn};
  const NR roundings[] = {NR::RoundPreferFloor, NR::RoundPreferCeil, NR::Floor, NR::Ceil};
  for (CT transform : transforms) {
    cases.push_back({"linear scales x2.5", resize(L, transform, NR::RoundPreferFloor, {1, 1, 2.5f, 0.5f}), {2, 2, 4, 6},
                     3, false});
    for (NR rounding : roundings) {
      cases.push_back({"nearest up", resize(N, transform, rounding, {1, 1, 2.0f, 3.0f}), {2, 2, 3, 4}, 3, false});
      cases.push_back({"nearest down sizes", resize(N, transform, rounding, {}, {2, 2, 3, 5}), {2, 2, 7, 8}, 3, true});
      cases.push_back({"nearest odd scales", resize(N, transform, rounding, {1, 1, 1.7f, 0.75f}), {1, 2, 5, 8}, 3, false});
    }
  }
  std::mt19937 rng(16);
  int index = 0;
  for (const ResizeCase& c : cases) {
    const std::string name = std::string(c.name) + " #" + std::to_string(index++);
    const Operand x = make_operand(c.x, c.shared_input ? 1 : c.trials, rng);
    const Tensor expected = reference_over_trials(OpType::Resize, c.params, {&x}, c.trials);
    Shape per_trial_y = expected.shape;
    per_trial_y[0] /= c.trials;
    GuardedOutput out(expected.size());
    kernels::ResizeBody body = kernels::make_resize_body(c.params, c.x, per_trial_y);
    body.x = x.ptr();
    body.x_trial_stride = x.trial_stride();
    body.y = out.ptr();
    host_launch(out.count, body);
    expect_matches(out, expected, 0, 0, name);
  }
}

// ---------------------------------------------------------------------------------------------
// Preprocessing

struct PreprocessCase {
  const char* name;
  data::ImageFormat in;
  data::Preprocess p;
};

TEST(KernelBodies, PreprocessMatchesPreprocessBatchBitForBit) {
  const PreprocessCase cases[] = {
      {"plain /255", {1, 5, 7}, {}},
      {"normalize rgb", {3, 6, 5}, {{0.4914f, 0.4822f, 0.4465f}, {0.247f, 0.243f, 0.261f}}},
      {"gray to 3 + pad + resize + normalize",
       {1, 28, 28},
       {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 2, 17, 40, 36, 3}},
      {"pad only", {3, 8, 8}, {{}, {}, 4, 255, 0, 0, 0}},
      {"resize down with mean only", {3, 20, 18}, {{0.5f, 0.25f, 0.125f}, {}, 0, 0, 7, 11, 0}},
      {"resize same size", {1, 9, 9}, {{0.1307f}, {0.3081f}, 0, 0, 9, 9, 0}},
  };
  std::mt19937 rng(17);
  std::uniform_int_distribution<int> pixel(0, 255);
  for (const PreprocessCase& c : cases) {
    const int64_t count = 3;
    std::vector<uint8_t> pixels(static_cast<size_t>(count * c.in.pixels_per_image()));
    for (uint8_t& v : pixels) v = static_cast<uint8_t>(pixel(rng));
    const data::ImageFormat out_format = data::preprocessed_format(c.in, c.p);
    const int64_t n = count * out_format.pixels_per_image();
    Tensor expected(Shape{n});
    data::preprocess_batch(pixels.data(), count, c.in, c.p, expected.ptr());
    GuardedOutput out(n);
    kernels::PreprocessBody body = kernels::make_preprocess_body(c.in, c.p);
    body.pixels = pixels.data();
    body.y = out.ptr();
    host_launch(n, body);
    EXPECT_TRUE(out.guard_intact()) << c.name;
    for (int64_t i = 0; i < n; ++i) {
      uint32_t a, e;
      std::memcpy(&a, &out.buffer[static_cast<size_t>(i)], 4);
      std::memcpy(&e, &expected.data[static_cast<size_t>(i)], 4);
      ASSERT_EQ(a, e) << c.name << " at " << i;
    }
  }
}

TEST(KernelBodies, PreprocessBodyRefusesTooManyNormalizedChannels) {
  data::Preprocess p;
  p.mean.assign(5, 0.5f);
  EXPECT_THROW(kernels::make_preprocess_body({5, 4, 4}, p), Error);
}

// ---------------------------------------------------------------------------------------------
// Direct convolution, transposed convolution, gemm

struct ConvCase {
  const char* name;
  ConvParams params;
  Shape x, w;
  bool bias;
  int64_t trials;
  bool shared_input, shared_weights;
  Specials weight_specials;  // non-finite weights only where no tap falls on padding
};

ConvParams conv(std::vector<int64_t> strides, std::vector<int64_t> pads_begin, std::vector<int64_t> pads_end,
                std::vector<int64_t> dilations = {}, int64_t group = 1) {
  ConvParams p;
  p.strides = std::move(strides);
  p.pads_begin = std::move(pads_begin);
  p.pads_end = std::move(pads_end);
  p.dilations = std::move(dilations);
  p.group = group;
  return p;
}

TEST(KernelBodies, DirectConvMatchesReference) {
  const Specials S = Specials::Sprinkled, F = Specials::None;
  const ConvCase cases[] = {
      {"3x3 pad 1 T1", conv({1, 1}, {1, 1}, {1, 1}), {2, 3, 7, 6}, {4, 3, 3, 3}, true, 1, false, true, F},
      {"3x3 s2 pad 1 T3 shared x per-trial w", conv({2, 2}, {1, 1}, {1, 1}), {2, 3, 9, 8}, {4, 3, 3, 3}, true, 3, true,
       false, F},
      {"dilated asym pads T3", conv({1, 2}, {2, 0}, {1, 3}, {2, 3}), {2, 2, 9, 10}, {3, 2, 3, 2}, false, 3, false, true, F},
      {"grouped T3", conv({1, 1}, {1, 1}, {1, 1}, {}, 2), {2, 4, 6, 6}, {6, 2, 3, 3}, true, 3, false, false, F},
      {"depthwise s2 T3", conv({2, 2}, {1, 1}, {1, 1}, {}, 4), {2, 4, 8, 7}, {4, 1, 3, 3}, true, 3, false, true, F},
      {"1x1 no pad specials in w T3", conv({1, 1}, {0, 0}, {0, 0}), {2, 5, 4, 4}, {3, 5, 1, 1}, true, 3, false, false, S},
      {"valid 3x3 s2 specials in w T3", conv({2, 2}, {0, 0}, {0, 0}), {2, 2, 9, 9}, {3, 2, 3, 3}, false, 3, true, false,
       S},
      {"1-D conv T3", conv({2}, {1}, {2}), {2, 3, 11}, {4, 3, 3}, true, 3, false, false, F},
  };
  std::mt19937 rng(18);
  for (const ConvCase& c : cases) {
    const Operand x = make_operand(c.x, c.shared_input ? 1 : c.trials, rng);
    const Operand w = make_operand(c.w, c.shared_weights ? 1 : c.trials, rng, c.weight_specials);
    const Operand b = make_operand({c.w[0]}, c.shared_weights ? 1 : c.trials, rng, Specials::None);
    const Tensor expected = reference_over_trials(OpType::Conv, c.params, {&x, &w, c.bias ? &b : nullptr}, c.trials);
    GuardedOutput out(expected.size());
    kernels::DirectConvBody body;
    body.g = kernels::conv2d_geometry(c.params, c.x, c.w);
    body.x = x.ptr();
    body.x_trial_stride = x.trial_stride();
    body.w = w.ptr();
    body.w_trial_stride = w.trial_stride();
    if (c.bias) {
      body.bias = b.ptr();
      body.bias_trial_stride = b.trial_stride();
    }
    body.y = out.ptr();
    host_launch(out.count, body);
    expect_matches(out, expected, 0, 0, c.name);
  }
}

TEST(KernelBodies, DirectConvSkipsPaddedTapsLikeOneDnn) {
  // A 3x3 kernel with +Inf in its top-left tap, pad 1, finite positive input. Outputs in the first
  // row or column see that tap over the zero border: the body skips it (no contribution; the
  // reference kernel gives Inf·0 = NaN there, the documented difference). Everywhere else the tap
  // meets a positive pixel: +Inf.
  const ConvParams p = conv({1, 1}, {1, 1}, {1, 1});
  std::mt19937 rng(19);
  std::uniform_real_distribution<float> positive(0.5f, 1.5f);
  Operand x{{1, 2, 5, 6}, 1, {}};
  for (int i = 0; i < 60; ++i) x.data.push_back(positive(rng));
  Operand w{{1, 2, 3, 3}, 1, {}};
  for (int i = 0; i < 18; ++i) w.data.push_back(positive(rng));
  w.data[0] = INFINITY;
  Operand w_zero = w;
  w_zero.data[0] = 0.0f;
  const Tensor with_inf = reference_over_trials(OpType::Conv, p, {&x, &w, nullptr}, 1);
  const Tensor without = reference_over_trials(OpType::Conv, p, {&x, &w_zero, nullptr}, 1);
  GuardedOutput out(with_inf.size());
  kernels::DirectConvBody body;
  body.g = kernels::conv2d_geometry(p, x.shape, w.shape);
  body.x = x.ptr();
  body.w = w.ptr();
  body.y = out.ptr();
  host_launch(out.count, body);
  EXPECT_TRUE(out.guard_intact());
  for (int64_t oh = 0; oh < 5; ++oh)
    for (int64_t ow = 0; ow < 6; ++ow) {
      const size_t i = static_cast<size_t>(oh * 6 + ow);
      if (oh == 0 || ow == 0) {
        EXPECT_TRUE(std::isnan(with_inf.data[i])) << "reference multiplies the padding: " << oh << "," << ow;
        EXPECT_EQ(out.buffer[i], without.data[i]) << "padded Inf tap must contribute nothing at " << oh << "," << ow;
        EXPECT_TRUE(std::isfinite(out.buffer[i]));
      } else {
        EXPECT_EQ(out.buffer[i], INFINITY) << oh << "," << ow;
        EXPECT_EQ(with_inf.data[i], INFINITY);
      }
    }
}

TEST(KernelBodies, DirectConvTransposeMatchesReference) {
  const Specials S = Specials::Sprinkled, F = Specials::None;
  auto ct = [](std::vector<int64_t> strides, std::vector<int64_t> pads_begin, std::vector<int64_t> pads_end,
               std::vector<int64_t> output_padding, std::vector<int64_t> dilations = {}, int64_t group = 1,
               std::vector<int64_t> output_shape = {}) {
    ConvParams p = conv(std::move(strides), std::move(pads_begin), std::move(pads_end), std::move(dilations), group);
    p.output_padding = std::move(output_padding);
    p.output_shape = std::move(output_shape);
    return p;
  };
  // ConvTranspose skips nothing but positions outside the input, so specials in the weights are
  // fine everywhere (the reference never multiplies by padding either).
  const ConvCase cases[] = {
      {"s2 k3 p1 op1 T1", ct({2, 2}, {1, 1}, {1, 1}, {1, 1}), {2, 3, 4, 5}, {3, 2, 3, 3}, true, 1, false, true, S},
      {"s2 k3 p1 op1 T3 per-trial w", ct({2, 2}, {1, 1}, {1, 1}, {1, 1}), {2, 3, 4, 5}, {3, 2, 3, 3}, true, 3, true,
       false, S},
      {"s2 k4 p1 T3", ct({2, 2}, {1, 1}, {1, 1}, {0, 0}), {2, 2, 3, 4}, {2, 3, 4, 4}, false, 3, false, true, S},
      {"s3 dilated asym grouped T3", ct({3, 2}, {0, 2}, {1, 0}, {2, 1}, {2, 1}, 2), {2, 4, 3, 4}, {4, 3, 2, 3}, true, 3,
       false, false, S},
      {"output_shape beyond full T3", ct({2, 2}, {}, {}, {}, {}, 1, {9, 10}), {1, 2, 3, 4}, {2, 2, 2, 2}, true, 3, false,
       false, F},
      {"1-D s2 T3", ct({2}, {1}, {0}, {1}), {2, 3, 5}, {3, 2, 3}, true, 3, false, true, S},
  };
  std::mt19937 rng(20);
  for (const ConvCase& c : cases) {
    const Operand x = make_operand(c.x, c.shared_input ? 1 : c.trials, rng);
    const Operand w = make_operand(c.w, c.shared_weights ? 1 : c.trials, rng, c.weight_specials);
    const Operand b = make_operand({c.w[1] * c.params.group}, c.shared_weights ? 1 : c.trials, rng, Specials::None);
    const Tensor expected =
        reference_over_trials(OpType::ConvTranspose, c.params, {&x, &w, c.bias ? &b : nullptr}, c.trials);
    GuardedOutput out(expected.size());
    kernels::DirectConvTransposeBody body;
    body.g = kernels::conv_transpose2d_geometry(c.params, c.x, c.w);
    body.x = x.ptr();
    body.x_trial_stride = x.trial_stride();
    body.w = w.ptr();
    body.w_trial_stride = w.trial_stride();
    if (c.bias) {
      body.bias = b.ptr();
      body.bias_trial_stride = b.trial_stride();
    }
    body.y = out.ptr();
    host_launch(out.count, body);
    expect_matches(out, expected, 0, 0, c.name);
  }
}

struct GemmCase {
  const char* name;
  int64_t rows, k, m;
  bool trans_b;
  float alpha, beta;
  bool bias;
  int64_t trials;
  bool shared_input, shared_weights;
};

TEST(KernelBodies, DirectGemmWithEpilogueMatchesReferenceGemm) {
  const GemmCase cases[] = {
      {"trans_b T1", 3, 17, 5, true, 1.0f, 1.0f, true, 1, false, true},
      {"trans_b T3 per-trial w", 3, 17, 5, true, 1.0f, 1.0f, true, 3, true, false},
      {"no trans T3 alpha beta", 2, 9, 7, false, 0.5f, 2.0f, true, 3, false, false},
      {"no bias T3 shared", 4, 8, 3, true, 1.0f, 1.0f, false, 3, true, true},
  };
  std::mt19937 rng(21);
  for (const GemmCase& c : cases) {
    const Operand x = make_operand({c.rows, c.k}, c.shared_input ? 1 : c.trials, rng);
    const Operand w = make_operand(c.trans_b ? Shape{c.m, c.k} : Shape{c.k, c.m}, c.shared_weights ? 1 : c.trials, rng);
    const Operand bias = make_operand({c.m}, c.shared_weights ? 1 : c.trials, rng);
    GemmParams params{c.alpha, c.beta, false, c.trans_b};
    const Tensor expected = reference_over_trials(OpType::Gemm, params, {&x, &w, c.bias ? &bias : nullptr}, c.trials);
    GuardedOutput out(expected.size());
    kernels::DirectGemmBody gemm;
    gemm.x = x.ptr();
    gemm.x_trial_stride = x.trial_stride();
    gemm.w = w.ptr();
    gemm.w_trial_stride = w.trial_stride();
    gemm.y = out.ptr();
    gemm.rows = c.rows;
    gemm.k = c.k;
    gemm.m = c.m;
    gemm.trans_b = c.trans_b;
    host_launch(out.count, gemm);
    // beta·C prepared on the host, as the executor does.
    std::vector<float> scaled_bias(bias.data.size());
    for (size_t j = 0; j < scaled_bias.size(); ++j) scaled_bias[j] = c.beta * bias.data[j];
    kernels::EpilogueBody epilogue;
    epilogue.y = out.ptr();
    epilogue.per_trial = c.rows * c.m;
    epilogue.channels = c.m;
    epilogue.spatial = 1;
    epilogue.has_alpha = c.alpha != 1.0f;
    epilogue.alpha = c.alpha;
    if (c.bias) {
      epilogue.bias = scaled_bias.data();
      epilogue.bias_trial_stride = bias.trial_stride();
    }
    host_launch(out.count, epilogue);
    expect_matches(out, expected, 0, 0, c.name);
  }
}

// ---------------------------------------------------------------------------------------------
// Epilogue: Conv (+ bias) → BatchNormalization → Add residual → activation, against the chain of
// reference ops.

struct EpilogueCase {
  const char* name;
  bool bias, bn, residual;
  OpType activation;  // Identity for none
  core::PointwiseStep step;
  int64_t trials;
  bool shared_weights, shared_residual;
};

TEST(KernelBodies, ConvEpilogueMatchesReferenceChain) {
  const EpilogueCase cases[] = {
      {"bias+bn+residual+relu T1", true, true, true, OpType::Relu, {core::PointwiseOp::Relu}, 1, true, false},
      {"bn+residual+relu T3 per-trial", false, true, true, OpType::Relu, {core::PointwiseOp::Relu}, 3, false, false},
      {"bias+bn T3 shared residual clip", true, true, true, OpType::Clip, {core::PointwiseOp::Clip, 0.0f, 6.0f}, 3, false,
       true},
      {"bias only T3", true, false, false, OpType::Identity, {}, 3, false, true},
      {"residual+tanh T3", false, false, true, OpType::Tanh, {core::PointwiseOp::Tanh}, 3, true, false},
  };
  const ConvParams p = conv({1, 1}, {1, 1}, {1, 1});
  const Shape xs{2, 3, 6, 5}, ws{4, 3, 3, 3};
  std::mt19937 rng(22);
  for (const EpilogueCase& c : cases) {
    const int64_t wc = c.shared_weights ? 1 : c.trials;
    const Operand x = make_operand(xs, c.trials, rng);
    const Operand w = make_operand(ws, wc, rng, Specials::None);
    const Operand b = make_operand({4}, wc, rng, Specials::None);
    Operand gamma = make_operand({4}, wc, rng, Specials::None), beta = make_operand({4}, wc, rng, Specials::None),
            mean = make_operand({4}, wc, rng, Specials::None), var = make_operand({4}, wc, rng, Specials::None);
    for (float& v : var.data) v = std::fabs(v);
    var.data[1] = -1.0f;  // a faulted negative variance: a NaN channel, as in PyTorch
    Tensor expected = reference_over_trials(OpType::Conv, p, {&x, &w, c.bias ? &b : nullptr}, c.trials);
    Operand chain{Shape{xs[0], 4, 6, 5}, c.trials, expected.data};
    const Operand residual = make_operand(chain.shape, c.shared_residual ? 1 : c.trials, rng);
    if (c.bn) {
      expected = reference_over_trials(OpType::BatchNormalization, BatchNormParams{1e-5f},
                                       {&chain, &gamma, &beta, &mean, &var}, c.trials);
      chain.data = expected.data;
    }
    if (c.residual) {
      expected = reference_over_trials(OpType::Add, std::monostate{}, {&chain, &residual}, c.trials);
      chain.data = expected.data;
    }
    if (c.activation != OpType::Identity) {
      OpParams act = std::monostate{};
      if (c.activation == OpType::Clip) act = ClipParams{c.step.a, c.step.b};
      expected = reference_over_trials(c.activation, act, {&chain}, c.trials);
    }

    GuardedOutput out(expected.size());
    kernels::DirectConvBody body;
    body.g = kernels::conv2d_geometry(p, xs, ws);
    body.x = x.ptr();
    body.x_trial_stride = x.trial_stride();
    body.w = w.ptr();
    body.w_trial_stride = w.trial_stride();
    body.y = out.ptr();
    host_launch(out.count, body);
    std::vector<float> a(static_cast<size_t>(4 * wc)), s(static_cast<size_t>(4 * wc));
    for (int64_t t = 0; t < wc; ++t)
      kernels::fold_batch_norm(gamma.ptr() + 4 * t, beta.ptr() + 4 * t, mean.ptr() + 4 * t, var.ptr() + 4 * t, 1e-5f, 4,
                               a.data() + 4 * t, s.data() + 4 * t);
    kernels::EpilogueBody epilogue;
    epilogue.y = out.ptr();
    epilogue.per_trial = xs[0] * 4 * 6 * 5;
    epilogue.channels = 4;
    epilogue.spatial = 6 * 5;
    if (c.bias) {
      epilogue.bias = b.ptr();
      epilogue.bias_trial_stride = b.trial_stride();
    }
    if (c.bn) {
      epilogue.bn_scale = a.data();
      epilogue.bn_shift = s.data();
      epilogue.bn_trial_stride = wc == 1 ? 0 : 4;
    }
    if (c.residual) {
      epilogue.residual = residual.ptr();
      epilogue.residual_trial_stride = residual.trial_stride();
    }
    epilogue.activation = c.step;
    host_launch(out.count, epilogue);
    expect_matches(out, expected, 0, 0, c.name);
  }
}

// ---------------------------------------------------------------------------------------------
// The same bodies on a GPU: bit for bit host_launch.

#if defined(FLIPSWEEP_WITH_CUDA)
template <class T>
struct DeviceCopy {
  cuda::DeviceBuffer<T> buffer;
  explicit DeviceCopy(const std::vector<T>& host) : buffer(host.size()) {
    FLIPSWEEP_CUDA_CHECK(cudaMemcpy(buffer.get(), host.data(), buffer.bytes(), cudaMemcpyHostToDevice));
  }
  T* get() const { return buffer.get(); }
  std::vector<T> download() const {
    std::vector<T> host(buffer.size());
    FLIPSWEEP_CUDA_CHECK(cudaMemcpy(host.data(), buffer.get(), buffer.bytes(), cudaMemcpyDeviceToHost));
    return host;
  }
};

::testing::AssertionResult same_bits(const std::vector<float>& device, const std::vector<float>& host) {
  if (device.size() != host.size()) return ::testing::AssertionFailure() << "sizes differ";
  int64_t bad = 0;
  std::ostringstream details;
  for (size_t i = 0; i < host.size(); ++i) {
    const bool both_nan = std::isnan(device[i]) && std::isnan(host[i]);
    if (!both_nan && std::memcmp(&device[i], &host[i], 4) != 0 && bad++ < 5)
      details << "\n  [" << i << "] device " << device[i] << " host " << host[i];
  }
  if (bad) return ::testing::AssertionFailure() << bad << " values differ" << details.str();
  return ::testing::AssertionSuccess();
}

// Runs `body` on the host over `host_out` and on the device with the same fields except the
// pointers rebound by `rebind(body_copy)`; the device output (same size) must have the same bits.
template <class Body, class Rebind>
void expect_device_matches_host(const char* name, const Body& host_body, std::vector<float>& host_out, Rebind rebind) {
  host_launch(static_cast<int64_t>(host_out.size() - kGuard), host_body);
  DeviceCopy<float> device_out(std::vector<float>(host_out.size(), kGuardValue));
  Body device_body = host_body;
  rebind(device_body, device_out.get());
  cuda::launch(nullptr, static_cast<int64_t>(host_out.size() - kGuard), device_body);
  FLIPSWEEP_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> result = device_out.download();
  std::vector<float> host_values(host_out.begin(), host_out.end() - kGuard);
  std::vector<float> device_values(result.begin(), result.end() - kGuard);
  EXPECT_TRUE(same_bits(device_values, host_values)) << name;
  for (size_t i = host_out.size() - kGuard; i < result.size(); ++i) EXPECT_EQ(result[i], kGuardValue) << name;
}
#endif

TEST(KernelBodies, DeviceMatchesHostLaunchBitForBit) {
#if !defined(FLIPSWEEP_WITH_CUDA)
  GTEST_SKIP() << "built without CUDA (FLIPSWEEP_CUDA=OFF or no nvcc)";
#else
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  std::mt19937 rng(23);
  const int64_t trials = 3;
  const Operand x = make_operand({2, 3, 9, 8}, trials, rng);
  const Operand shared_x = make_operand({2, 3, 9, 8}, 1, rng);
  const Operand w = make_operand({4, 3, 3, 3}, trials, rng, Specials::None);
  const Operand bias = make_operand({4}, trials, rng, Specials::None);
  DeviceCopy<float> dx(x.data), dshared(shared_x.data), dw(w.data), dbias(bias.data);

  {  // Unary (Relu) on per-trial data; HardSigmoid's a·x + b must not be fused on the device.
    for (core::PointwiseOp op : {core::PointwiseOp::Relu, core::PointwiseOp::HardSigmoid, core::PointwiseOp::Clip}) {
      kernels::UnaryBody body{x.ptr(), x.trial_stride(), nullptr, x.size(), {op, 0.2f, 0.5f}};
      std::vector<float> out(static_cast<size_t>(x.size() * trials + kGuard), kGuardValue);
      body.y = out.data();
      expect_device_matches_host("unary", body, out, [&](kernels::UnaryBody& b, float* y) {
        b.x = dx.get();
        b.y = y;
      });
    }
  }
  {  // Binary with a broadcast operand shared by all trials.
    const Operand scale = make_operand({3, 1, 1}, 1, rng);
    DeviceCopy<float> dscale(scale.data);
    kernels::BinaryBody body;
    body.op = kernels::BinaryOp::Mul;
    kernels::set_binary_shapes(body, x.shape, x.shape, scale.shape);
    body.a.data = x.ptr();
    body.a.trial_stride = x.trial_stride();
    body.b.data = scale.ptr();
    std::vector<float> out(static_cast<size_t>(x.size() * trials + kGuard), kGuardValue);
    body.y = out.data();
    expect_device_matches_host("binary", body, out, [&](kernels::BinaryBody& b, float* y) {
      b.a.data = dx.get();
      b.b.data = dscale.get();
      b.y = y;
    });
  }
  {  // Conv (per-trial weights over a shared input) then the epilogue.
    kernels::DirectConvBody body;
    body.g = kernels::conv2d_geometry(conv({2, 2}, {1, 1}, {1, 1}), shared_x.shape, w.shape);
    body.x = shared_x.ptr();
    body.w = w.ptr();
    body.w_trial_stride = w.trial_stride();
    body.bias = bias.ptr();
    body.bias_trial_stride = 4;
    const int64_t count = trials * 2 * 4 * body.g.out_h * body.g.out_w;
    std::vector<float> out(static_cast<size_t>(count + kGuard), kGuardValue);
    body.y = out.data();
    expect_device_matches_host("direct conv", body, out, [&](kernels::DirectConvBody& b, float* y) {
      b.x = dshared.get();
      b.w = dw.get();
      b.bias = dbias.get();
      b.y = y;
    });
  }
  {  // Pools: max and average with ceil_mode and padding.
    for (kernels::PoolKind kind : {kernels::PoolKind::Max, kernels::PoolKind::Average}) {
      kernels::Pool2dBody body = kernels::make_pool2d_body(kind, pool({3, 3}, {2, 2}, {1, 1}, {1, 1}, true, true), x.shape);
      body.x = x.ptr();
      body.x_trial_stride = x.trial_stride();
      const int64_t count = trials * body.planes_per_trial * body.out_h * body.out_w;
      std::vector<float> out(static_cast<size_t>(count + kGuard), kGuardValue);
      body.y = out.data();
      expect_device_matches_host("pool", body, out, [&](kernels::Pool2dBody& b, float* y) {
        b.x = dx.get();
        b.y = y;
      });
    }
  }
  {  // ReduceMean over H and W in double.
    kernels::ReduceMeanPlanesBody body;
    body.x = x.ptr();
    body.x_trial_stride = x.trial_stride();
    body.planes_per_trial = 2 * 3;
    body.plane_size = 9 * 8;
    std::vector<float> out(static_cast<size_t>(trials * 6 + kGuard), kGuardValue);
    body.y = out.data();
    expect_device_matches_host("reduce mean", body, out, [&](kernels::ReduceMeanPlanesBody& b, float* y) {
      b.x = dx.get();
      b.y = y;
    });
  }
  {  // A backward Slice (Transpose takes the same body).
    SliceParams p;
    p.starts = {-1, 1};
    p.ends = {-100, 8};
    p.axes = {2, 3};
    p.steps = {-2, 3};
    kernels::StridedCopyBody body = kernels::make_strided_copy_body(slice_view(p, x.shape));
    body.x = x.ptr();
    body.x_trial_stride = x.trial_stride();
    std::vector<float> out(static_cast<size_t>(trials * body.per_trial + kGuard), kGuardValue);
    body.y = out.data();
    expect_device_matches_host("strided copy", body, out, [&](kernels::StridedCopyBody& b, float* y) {
      b.x = dx.get();
      b.y = y;
    });
  }
  {  // Linear resize (blending products must not be fused).
    const ResizeParams p = resize(ResizeMode::Linear, CoordinateTransform::HalfPixel, NearestRounding::RoundPreferFloor,
                                  {1, 1, 1.7f, 2.5f});
    std::vector<Shape> outs = infer_output_shapes(OpType::Resize, p, {x.shape}, {true});
    kernels::ResizeBody body = kernels::make_resize_body(p, x.shape, outs[0]);
    body.x = x.ptr();
    body.x_trial_stride = x.trial_stride();
    std::vector<float> out(static_cast<size_t>(trials * element_count(outs[0]) + kGuard), kGuardValue);
    body.y = out.data();
    expect_device_matches_host("resize", body, out, [&](kernels::ResizeBody& b, float* y) {
      b.x = dx.get();
      b.y = y;
    });
  }
  {  // Preprocessing: gray → 3, pad, resize, normalize.
    data::Preprocess p{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 2, 17, 40, 36, 3};
    const data::ImageFormat in{1, 28, 28};
    std::vector<uint8_t> pixels(static_cast<size_t>(4 * in.pixels_per_image()));
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
    DeviceCopy<uint8_t> dpixels(pixels);
    kernels::PreprocessBody body = kernels::make_preprocess_body(in, p);
    body.pixels = pixels.data();
    std::vector<float> out(static_cast<size_t>(4 * 3 * 40 * 36 + kGuard), kGuardValue);
    body.y = out.data();
    expect_device_matches_host("preprocess", body, out, [&](kernels::PreprocessBody& b, float* y) {
      b.pixels = dpixels.get();
      b.y = y;
    });
  }
#endif
}

}  // namespace
}  // namespace flipsweep
