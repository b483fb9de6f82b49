#pragma once
// The CPU backend's parts; not part of the public API (make_cpu_backend in backend.h is).
//
// How a run goes: plan.cpp compiles the graph once, for a tile of T images, into a list of
// Steps; slots.cpp keeps each trial slot's effective weights in the layouts the steps read;
// executor.cpp runs the steps for one tile on one thread's buffers, calling conv.cpp (oneDNN
// convolutions), gemm.cpp (oneDNN matmuls), epilogue.cpp (BatchNorm/Add/activations fused behind a
// conv), pooling.cpp and elementwise.cpp (steps on the blocked layout) and the reference kernels
// for everything else;
// cpu_backend.cpp is the Backend itself: options, the tile loop over threads, the slots.
//
// Layouts: a 2-D convolution runs in oneDNN's blocked nChw16c/nChw8c layout (16 or 8 channels
// interleaved, by ISA); every other op runs the reference kernel on plain NCHW data, with reorder
// steps inserted at layout boundaries. A blocked value whose channel count is not a whole number of
// blocks (72, 58, ...) has padding lanes in its last block: they hold 0 after every step (the
// executor zeroes them), because a convolution multiplies them by its zero padding weights and
// 0 * Inf or 0 * NaN would spread NaN into real channels.
#include <dnnl.hpp>

#include <cstdint>
#include <memory>
#include <vector>

#include "flipsweep/backend/backend.h"
#include "flipsweep/backend/cpu_sigmoid.h"
#include "flipsweep/core/pointwise.h"
#include "flipsweep/graph/graph.h"
#include "flipsweep/model/weight_set.h"
#include "flipsweep/tensor.h"

namespace flipsweep::cpu {

using dnnl::memory;

// ---- The plan (plan.cpp) -------------------------------------------------------------------

enum class StepKind {
  FusedConv,
  Reference,
  ToPlain,
  ToBlocked,
  GlobalAveragePoolBlocked,
  PoolBlocked,
  BinaryBlocked,     // Add/Sub/Mul/Div: inputs[0] blocked; inputs[1] blocked alike or a plain per-channel operand
  PointwiseBlocked,  // an activation on a blocked value
  ConcatBlocked,     // a channel Concat of blocked values
  ResizeBlocked,     // nearest or linear Resize of the spatial axes of a blocked value
  BatchNormBlocked,  // BatchNormalization (and the activations after it) on a blocked value
  Gemm,              // Gemm/MatMul of a plain [M, K] activation by a weight, in oneDNN (gemm.cpp)
};

struct Step {
  StepKind kind = StepKind::Reference;
  int node = -1;                      // activation node index (Reference, FusedConv: the conv)
  std::vector<int> nodes;             // every activation node the step computes (FusedConv: the conv
                                      // and what it absorbed); empty for reorders
  std::vector<int> inputs;            // value ids read
  int output = -1;                    // value id written
  // FusedConv only.
  int weight = -1, bias = -1;
  // FusedConv and BatchNormBlocked: the BatchNorm parameters (folded per slot, by step index).
  int bn_scale = -1, bn_bias = -1, bn_mean = -1, bn_var = -1;
  float bn_epsilon = 0.0f;
  int residual = -1;
  // Activation nodes absorbed after BatchNorm/Add, applied in order (Relu alone has a fast path).
  std::vector<core::PointwiseStep> activations;
  int conv_index = -1;                // index into CpuPlan::convs
  int gemm_index = -1;                // Gemm only: index into CpuPlan::gemms
  // BinaryBlocked only: whether inputs[0] (the blocked one) is the op's first operand.
  bool blocked_first = true;
};

// A oneDNN convolution compiled for the tile size, with its weight layout (conv.cpp).
struct ConvPrimitive {
  dnnl::primitive primitive;  // convolution_forward, or deconvolution_forward for a ConvTranspose
  memory::desc src_md, weights_md, dst_md, bias_md, user_weights_md, scratchpad_md;
  bool has_bias = false;
  int64_t out_channels = 0;
  std::string implementation;  // oneDNN's implementation name ("jit:avx512_core", "gemm:jit", "ref:any")
  // Where each element of the plain OIHW weight lands in oneDNN's packed layout, so a trial that
  // changes a few weights patches a few floats instead of reordering the tensor. Empty when the
  // tensor is too large to map (see map_packed_positions).
  std::vector<int64_t> packed_position;
};

// A oneDNN matmul for a Gemm/MatMul node, compiled for the tile size (gemm.cpp).
struct GemmPrimitive {
  dnnl::primitive primitive;
  memory::desc src_md, weights_md, bias_md, dst_md, scratchpad_md;
  bool has_bias = false;
  std::string implementation;
};

// The compiled network for one tile of images. Value ids are the graph's, followed by internal
// values (layout copies) the plan adds.
struct CpuPlan {
  const Model* model = nullptr;
  int block = 16;               // channels per block in the blocked layout: 16 (AVX-512) or 8
  int input = -1, output = -1;  // the graph's input and output value ids
  int64_t tile = 1;             // images per tile
  std::vector<Shape> shapes;    // by value id, for a tile; internal values appended
  std::vector<bool> blocked;    // by value id: held in the blocked layout
  std::vector<Step> steps;
  // Liveness: blocked activations share a few buffers (see assign_blocked_buffers in plan.cpp); a
  // Concat input written in place lives at an offset (in floats) in its Concat output's buffer.
  std::vector<int> blocked_buffer_of;  // by value id
  std::vector<int64_t> blocked_offset;  // by value id
  size_t blocked_buffer_count = 0;
  int64_t blocked_buffer_floats = 0;
  std::vector<ConvPrimitive> convs;
  std::vector<int> conv_steps;  // indices of the FusedConv steps
  std::vector<GemmPrimitive> gemms;
  size_t scratchpad_bytes = 0;  // oneDNN scratchpad, the largest any conv or matmul needs
  // For clean-prefix sharing (cpu_backend.cpp): per step, the weight values it reads (directly or
  // through a slot's packed copies); per step index d (0 … steps.size()), the activations written
  // before step d (or the input) that step d or a later one reads, i.e. what a trial branching
  // off the shared clean computation at step d takes from it.
  std::vector<std::vector<int>> step_weights;
  std::vector<std::vector<int>> live_before;
  // Per step: when its output is NaN in every element, so is the graph output, whatever the
  // weights (every later step maps an all-NaN input to an all-NaN output; the all-NaN shortcut).
  std::vector<bool> nan_reaches_output;

  const Shape& shape(int id) const { return shapes[static_cast<size_t>(id)]; }
  const Node& node(int index) const { return model->graph.activation_nodes[static_cast<size_t>(index)]; }
  size_t graph_value_count() const { return model->graph.values.size(); }
  ValueKind kind(int id) const { return model->graph.values[static_cast<size_t>(id)].kind; }
  // Parameters, constants and prepared values: read from a trial slot, not computed per tile.
  // Internal values (layout copies, past the graph's ids) are activations.
  bool is_weight(int id) const {
    if (id < 0 || static_cast<size_t>(id) >= graph_value_count()) return false;
    ValueKind k = kind(id);
    return k == ValueKind::Parameter || k == ValueKind::Constant || k == ValueKind::Prepared;
  }
};

// 16 with AVX-512, else 8.
int block_size_for_isa();

// Channel blocks of a blocked value, the last one possibly part padding.
inline int64_t channel_blocks(int64_t channels, int64_t block) { return (channels + block - 1) / block; }

// The shape a blocked value occupies: its channels padded to whole blocks.
inline Shape padded_shape(Shape s, int block) {
  s[1] = channel_blocks(s[1], block) * block;
  return s;
}

// Sets the padding lanes of blocked y [N, C, H, W] to 0 (nothing when C is whole blocks).
void zero_padding_lanes(float* y, const Shape& shape, int block);

// Images per tile for these options (see plan.cpp).
int64_t choose_tile(const Model& model, const BackendOptions& options, CpuKernels kernels);

// Compiles `model` for tiles of `tile` images. With CpuKernels::Reference every node is a
// Reference step.
CpuPlan build_plan(const Model& model, CpuKernels kernels, int block, int64_t tile, const dnnl::engine& engine);

// ---- oneDNN convolutions (conv.cpp) --------------------------------------------------------

// An activation's memory descriptor: plain NCHW or the plan's blocked layout.
memory::desc activation_md(const Shape& shape, bool blocked, int block);

struct ConvGeometry {
  const ConvParams* params = nullptr;
  bool transposed = false;  // ConvTranspose: weight_shape is [C, M/group, kH, kW]
  Shape src_shape, weight_shape, dst_shape;  // dst_shape: the conv's own output
  memory::desc src_md;
  bool dst_blocked = false;
  int block = 16;
  bool has_bias = false;
  int64_t out_channels = 0;
};

// Whether oneDNN's deconvolution can compute this ConvTranspose: not when the output is larger
// than the full transposed output (a negative end pad, bias-only positions).
bool transposed_conv_fits_onednn(const ConvParams& p, const Shape& x, const Shape& w);

// Creates the primitive (the caller limits oneDNN to one thread first) and maps its packed
// weight positions.
ConvPrimitive make_conv_primitive(const ConvGeometry& g, const dnnl::engine& engine);

// The packed weights of `prim` from the plain tensor `w`: whole (a oneDNN reorder), or only the
// listed plain elements through packed_position.
void pack_conv_weights(const ConvPrimitive& prim, const Tensor& w, std::vector<float>& packed,
                       const dnnl::engine& engine, dnnl::stream& stream);
void patch_conv_weights(const ConvPrimitive& prim, const Tensor& w, const std::vector<int64_t>& elements,
                        std::vector<float>& packed);

// dst = conv(src, weights) + bias, on the calling thread.
void run_conv(const ConvPrimitive& prim, float* src, const float* weights, const float* bias, float* dst,
              uint8_t* scratchpad, const dnnl::engine& engine, dnnl::stream& stream);

// ---- oneDNN matmul for Gemm/MatMul (gemm.cpp) ---------------------------------------------

// Whether a Gemm/MatMul node (with `shapes` by value id, for a tile) fits a oneDNN matmul: 2-D
// operands, A not transposed, alpha 1, and C (if any) a bias per output column added with beta 1.
// The caller checks that B and C are weights.
bool gemm_fits_onednn(const Node& n, const std::vector<Shape>& shapes);

// Creates the primitive (on the caller's single-thread budget, as convs).
GemmPrimitive make_gemm_primitive(const Node& n, const std::vector<Shape>& shapes, const dnnl::engine& engine);

// y = a b (+ bias), on the calling thread; b (and bias) in the node's plain layout.
void run_gemm(const GemmPrimitive& g, const float* a, const float* b, const float* bias, float* y, uint8_t* scratchpad,
              const dnnl::engine& engine, dnnl::stream& stream);

// ---- Fused epilogue (epilogue.cpp) ---------------------------------------------------------

// y = activations( y * scale[c] + shift[c] + residual ) in place over y [N, C, H, W] in the layout
// the conv wrote: `block` channels interleaved (1: plain NCHW). scale/shift are read only with
// `batch_norm`, residual only when not null; the activations apply in order.
void run_epilogue(bool batch_norm, const std::vector<core::PointwiseStep>& activations, const float* scale,
                  const float* shift, float* y, const float* residual, const Shape& shape, int block);

// ---- Pooling on blocked data (pooling.cpp) -------------------------------------------------

// GlobalAveragePool of x [N, C, H, W] in a blocked layout into y (plain [N, C, 1, 1], resized).
void global_average_pool_blocked(const float* x, const Shape& x_shape, int block, const Shape& y_shape, Tensor& y);

// 2-D MaxPool / AveragePool from blocked x [N, C, H, W] (blocks of 8 or 16) into blocked y, lane
// for lane the reference kernel's computation.
void pool_blocked(bool is_max, const PoolParams& p, const float* x, const Shape& x_shape, int block, float* y);

// Nearest or linear Resize of H and W (N and C unchanged) from blocked x into blocked y: each lane
// computes what the reference kernel computes for its channel, in the same order.
void resize_blocked(const ResizeParams& p, const float* x, const Shape& x_shape, const Shape& y_shape, int block,
                    float* y);

// ---- Element-wise and Concat on blocked data (elementwise.cpp) -----------------------------

// out = blocked op other (or other op blocked), over [N, C, H, W] blocked tensors. `other` is
// either blocked like `blocked` or plain with one value per (image, channel): element
// n * other_image_stride + c * other_channel_stride.
struct BinaryBlockedArgs {
  const float* blocked = nullptr;
  const float* other = nullptr;
  float* out = nullptr;
  Shape shape;
  int block = 16;
  bool blocked_first = true;
  bool other_is_blocked = false;
  int64_t other_image_stride = 0, other_channel_stride = 0;
};
void binary_blocked(OpType op, const BinaryBlockedArgs& args);

// y[i] = step(x[i]) over `count` floats (of a blocked tensor: with its padding lanes).
void pointwise_blocked(const core::PointwiseStep& step, const float* x, float* y, int64_t count);

// Channel Concat of blocked [N, C_k, H, W] inputs (each C_k whole blocks) into blocked y; an input
// its producer already wrote into y (in place, see assign_blocked_buffers) is not copied.
void concat_channels_blocked(const std::vector<const float*>& inputs, const std::vector<int64_t>& channels,
                             int64_t images, int64_t spatial, float* y);

// ---- Trial slots (slots.cpp) ---------------------------------------------------------------

// Per-slot effective weights in the layouts the steps read.
struct SlotWeights {
  WeightSet weights;                         // plain effective weights (reference steps)
  std::vector<std::vector<float>> conv_weights;  // oneDNN layout, per conv primitive
  std::vector<std::vector<float>> epilogue_scale, epilogue_shift;  // BN folded per channel, by step index
  bool loaded = false;
  // Against the backend's clean reference weights: per value id, how many elements differ
  // (bitwise), and the first step that reads a differing value (steps.size() when none does).
  // Steps before it compute exactly what the clean weights compute.
  std::vector<int64_t> differing;
  size_t first_changed_step = 0;
};

// Backend::load_weights for one slot: copies the changed elements (or everything) and brings the
// oneDNN-layout copies and the differences from `reference` up to date.
void load_slot(const CpuPlan& plan, SlotWeights& slot, const WeightSet& weights, const WeightChanges* changes,
               const WeightSet& reference, const dnnl::engine& engine);

// Recounts a loaded slot's differences from a new clean reference.
void compare_slot_with_reference(const CpuPlan& plan, SlotWeights& slot, const WeightSet& reference);

// Whether two weight sets hold the same bits in every tensor.
bool same_weight_bits(const WeightSet& a, const WeightSet& b);

// ---- Running a tile (executor.cpp) ---------------------------------------------------------

// Per-thread activation buffers and oneDNN stream.
struct ThreadState {
  std::vector<Tensor> values;  // by value id; plain activations
  std::vector<std::vector<float>> blocked_buffers;  // shared by blocked values whose lifetimes do not overlap
  std::vector<float*> blocked;  // by value id; blocked activations point into blocked_buffers
  std::vector<uint8_t> scratchpad;
  std::unique_ptr<dnnl::stream> stream;
};

// Allocates a thread's buffers on first use.
void prepare_thread_state(const CpuPlan& plan, ThreadState& ts, const dnnl::engine& engine);

// Runs steps [begin, end) with `slot`'s weights on the values in `ts`; with begin 0 the tile must
// be in ts.values[plan.input], and after the last step the result is in ts.values[plan.output].
void run_steps(const CpuPlan& plan, const SlotWeights& slot, ThreadState& ts, const dnnl::engine& engine, size_t begin,
               size_t end);

// As run_steps, but after a step whose output is then NaN in every element, when NaN reaches the
// graph output from there (CpuPlan::nan_reaches_output), fills the output with NaN, skips the
// remaining steps and returns true.
bool run_steps_until_all_nan(const CpuPlan& plan, const SlotWeights& slot, ThreadState& ts,
                             const dnnl::engine& engine, size_t begin, size_t end);

// Copies into `to` the activations that steps `step` onward read and earlier steps wrote
// (plan.live_before[step]), so `to` can continue from `step` where `from` stands.
void copy_live_values(const CpuPlan& plan, const ThreadState& from, ThreadState& to, size_t step);

}  // namespace flipsweep::cpu
