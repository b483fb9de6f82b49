#pragma once
// The operators flipsweep understands and their parameters, resolved from ONNX attributes and
// constant inputs at load time. The same structs are read by the CPU reference kernels, the CPU
// fast path and (later) the CUDA backend, so every backend sees exactly one interpretation.
#include <cstdint>
#include <limits>
#include <string>
#include <variant>
#include <vector>

namespace flipsweep {

enum class OpType {
  Conv,
  ConvTranspose,
  BatchNormalization,
  Relu,
  LeakyRelu,
  Clip,
  Sigmoid,
  HardSigmoid,
  Tanh,
  Softsign,
  Atan,
  Add,
  Sub,
  Mul,
  Div,
  MaxPool,
  AveragePool,
  GlobalAveragePool,
  Flatten,
  Reshape,
  Gemm,
  MatMul,
  Concat,
  Resize,
  Pad,
  Identity,
  Constant,
  HardSwish,
  Softmax,
  ReduceMean,
  Transpose,
  Dropout,  // inference: the identity (training_mode and the mask output are refused)
  Slice,    // constant starts/ends/axes/steps; ONNX Split is imported as one Slice per output
};

const char* op_type_name(OpType op);
// Returns false when `name` is not an ONNX op type flipsweep supports.
bool op_type_from_name(const std::string& name, OpType* op);
// Every supported op type, in declaration order (error messages list them).
std::vector<OpType> supported_op_types();

// True for ops computing y = f(x) element by element with no other tensor input. Weight
// preparation uses this to patch only the elements a fault touched.
bool is_elementwise_unary(OpType op);

enum class AutoPad { NotSet, SameUpper, SameLower, Valid };

// Conv and ConvTranspose. Vectors have one entry per spatial dimension (1 to 3).
// `pads_begin`/`pads_end` are the explicit pads; with auto_pad != NotSet they are recomputed from
// the input shape by resolve_conv_pads() (ops/shapes.h).
struct ConvParams {
  int64_t group = 1;
  AutoPad auto_pad = AutoPad::NotSet;
  std::vector<int64_t> kernel_shape;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads_begin;
  std::vector<int64_t> pads_end;
  // ConvTranspose only.
  std::vector<int64_t> output_padding;
  std::vector<int64_t> output_shape;  // spatial output shape if the model fixed it, else empty
};

// MaxPool and AveragePool.
struct PoolParams {
  AutoPad auto_pad = AutoPad::NotSet;
  std::vector<int64_t> kernel_shape;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads_begin;
  std::vector<int64_t> pads_end;
  bool ceil_mode = false;
  bool count_include_pad = false;  // AveragePool only
};

struct BatchNormParams {
  float epsilon = 1e-5f;
};

// LeakyRelu (alpha), HardSigmoid (alpha, beta).
struct ActivationParams {
  float alpha = 0.0f;
  float beta = 0.0f;
};

// Clip bounds come from constant inputs (opset >= 11) or attributes (older opsets).
struct ClipParams {
  float min = -std::numeric_limits<float>::infinity();
  float max = std::numeric_limits<float>::infinity();
};

struct FlattenParams {
  int64_t axis = 1;
};

// Reshape's target from its constant `shape` input, with ONNX's 0 (copy) and -1 (infer) kept,
// so it applies to any batch size.
struct ReshapeParams {
  std::vector<int64_t> target;
  bool allow_zero = false;
};

struct GemmParams {
  float alpha = 1.0f;
  float beta = 1.0f;
  bool trans_a = false;
  bool trans_b = false;
};

struct ConcatParams {
  int64_t axis = 0;
};

enum class ResizeMode { Nearest, Linear };
enum class CoordinateTransform { HalfPixel, PytorchHalfPixel, AlignCorners, Asymmetric, TfHalfPixelForNn };
enum class NearestRounding { RoundPreferFloor, RoundPreferCeil, Floor, Ceil };

// Resize with either per-axis `scales` or fixed output `sizes` (one of them is empty). The batch
// axis must have scale 1; `sizes[0]` is ignored in favour of the actual batch size.
struct ResizeParams {
  ResizeMode mode = ResizeMode::Nearest;
  CoordinateTransform coordinate_transform = CoordinateTransform::HalfPixel;
  NearestRounding nearest_rounding = NearestRounding::RoundPreferFloor;
  std::vector<float> scales;
  std::vector<int64_t> sizes;
};

enum class PadMode { Constant, Reflect, Edge };

// Pad with its pads (and, opset >= 11, constant_value and axes) from constant inputs or, before
// opset 11, attributes. `pads` holds the begin pads of every padded axis, then the end pads;
// `axes` lists those axes (empty: every axis in order; negative: counted from the end). A negative
// pad removes elements: the input is cropped first, then padded (ONNX Runtime's order), so reflect
// and edge read the cropped tensor.
struct PadParams {
  PadMode mode = PadMode::Constant;
  std::vector<int64_t> pads;
  std::vector<int64_t> axes;
  float value = 0.0f;  // constant mode only
};

// Softmax along `axis`; before opset 13 the input is seen as 2-D [prod(dims < axis), prod(rest)]
// and normalised over the second dimension (`coerce_2d`).
struct SoftmaxParams {
  int64_t axis = -1;
  bool coerce_2d = false;
};

// ReduceMean over `axes` (empty: all axes, unless noop_with_empty_axes).
struct ReduceParams {
  std::vector<int64_t> axes;
  bool keepdims = true;
  bool noop_with_empty_axes = false;
};

// Transpose: output dim i is input dim perm[i] (empty: reversed).
struct TransposeParams {
  std::vector<int64_t> perm;
};

// Slice with ONNX's semantics: per listed axis (empty: 0, 1, ...), start and end are clamped to
// the axis (negative: counted from the end; INT64_MAX/MIN: to the end/start), step may be negative.
struct SliceParams {
  std::vector<int64_t> starts;
  std::vector<int64_t> ends;
  std::vector<int64_t> axes;
  std::vector<int64_t> steps;  // empty: all 1
};

using OpParams = std::variant<std::monostate, ConvParams, PoolParams, BatchNormParams, ActivationParams,
                              ClipParams, FlattenParams, ReshapeParams, GemmParams, ConcatParams, ResizeParams,
                              PadParams, SoftmaxParams, ReduceParams, TransposeParams, SliceParams>;

}  // namespace flipsweep
