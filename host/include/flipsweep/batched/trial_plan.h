#pragma once
// The trial-batched plan: how T fault trials × B images run through a network whose weights
// differ between trials in a few elements. Backend-neutral: the CUDA backend executes it on the
// GPU, the host executor (backend "host-plan") on the CPU with the same kernel bodies, which is how
// CI checks the GPU path without a GPU.
//
// The weights stay shared. Each Conv/ConvTranspose/Gemm layer runs one dense call with the clean
// weights over all trials' inputs; then a correction kernel adds, per trial, (faulted − clean
// effective weight) × input for every weight that trial changed (O(faults × B × output pixels)).
// Where a correction would not be exact — the input, the faulted or the clean value is not finite
// (Inf·w + Inf·(−2w) is NaN where the direct sum is −Inf) — the kernel recomputes that output
// element directly with the trial's weights, skipping padded taps as oneDNN does. Trials that change
// so many weights of a layer that corrections would cost more than a dense pass run that layer with
// their own weight copy instead. Layers before the first one any trial of the block changes read
// identical inputs for every trial and run once ("shared"); the first changed layer fans out.
//
// Two levels: ModelPlan (per model: steps, absorbed epilogues, shapes, weight decoding programs)
// and BlockPlan (per block of trials: which values are shared or per-trial, the correction lists,
// per-trial epilogue parameters and weight copies).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "flipsweep/core/pointwise.h"
#include "flipsweep/core/storage_formats.h"
#include "flipsweep/graph/graph.h"
#include "flipsweep/kernels/corrections.h"
#include "flipsweep/model/weight_set.h"

namespace flipsweep::batched {

enum class StepOp {
  Conv,               // dense conv + corrections + epilogue
  ConvTranspose,      // direct transposed conv + corrections + epilogue
  Gemm,               // Gemm and MatMul with a weight operand: dense GEMM + corrections + epilogue
  BatchNorm,          // a BatchNormalization no conv absorbed: copy + epilogue
  Unary,              // an activation function
  Binary,             // Add/Sub/Mul/Div, operands activations or weights, numpy broadcasting
  MaxPool,
  AveragePool,
  GlobalAveragePool,
  Concat,
  Resize,
  StridedCopy,        // Transpose, Slice: a strided view of each trial's batch
  ReduceMean,         // ReduceMean over trailing axes (x.mean((2, 3)))
  Alias,              // Flatten/Reshape/Identity: the output is the input's memory
};

const char* step_op_name(StepOp op);

// What follows a Conv/ConvTranspose/Gemm (or a lone BatchNorm), in PyTorch's order:
// y = act(((x · alpha) + bias[c]) · bn_a[c] + bn_b[c] + residual).
struct EpiloguePlan {
  float alpha = 1.0f;  // Gemm alpha
  int bias = -1;       // weight value: conv bias, or Gemm C (times beta)
  float bias_multiplier = 1.0f;  // Gemm beta
  int bn_scale = -1, bn_bias = -1, bn_mean = -1, bn_var = -1;
  float bn_epsilon = 0.0f;
  int residual = -1;   // activation value
  core::PointwiseStep activation;  // Identity when none
  std::vector<int> absorbed_nodes;  // activation node indices folded into this step
};

// A 2-D conv or transposed conv with every geometric quantity explicit.
struct ConvShape {
  int64_t in_channels = 0, in_height = 0, in_width = 0;
  int64_t out_channels = 0, out_height = 0, out_width = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  int64_t pad_h_end = 0, pad_w_end = 0;
  int64_t groups = 1;
};

struct GemmShape {
  int64_t rows_per_image = 1;  // rows of A one image contributes (1 for Gemm)
  int64_t k = 0, m = 0;
  bool weight_transposed = false;  // weight stored [M, K] (Gemm transB=1, Linear); else [K, M]
};

struct PlanStep {
  StepOp op = StepOp::Unary;
  int node = -1;           // activation node index (the first one of the step)
  std::string name;        // its node name, for messages
  std::vector<int> inputs;  // value ids: activations, or weights for Binary operands
  int output = -1;
  int weight = -1;          // Conv/ConvTranspose/Gemm weight value
  EpiloguePlan epilogue;
  ConvShape conv;           // Conv, ConvTranspose; pooling reuses it (kernel, strides, pads)
  GemmShape gemm;
  core::PointwiseStep unary;
  OpType binary = OpType::Add;
  bool count_include_pad = false;  // AveragePool
  int64_t concat_axis = 1;
  ResizeParams resize;
  OpParams view;  // StridedCopy: the node's TransposeParams or SliceParams
};

// How the activation pass reads a weight value from a fault-target parameter: the same element
// index through a chain of point-wise steps (an SAF), so a kernel can decode the faulted stored
// word and apply the chain itself. `parameter` is -1 when the value is not such a chain.
struct WeightSource {
  int parameter = -1;
  core::PointwiseProgram program;
};

class ModelPlan {
 public:
  // Compiles the activation pass. Ops the trial-batched path lacks are an Error naming each.
  explicit ModelPlan(const Model& model);

  const Model& model() const { return model_; }
  const std::vector<PlanStep>& steps() const { return steps_; }
  int input() const { return input_; }
  int output() const { return output_; }
  int64_t per_image(int value) const { return per_image_[static_cast<size_t>(value)]; }
  const Shape& image_shape(int value) const { return image_shapes_[static_cast<size_t>(value)]; }  // batch 1
  int64_t output_size() const { return per_image(output_); }
  // The value whose memory `value` uses (itself unless produced by an Alias step).
  int storage_of(int value) const { return storage_of_[static_cast<size_t>(value)]; }
  const WeightSource& weight_source(int value) const { return weight_sources_[static_cast<size_t>(value)]; }
  // Steps reading each weight value (by value id).
  const std::vector<int>& readers_of(int weight) const { return readers_[static_cast<size_t>(weight)]; }
  // Floats of activations live at once per image, at the peak (memory planning, all trials fanned).
  int64_t peak_floats_per_image() const { return peak_floats_per_image_; }

 private:
  void compile();
  void compile_weight_sources();
  void plan_epilogue(PlanStep& step, std::vector<bool>& absorbed);
  int sole_consumer(int value) const;
  bool is_weight(int value) const;
  bool computed(int value) const;

  const Model& model_;
  std::vector<PlanStep> steps_;
  std::vector<Shape> image_shapes_;
  std::vector<int64_t> per_image_;
  std::vector<int> storage_of_;
  std::vector<int> consumers_;
  std::vector<bool> computed_;
  std::vector<WeightSource> weight_sources_;
  std::vector<std::vector<int>> readers_;
  int input_ = -1, output_ = -1;
  int64_t peak_floats_per_image_ = 0;
};

// One changed element of a trial's effective weights, as a slot holds it.
struct SlotChange {
  float effective = 0.0f;   // the host's effective value (weight preparation)
  uint32_t word = 0;        // faulted stored word of the source parameter element
  float scale = 1.0f;       // int8 scale of that element
  bool has_word = false;    // a stored word is known (the change came from a fault)
};

// A trial slot's effective weights as differences from the clean ones: value → element → change.
// Elements whose effective value returns to the clean bits are dropped.
struct SlotDelta {
  std::map<int, std::map<int64_t, SlotChange>> values;
  uint64_t generation = 0;  // bumped on every change, so cached block plans notice
};

// Per-step decisions for one block of trials.
struct StepBlock {
  bool per_trial = false;       // the output holds T copies
  bool fan_out = false;         // dense input shared, output per trial (changed weights or a per-trial
                                // residual): the dense part runs once, then broadcast
  int64_t first_group = 0, group_count = 0;  // into BlockPlan::groups: trials corrected in place
  // Trials that run this step with their own weight copy (clean copy + scatter of their
  // corrections): where corrections would cost more than a dense pass. `direct` when the copy
  // holds a non-finite value: then our direct kernel runs it (skipping padded taps), not the library.
  struct OwnWeights {
    int trial = 0;
    int64_t first_correction = 0, count = 0;
    bool direct = false;
  };
  std::vector<OwnWeights> own_weights;
  bool per_trial_epilogue = false;           // epilogue parameters differ between trials
  int64_t epilogue_offset = 0;               // into BlockPlan::epilogue_params: 3 arrays of T×C
  std::vector<int64_t> operand_offsets;      // Binary: per input, offset of T weight copies in
                                             // BlockPlan::operand_weights, or -1 when shared
};

struct BlockPlan {
  int trials = 0;
  std::vector<bool> per_trial;  // by value id: holds T copies
  std::vector<StepBlock> steps;
  std::vector<kernels::WeightCorrection> corrections;  // all steps, grouped
  std::vector<kernels::CorrectionGroup> groups;
  std::vector<core::PointwiseProgram> programs;         // decoding programs the corrections use
  std::vector<float> epilogue_params;   // per step with per_trial_epilogue: bias[T×C], bn_a[T×C], bn_b[T×C]
  std::vector<float> operand_weights;   // per-trial copies of Binary weight operands
  core::StorageFormat format;
};

// Effective value of `weight` element `e` under a slot (clean unless the slot changed it).
float effective_value(const WeightSet& clean, const SlotDelta& delta, int weight, int64_t element);

// Builds the block plan for `slots` (their deltas against `clean`). `format` is the storage format
// the stored words are in.
BlockPlan build_block_plan(const ModelPlan& plan, const WeightSet& clean, const std::vector<const SlotDelta*>& slots,
                           const core::StorageFormat& format);

// The epilogue parameters of a step for one trial: bias (times beta), BatchNorm a and b, C each,
// with PyTorch's BatchNorm arithmetic. Absent parts give 0, 1, 0.
void epilogue_parameters(const ModelPlan& plan, const PlanStep& step, const WeightSet& clean, const SlotDelta* delta,
                         float* bias, float* bn_a, float* bn_b);
int64_t epilogue_channels(const ModelPlan& plan, const PlanStep& step);

}  // namespace flipsweep::batched
