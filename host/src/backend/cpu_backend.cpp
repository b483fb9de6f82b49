// The CPU backend. One compiled plan of steps for a tile of T images; each OpenMP thread runs
// whole tiles through the whole network on its own buffers, so a layer's output is still in the
// core's cache when the next layer reads it and threads never wait for each other.
//
// Fast steps: a 2-D convolution runs in oneDNN (blocked nChw16c/nChw8c layout) and absorbs the
// BatchNormalization, residual Add and Relu that follow it into one epilogue pass written here.
// oneDNN's own ReLU post-op maps NaN to 0 (checked: eltwise_relu and clip both do), which would
// make a collapsed model score differently from PyTorch, so the epilogue is ours. Every other op
// runs the reference kernel on plain NCHW data, with reorders at layout boundaries.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <dnnl.hpp>
#include <unordered_map>

#include "flipsweep/backend/backend.h"
#include "flipsweep/core/unary_ops.h"
#include "flipsweep/error.h"
#include "flipsweep/graph/shape_inference.h"
#include "flipsweep/ops/reference_ops.h"
#include "flipsweep/ops/shapes.h"

namespace flipsweep {

namespace {

using dnnl::memory;

enum class StepKind { FusedConv, Reference, ToPlain, ToBlocked, GlobalAveragePoolBlocked };

struct Step {
  StepKind kind = StepKind::Reference;
  int node = -1;                      // activation node index (Reference, FusedConv: the conv)
  std::vector<int> inputs;            // value ids read
  int output = -1;                    // value id written
  // FusedConv only.
  int weight = -1, bias = -1;
  int bn_scale = -1, bn_bias = -1, bn_mean = -1, bn_var = -1;
  float bn_epsilon = 0.0f;
  int residual = -1;
  bool relu = false;
  int conv_index = -1;                // index into CpuBackend::convs_
};

// A oneDNN convolution compiled for the tile size, with its weight layout.
struct ConvPrimitive {
  dnnl::convolution_forward primitive;
  memory::desc src_md, weights_md, dst_md, bias_md, user_weights_md, scratchpad_md;
  bool has_bias = false;
  int64_t out_channels = 0;
  // Where each element of the plain OIHW weight lands in oneDNN's packed layout, so a trial that
  // changes a few weights patches a few floats instead of reordering the tensor. Empty when the
  // tensor is too large to map (see map_packed_positions).
  std::vector<int64_t> packed_position;
};

// Per-slot effective weights in the layouts the steps read.
struct SlotWeights {
  WeightSet weights;                         // plain effective weights (reference steps)
  std::vector<std::vector<float>> conv_weights;  // oneDNN layout, per conv primitive
  std::vector<std::vector<float>> epilogue_scale, epilogue_shift;  // BN folded per channel, per conv step
  bool loaded = false;
};

// Per-thread activation buffers and oneDNN stream.
struct ThreadState {
  std::vector<Tensor> values;  // by value id; plain activations
  std::vector<std::vector<float>> blocked_buffers;  // shared by blocked values whose lifetimes do not overlap
  std::vector<float*> blocked;  // by value id; blocked activations point into blocked_buffers
  std::vector<uint8_t> scratchpad;
  std::unique_ptr<dnnl::stream> stream;
};

int block_size_for_isa() {
  auto isa = dnnl::get_effective_cpu_isa();
  return isa >= dnnl::cpu_isa::avx512_core ? 16 : 8;
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Model& model, const BackendOptions& options, int slots, CpuKernels kernels)
      : model_(model), options_(options), kernels_(kernels), engine_(dnnl::engine::kind::cpu, 0) {
    if (model.graph.inputs.size() != 1) throw Error(model.path + ": the CPU backend needs exactly one graph input");
    if (model.graph.outputs.size() != 1) throw Error(model.path + ": the CPU backend needs exactly one graph output");
    if (options.batch_size < 1) throw Error("batch size must be at least 1");
    threads_ = options.threads > 0 ? options.threads : omp_get_max_threads();
    block_ = block_size_for_isa();
    input_ = model.graph.inputs[0];
    output_ = model.graph.outputs[0];
    choose_tile();
    shapes_ = infer_shapes_for_batch(model, tile_);
    output_size_ = element_count(shapes_[static_cast<size_t>(output_)]) / tile_;
    blocked_.assign(model.graph.values.size(), false);
    consumers_.assign(model.graph.values.size(), 0);
    for (const Node& n : model.graph.activation_nodes)
      for (int id : n.inputs)
        if (id >= 0) consumers_[static_cast<size_t>(id)]++;
    consumers_[static_cast<size_t>(output_)]++;
    // oneDNN fixes a primitive's thread count when the primitive is created; each of ours runs on
    // one thread inside our own parallel loop, so create them with a single-thread budget.
    const int previous_threads = omp_get_max_threads();
    omp_set_num_threads(1);
    try {
      build_plan();
    } catch (...) {
      omp_set_num_threads(previous_threads);
      throw;
    }
    omp_set_num_threads(previous_threads);
    slots_.resize(static_cast<size_t>(std::max(1, slots)));
    thread_states_.resize(static_cast<size_t>(threads_));
  }

  std::string name() const override { return kernels_ == CpuKernels::Fast ? "cpu" : "cpu-reference"; }
  std::string description() const override {
    return kernels_ == CpuKernels::Fast ? "cpu (oneDNN, " + std::to_string(threads_) + " threads)"
                                        : "cpu-reference (" + std::to_string(threads_) + " threads)";
  }
  int trial_slots() const override { return static_cast<int>(slots_.size()); }
  int64_t output_size() const override { return output_size_; }

  void load_weights(int slot, const WeightSet& weights, const WeightChanges* changes) override {
    SlotWeights& s = slots_.at(static_cast<size_t>(slot));
    if (!changes || !s.loaded) {
      s.weights = weights;
      repack(s, nullptr, nullptr);
    } else {
      std::vector<bool> changed(model_.graph.values.size(), false);
      for (const ValueChange& c : *changes) {
        changed[static_cast<size_t>(c.value)] = true;
        Tensor& dst = s.weights.tensors[static_cast<size_t>(c.value)];
        const Tensor& src = weights.tensors[static_cast<size_t>(c.value)];
        if (c.all) {
          dst = src;
        } else {
          for (int64_t e : c.elements) dst.data[static_cast<size_t>(e)] = src.data[static_cast<size_t>(e)];
        }
      }
      repack(s, &changed, changes);
    }
    s.loaded = true;
  }

  void run(const std::vector<int>& slots, const float* images, int64_t count, float* outputs) override {
    if (count < 0 || count > options_.batch_size)
      throw Error("run: " + std::to_string(count) + " images exceed the batch size " + std::to_string(options_.batch_size));
    for (int s : slots)
      if (s < 0 || s >= trial_slots() || !slots_[static_cast<size_t>(s)].loaded)
        throw Error("run: trial slot " + std::to_string(s) + " has no weights loaded");
    const int64_t image_size = element_count(shapes_[static_cast<size_t>(input_)]) / tile_;
    const int64_t tiles = (count + tile_ - 1) / tile_;
    const int64_t work = tiles * static_cast<int64_t>(slots.size());
    std::string failure;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
    for (int64_t item = 0; item < work; ++item) {
      // Each thread runs whole tiles; oneDNN must not open a nested team of its own. With a team
      // of one, omp_in_parallel() is false and oneDNN would otherwise fork every primitive.
      omp_set_num_threads(1);
      try {
        const size_t slot_pos = static_cast<size_t>(item / tiles);
        const int64_t tile = item % tiles;
        const int64_t first = tile * tile_;
        const int64_t n = std::min(tile_, count - first);
        ThreadState& ts = thread_state(omp_get_thread_num());
        Tensor& in = ts.values[static_cast<size_t>(input_)];
        std::memcpy(in.ptr(), images + first * image_size, static_cast<size_t>(n * image_size) * sizeof(float));
        // Pad a short last tile with zeros: the plan is compiled for exactly `tile_` images.
        std::fill(in.data.begin() + n * image_size, in.data.end(), 0.0f);
        run_tile(slots_[static_cast<size_t>(slots[slot_pos])], ts);
        const Tensor& out = ts.values[static_cast<size_t>(output_)];
        std::memcpy(outputs + (static_cast<int64_t>(slot_pos) * count + first) * output_size_, out.ptr(),
                    static_cast<size_t>(n * output_size_) * sizeof(float));
      } catch (const std::exception& e) {
#pragma omp critical(flipsweep_cpu_failure)
        failure = e.what();
      }
    }
    if (!failure.empty()) throw Error(failure);
  }

 private:
  const Node& node(int index) const { return model_.graph.activation_nodes[static_cast<size_t>(index)]; }
  const Shape& shape(int id) const { return shapes_[static_cast<size_t>(id)]; }
  ValueKind kind(int id) const { return model_.graph.values[static_cast<size_t>(id)].kind; }
  bool is_weight(int id) const {
    ValueKind k = kind(id);
    return k == ValueKind::Parameter || k == ValueKind::Constant || k == ValueKind::Prepared;
  }

  // Images per tile: enough that oneDNN calls are not dominated by overhead, few enough that one
  // layer's activations stay in a core's L2 cache.
  void choose_tile() {
    if (options_.tile > 0) {
      tile_ = std::min<int64_t>(options_.tile, options_.batch_size);
      return;
    }
    if (kernels_ == CpuKernels::Reference) {
      tile_ = std::max<int64_t>(1, std::min<int64_t>(options_.batch_size, 16));
      return;
    }
    auto one = infer_shapes_for_batch(model_, 1);
    int64_t largest = 1;
    for (size_t id = 0; id < one.size(); ++id) {
      ValueKind k = model_.graph.values[id].kind;
      if (k == ValueKind::Activation || k == ValueKind::Input) largest = std::max(largest, element_count(one[id]));
    }
    const int64_t target_bytes = 2 * 1024 * 1024;
    tile_ = std::clamp<int64_t>(target_bytes / (largest * 4), 1, 32);
    tile_ = std::min(tile_, options_.batch_size);
  }

  // The single activation node reading `value`, if exactly one does.
  int sole_consumer(int value) const {
    if (consumers_[static_cast<size_t>(value)] != 1) return -1;
    for (size_t i = 0; i < model_.graph.activation_nodes.size(); ++i)
      for (int id : model_.graph.activation_nodes[i].inputs)
        if (id == value) return static_cast<int>(i);
    return -1;
  }

  bool conv_is_fusable(const Node& n) const {
    if (n.op != OpType::Conv || kernels_ != CpuKernels::Fast) return false;
    if (shape(n.inputs[0]).size() != 4) return false;
    if (!is_weight(n.inputs[1]) || (n.inputs.size() > 2 && n.inputs[2] >= 0 && !is_weight(n.inputs[2]))) return false;
    return true;
  }

  void build_plan() {
    const auto& nodes = model_.graph.activation_nodes;
    computed_.assign(model_.graph.values.size(), false);
    computed_[static_cast<size_t>(input_)] = true;
    std::vector<bool> absorbed(nodes.size(), false);
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (absorbed[i]) continue;
      const Node& n = nodes[i];
      if (conv_is_fusable(n)) {
        plan_fused_conv(static_cast<int>(i), absorbed);
        continue;
      }
      if (n.op == OpType::GlobalAveragePool && kernels_ == CpuKernels::Fast && blocked_[static_cast<size_t>(n.inputs[0])]) {
        Step s;
        s.kind = StepKind::GlobalAveragePoolBlocked;
        s.node = static_cast<int>(i);
        s.inputs = {n.inputs[0]};
        s.output = n.outputs[0];
        steps_.push_back(s);
        computed_[static_cast<size_t>(s.output)] = true;
        continue;
      }
      Step s;
      s.kind = StepKind::Reference;
      s.node = static_cast<int>(i);
      for (int id : n.inputs) {
        if (id >= 0 && blocked_[static_cast<size_t>(id)]) id = to_plain(id);
        s.inputs.push_back(id);
      }
      s.output = n.outputs[0];
      steps_.push_back(s);
      computed_[static_cast<size_t>(s.output)] = true;
    }
    if (blocked_[static_cast<size_t>(output_)]) throw Error("internal: graph output left in a blocked layout");
    assign_blocked_buffers();
  }

  // Blocked activations share a few buffers: a value's buffer is free again after the last step
  // that reads it, so consecutive layers reuse memory that is still in cache. A step's output
  // never shares a buffer with its inputs.
  void assign_blocked_buffers() {
    std::vector<int> last_use(shapes_.size(), -1);
    for (size_t i = 0; i < steps_.size(); ++i)
      for (int id : steps_[i].inputs)
        if (id >= 0) last_use[static_cast<size_t>(id)] = static_cast<int>(i);
    blocked_buffer_of_.assign(shapes_.size(), -1);
    std::vector<int> owner;  // per buffer: the value holding it, -1 when free
    for (size_t i = 0; i < steps_.size(); ++i) {
      const int out = steps_[i].output;
      if (!blocked_[static_cast<size_t>(out)]) continue;
      for (size_t b = 0; b < owner.size(); ++b)
        if (owner[b] >= 0 && last_use[static_cast<size_t>(owner[b])] < static_cast<int>(i)) owner[b] = -1;
      int chosen = -1;
      for (size_t b = 0; b < owner.size() && chosen < 0; ++b)
        if (owner[b] < 0) chosen = static_cast<int>(b);
      if (chosen < 0) {
        chosen = static_cast<int>(owner.size());
        owner.push_back(-1);
      }
      owner[static_cast<size_t>(chosen)] = out;
      blocked_buffer_of_[static_cast<size_t>(out)] = chosen;
      Shape padded = shape(out);
      padded[1] = (padded[1] + block_ - 1) / block_ * block_;
      blocked_buffer_floats_ = std::max(blocked_buffer_floats_, element_count(padded));
    }
    blocked_buffer_count_ = owner.size();
  }

  int to_plain(int id) { return reordered_copy(id, false); }
  int to_blocked(int id) { return reordered_copy(id, true); }

  // Inserts (once per value and direction) a reorder step into the other layout and returns the
  // id of the copy, a new internal value.
  int reordered_copy(int id, bool blocked) {
    auto& copies = blocked ? blocked_copy_ : plain_copy_;
    auto it = copies.find(id);
    if (it != copies.end()) return it->second;
    int copy = add_internal_value(shape(id), blocked);
    Step s;
    s.kind = blocked ? StepKind::ToBlocked : StepKind::ToPlain;
    s.inputs = {id};
    s.output = copy;
    steps_.push_back(s);
    copies[id] = copy;
    return copy;
  }

  int add_internal_value(const Shape& s, bool blocked) {
    int id = static_cast<int>(shapes_.size());
    shapes_.push_back(s);
    blocked_.push_back(blocked);
    consumers_.push_back(1);
    computed_.push_back(true);
    return id;
  }

  memory::desc activation_md(int id, bool blocked) const {
    const Shape& s = shape(id);
    memory::dims dims(s.begin(), s.end());
    memory::format_tag tag = !blocked ? memory::format_tag::nchw
                             : block_ == 16 ? memory::format_tag::nChw16c
                                            : memory::format_tag::nChw8c;
    return memory::desc(dims, memory::data_type::f32, tag);
  }

  void plan_fused_conv(int conv_node, std::vector<bool>& absorbed) {
    const Node& conv = node(conv_node);
    const auto& cp = std::get<ConvParams>(conv.params);
    Step s;
    s.kind = StepKind::FusedConv;
    s.node = conv_node;
    s.weight = conv.inputs[1];
    s.bias = conv.inputs.size() > 2 ? conv.inputs[2] : -1;
    int out = conv.outputs[0];

    // Absorb Conv → BatchNormalization → Add(residual) → Relu where each link is the only
    // reader of the previous output.
    int next = sole_consumer(out);
    if (next >= 0 && node(next).op == OpType::BatchNormalization && node(next).inputs[0] == out) {
      const Node& bn = node(next);
      bool weights_only = true;
      for (size_t k = 1; k < 5; ++k) weights_only = weights_only && is_weight(bn.inputs[k]);
      if (weights_only) {
        s.bn_scale = bn.inputs[1];
        s.bn_bias = bn.inputs[2];
        s.bn_mean = bn.inputs[3];
        s.bn_var = bn.inputs[4];
        s.bn_epsilon = std::get<BatchNormParams>(bn.params).epsilon;
        absorbed[static_cast<size_t>(next)] = true;
        out = bn.outputs[0];
        next = sole_consumer(out);
      }
    }
    if (next >= 0 && node(next).op == OpType::Add) {
      const Node& add = node(next);
      int other = add.inputs[0] == out ? add.inputs[1] : add.inputs[0];
      // The residual must already be computed: in a downsampling block the shortcut conv may come
      // after this one in node order, and then the Add runs as its own step.
      if (other != out && !is_weight(other) && shape(other) == shape(out) && computed_[static_cast<size_t>(other)]) {
        s.residual = other;
        absorbed[static_cast<size_t>(next)] = true;
        out = add.outputs[0];
        next = sole_consumer(out);
      }
    }
    if (next >= 0 && node(next).op == OpType::Relu) {
      s.relu = true;
      absorbed[static_cast<size_t>(next)] = true;
      out = node(next).outputs[0];
    }

    const int64_t out_channels = shape(out)[1];
    const bool dst_blocked = out_channels % block_ == 0 && out != output_;
    const int src = conv.inputs[0];
    const int64_t in_channels = shape(src)[1];
    // Small-channel inputs (images) stay plain: oneDNN has direct kernels for nchw → blocked.
    bool src_blocked = blocked_[static_cast<size_t>(src)];
    if (!src_blocked && in_channels % block_ == 0 && in_channels >= block_) src_blocked = true;
    const int src_id = src_blocked && !blocked_[static_cast<size_t>(src)] ? to_blocked(src) : src;
    if (s.residual >= 0 && blocked_[static_cast<size_t>(s.residual)] != dst_blocked)
      s.residual = dst_blocked ? to_blocked(s.residual) : to_plain(s.residual);
    s.inputs = {src_id};
    if (s.residual >= 0) s.inputs.push_back(s.residual);
    s.output = out;
    blocked_[static_cast<size_t>(out)] = dst_blocked;

    ConvPrimitive prim;
    const Shape& wshape = shape(s.weight);
    ResolvedPads pads = resolve_conv_pads(cp, {shape(src)[2], shape(src)[3]});
    auto vec_or = [](const std::vector<int64_t>& v, int64_t fallback) {
      return memory::dims{v.size() > 0 ? v[0] : fallback, v.size() > 1 ? v[1] : fallback};
    };
    memory::dims strides = vec_or(cp.strides, 1);
    memory::dims dil = vec_or(cp.dilations, 1);
    for (auto& d : dil) d -= 1;  // oneDNN counts dilation from 0
    memory::dims pad_l{pads.begin[0], pads.begin[1]}, pad_r{pads.end[0], pads.end[1]};
    memory::dims wdims;
    if (cp.group == 1) {
      wdims = {wshape[0], wshape[1], wshape[2], wshape[3]};
      prim.user_weights_md = memory::desc(wdims, memory::data_type::f32, memory::format_tag::oihw);
    } else {
      wdims = {cp.group, wshape[0] / cp.group, wshape[1], wshape[2], wshape[3]};
      prim.user_weights_md = memory::desc(wdims, memory::data_type::f32, memory::format_tag::goihw);
    }
    prim.src_md = activation_md(src_id, src_blocked);
    Shape conv_out = shape(conv.outputs[0]);
    prim.dst_md = memory::desc(memory::dims(conv_out.begin(), conv_out.end()), memory::data_type::f32,
                               !dst_blocked ? memory::format_tag::nchw
                               : block_ == 16 ? memory::format_tag::nChw16c
                                              : memory::format_tag::nChw8c);
    memory::desc weights_any(wdims, memory::data_type::f32, memory::format_tag::any);
    prim.has_bias = s.bias >= 0;
    prim.out_channels = out_channels;
    prim.bias_md = memory::desc({out_channels}, memory::data_type::f32, memory::format_tag::x);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    auto desc = prim.has_bias
                    ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                      dnnl::algorithm::convolution_direct, prim.src_md, weights_any,
                                                      prim.bias_md, prim.dst_md, strides, dil, pad_l, pad_r)
                    : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                      dnnl::algorithm::convolution_direct, prim.src_md, weights_any,
                                                      prim.dst_md, strides, dil, pad_l, pad_r);
    dnnl::convolution_forward::primitive_desc pd(desc, attr, engine_);
    prim.weights_md = pd.weights_desc();
    prim.scratchpad_md = pd.scratchpad_desc();
    scratchpad_bytes_ = std::max<size_t>(scratchpad_bytes_, prim.scratchpad_md.get_size());
    prim.primitive = dnnl::convolution_forward(pd);
    map_packed_positions(prim);
    s.conv_index = static_cast<int>(convs_.size());
    convs_.push_back(std::move(prim));
    conv_steps_.push_back(static_cast<int>(steps_.size()));
    steps_.push_back(s);
    computed_[static_cast<size_t>(out)] = true;
  }

  // oneDNN's packed weight layouts are opaque, so the map is found by reordering a tensor whose
  // values are the element indices (plus one; padding stays 0). Floats hold integers exactly up to
  // 2^24, which bounds the tensors mapped this way; larger ones are reordered whole on change.
  void map_packed_positions(ConvPrimitive& prim) {
    const int64_t count = static_cast<int64_t>(prim.user_weights_md.get_size() / sizeof(float));
    if (count >= (int64_t{1} << 24)) return;
    std::vector<float> indices(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) indices[static_cast<size_t>(i)] = static_cast<float>(i + 1);
    std::vector<float> packed(prim.weights_md.get_size() / sizeof(float), 0.0f);
    dnnl::stream stream(engine_);
    memory user(prim.user_weights_md, engine_, indices.data());
    memory packed_memory(prim.weights_md, engine_, packed.data());
    dnnl::reorder(user, packed_memory).execute(stream, user, packed_memory);
    stream.wait();
    prim.packed_position.assign(static_cast<size_t>(count), -1);
    for (size_t j = 0; j < packed.size(); ++j)
      if (packed[j] > 0.0f) prim.packed_position[static_cast<size_t>(packed[j]) - 1] = static_cast<int64_t>(j);
    for (int64_t position : prim.packed_position)
      if (position < 0) {  // not a plain permutation (should not happen): fall back to whole reorders
        prim.packed_position.clear();
        return;
      }
  }

  // Brings a slot's oneDNN-layout copies up to date; with `changed`, only for convs whose
  // weights or BN parameters changed.
  void repack(SlotWeights& s, const std::vector<bool>* changed, const WeightChanges* changes) {
    std::unordered_map<int, const ValueChange*> change_of;
    if (changes)
      for (const ValueChange& c : *changes) change_of[c.value] = &c;
    s.conv_weights.resize(convs_.size());
    s.epilogue_scale.resize(convs_.size());
    s.epilogue_shift.resize(convs_.size());
    dnnl::stream stream(engine_);
    auto touched = [&](int id) { return id >= 0 && (!changed || (*changed)[static_cast<size_t>(id)]); };
    for (int step_index : conv_steps_) {
      const Step& st = steps_[static_cast<size_t>(step_index)];
      const ConvPrimitive& prim = convs_[static_cast<size_t>(st.conv_index)];
      const size_t c = static_cast<size_t>(st.conv_index);
      auto change = change_of.find(st.weight);
      if (touched(st.weight) && change != change_of.end() && !change->second->all && !prim.packed_position.empty() &&
          !s.conv_weights[c].empty()) {
        const Tensor& w = s.weights.tensors[static_cast<size_t>(st.weight)];
        for (int64_t e : change->second->elements)
          s.conv_weights[c][static_cast<size_t>(prim.packed_position[static_cast<size_t>(e)])] = w.data[static_cast<size_t>(e)];
      } else if (touched(st.weight)) {
        const Tensor& w = s.weights.tensors[static_cast<size_t>(st.weight)];
        s.conv_weights[c].resize(prim.weights_md.get_size() / sizeof(float));
        memory user(prim.user_weights_md, engine_, const_cast<float*>(w.ptr()));
        memory packed(prim.weights_md, engine_, s.conv_weights[c].data());
        dnnl::reorder(user, packed).execute(stream, user, packed);
        stream.wait();
      }
      if (st.bn_scale >= 0 && (touched(st.bn_scale) || touched(st.bn_bias) || touched(st.bn_mean) || touched(st.bn_var))) {
        // PyTorch's CPU BatchNorm in eval mode: a = gamma / sqrt(var + eps), b = beta - mean * a,
        // y = x * a + b. Same formula, same NaN/Inf behaviour.
        const Tensor& gamma = s.weights.tensors[static_cast<size_t>(st.bn_scale)];
        const Tensor& beta = s.weights.tensors[static_cast<size_t>(st.bn_bias)];
        const Tensor& mean = s.weights.tensors[static_cast<size_t>(st.bn_mean)];
        const Tensor& var = s.weights.tensors[static_cast<size_t>(st.bn_var)];
        const int64_t channels = prim.out_channels;
        auto& scale = s.epilogue_scale[c];
        auto& shift = s.epilogue_shift[c];
        scale.assign(static_cast<size_t>(channels), 1.0f);
        shift.assign(static_cast<size_t>(channels), 0.0f);
        for (int64_t ch = 0; ch < channels; ++ch) {
          const size_t k = static_cast<size_t>(ch);
          float inv_std = 1.0f / std::sqrt(var.data[k] + st.bn_epsilon);
          scale[k] = gamma.data[k] * inv_std;
          shift[k] = beta.data[k] - mean.data[k] * scale[k];
        }
      }
    }
  }

  ThreadState& thread_state(int thread) {
    ThreadState& ts = thread_states_[static_cast<size_t>(thread)];
    if (!ts.stream) {
      ts.stream = std::make_unique<dnnl::stream>(engine_);
      ts.scratchpad.resize(scratchpad_bytes_);
      ts.values.resize(shapes_.size());
      ts.blocked.assign(shapes_.size(), nullptr);
      ts.blocked_buffers.assign(blocked_buffer_count_, std::vector<float>(static_cast<size_t>(blocked_buffer_floats_)));
      for (size_t id = 0; id < shapes_.size(); ++id) {
        if (blocked_[id]) {
          ts.blocked[id] = ts.blocked_buffers[static_cast<size_t>(blocked_buffer_of_[id])].data();
          continue;
        }
        const bool activation = id >= model_.graph.values.size() || kind(static_cast<int>(id)) == ValueKind::Activation ||
                                kind(static_cast<int>(id)) == ValueKind::Input;
        if (activation) ts.values[id] = Tensor(shapes_[id]);
      }
    }
    return ts;
  }

  // Raw data of a value as the steps see it: blocked activations in the shared buffers, plain
  // activations in their tensors, weights in the slot.
  float* data_of(const SlotWeights& slot, ThreadState& ts, int id) const {
    if (blocked_[static_cast<size_t>(id)]) return ts.blocked[static_cast<size_t>(id)];
    return const_cast<float*>(read_value(slot, ts, id).ptr());
  }

  const Tensor& read_value(const SlotWeights& slot, ThreadState& ts, int id) const {
    if (id < static_cast<int>(model_.graph.values.size()) && is_weight(id))
      return slot.weights.tensors[static_cast<size_t>(id)];
    return ts.values[static_cast<size_t>(id)];
  }

  void run_tile(const SlotWeights& slot, ThreadState& ts) {
    for (const Step& st : steps_) {
      switch (st.kind) {
        case StepKind::Reference: run_reference(st, slot, ts); break;
        case StepKind::FusedConv: run_fused_conv(st, slot, ts); break;
        case StepKind::ToPlain:
        case StepKind::ToBlocked: {
          const bool to_blocked_layout = st.kind == StepKind::ToBlocked;
          memory src(activation_md(st.inputs[0], !to_blocked_layout), engine_, data_of(slot, ts, st.inputs[0]));
          memory dst(activation_md(st.output, to_blocked_layout), engine_, data_of(slot, ts, st.output));
          dnnl::reorder(src, dst).execute(*ts.stream, src, dst);
          ts.stream->wait();
          break;
        }
        case StepKind::GlobalAveragePoolBlocked: global_average_pool_blocked(st, slot, ts); break;
      }
    }
  }

  void run_reference(const Step& st, const SlotWeights& slot, ThreadState& ts) {
    const Node& n = node(st.node);
    std::vector<const Tensor*> inputs;
    for (int id : st.inputs) inputs.push_back(id >= 0 ? &read_value(slot, ts, id) : nullptr);
    std::vector<Tensor> outputs;
    try {
      reference::run_op(n.op, n.params, inputs, outputs);
    } catch (const Error& e) {
      throw Error("node '" + n.name + "' (" + op_type_name(n.op) + "): " + e.what());
    }
    ts.values[static_cast<size_t>(st.output)] = std::move(outputs.at(0));
  }

  void run_fused_conv(const Step& st, const SlotWeights& slot, ThreadState& ts) {
    const ConvPrimitive& prim = convs_[static_cast<size_t>(st.conv_index)];
    const size_t c = static_cast<size_t>(st.conv_index);
    memory src(prim.src_md, engine_, data_of(slot, ts, st.inputs[0]));
    memory weights(prim.weights_md, engine_, const_cast<float*>(slot.conv_weights[c].data()));
    memory dst(prim.dst_md, engine_, data_of(slot, ts, st.output));
    memory scratch(prim.scratchpad_md, engine_, ts.scratchpad.data());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst},
                                         {DNNL_ARG_SCRATCHPAD, scratch}};
    if (prim.has_bias)
      args.emplace(DNNL_ARG_BIAS, memory(prim.bias_md, engine_,
                                         const_cast<float*>(slot.weights.tensors[static_cast<size_t>(st.bias)].ptr())));
    prim.primitive.execute(*ts.stream, args);
    ts.stream->wait();
    if (st.bn_scale < 0 && st.residual < 0 && !st.relu) return;
    epilogue(st, slot.epilogue_scale[c], slot.epilogue_shift[c], data_of(slot, ts, st.output),
             st.residual >= 0 ? data_of(slot, ts, st.residual) : nullptr);
  }

  // y = relu?( x * scale[c] + shift[c] + residual ), in the order PyTorch evaluates the separate
  // ops, on whatever layout the conv wrote (plain: block 1). One pass over the conv output while
  // it is still in cache; specialised per combination so the lane loop vectorises.
  template <bool kBatchNorm, bool kResidual, bool kRelu, int kBlock>
  static void epilogue_pass(float* y, const float* residual, const float* scale, const float* shift, int64_t images,
                            int64_t channels, int64_t spatial, int64_t block) {
    const int64_t lanes_per_block = kBlock > 0 ? kBlock : block;
    const int64_t channel_blocks = (channels + lanes_per_block - 1) / lanes_per_block;
    for (int64_t n = 0; n < images; ++n)
      for (int64_t cb = 0; cb < channel_blocks; ++cb) {
        const int64_t base = (n * channel_blocks + cb) * spatial * lanes_per_block;
        float* row = y + base;
        const float* res = kResidual ? residual + base : nullptr;
        const float* a = scale + cb * lanes_per_block;
        const float* b = shift + cb * lanes_per_block;
        for (int64_t p = 0; p < spatial; ++p) {
          float* v = row + p * lanes_per_block;
          const float* r = kResidual ? res + p * lanes_per_block : nullptr;
          for (int64_t l = 0; l < lanes_per_block; ++l) {
            float x = v[l];
            if (kBatchNorm) x = x * a[l] + b[l];
            if (kResidual) x = x + r[l];
            if (kRelu) x = core::relu(x);
            v[l] = x;
          }
        }
      }
  }

  template <int kBlock>
  static void epilogue_dispatch(bool bn, bool residual, bool relu, float* y, const float* res, const float* a,
                                const float* b, int64_t images, int64_t channels, int64_t spatial, int64_t block) {
    const int code = (bn ? 4 : 0) | (residual ? 2 : 0) | (relu ? 1 : 0);
    switch (code) {
      case 1: epilogue_pass<false, false, true, kBlock>(y, res, a, b, images, channels, spatial, block); break;
      case 2: epilogue_pass<false, true, false, kBlock>(y, res, a, b, images, channels, spatial, block); break;
      case 3: epilogue_pass<false, true, true, kBlock>(y, res, a, b, images, channels, spatial, block); break;
      case 4: epilogue_pass<true, false, false, kBlock>(y, res, a, b, images, channels, spatial, block); break;
      case 5: epilogue_pass<true, false, true, kBlock>(y, res, a, b, images, channels, spatial, block); break;
      case 6: epilogue_pass<true, true, false, kBlock>(y, res, a, b, images, channels, spatial, block); break;
      case 7: epilogue_pass<true, true, true, kBlock>(y, res, a, b, images, channels, spatial, block); break;
      default: break;
    }
  }

  void epilogue(const Step& st, const std::vector<float>& scale, const std::vector<float>& shift, float* y,
                const float* residual) {
    const Shape& s = shape(st.output);
    const bool blocked = blocked_[static_cast<size_t>(st.output)];
    const bool bn = st.bn_scale >= 0;
    const int64_t spatial = s[2] * s[3];
    // Blocked outputs always have a whole number of channel blocks (see plan_fused_conv).
    if (blocked && block_ == 16)
      epilogue_dispatch<16>(bn, residual != nullptr, st.relu, y, residual, scale.data(), shift.data(), s[0], s[1], spatial, 16);
    else if (blocked && block_ == 8)
      epilogue_dispatch<8>(bn, residual != nullptr, st.relu, y, residual, scale.data(), shift.data(), s[0], s[1], spatial, 8);
    else
      epilogue_dispatch<1>(bn, residual != nullptr, st.relu, y, residual, scale.data(), shift.data(), s[0], s[1], spatial, 1);
  }

  void global_average_pool_blocked(const Step& st, const SlotWeights& slot, ThreadState& ts) {
    const float* x = data_of(slot, ts, st.inputs[0]);
    const Shape& s = shape(st.inputs[0]);
    Tensor& y = ts.values[static_cast<size_t>(st.output)];
    y.shape = shape(st.output);
    y.data.resize(static_cast<size_t>(element_count(y.shape)));
    const int64_t channels = s[1], block = block_, blocks = (channels + block - 1) / block, spatial = s[2] * s[3];
    for (int64_t n = 0; n < s[0]; ++n)
      for (int64_t cb = 0; cb < blocks; ++cb) {
        const float* base = x + (n * blocks + cb) * spatial * block;
        const int64_t lanes = std::min(block, channels - cb * block);
        for (int64_t l = 0; l < lanes; ++l) {
          float sum = 0.0f;
          for (int64_t p = 0; p < spatial; ++p) sum += base[p * block + l];
          y.data[static_cast<size_t>(n * channels + cb * block + l)] = sum / static_cast<float>(spatial);
        }
      }
  }

  const Model& model_;
  BackendOptions options_;
  CpuKernels kernels_;
  dnnl::engine engine_;
  int threads_ = 1;
  int block_ = 16;
  int input_ = -1, output_ = -1;
  int64_t tile_ = 1;
  int64_t output_size_ = 0;
  std::vector<Shape> shapes_;   // by value id, for a tile; internal values appended
  std::vector<bool> blocked_;   // by value id
  std::vector<bool> computed_;  // by value id, while planning: produced by an earlier step
  std::vector<int> consumers_;  // activation readers per value id
  std::unordered_map<int, int> plain_copy_, blocked_copy_;
  std::vector<Step> steps_;
  std::vector<int> blocked_buffer_of_;  // by value id
  size_t blocked_buffer_count_ = 0;
  int64_t blocked_buffer_floats_ = 0;
  std::vector<ConvPrimitive> convs_;
  std::vector<int> conv_steps_;
  size_t scratchpad_bytes_ = 0;
  std::vector<SlotWeights> slots_;
  std::vector<ThreadState> thread_states_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const Model& model, const BackendOptions& options, int trial_slots,
                                          CpuKernels kernels) {
  return std::make_unique<CpuBackend>(model, options, trial_slots, kernels);
}

}  // namespace flipsweep
