// Reference kernels and shape rules: hand-computed cases (many taken from the examples in the ONNX
// operator spec), independent naive loops for the conv family, and the NaN/Inf semantics that
// decide what a faulted model scores.
#include "flipsweep/ops/reference_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "flipsweep/error.h"
#include "flipsweep/graph/op_params.h"
#include "flipsweep/ops/shapes.h"

namespace flipsweep {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

Tensor run(OpType op, const OpParams& params, const std::vector<const Tensor*>& inputs) {
  std::vector<Tensor> outputs;
  reference::run_op(op, params, inputs, outputs);
  EXPECT_EQ(outputs.size(), 1u);
  return outputs.at(0);
}

Tensor run(OpType op, const OpParams& params, const Tensor& x) { return run(op, params, {&x}); }

Tensor iota(Shape shape, float first = 0.0f) {
  Tensor t(std::move(shape));
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = first + static_cast<float>(i);
  return t;
}

Tensor filled(Shape shape, float value) {
  Tensor t(std::move(shape));
  for (float& v : t.data) v = value;
  return t;
}

Tensor random_tensor(Shape shape, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  Tensor t(std::move(shape));
  for (float& v : t.data) v = uniform(rng);
  return t;
}

void expect_values(const Tensor& actual, const Shape& shape, const std::vector<float>& expected,
                   float tolerance = 1e-5f) {
  ASSERT_EQ(actual.shape, shape) << shape_to_string(actual.shape);
  ASSERT_EQ(actual.data.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(actual.data[i])) << "element " << i << " is " << actual.data[i];
    } else if (std::isinf(expected[i])) {
      EXPECT_EQ(actual.data[i], expected[i]) << "element " << i;
    } else {
      EXPECT_NEAR(actual.data[i], expected[i], tolerance * std::max(1.0f, std::fabs(expected[i]))) << "element " << i;
    }
  }
}

std::vector<Shape> infer(OpType op, const OpParams& params, const std::vector<Shape>& inputs) {
  return infer_output_shapes(op, params, inputs, std::vector<bool>(inputs.size(), true));
}

Shape infer_one(OpType op, const OpParams& params, const std::vector<Shape>& inputs) {
  std::vector<Shape> out = infer(op, params, inputs);
  EXPECT_EQ(out.size(), 1u);
  return out.at(0);
}

// The message of the Error thrown by `f`, or "" when nothing was thrown.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

ConvParams conv_params(std::vector<int64_t> strides = {}, std::vector<int64_t> pads_begin = {},
                       std::vector<int64_t> pads_end = {}, std::vector<int64_t> dilations = {}, int64_t group = 1) {
  ConvParams p;
  p.strides = std::move(strides);
  p.pads_begin = std::move(pads_begin);
  p.pads_end = std::move(pads_end);
  p.dilations = std::move(dilations);
  p.group = group;
  return p;
}

PoolParams pool_params(std::vector<int64_t> kernel, std::vector<int64_t> strides = {},
                       std::vector<int64_t> pads_begin = {}, std::vector<int64_t> pads_end = {}) {
  PoolParams p;
  p.kernel_shape = std::move(kernel);
  p.strides = std::move(strides);
  p.pads_begin = std::move(pads_begin);
  p.pads_end = std::move(pads_end);
  return p;
}

// ================================================================================================
// Op names
// ================================================================================================

TEST(ReferenceOpsNames, RoundTripEveryOpType) {
  for (int i = 0; i <= static_cast<int>(OpType::Slice); ++i) {  // Slice: the last OpType
    OpType op = static_cast<OpType>(i);
    OpType parsed = OpType::Identity;
    ASSERT_TRUE(op_type_from_name(op_type_name(op), &parsed)) << op_type_name(op);
    EXPECT_EQ(parsed, op);
  }
  OpType parsed = OpType::Identity;
  EXPECT_TRUE(op_type_from_name("GlobalAveragePool", &parsed));
  EXPECT_EQ(parsed, OpType::GlobalAveragePool);
  EXPECT_TRUE(op_type_from_name("BatchNormalization", &parsed));
  EXPECT_EQ(parsed, OpType::BatchNormalization);
  EXPECT_FALSE(op_type_from_name("LogSoftmax", &parsed));
  EXPECT_FALSE(op_type_from_name("conv", &parsed));  // ONNX op types are case-sensitive
}

TEST(ReferenceOpsNames, ElementwiseUnary) {
  for (OpType op : {OpType::Relu, OpType::LeakyRelu, OpType::Clip, OpType::Sigmoid, OpType::HardSigmoid, OpType::Tanh,
                    OpType::Softsign, OpType::Atan, OpType::Identity})
    EXPECT_TRUE(is_elementwise_unary(op)) << op_type_name(op);
  for (OpType op :
       {OpType::Conv, OpType::Add, OpType::MaxPool, OpType::Reshape, OpType::BatchNormalization, OpType::Constant})
    EXPECT_FALSE(is_elementwise_unary(op)) << op_type_name(op);
}

// ================================================================================================
// Shape rules
// ================================================================================================

TEST(ShapesBroadcast, Rules) {
  EXPECT_EQ(broadcast_shapes({2, 3, 4}, {4}), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcast_shapes({2, 1, 4}, {3, 1}), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcast_shapes({}, {5}), (Shape{5}));
  EXPECT_EQ(broadcast_shapes({1, 64, 1, 1}, {8, 64, 7, 7}), (Shape{8, 64, 7, 7}));
  EXPECT_NE(error_of([] { broadcast_shapes({2, 3}, {4}); }).find("[2,3]"), std::string::npos);
  EXPECT_THROW(infer(OpType::Add, {}, {{2, 3}, {3, 2}}), Error);
}

TEST(ShapesConv, OutputAndChannelChecks) {
  ConvParams p = conv_params({2, 2}, {1, 1}, {1, 1});
  // (224 + 2 - 7) / 2 + 1 = 110
  EXPECT_EQ(infer_one(OpType::Conv, p, {{8, 3, 224, 224}, {64, 3, 7, 7}}), (Shape{8, 64, 110, 110}));
  ConvParams resnet_stem = conv_params({2, 2}, {3, 3}, {3, 3});
  EXPECT_EQ(infer_one(OpType::Conv, resnet_stem, {{8, 3, 224, 224}, {64, 3, 7, 7}}), (Shape{8, 64, 112, 112}));
  // Optional bias present and absent.
  EXPECT_EQ(infer_one(OpType::Conv, resnet_stem, {{1, 3, 224, 224}, {64, 3, 7, 7}, {64}}), (Shape{1, 64, 112, 112}));
  EXPECT_EQ(
      infer_output_shapes(OpType::Conv, resnet_stem, {{1, 3, 224, 224}, {64, 3, 7, 7}, {}}, {true, true, false})[0],
      (Shape{1, 64, 112, 112}));
  EXPECT_THROW(infer(OpType::Conv, resnet_stem, {{1, 3, 224, 224}, {64, 3, 7, 7}, {32}}), Error);
  // Mismatched channels.
  std::string message = error_of([&] { infer(OpType::Conv, resnet_stem, {{1, 4, 224, 224}, {64, 3, 7, 7}}); });
  EXPECT_NE(message.find("channels"), std::string::npos) << message;
  EXPECT_NE(message.find("[1,4,224,224]"), std::string::npos) << message;
  // Groups: depthwise 32 -> 32, and output channels not divisible by group.
  ConvParams depthwise = conv_params({1, 1}, {1, 1}, {1, 1}, {}, 32);
  EXPECT_EQ(infer_one(OpType::Conv, depthwise, {{2, 32, 10, 10}, {32, 1, 3, 3}}), (Shape{2, 32, 10, 10}));
  ConvParams grouped = conv_params({}, {}, {}, {}, 4);
  EXPECT_THROW(infer(OpType::Conv, grouped, {{1, 8, 5, 5}, {6, 2, 1, 1}}), Error);
  // Kernel larger than the padded input.
  EXPECT_THROW(infer(OpType::Conv, ConvParams{}, {{1, 1, 2, 2}, {1, 1, 3, 3}}), Error);
  // kernel_shape that disagrees with W.
  ConvParams wrong_kernel;
  wrong_kernel.kernel_shape = {5, 5};
  EXPECT_THROW(infer(OpType::Conv, wrong_kernel, {{1, 1, 8, 8}, {1, 1, 3, 3}}), Error);
  // Wrong input count.
  EXPECT_THROW(infer(OpType::Conv, ConvParams{}, {{1, 1, 8, 8}}), Error);
}

TEST(ShapesConv, OneAndThreeSpatialDims) {
  ConvParams p1 = conv_params({2}, {1}, {0}, {2});
  // effective kernel (3-1)*2+1 = 5; (10 + 1 - 5) / 2 + 1 = 4
  EXPECT_EQ(infer_one(OpType::Conv, p1, {{1, 2, 10}, {4, 2, 3}}), (Shape{1, 4, 4}));
  ConvParams p3 = conv_params({1, 2, 2}, {1, 1, 1}, {1, 1, 1});
  EXPECT_EQ(infer_one(OpType::Conv, p3, {{1, 2, 4, 8, 8}, {3, 2, 3, 3, 3}}), (Shape{1, 3, 4, 4, 4}));
  EXPECT_THROW(infer(OpType::Conv, ConvParams{}, {{1, 2, 4, 4, 4, 4}, {1, 2, 1, 1, 1, 1}}), Error);
  EXPECT_THROW(infer(OpType::Conv, conv_params({1, 1}), {{1, 2, 10}, {4, 2, 3}}), Error);  // strides size
}

TEST(ShapesConv, AutoPad) {
  ConvParams p;
  p.strides = {1};
  p.kernel_shape = {2};
  p.auto_pad = AutoPad::SameUpper;
  ResolvedPads upper = resolve_conv_pads(p, {5});
  EXPECT_EQ(upper.begin, (std::vector<int64_t>{0}));
  EXPECT_EQ(upper.end, (std::vector<int64_t>{1}));
  p.auto_pad = AutoPad::SameLower;
  ResolvedPads lower = resolve_conv_pads(p, {5});
  EXPECT_EQ(lower.begin, (std::vector<int64_t>{1}));
  EXPECT_EQ(lower.end, (std::vector<int64_t>{0}));
  p.auto_pad = AutoPad::Valid;
  p.pads_begin = {3};
  p.pads_end = {3};
  EXPECT_EQ(resolve_conv_pads(p, {5}).begin, (std::vector<int64_t>{0}));

  // SAME keeps ceil(input / stride) outputs; the kernel comes from W when kernel_shape is empty.
  ConvParams same;
  same.auto_pad = AutoPad::SameUpper;
  same.strides = {2, 2};
  EXPECT_EQ(infer_one(OpType::Conv, same, {{1, 1, 7, 8}, {1, 1, 3, 3}}), (Shape{1, 1, 4, 4}));
  EXPECT_THROW(resolve_conv_pads(same, {7, 8}), Error);  // no kernel anywhere
  ResolvedPads from_weight = resolve_conv_pads(same, {7, 8}, {3, 3});
  EXPECT_EQ(from_weight.begin, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(from_weight.end, (std::vector<int64_t>{1, 1}));
  SpatialGeometry g = conv_geometry(same, {1, 1, 7, 8}, {1, 1, 3, 3});
  EXPECT_EQ(g.kernel, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(g.output, (std::vector<int64_t>{4, 4}));
}

TEST(ShapesConvTranspose, OutputShapeRules) {
  // Full output: stride * (in - 1) + output_padding + (k - 1) * dilation + 1 - pads.
  ConvParams p = conv_params({3, 2}, {1, 2}, {1, 2});
  EXPECT_EQ(infer_one(OpType::ConvTranspose, p, {{1, 1, 3, 3}, {1, 2, 3, 3}}), (Shape{1, 2, 7, 3}));
  ConvParams op = conv_params({2, 2});
  op.output_padding = {1, 0};
  EXPECT_EQ(infer_one(OpType::ConvTranspose, op, {{1, 1, 3, 3}, {1, 2, 3, 3}}), (Shape{1, 2, 8, 7}));
  // output_shape fixes the spatial output (spatial-only or full form).
  ConvParams fixed = conv_params({3, 2});
  fixed.output_shape = {10, 8};
  EXPECT_EQ(infer_one(OpType::ConvTranspose, fixed, {{1, 1, 3, 3}, {1, 2, 3, 3}}), (Shape{1, 2, 10, 8}));
  fixed.output_shape = {1, 2, 10, 8};
  EXPECT_EQ(infer_one(OpType::ConvTranspose, fixed, {{1, 1, 3, 3}, {1, 2, 3, 3}}), (Shape{1, 2, 10, 8}));
  // SAME: output = input * stride, the odd padding element at the end for SAME_UPPER.
  ConvParams same = conv_params({2, 2});
  same.auto_pad = AutoPad::SameUpper;
  EXPECT_EQ(infer_one(OpType::ConvTranspose, same, {{1, 1, 3, 3}, {1, 2, 3, 3}}), (Shape{1, 2, 6, 6}));
  ResolvedPads pads = resolve_conv_transpose_pads(same, {3, 3}, {3, 3});
  EXPECT_EQ(pads.begin, (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(pads.end, (std::vector<int64_t>{1, 1}));
  same.auto_pad = AutoPad::SameLower;
  pads = resolve_conv_transpose_pads(same, {3, 3}, {3, 3});
  EXPECT_EQ(pads.begin, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(pads.end, (std::vector<int64_t>{0, 0}));
  // Groups: W is [C, M / group, k...], output channels M = W[1] * group.
  ConvParams grouped = conv_params({}, {}, {}, {}, 2);
  EXPECT_EQ(infer_one(OpType::ConvTranspose, grouped, {{1, 4, 5}, {4, 3, 2}}), (Shape{1, 6, 6}));
  EXPECT_THROW(infer(OpType::ConvTranspose, grouped, {{1, 3, 5}, {4, 3, 2}}), Error);
  EXPECT_THROW(infer(OpType::ConvTranspose, grouped, {{1, 4, 5}, {4, 3, 2}, {3}}), Error);  // bias
}

TEST(ShapesPool, FloorCeilAndLastWindowRule) {
  EXPECT_EQ(infer_one(OpType::MaxPool, pool_params({3, 3}, {2, 2}), {{1, 1, 4, 4}}), (Shape{1, 1, 1, 1}));
  PoolParams ceil = pool_params({3, 3}, {2, 2});
  ceil.ceil_mode = true;
  EXPECT_EQ(infer_one(OpType::MaxPool, ceil, {{1, 1, 4, 4}}), (Shape{1, 1, 2, 2}));
  // Length 5, kernel 2, stride 2, pads 1/1: ceil gives 4 windows but the 4th would start at 6,
  // inside the end padding, so it is dropped (PyTorch: 3).
  PoolParams last = pool_params({2}, {2}, {1}, {1});
  last.ceil_mode = true;
  EXPECT_EQ(infer_one(OpType::AveragePool, last, {{1, 1, 5}}), (Shape{1, 1, 3}));
  last.ceil_mode = false;
  EXPECT_EQ(infer_one(OpType::AveragePool, last, {{1, 1, 5}}), (Shape{1, 1, 3}));
  // ResNet stem max pool.
  EXPECT_EQ(infer_one(OpType::MaxPool, pool_params({3, 3}, {2, 2}, {1, 1}, {1, 1}), {{2, 64, 112, 112}}),
            (Shape{2, 64, 56, 56}));
  // Dilation and 3-D.
  PoolParams dilated = pool_params({2, 2}, {1, 1});
  dilated.dilations = {2, 2};
  EXPECT_EQ(infer_one(OpType::MaxPool, dilated, {{1, 1, 4, 4}}), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(infer_one(OpType::AveragePool, pool_params({2, 2, 2}, {2, 2, 2}), {{1, 3, 4, 6, 8}}),
            (Shape{1, 3, 2, 3, 4}));
  // SAME keeps ceil(input / stride).
  PoolParams same = pool_params({3, 3}, {2, 2});
  same.auto_pad = AutoPad::SameLower;
  EXPECT_EQ(infer_one(OpType::MaxPool, same, {{1, 1, 5, 6}}), (Shape{1, 1, 3, 3}));
  ResolvedPads pads = resolve_pool_pads(same, {5, 6});
  EXPECT_EQ(pads.begin, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(pads.end, (std::vector<int64_t>{1, 0}));
  // Errors: no kernel, wrong kernel rank, kernel too large.
  EXPECT_THROW(infer(OpType::MaxPool, PoolParams{}, {{1, 1, 4, 4}}), Error);
  EXPECT_THROW(infer(OpType::MaxPool, pool_params({2}), {{1, 1, 4, 4}}), Error);
  EXPECT_THROW(infer(OpType::MaxPool, pool_params({5, 5}), {{1, 1, 4, 4}}), Error);
  EXPECT_THROW(infer(OpType::MaxPool, pool_params({2, 2}), {{4, 4}}), Error);
}

TEST(ShapesMisc, GlobalPoolBatchNormUnary) {
  EXPECT_EQ(infer_one(OpType::GlobalAveragePool, {}, {{2, 512, 7, 7}}), (Shape{2, 512, 1, 1}));
  EXPECT_EQ(infer_one(OpType::GlobalAveragePool, {}, {{2, 8, 3, 4, 5}}), (Shape{2, 8, 1, 1, 1}));
  EXPECT_EQ(infer_one(OpType::BatchNormalization, BatchNormParams{}, {{2, 3, 4, 4}, {3}, {3}, {3}, {3}}),
            (Shape{2, 3, 4, 4}));
  EXPECT_THROW(infer(OpType::BatchNormalization, BatchNormParams{}, {{2, 3, 4, 4}, {3}, {3}, {4}, {3}}), Error);
  EXPECT_EQ(infer_one(OpType::Relu, {}, {{2, 3}}), (Shape{2, 3}));
  EXPECT_EQ(infer_one(OpType::Clip, ClipParams{}, {{7}}), (Shape{7}));
  EXPECT_THROW(infer(OpType::Constant, {}, {}), Error);
}

TEST(ShapesReshape, ZeroMinusOneAndAllowZero) {
  ReshapeParams p;
  p.target = {0, -1};
  EXPECT_EQ(infer_one(OpType::Reshape, p, {{8, 512, 1, 1}}), (Shape{8, 512}));
  p.target = {2, 0, -1};
  EXPECT_EQ(infer_one(OpType::Reshape, p, {{4, 3, 2}}), (Shape{2, 3, 4}));
  p.target = {-1};
  EXPECT_EQ(infer_one(OpType::Reshape, p, {{4, 3, 2}}), (Shape{24}));
  // allow_zero: 0 is a real zero-size dimension.
  p.target = {0, 3};
  p.allow_zero = true;
  EXPECT_EQ(infer_one(OpType::Reshape, p, {{0, 3}}), (Shape{0, 3}));
  EXPECT_THROW(infer(OpType::Reshape, p, {{2, 3}}), Error);
  p.allow_zero = false;
  EXPECT_EQ(infer_one(OpType::Reshape, p, {{2, 3}}), (Shape{2, 3}));
  // Bad reshapes.
  p.target = {5, -1};
  std::string message = error_of([&] { infer(OpType::Reshape, p, {{4, 3, 2}}); });
  EXPECT_NE(message.find("[4,3,2]"), std::string::npos) << message;
  p.target = {-1, -1};
  EXPECT_THROW(infer(OpType::Reshape, p, {{4, 3, 2}}), Error);
  p.target = {7, 3};
  EXPECT_THROW(infer(OpType::Reshape, p, {{4, 3, 2}}), Error);
  p.target = {1, 1, 1, 0};
  EXPECT_THROW(infer(OpType::Reshape, p, {{4, 6}}), Error);  // copies a dimension the input lacks
  p.target = {-2, 12};
  EXPECT_THROW(infer(OpType::Reshape, p, {{4, 6}}), Error);
}

TEST(ShapesFlattenConcat, Axes) {
  FlattenParams f;
  EXPECT_EQ(infer_one(OpType::Flatten, f, {{2, 3, 4, 5}}), (Shape{2, 60}));
  f.axis = 0;
  EXPECT_EQ(infer_one(OpType::Flatten, f, {{2, 3, 4, 5}}), (Shape{1, 120}));
  f.axis = 4;
  EXPECT_EQ(infer_one(OpType::Flatten, f, {{2, 3, 4, 5}}), (Shape{120, 1}));
  f.axis = -1;
  EXPECT_EQ(infer_one(OpType::Flatten, f, {{2, 3, 4, 5}}), (Shape{24, 5}));
  f.axis = -4;
  EXPECT_EQ(infer_one(OpType::Flatten, f, {{2, 3, 4, 5}}), (Shape{1, 120}));
  f.axis = 5;
  EXPECT_THROW(infer(OpType::Flatten, f, {{2, 3, 4, 5}}), Error);
  f.axis = -5;
  EXPECT_THROW(infer(OpType::Flatten, f, {{2, 3, 4, 5}}), Error);

  ConcatParams c;
  c.axis = 1;
  EXPECT_EQ(infer_one(OpType::Concat, c, {{2, 3, 4}, {2, 5, 4}, {2, 1, 4}}), (Shape{2, 9, 4}));
  c.axis = -1;
  EXPECT_EQ(infer_one(OpType::Concat, c, {{2, 3, 4}, {2, 3, 1}}), (Shape{2, 3, 5}));
  EXPECT_THROW(infer(OpType::Concat, c, {{2, 3, 4}, {2, 2, 1}}), Error);
  EXPECT_THROW(infer(OpType::Concat, c, {{2, 3, 4}, {2, 3}}), Error);
  c.axis = 3;
  EXPECT_THROW(infer(OpType::Concat, c, {{2, 3, 4}}), Error);
}

TEST(ShapesGemmMatMul, Rules) {
  GemmParams g;
  EXPECT_EQ(infer_one(OpType::Gemm, g, {{4, 3}, {3, 5}}), (Shape{4, 5}));
  g.trans_b = true;
  EXPECT_EQ(infer_one(OpType::Gemm, g, {{8, 512}, {1000, 512}, {1000}}), (Shape{8, 1000}));
  g.trans_a = true;
  EXPECT_EQ(infer_one(OpType::Gemm, g, {{3, 4}, {5, 3}, {4, 1}}), (Shape{4, 5}));
  EXPECT_EQ(infer_one(OpType::Gemm, g, {{3, 4}, {5, 3}, {}}), (Shape{4, 5}));  // scalar C
  EXPECT_THROW(infer(OpType::Gemm, g, {{3, 4}, {5, 3}, {5, 4}}), Error);       // C not broadcastable
  EXPECT_THROW(infer(OpType::Gemm, g, {{3, 4}, {5, 2}}), Error);               // inner dims
  EXPECT_THROW(infer(OpType::Gemm, g, {{3, 4, 1}, {5, 3}}), Error);            // rank

  EXPECT_EQ(infer_one(OpType::MatMul, {}, {{3}, {3}}), (Shape{}));
  EXPECT_EQ(infer_one(OpType::MatMul, {}, {{3}, {3, 4}}), (Shape{4}));
  EXPECT_EQ(infer_one(OpType::MatMul, {}, {{2, 5, 3}, {3}}), (Shape{2, 5}));
  EXPECT_EQ(infer_one(OpType::MatMul, {}, {{2, 1, 4, 3}, {5, 3, 6}}), (Shape{2, 5, 4, 6}));
  EXPECT_EQ(infer_one(OpType::MatMul, {}, {{4, 3}, {7, 3, 2}}), (Shape{7, 4, 2}));
  EXPECT_THROW(infer(OpType::MatMul, {}, {{2, 4, 3}, {5, 3, 6}}), Error);
  EXPECT_THROW(infer(OpType::MatMul, {}, {{4, 3}, {4, 3}}), Error);
}

TEST(ShapesResize, ScalesAndSizes) {
  ResizeParams p;
  p.scales = {1, 1, 2, 3};
  EXPECT_EQ(infer_one(OpType::Resize, p, {{4, 3, 2, 2}}), (Shape{4, 3, 4, 6}));
  p.scales = {1, 1, 0.6f, 0.6f};
  EXPECT_EQ(infer_one(OpType::Resize, p, {{1, 1, 2, 4}}), (Shape{1, 1, 1, 2}));
  p.scales = {2, 1, 2, 2};
  EXPECT_THROW(infer(OpType::Resize, p, {{1, 1, 2, 4}}), Error);
  p.scales = {1, 1, 2};
  EXPECT_THROW(infer(OpType::Resize, p, {{1, 1, 2, 4}}), Error);
  ResizeParams sized;
  sized.sizes = {1, 3, 8, 9};
  EXPECT_EQ(infer_one(OpType::Resize, sized, {{16, 3, 4, 4}}), (Shape{16, 3, 8, 9}));  // batch from input
  sized.scales = {1, 1, 1, 1};
  EXPECT_THROW(infer(OpType::Resize, sized, {{16, 3, 4, 4}}), Error);  // both given
}

// ================================================================================================
// Element-wise kernels
// ================================================================================================

TEST(ReferenceOpsUnary, ValuesAndNaNSemantics) {
  Tensor x({6}, {-2.0f, 0.5f, kNaN, -kInf, kInf, 0.0f});
  expect_values(run(OpType::Relu, {}, x), {6}, {0.0f, 0.5f, kNaN, 0.0f, kInf, 0.0f});
  expect_values(run(OpType::LeakyRelu, ActivationParams{0.1f, 0.0f}, x), {6}, {-0.2f, 0.5f, kNaN, -kInf, kInf, 0.0f});
  expect_values(run(OpType::Clip, ClipParams{-1.0f, 1.0f}, x), {6}, {-1.0f, 0.5f, kNaN, -1.0f, 1.0f, 0.0f});
  expect_values(run(OpType::Clip, ClipParams{}, x), {6}, {-2.0f, 0.5f, kNaN, -kInf, kInf, 0.0f});
  expect_values(run(OpType::HardSigmoid, ActivationParams{0.2f, 0.5f}, x), {6}, {0.1f, 0.6f, kNaN, 0.0f, 1.0f, 0.5f});
  expect_values(run(OpType::Sigmoid, {}, x), {6},
                {1.0f / (1.0f + std::exp(2.0f)), 1.0f / (1.0f + std::exp(-0.5f)), kNaN, 0.0f, 1.0f, 0.5f});
  expect_values(run(OpType::Tanh, {}, x), {6}, {std::tanh(-2.0f), std::tanh(0.5f), kNaN, -1.0f, 1.0f, 0.0f});
  expect_values(run(OpType::Softsign, {}, x), {6}, {-2.0f / 3.0f, 0.5f / 1.5f, kNaN, kNaN, kNaN, 0.0f});
  expect_values(run(OpType::Atan, {}, x), {6},
                {std::atan(-2.0f), std::atan(0.5f), kNaN, -1.5707964f, 1.5707964f, 0.0f});
  expect_values(run(OpType::Identity, {}, x), {6}, {-2.0f, 0.5f, kNaN, -kInf, kInf, 0.0f});
}

TEST(ReferenceOpsBinary, BroadcastingArithmetic) {
  Tensor a = iota({2, 3});        // [[0,1,2],[3,4,5]]
  Tensor row({3}, {10, 20, 30});  // broadcast along rows
  Tensor column({2, 1}, {1, 2});  // broadcast along columns
  expect_values(run(OpType::Add, {}, {&a, &row}), {2, 3}, {10, 21, 32, 13, 24, 35});
  expect_values(run(OpType::Sub, {}, {&row, &a}), {2, 3}, {10, 19, 28, 7, 16, 25});
  expect_values(run(OpType::Mul, {}, {&a, &column}), {2, 3}, {0, 1, 2, 6, 8, 10});
  expect_values(run(OpType::Div, {}, {&a, &column}), {2, 3}, {0, 1, 2, 1.5f, 2, 2.5f});
  // Both sides broadcast: [2,1] x [3] -> [2,3].
  expect_values(run(OpType::Add, {}, {&column, &row}), {2, 3}, {11, 21, 31, 12, 22, 32});
  // Scalar and higher rank.
  Tensor scalar({}, {2.0f});
  Tensor cube = iota({2, 2, 2});
  expect_values(run(OpType::Mul, {}, {&scalar, &cube}), {2, 2, 2}, {0, 2, 4, 6, 8, 10, 12, 14});
  Tensor middle({1, 2, 1}, {100, 200});
  expect_values(run(OpType::Add, {}, {&cube, &middle}), {2, 2, 2}, {100, 101, 202, 203, 104, 105, 206, 207});
  // IEEE: 0 * Inf = NaN, x / 0 = Inf.
  Tensor zeros({2}, {0.0f, 1.0f});
  Tensor infs({2}, {kInf, 0.0f});
  expect_values(run(OpType::Mul, {}, {&zeros, &infs}), {2}, {kNaN, 0.0f});
  expect_values(run(OpType::Div, {}, {&zeros, &infs}), {2}, {0.0f, kInf});
  Tensor bad({4}, {1, 2, 3, 4});
  EXPECT_THROW(run(OpType::Add, {}, {&a, &bad}), Error);
}

TEST(ReferenceOpsBatchNorm, FoldedLikePyTorch) {
  // x: [1, 2, 2]; channel 0 uses scale 2, bias 1, mean 1, var 3, eps 1 -> y = (x - 1) * 2 / 2 + 1 = x;
  // channel 1 uses scale 0.5, bias -1, mean 2, var 0.25 - eps -> y = (x - 2) * 0.5 / 0.5 - 1.
  BatchNormParams p{1.0f};
  Tensor x({1, 2, 2}, {1, 2, 3, 5});
  Tensor scale({2}, {2.0f, 0.5f});
  Tensor bias({2}, {1.0f, -1.0f});
  Tensor mean({2}, {1.0f, 2.0f});
  Tensor var({2}, {3.0f, 0.25f - 1.0f});
  expect_values(run(OpType::BatchNormalization, p, {&x, &scale, &bias, &mean, &var}), {1, 2, 2}, {1, 2, 0, 2});
  // Bit-exact with PyTorch's folding: a = (1 / sqrt(var + eps)) * scale, b = bias - mean * a, y = x * a + b.
  BatchNormParams small{1e-5f};
  Tensor x2({2, 1}, {0.7f, -1.3f});
  Tensor s2({1}, {1.7f}), b2({1}, {0.3f}), m2({1}, {0.1f}), v2({1}, {0.9f});
  Tensor y2 = run(OpType::BatchNormalization, small, {&x2, &s2, &b2, &m2, &v2});
  const float a = (1.0f / std::sqrt(0.9f + 1e-5f)) * 1.7f;
  const float b = 0.3f - 0.1f * a;
  EXPECT_EQ(y2.data[0], 0.7f * a + b);
  EXPECT_EQ(y2.data[1], -1.3f * a + b);
}

TEST(ReferenceOpsBatchNorm, NegativeVarianceGivesNaN) {
  BatchNormParams p;
  Tensor x({1, 2, 1, 2}, {1, 2, 3, 4});
  Tensor scale({2}, {1, 1}), bias({2}, {0, 0}), mean({2}, {0, 0});
  Tensor var({2}, {-4.0f, 1.0f});  // a fault flipped the sign bit of channel 0's variance
  Tensor y = run(OpType::BatchNormalization, p, {&x, &scale, &bias, &mean, &var});
  EXPECT_TRUE(std::isnan(y.data[0]));
  EXPECT_TRUE(std::isnan(y.data[1]));
  EXPECT_NEAR(y.data[2], 3.0f, 1e-4f);
  EXPECT_NEAR(y.data[3], 4.0f, 1e-4f);
}

// ================================================================================================
// Conv and ConvTranspose
// ================================================================================================

// ONNX spec examples: 5x5 (or 7x5) input 0..N-1 with an all-ones 3x3 kernel.
TEST(ReferenceOpsConv, OnnxExamples) {
  Tensor x = iota({1, 1, 5, 5});
  Tensor w = filled({1, 1, 3, 3}, 1.0f);
  expect_values(
      run(OpType::Conv, conv_params({}, {1, 1}, {1, 1}), {&x, &w}), {1, 1, 5, 5},
      {12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84});
  expect_values(run(OpType::Conv, ConvParams{}, {&x, &w}), {1, 1, 3, 3}, {54, 63, 72, 99, 108, 117, 144, 153, 162});
  ConvParams same;
  same.auto_pad = AutoPad::SameLower;
  same.strides = {2, 2};
  expect_values(run(OpType::Conv, same, {&x, &w}), {1, 1, 3, 3}, {12, 27, 24, 63, 108, 81, 72, 117, 84});

  Tensor tall = iota({1, 1, 7, 5});
  expect_values(run(OpType::Conv, conv_params({2, 2}, {1, 1}, {1, 1}), {&tall, &w}), {1, 1, 4, 3},
                {12, 27, 24, 63, 108, 81, 123, 198, 141, 112, 177, 124});
  expect_values(run(OpType::Conv, conv_params({2, 2}), {&tall, &w}), {1, 1, 3, 2}, {54, 72, 144, 162, 234, 252});
  // Asymmetric pads: one row top and bottom, none left or right.
  expect_values(run(OpType::Conv, conv_params({2, 2}, {1, 0}, {1, 0}), {&tall, &w}), {1, 1, 4, 2},
                {21, 33, 99, 117, 189, 207, 171, 183});
}

TEST(ReferenceOpsConv, BiasGroupsAndDepthwiseByHand) {
  // Two groups of one channel each, two output channels per group, 1x1 kernels, plus bias.
  Tensor x({1, 2, 1, 2}, {1, 2, 3, 4});
  Tensor w({4, 1, 1, 1}, {1, -1, 10, 100});
  Tensor b({4}, {0.5f, 0.0f, 0.0f, -1.0f});
  expect_values(run(OpType::Conv, conv_params({}, {}, {}, {}, 2), {&x, &w, &b}), {1, 4, 1, 2},
                {1.5f, 2.5f, -1, -2, 30, 40, 299, 399});
  // Depthwise 1-D with dilation 2: y[i] = x[i] * w0 + x[i + 2] * w1.
  Tensor x1({1, 2, 5}, {1, 2, 3, 4, 5, 10, 20, 30, 40, 50});
  Tensor w1({2, 1, 2}, {1, 1, 1, -1});
  expect_values(run(OpType::Conv, conv_params({1}, {0}, {0}, {2}, 2), {&x1, &w1}), {1, 2, 3}, {4, 6, 8, -20, -20, -20});
  // Absent optional bias given as nullptr.
  expect_values(run(OpType::Conv, conv_params({}, {}, {}, {}, 2), {&x, &w, nullptr}), {1, 4, 1, 2},
                {1, 2, -1, -2, 30, 40, 300, 400});
}

// Direct gather loop, written independently of the kernel: out-of-range taps are skipped, which is
// the same as multiplying zero padding when every value is finite.
Tensor naive_conv(const Tensor& x, const Tensor& w, const Tensor* b, const SpatialGeometry& g, int64_t group) {
  const size_t dims = g.input.size();
  const int64_t batch = x.dim(0), in_channels = x.dim(1), out_channels = w.dim(0);
  const int64_t in_per_group = in_channels / group, out_per_group = out_channels / group;
  Shape out_shape{batch, out_channels};
  out_shape.insert(out_shape.end(), g.output.begin(), g.output.end());
  Tensor y(out_shape);
  const int64_t out_plane = element_count(g.output), in_plane = element_count(g.input);
  const int64_t kernel_volume = element_count(g.kernel);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t oc = 0; oc < out_channels; ++oc)
      for (int64_t o = 0; o < out_plane; ++o) {
        std::vector<int64_t> out_index(dims);
        for (size_t d = dims, rest = static_cast<size_t>(o); d-- > 0;) {
          out_index[d] = static_cast<int64_t>(rest) % g.output[d];
          rest /= static_cast<size_t>(g.output[d]);
        }
        double sum = b ? b->data[static_cast<size_t>(oc)] : 0.0;
        for (int64_t icg = 0; icg < in_per_group; ++icg) {
          const int64_t ic = (oc / out_per_group) * in_per_group + icg;
          for (int64_t k = 0; k < kernel_volume; ++k) {
            int64_t in_offset = 0, rest = k;
            bool inside = true;
            std::vector<int64_t> kernel_index(dims);
            for (size_t d = dims; d-- > 0;) {
              kernel_index[d] = rest % g.kernel[d];
              rest /= g.kernel[d];
            }
            for (size_t d = 0; d < dims; ++d) {
              const int64_t i = out_index[d] * g.strides[d] + kernel_index[d] * g.dilations[d] - g.pads_begin[d];
              inside = inside && i >= 0 && i < g.input[d];
              in_offset = in_offset * g.input[d] + i;
            }
            if (!inside) continue;
            sum += static_cast<double>(x.data[static_cast<size_t>((n * in_channels + ic) * in_plane + in_offset)]) *
                   w.data[static_cast<size_t>((oc * in_per_group + icg) * kernel_volume + k)];
          }
        }
        y.data[static_cast<size_t>((n * out_channels + oc) * out_plane + o)] = static_cast<float>(sum);
      }
  return y;
}

TEST(ReferenceOpsConv, MatchesNaiveLoopAcrossGeometries) {
  struct Case {
    Shape x, w;
    ConvParams p;
  };
  std::vector<Case> cases = {
      {{2, 3, 9}, {4, 3, 3}, conv_params({2}, {1}, {2}, {1})},
      {{1, 4, 11}, {4, 1, 3}, conv_params({1}, {0}, {3}, {3}, 4)},
      {{2, 3, 8, 7}, {6, 3, 3, 3}, conv_params({1, 1}, {1, 1}, {1, 1})},
      {{1, 4, 9, 10}, {6, 2, 3, 2}, conv_params({2, 3}, {1, 0}, {2, 1}, {2, 1}, 2)},
      {{1, 8, 7, 7}, {8, 1, 3, 3}, conv_params({2, 2}, {1, 1}, {1, 1}, {}, 8)},
      {{1, 3, 13, 13}, {5, 3, 5, 5}, conv_params({3, 3}, {2, 0}, {0, 2}, {1, 2})},
      {{1, 2, 5, 6, 7}, {3, 2, 3, 2, 3}, conv_params({1, 2, 1}, {1, 0, 1}, {0, 1, 2}, {1, 1, 2})},
      {{2, 4, 4, 4, 4}, {4, 2, 2, 2, 2}, conv_params({2, 2, 2}, {}, {}, {}, 2)},
  };
  std::mt19937 rng(1234);
  for (const Case& c : cases) {
    SCOPED_TRACE("x " + shape_to_string(c.x) + " w " + shape_to_string(c.w));
    Tensor x = random_tensor(c.x, rng);
    Tensor w = random_tensor(c.w, rng);
    Tensor b = random_tensor({c.w[0]}, rng);
    Tensor expected = naive_conv(x, w, &b, conv_geometry(c.p, x.shape, w.shape), c.p.group);
    expect_values(run(OpType::Conv, c.p, {&x, &w, &b}), expected.shape, expected.data, 1e-5f);
  }
}

TEST(ReferenceOpsConv, ZeroTimesInfIsNaN) {
  // A faulted Inf weight over a zero activation gives NaN, never a skipped product.
  Tensor x({1, 1, 1, 3}, {0.0f, 1.0f, 2.0f});
  Tensor w({1, 1, 1, 1}, {kInf});
  expect_values(run(OpType::Conv, ConvParams{}, {&x, &w}), {1, 1, 1, 3}, {kNaN, kInf, kInf});
  // The zero padding takes part too: the Inf tap lands on padding at the left border only.
  Tensor ones = filled({1, 1, 1, 3}, 1.0f);
  Tensor edge({1, 1, 1, 3}, {kInf, 0.0f, 0.0f});
  expect_values(run(OpType::Conv, conv_params({}, {0, 1}, {0, 1}), {&ones, &edge}), {1, 1, 1, 3}, {kNaN, kInf, kInf});
  // A NaN activation poisons every output whose window contains it.
  Tensor with_nan({1, 1, 1, 4}, {1.0f, kNaN, 1.0f, 1.0f});
  Tensor pair({1, 1, 1, 2}, {1.0f, 1.0f});
  expect_values(run(OpType::Conv, ConvParams{}, {&with_nan, &pair}), {1, 1, 1, 3}, {kNaN, kNaN, 2.0f});
}

TEST(ReferenceOpsConvTranspose, OnnxExamples) {
  Tensor x = iota({1, 1, 3, 3});
  Tensor w = filled({1, 2, 3, 3}, 1.0f);
  const std::vector<float> plane = {0,  1,  3, 3,  2,  3,  8,  15, 12, 7,  9,  21, 36,
                                    27, 15, 9, 20, 33, 24, 13, 6,  13, 21, 15, 8};
  std::vector<float> both = plane;
  both.insert(both.end(), plane.begin(), plane.end());
  expect_values(run(OpType::ConvTranspose, ConvParams{}, {&x, &w}), {1, 2, 5, 5}, both);

  Tensor x1 = iota({1, 1, 3});
  Tensor w1 = filled({1, 2, 3}, 1.0f);
  expect_values(run(OpType::ConvTranspose, ConvParams{}, {&x1, &w1}), {1, 2, 5}, {0, 1, 3, 3, 2, 0, 1, 3, 3, 2});

  // Strides 3x2 with pads crop the full 9x7 output to 7x3.
  std::vector<float> cropped = {1, 1, 3, 1, 1, 3, 7, 4, 9, 7, 4, 9, 7, 4, 9, 13, 7, 15, 13, 7, 15};
  std::vector<float> cropped_both = cropped;
  cropped_both.insert(cropped_both.end(), cropped.begin(), cropped.end());
  expect_values(run(OpType::ConvTranspose, conv_params({3, 2}, {1, 2}, {1, 2}), {&x, &w}), {1, 2, 7, 3}, cropped_both);

  // output_shape larger than the full output: extra row and column at the end stay zero.
  ConvParams fixed = conv_params({3, 2});
  fixed.output_shape = {10, 8};
  Tensor y = run(OpType::ConvTranspose, fixed, {&x, &w});
  ASSERT_EQ(y.shape, (Shape{1, 2, 10, 8}));
  const std::vector<float> first_row = {0, 0, 1, 1, 3, 2, 2, 0};
  const std::vector<float> fourth_row = {3, 3, 7, 4, 9, 5, 5, 0};
  for (int64_t c = 0; c < 8; ++c) {
    EXPECT_EQ(y.data[static_cast<size_t>(c)], first_row[static_cast<size_t>(c)]);
    EXPECT_EQ(y.data[static_cast<size_t>(3 * 8 + c)], fourth_row[static_cast<size_t>(c)]);
    EXPECT_EQ(y.data[static_cast<size_t>(9 * 8 + c)], 0.0f);
  }

  // auto_pad SAME_UPPER: output = input * stride, cropped at the end.
  ConvParams same = conv_params({2, 2});
  same.auto_pad = AutoPad::SameUpper;
  std::vector<float> same_plane = {0, 0, 1, 1, 3, 2, 0, 0, 1,  1,  3,  2,  3, 3, 8,  5, 12, 7,
                                   3, 3, 7, 4, 9, 5, 9, 9, 20, 11, 24, 13, 6, 6, 13, 7, 15, 8};
  std::vector<float> same_both = same_plane;
  same_both.insert(same_both.end(), same_plane.begin(), same_plane.end());
  expect_values(run(OpType::ConvTranspose, same, {&x, &w}), {1, 2, 6, 6}, same_both);

  // Dilations 2.
  Tensor xd({1, 1, 3, 3}, {3, 8, 1, 9, 5, 7, 3, 2, 6});
  Tensor wd({1, 1, 2, 2}, {7, 2, 1, 9});
  expect_values(run(OpType::ConvTranspose, conv_params({}, {}, {}, {2, 2}), {&xd, &wd}), {1, 1, 5, 5},
                {21, 56, 13, 16, 2, 63, 35, 67, 10, 14, 24, 22, 76, 76, 21, 9, 5, 88, 45, 63, 3, 2, 33, 18, 54});
}

double dot(const Tensor& a, const Tensor& b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.data.size(); ++i) sum += static_cast<double>(a.data[i]) * b.data[i];
  return sum;
}

// ConvTranspose is the adjoint of Conv with the same weight tensor and geometry:
// <conv_transpose(x), y> == <x, conv(y)>. This checks strides, pads, dilations, groups and
// output_padding against the independently tested Conv.
TEST(ReferenceOpsConvTranspose, AdjointOfConv) {
  struct Case {
    Shape x, w;
    ConvParams p;
  };
  auto with_output_padding = [](ConvParams p, std::vector<int64_t> output_padding) {
    p.output_padding = std::move(output_padding);
    return p;
  };
  std::vector<Case> cases = {
      {{2, 3, 5}, {3, 2, 3}, conv_params({2}, {1}, {0}, {1})},
      {{1, 4, 4, 5}, {4, 3, 3, 3}, conv_params({2, 2}, {1, 1}, {1, 1}, {}, 2)},
      {{1, 2, 4, 4}, {2, 3, 3, 2}, with_output_padding(conv_params({3, 2}, {1, 0}, {2, 1}, {1, 2}), {2, 1})},
      {{1, 6, 3, 3}, {6, 1, 3, 3}, conv_params({2, 2}, {1, 1}, {1, 1}, {}, 6)},
      {{1, 2, 3, 3, 4}, {2, 2, 2, 3, 2}, conv_params({2, 1, 2}, {0, 1, 1}, {1, 1, 0}, {1, 1, 2})},
  };
  std::mt19937 rng(99);
  for (const Case& c : cases) {
    SCOPED_TRACE("x " + shape_to_string(c.x) + " w " + shape_to_string(c.w));
    Tensor x = random_tensor(c.x, rng);
    Tensor w = random_tensor(c.w, rng);
    Tensor transposed = run(OpType::ConvTranspose, c.p, {&x, &w});
    Tensor y = random_tensor(transposed.shape, rng);
    ConvParams forward = c.p;
    forward.output_padding.clear();
    Tensor conv_of_y = run(OpType::Conv, forward, {&y, &w});
    ASSERT_EQ(conv_of_y.shape, x.shape);
    EXPECT_NEAR(dot(transposed, y), dot(x, conv_of_y), 1e-4);
  }
  // Bias is added to every output position, including those no input reaches.
  Tensor x({1, 1, 2}, {1, 1});
  Tensor w({1, 1, 1}, {1});
  Tensor b({1}, {0.5f});
  expect_values(run(OpType::ConvTranspose, conv_params({3}), {&x, &w, &b}), {1, 1, 4}, {1.5f, 0.5f, 0.5f, 1.5f});
}

// ================================================================================================
// Pools
// ================================================================================================

TEST(ReferenceOpsPool, MaxPoolValues) {
  Tensor x = iota({1, 1, 4, 4}, 1.0f);  // 1..16
  PoolParams ceil = pool_params({3, 3}, {2, 2});
  ceil.ceil_mode = true;
  expect_values(run(OpType::MaxPool, ceil, x), {1, 1, 2, 2}, {11, 12, 15, 16});
  expect_values(run(OpType::MaxPool, pool_params({2, 2}, {2, 2}), x), {1, 1, 2, 2}, {6, 8, 14, 16});
  // Padding is never selected: all-negative input with padding keeps negative maxima.
  Tensor negative = filled({1, 1, 2, 2}, -5.0f);
  negative.data[3] = -3.0f;
  expect_values(run(OpType::MaxPool, pool_params({2, 2}, {1, 1}, {1, 1}, {1, 1}), negative), {1, 1, 3, 3},
                {-5, -5, -5, -5, -3, -3, -5, -3, -3});
  // Dilation 2 over 4x4: windows {(0,0),(0,2),(2,0),(2,2)} etc.
  PoolParams dilated = pool_params({2, 2}, {1, 1});
  dilated.dilations = {2, 2};
  expect_values(run(OpType::MaxPool, dilated, x), {1, 1, 2, 2}, {11, 12, 15, 16});
  // 1-D and 3-D.
  Tensor line({1, 2, 5}, {1, 5, 2, 4, 3, -1, -2, -3, -4, -5});
  expect_values(run(OpType::MaxPool, pool_params({2}, {2}), line), {1, 2, 2}, {5, 4, -1, -3});
  Tensor cube = iota({1, 1, 2, 2, 2});
  expect_values(run(OpType::MaxPool, pool_params({2, 2, 2}), cube), {1, 1, 1, 1, 1}, {7});
}

TEST(ReferenceOpsPool, MaxPoolNaNAndInf) {
  Tensor x({1, 1, 2, 4}, {1, kNaN, 3, 4, 5, 6, 7, 8});
  expect_values(run(OpType::MaxPool, pool_params({2, 2}, {2, 2}), x), {1, 1, 1, 2}, {kNaN, 8});
  // The NaN is in the first tap of the window, later larger values do not hide it.
  Tensor first({1, 1, 1, 3}, {kNaN, 100, kInf});
  expect_values(run(OpType::MaxPool, pool_params({1, 3}), first), {1, 1, 1, 1}, {kNaN});
  Tensor last({1, 1, 1, 3}, {1, 2, kNaN});
  expect_values(run(OpType::MaxPool, pool_params({1, 2}, {1, 1}), last), {1, 1, 1, 2}, {2, kNaN});
  // -inf inputs: a window of -inf yields -inf; with padding the result is still -inf, not 0.
  Tensor minus_inf({1, 1, 1, 3}, {-kInf, -kInf, 2});
  expect_values(run(OpType::MaxPool, pool_params({1, 2}, {1, 1}, {0, 1}, {0, 0}), minus_inf), {1, 1, 1, 3},
                {-kInf, -kInf, 2});
  expect_values(run(OpType::MaxPool, pool_params({1, 2}, {1, 1}), Tensor({1, 1, 1, 2}, {kInf, 1})), {1, 1, 1, 1},
                {kInf});
}

TEST(ReferenceOpsPool, AveragePoolPadsAndCeil) {
  Tensor x = iota({1, 1, 4, 4}, 1.0f);
  PoolParams ceil = pool_params({3, 3}, {2, 2});
  ceil.ceil_mode = true;
  expect_values(run(OpType::AveragePool, ceil, x), {1, 1, 2, 2}, {6, 7.5f, 12, 13.5f});
  // 5x5 input 1..25, kernel 5, pads 2 (ONNX precomputed_pads cases).
  Tensor big = iota({1, 1, 5, 5}, 1.0f);
  PoolParams padded = pool_params({5, 5}, {1, 1}, {2, 2}, {2, 2});
  Tensor excluded = run(OpType::AveragePool, padded, big);
  expect_values(excluded, {1, 1, 5, 5}, {7,  7.5f,  8,  8.5f,  9,  9.5f,  10, 10.5f, 11, 11.5f, 12, 12.5f, 13, 13.5f,
                                         14, 14.5f, 15, 15.5f, 16, 16.5f, 17, 17.5f, 18, 18.5f, 19});
  padded.count_include_pad = true;
  Tensor included = run(OpType::AveragePool, padded, big);
  EXPECT_NEAR(included.data[0], 63.0f / 25.0f, 1e-5f);
  EXPECT_NEAR(included.data[12], 13.0f, 1e-5f);
  EXPECT_NEAR(included.data[24], (13 + 14 + 15 + 18 + 19 + 20 + 23 + 24 + 25) / 25.0f, 1e-5f);
  // A ceil_mode window running past the padded input: length 6, k 3, s 2, pads 1, ceil -> 4 windows;
  // the last covers input 5 and padding 6 and hangs past the padded end at 7. With
  // count_include_pad the divisor is 2 (PyTorch), without it 1.
  Tensor line = iota({1, 1, 6}, 1.0f);
  PoolParams tail = pool_params({3}, {2}, {1}, {1});
  tail.ceil_mode = true;
  tail.count_include_pad = true;
  expect_values(run(OpType::AveragePool, tail, line), {1, 1, 4}, {3.0f / 3, 9.0f / 3, 15.0f / 3, 6.0f / 2});
  tail.count_include_pad = false;
  expect_values(run(OpType::AveragePool, tail, line), {1, 1, 4}, {1.5f, 3, 5, 6});
  // NaN and Inf propagate through the sum.
  Tensor bad({1, 1, 1, 4}, {1, kNaN, kInf, 2});
  expect_values(run(OpType::AveragePool, pool_params({1, 2}, {1, 2}), bad), {1, 1, 1, 2}, {kNaN, kInf});
}

TEST(ReferenceOpsPool, GlobalAveragePool) {
  Tensor x = iota({2, 2, 2, 2});
  expect_values(run(OpType::GlobalAveragePool, {}, x), {2, 2, 1, 1}, {1.5f, 5.5f, 9.5f, 13.5f});
  Tensor line({1, 1, 3}, {1, kNaN, 2});
  expect_values(run(OpType::GlobalAveragePool, {}, line), {1, 1, 1}, {kNaN});
}

// ================================================================================================
// Layout ops
// ================================================================================================

TEST(ReferenceOpsLayout, FlattenReshapeConcat) {
  Tensor x = iota({2, 3, 2});
  FlattenParams f;
  Tensor flat = run(OpType::Flatten, f, x);
  EXPECT_EQ(flat.shape, (Shape{2, 6}));
  EXPECT_EQ(flat.data, x.data);
  ReshapeParams r;
  r.target = {0, -1, 3};
  Tensor reshaped = run(OpType::Reshape, r, x);
  EXPECT_EQ(reshaped.shape, (Shape{2, 2, 3}));
  EXPECT_EQ(reshaped.data, x.data);

  Tensor a = iota({2, 1, 2});         // [[[0,1]],[[2,3]]]
  Tensor b = iota({2, 2, 2}, 10.0f);  // [[[10,11],[12,13]],[[14,15],[16,17]]]
  ConcatParams c;
  c.axis = 1;
  expect_values(run(OpType::Concat, c, {&a, &b}), {2, 3, 2}, {0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17});
  c.axis = -1;
  Tensor d = iota({2, 1, 1}, 100.0f);
  expect_values(run(OpType::Concat, c, {&a, &d, &a}), {2, 1, 5}, {0, 1, 100, 0, 1, 2, 3, 101, 2, 3});
  c.axis = 0;
  expect_values(run(OpType::Concat, c, {&a, &a}), {4, 1, 2}, {0, 1, 2, 3, 0, 1, 2, 3});
}

// ================================================================================================
// Gemm and MatMul
// ================================================================================================

TEST(ReferenceOpsGemm, TransposesAlphaBetaAndBroadcastC) {
  Tensor a({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b({3, 2}, {1, 0, 0, 1, 1, 1});  // A*B = [[4,5],[10,11]]
  expect_values(run(OpType::Gemm, GemmParams{}, {&a, &b}), {2, 2}, {4, 5, 10, 11});
  Tensor c_row({2}, {100, 200});
  expect_values(run(OpType::Gemm, GemmParams{2.0f, 0.5f, false, false}, {&a, &b, &c_row}), {2, 2}, {58, 110, 70, 122});
  Tensor c_column({2, 1}, {1, 2});
  expect_values(run(OpType::Gemm, GemmParams{}, {&a, &b, &c_column}), {2, 2}, {5, 6, 12, 13});
  Tensor c_scalar({}, {-4});
  expect_values(run(OpType::Gemm, GemmParams{}, {&a, &b, &c_scalar}), {2, 2}, {0, 1, 6, 7});
  // Transposed storage of the same operands gives the same product.
  Tensor a_t({3, 2}, {1, 4, 2, 5, 3, 6});
  Tensor b_t({2, 3}, {1, 0, 1, 0, 1, 1});
  expect_values(run(OpType::Gemm, GemmParams{1.0f, 1.0f, true, true}, {&a_t, &b_t, nullptr}), {2, 2}, {4, 5, 10, 11});
  // 0 * Inf inside the product, and beta * C is formed even for beta = 0 (0 * Inf = NaN).
  Tensor zero_a({1, 2}, {0, 1});
  Tensor inf_b({2, 1}, {kInf, 1});
  expect_values(run(OpType::Gemm, GemmParams{}, {&zero_a, &inf_b}), {1, 1}, {kNaN});
  Tensor ones_a({1, 2}, {1, 1});
  Tensor inf_c({1}, {kInf});
  expect_values(run(OpType::Gemm, GemmParams{1.0f, 0.0f, false, false}, {&ones_a, &inf_b, &inf_c}), {1, 1}, {kNaN});
}

TEST(ReferenceOpsMatMul, NumpySemantics) {
  Tensor v({3}, {1, 2, 3});
  Tensor u({3}, {4, 5, 6});
  expect_values(run(OpType::MatMul, {}, {&v, &u}), {}, {32});
  Tensor m({3, 2}, {1, 2, 3, 4, 5, 6});
  expect_values(run(OpType::MatMul, {}, {&v, &m}), {2}, {22, 28});
  Tensor m2({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_values(run(OpType::MatMul, {}, {&m2, &v}), {2}, {14, 32});
  // Batched with broadcasting, against a naive loop.
  std::mt19937 rng(7);
  Tensor a = random_tensor({2, 1, 4, 3}, rng);
  Tensor b = random_tensor({5, 3, 2}, rng);
  Tensor y = run(OpType::MatMul, {}, {&a, &b});
  ASSERT_EQ(y.shape, (Shape{2, 5, 4, 2}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 5; ++j)
      for (int64_t r = 0; r < 4; ++r)
        for (int64_t c = 0; c < 2; ++c) {
          double sum = 0.0;
          for (int64_t k = 0; k < 3; ++k)
            sum += static_cast<double>(a.data[static_cast<size_t>((i * 4 + r) * 3 + k)]) *
                   b.data[static_cast<size_t>((j * 3 + k) * 2 + c)];
          EXPECT_NEAR(y.data[static_cast<size_t>(((i * 5 + j) * 4 + r) * 2 + c)], sum, 1e-5);
        }
}

// ================================================================================================
// Resize (expected values from the ONNX Resize examples)
// ================================================================================================

ResizeParams resize_params(ResizeMode mode, CoordinateTransform transform, NearestRounding rounding,
                           std::vector<float> scales, std::vector<int64_t> sizes = {}) {
  ResizeParams p;
  p.mode = mode;
  p.coordinate_transform = transform;
  p.nearest_rounding = rounding;
  p.scales = std::move(scales);
  p.sizes = std::move(sizes);
  return p;
}

TEST(ReferenceOpsResize, Nearest) {
  Tensor x({1, 1, 2, 2}, {1, 2, 3, 4});
  expect_values(run(OpType::Resize,
                    resize_params(ResizeMode::Nearest, CoordinateTransform::HalfPixel,
                                  NearestRounding::RoundPreferFloor, {1, 1, 2, 3}),
                    x),
                {1, 1, 4, 6}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
  Tensor wide({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  expect_values(run(OpType::Resize,
                    resize_params(ResizeMode::Nearest, CoordinateTransform::HalfPixel,
                                  NearestRounding::RoundPreferFloor, {1, 1, 0.6f, 0.6f}),
                    wide),
                {1, 1, 1, 2}, {1, 3});
  // PyTorch's nn.Upsample(scale_factor=2, mode="nearest") exports asymmetric + floor.
  expect_values(
      run(OpType::Resize,
          resize_params(ResizeMode::Nearest, CoordinateTransform::Asymmetric, NearestRounding::Floor, {1, 1, 2, 2}), x),
      {1, 1, 4, 4}, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});

  Tensor square = iota({1, 1, 4, 4}, 1.0f);
  Tensor ceil_half =
      run(OpType::Resize,
          resize_params(ResizeMode::Nearest, CoordinateTransform::HalfPixel, NearestRounding::Ceil, {}, {1, 1, 8, 8}),
          square);
  ASSERT_EQ(ceil_half.shape, (Shape{1, 1, 8, 8}));
  EXPECT_EQ(std::vector<float>(ceil_half.data.begin(), ceil_half.data.begin() + 8),
            (std::vector<float>{1, 2, 2, 3, 3, 4, 4, 4}));
  Tensor floor_corners = run(
      OpType::Resize,
      resize_params(ResizeMode::Nearest, CoordinateTransform::AlignCorners, NearestRounding::Floor, {}, {1, 1, 8, 8}),
      square);
  EXPECT_EQ(std::vector<float>(floor_corners.data.begin(), floor_corners.data.begin() + 8),
            (std::vector<float>{1, 1, 1, 2, 2, 3, 3, 4}));
  Tensor ceil_asym = run(OpType::Resize,
                         resize_params(ResizeMode::Nearest, CoordinateTransform::Asymmetric,
                                       NearestRounding::RoundPreferCeil, {}, {1, 1, 8, 8}),
                         square);
  EXPECT_EQ(std::vector<float>(ceil_asym.data.begin(), ceil_asym.data.begin() + 8),
            (std::vector<float>{1, 2, 2, 3, 3, 4, 4, 4}));
  expect_values(run(OpType::Resize,
                    resize_params(ResizeMode::Nearest, CoordinateTransform::TfHalfPixelForNn,
                                  NearestRounding::RoundPreferFloor, {}, {1, 1, 3, 2}),
                    square),
                {1, 1, 3, 2}, {6, 8, 10, 12, 14, 16});
  // Batch comes from the input, not sizes[0].
  Tensor batch2 = iota({2, 1, 1, 2});
  expect_values(
      run(OpType::Resize,
          resize_params(ResizeMode::Nearest, CoordinateTransform::Asymmetric, NearestRounding::Floor, {}, {1, 1, 1, 4}),
          batch2),
      {2, 1, 1, 4}, {0, 0, 1, 1, 2, 2, 3, 3});
}

TEST(ReferenceOpsResize, Linear) {
  Tensor x({1, 1, 2, 2}, {1, 2, 3, 4});
  expect_values(run(OpType::Resize,
                    resize_params(ResizeMode::Linear, CoordinateTransform::HalfPixel, NearestRounding::RoundPreferFloor,
                                  {1, 1, 2, 2}),
                    x),
                {1, 1, 4, 4},
                {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4});
  const float third = 1.0f / 3.0f;
  expect_values(run(OpType::Resize,
                    resize_params(ResizeMode::Linear, CoordinateTransform::AlignCorners,
                                  NearestRounding::RoundPreferFloor, {1, 1, 2, 2}),
                    x),
                {1, 1, 4, 4},
                {1, 1 + third, 1 + 2 * third, 2, 1 + 2 * third, 2, 2 + third, 2 + 2 * third, 2 + third, 2 + 2 * third,
                 3, 3 + third, 3, 3 + third, 3 + 2 * third, 4});
  Tensor wide({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  expect_values(run(OpType::Resize,
                    resize_params(ResizeMode::Linear, CoordinateTransform::HalfPixel, NearestRounding::RoundPreferFloor,
                                  {1, 1, 0.6f, 0.6f}),
                    wide),
                {1, 1, 1, 2}, {2.6666665f, 4.3333331f});
  // align_corners with scales divides by the un-floored in * scale - 1 = 1.4 (ONNX reference).
  expect_values(run(OpType::Resize,
                    resize_params(ResizeMode::Linear, CoordinateTransform::AlignCorners,
                                  NearestRounding::RoundPreferFloor, {1, 1, 0.6f, 0.6f}),
                    wide),
                {1, 1, 1, 2}, {1, 1 + 3.0f / 1.4f});
  Tensor square = iota({1, 1, 4, 4}, 1.0f);
  expect_values(run(OpType::Resize,
                    resize_params(ResizeMode::Linear, CoordinateTransform::PytorchHalfPixel,
                                  NearestRounding::RoundPreferFloor, {}, {1, 1, 3, 1}),
                    square),
                {1, 1, 3, 1}, {1.6666666f, 7, 12.333333f});
  // 1-D linear (rank 3) and asymmetric.
  Tensor line({1, 1, 3}, {0, 10, 20});
  expect_values(
      run(OpType::Resize,
          resize_params(ResizeMode::Linear, CoordinateTransform::Asymmetric, NearestRounding::Floor, {1, 1, 2}), line),
      {1, 1, 6}, {0, 5, 10, 15, 20, 20});
  // Identity resize copies (no blending with a NaN neighbour).
  Tensor with_nan({1, 1, 1, 2}, {1, kNaN});
  expect_values(run(OpType::Resize,
                    resize_params(ResizeMode::Linear, CoordinateTransform::HalfPixel, NearestRounding::RoundPreferFloor,
                                  {1, 1, 1, 1}),
                    with_nan),
                {1, 1, 1, 2}, {1, kNaN});
}

// ================================================================================================
// Predictions
// ================================================================================================

TEST(ReferenceOpsPredictions, ArgmaxFirstNaNElseFirstMax) {
  const std::vector<float> plain = {1, 5, 3, 5, -kInf};
  EXPECT_EQ(reference::argmax(plain.data(), 5), 1);  // tie -> first
  const std::vector<float> nan_first = {kNaN, 5, kNaN};
  EXPECT_EQ(reference::argmax(nan_first.data(), 3), 0);
  const std::vector<float> nan_middle = {1, 9, kNaN, kInf, kNaN};
  EXPECT_EQ(reference::argmax(nan_middle.data(), 5), 2);
  const std::vector<float> nan_last = {kInf, 2, kNaN};
  EXPECT_EQ(reference::argmax(nan_last.data(), 3), 2);
  const std::vector<float> infs = {-kInf, kInf, kInf};
  EXPECT_EQ(reference::argmax(infs.data(), 3), 1);
  const std::vector<float> minus_infs = {-kInf, -kInf};
  EXPECT_EQ(reference::argmax(minus_infs.data(), 2), 0);
  const std::vector<float> zeros = {0.0f, -0.0f, 0.0f};
  EXPECT_EQ(reference::argmax(zeros.data(), 3), 0);
  EXPECT_THROW(reference::argmax(zeros.data(), 0), Error);
}

TEST(ReferenceOpsPredictions, InTopKNaNAndTies) {
  const std::vector<float> logits = {1, 7, 3, 7, 5};
  // Ranking: 1 (7), 3 (7, tie broken by lower index), 4 (5), 2 (3), 0 (1).
  EXPECT_TRUE(reference::in_top_k(logits.data(), 5, 1, 1));
  EXPECT_FALSE(reference::in_top_k(logits.data(), 5, 3, 1));
  EXPECT_TRUE(reference::in_top_k(logits.data(), 5, 3, 2));
  EXPECT_FALSE(reference::in_top_k(logits.data(), 5, 4, 2));
  EXPECT_TRUE(reference::in_top_k(logits.data(), 5, 4, 3));
  EXPECT_TRUE(reference::in_top_k(logits.data(), 5, 0, 5));
  EXPECT_FALSE(reference::in_top_k(logits.data(), 5, 0, 4));
  // NaN outranks every number, including +inf; among NaNs the lower index wins.
  const std::vector<float> with_nan = {kInf, kNaN, 2, kNaN, 9};
  EXPECT_TRUE(reference::in_top_k(with_nan.data(), 5, 1, 1));
  EXPECT_FALSE(reference::in_top_k(with_nan.data(), 5, 0, 1));
  EXPECT_FALSE(reference::in_top_k(with_nan.data(), 5, 3, 1));
  EXPECT_TRUE(reference::in_top_k(with_nan.data(), 5, 3, 2));
  EXPECT_FALSE(reference::in_top_k(with_nan.data(), 5, 0, 2));
  EXPECT_TRUE(reference::in_top_k(with_nan.data(), 5, 0, 3));
  EXPECT_FALSE(reference::in_top_k(with_nan.data(), 5, 4, 3));
  EXPECT_TRUE(reference::in_top_k(with_nan.data(), 5, 4, 4));
  // top-1 agrees with argmax.
  for (int64_t label = 0; label < 5; ++label)
    EXPECT_EQ(reference::in_top_k(with_nan.data(), 5, label, 1), reference::argmax(with_nan.data(), 5) == label);
  EXPECT_THROW(reference::in_top_k(logits.data(), 5, 5, 1), Error);
}

}  // namespace
}  // namespace flipsweep
