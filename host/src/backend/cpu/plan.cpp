// Planning: the graph → a list of steps for one tile of images, with fusion (Conv → BatchNorm →
// Add → Relu as one step), layout decisions (blocked or plain), reorder steps at layout
// boundaries, and liveness (blocked activations share buffers).
#include <omp.h>

#include <algorithm>
#include <unordered_map>

#include "flipsweep/error.h"
#include "flipsweep/graph/pointwise_node.h"
#include "flipsweep/graph/shape_inference.h"
#include "flipsweep/ops/shapes.h"
#include "internal.h"

namespace flipsweep::cpu {

int block_size_for_isa() {
  auto isa = dnnl::get_effective_cpu_isa();
  return isa >= dnnl::cpu_isa::avx512_core ? 16 : 8;
}

// Images per tile: enough that oneDNN calls are not dominated by overhead, few enough that one
// layer's activations stay in a core's L2 cache.
int64_t choose_tile(const Model& model, const BackendOptions& options, CpuKernels kernels) {
  if (options.tile > 0) return std::min<int64_t>(options.tile, options.batch_size);
  if (kernels == CpuKernels::Reference) return std::max<int64_t>(1, std::min<int64_t>(options.batch_size, 16));
  auto one = infer_shapes_for_batch(model, 1);
  int64_t largest = 1;
  for (size_t id = 0; id < one.size(); ++id) {
    ValueKind k = model.graph.values[id].kind;
    if (k == ValueKind::Activation || k == ValueKind::Input) largest = std::max(largest, element_count(one[id]));
  }
  const int64_t target_bytes = 2 * 1024 * 1024;
  int64_t tile = std::clamp<int64_t>(target_bytes / (largest * 4), 1, 32);
  return std::min(tile, options.batch_size);
}

namespace {

// Builds a CpuPlan in one pass over the activation nodes, in graph order.
class PlanBuilder {
 public:
  PlanBuilder(const Model& model, CpuKernels kernels, int block, int64_t tile, const dnnl::engine& engine)
      : kernels_(kernels), engine_(engine) {
    p_.model = &model;
    p_.block = block;
    p_.tile = tile;
    p_.input = model.graph.inputs[0];
    p_.output = model.graph.outputs[0];
    p_.shapes = infer_shapes_for_batch(model, tile);
    p_.blocked.assign(model.graph.values.size(), false);
    consumers_.assign(model.graph.values.size(), 0);
    for (const Node& n : model.graph.activation_nodes)
      for (int id : n.inputs)
        if (id >= 0) consumers_[static_cast<size_t>(id)]++;
    consumers_[static_cast<size_t>(p_.output)]++;
  }

  CpuPlan build() {
    const auto& nodes = p_.model->graph.activation_nodes;
    computed_.assign(p_.model->graph.values.size(), false);
    computed_[static_cast<size_t>(p_.input)] = true;
    std::vector<bool> absorbed(nodes.size(), false);
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (absorbed[i]) continue;
      const Node& n = nodes[i];
      if (conv_is_fusable(n)) {
        plan_fused_conv(static_cast<int>(i), absorbed);
        continue;
      }
      if (n.op == OpType::GlobalAveragePool && kernels_ == CpuKernels::Fast &&
          p_.blocked[static_cast<size_t>(n.inputs[0])]) {
        Step s;
        s.kind = StepKind::GlobalAveragePoolBlocked;
        s.node = static_cast<int>(i);
        s.inputs = {n.inputs[0]};
        s.output = n.outputs[0];
        p_.steps.push_back(s);
        computed_[static_cast<size_t>(s.output)] = true;
        continue;
      }
      if (plan_batch_norm_blocked(n, static_cast<int>(i), absorbed)) continue;
      if (plan_gemm(n, static_cast<int>(i))) continue;
      if (kernels_ == CpuKernels::Fast && n.outputs[0] != p_.output && plan_on_blocked(n, static_cast<int>(i))) continue;
      if (pool_is_blockable(n)) {
        Step s;
        s.kind = StepKind::PoolBlocked;
        s.node = static_cast<int>(i);
        s.inputs = {n.inputs[0]};
        s.output = n.outputs[0];
        p_.blocked[static_cast<size_t>(s.output)] = true;
        p_.steps.push_back(s);
        computed_[static_cast<size_t>(s.output)] = true;
        continue;
      }
      Step s;
      s.kind = StepKind::Reference;
      s.node = static_cast<int>(i);
      for (int id : n.inputs) {
        if (id >= 0 && p_.blocked[static_cast<size_t>(id)]) id = to_plain(id);
        s.inputs.push_back(id);
      }
      s.output = n.outputs[0];
      p_.steps.push_back(s);
      computed_[static_cast<size_t>(s.output)] = true;
    }
    if (p_.blocked[static_cast<size_t>(p_.output)]) throw Error("internal: graph output left in a blocked layout");
    for (Step& st : p_.steps)
      if (st.nodes.empty() && st.node >= 0) st.nodes = {st.node};
    assign_blocked_buffers();
    index_for_prefix_sharing();
    index_for_all_nan();
    return std::move(p_);
  }

 private:
  const Node& node(int index) const { return p_.node(index); }
  const Shape& shape(int id) const { return p_.shape(id); }
  bool is_weight(int id) const { return p_.is_weight(id); }

  // The single activation node reading `value`, if exactly one does.
  int sole_consumer(int value) const {
    if (consumers_[static_cast<size_t>(value)] != 1) return -1;
    const auto& nodes = p_.model->graph.activation_nodes;
    for (size_t i = 0; i < nodes.size(); ++i)
      for (int id : nodes[i].inputs)
        if (id == value) return static_cast<int>(i);
    return -1;
  }

  // `value` read by exactly a Sigmoid (or HardSigmoid) and a Mul of `value` with that gate's
  // output, the gate read only by the Mul: x * sigmoid(x) as one point-wise step.
  bool self_gated(int value, core::PointwiseStep* step, int* gate, int* product) const {
    if (consumers_[static_cast<size_t>(value)] != 2) return false;
    const auto& nodes = p_.model->graph.activation_nodes;
    int g = -1, m = -1;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      const bool reads = std::find(n.inputs.begin(), n.inputs.end(), value) != n.inputs.end();
      if (!reads) continue;
      if ((n.op == OpType::Sigmoid || n.op == OpType::HardSigmoid) && g < 0) g = static_cast<int>(i);
      else if (n.op == OpType::Mul && m < 0) m = static_cast<int>(i);
      else return false;
    }
    if (g < 0 || m < 0) return false;
    const int gate_out = node(g).outputs[0];
    const Node& mul = node(m);
    const bool pairs = (mul.inputs[0] == value && mul.inputs[1] == gate_out) ||
                       (mul.inputs[1] == value && mul.inputs[0] == gate_out);
    if (!pairs || consumers_[static_cast<size_t>(gate_out)] != 1) return false;
    if (node(g).op == OpType::Sigmoid) {
      step->op = core::PointwiseOp::MulSigmoid;
    } else {
      const auto& p = std::get<ActivationParams>(node(g).params);
      step->op = core::PointwiseOp::MulHardSigmoid;
      step->a = p.alpha;
      step->b = p.beta;
    }
    *gate = g;
    *product = m;
    return true;
  }

  // Element-wise ops and channel Concats whose data is (or can cheaply be) blocked run on the
  // blocked layout (elementwise.cpp); false leaves the node to a reference step.
  bool plan_on_blocked(const Node& n, int index) {
    const Shape& out_shape = shape(n.outputs[0]);
    if (out_shape.size() != 4) return false;
    auto blocked = [&](int id) { return id >= 0 && p_.blocked[static_cast<size_t>(id)]; };
    Step s;
    s.node = index;
    s.output = n.outputs[0];
    core::PointwiseStep pointwise;
    if (pointwise_step_of(n, &pointwise) || n.op == OpType::Identity) {  // Identity: a copy
      if (!blocked(n.inputs[0])) return false;
      s.kind = StepKind::PointwiseBlocked;
      s.inputs = {n.inputs[0]};
    } else if (n.op == OpType::Add || n.op == OpType::Sub || n.op == OpType::Mul || n.op == OpType::Div) {
      int big = -1;
      for (int k = 0; k < 2 && big < 0; ++k)
        if (blocked(n.inputs[static_cast<size_t>(k)]) && shape(n.inputs[static_cast<size_t>(k)]) == out_shape) big = k;
      if (big < 0) return false;
      const int other = n.inputs[static_cast<size_t>(1 - big)];
      Shape os = shape(other);
      if (os.size() > 4) return false;
      os.insert(os.begin(), 4 - os.size(), 1);
      int other_id = -1;
      if (os == out_shape && shape(other).size() == 4 && !is_weight(other)) {
        other_id = blocked(other) ? other : to_blocked(other);
      } else if (os[2] == 1 && os[3] == 1 && (os[1] == out_shape[1] || os[1] == 1) &&
                 (os[0] == 1 || os[0] == out_shape[0])) {
        other_id = blocked(other) ? to_plain(other) : other;  // one value per (image, channel)
      } else {
        return false;
      }
      s.kind = StepKind::BinaryBlocked;
      s.inputs = {n.inputs[static_cast<size_t>(big)], other_id};
      s.blocked_first = big == 0;
    } else if (n.op == OpType::Resize) {
      const Shape& in_shape = shape(n.inputs[0]);
      if (!blocked(n.inputs[0]) ||
          in_shape.size() != 4 || in_shape[0] != out_shape[0] || in_shape[1] != out_shape[1])
        return false;
      s.kind = StepKind::ResizeBlocked;
      s.inputs = {n.inputs[0]};
    } else if (n.op == OpType::Concat) {
      const int64_t axis = std::get<ConcatParams>(n.params).axis;
      if (axis != 1 && axis != -3) return false;
      bool any_blocked = false;
      for (int id : n.inputs) {
        if (id < 0 || is_weight(id) || shape(id)[1] % p_.block != 0) return false;
        any_blocked = any_blocked || blocked(id);
      }
      if (!any_blocked) return false;
      s.kind = StepKind::ConcatBlocked;
      for (int id : n.inputs) s.inputs.push_back(blocked(id) ? id : to_blocked(id));
    } else {
      return false;
    }
    p_.blocked[static_cast<size_t>(s.output)] = true;
    p_.steps.push_back(s);
    computed_[static_cast<size_t>(s.output)] = true;
    return true;
  }

  // A 2-D MaxPool/AveragePool reading a blocked value runs on the blocked layout (its output keeps
  // the channel count, so it is whole blocks too), unless it is the graph output.
  bool pool_is_blockable(const Node& n) const {
    if ((n.op != OpType::MaxPool && n.op != OpType::AveragePool) || kernels_ != CpuKernels::Fast) return false;
    const int in = n.inputs[0];
    return p_.blocked[static_cast<size_t>(in)] && shape(in).size() == 4 && n.outputs[0] != p_.output;
  }

  bool conv_is_fusable(const Node& n) const {
    if ((n.op != OpType::Conv && n.op != OpType::ConvTranspose) || kernels_ != CpuKernels::Fast) return false;
    if (shape(n.inputs[0]).size() != 4) return false;
    if (!is_weight(n.inputs[1]) || (n.inputs.size() > 2 && n.inputs[2] >= 0 && !is_weight(n.inputs[2]))) return false;
    if (n.op == OpType::ConvTranspose &&
        !transposed_conv_fits_onednn(std::get<ConvParams>(n.params), shape(n.inputs[0]), shape(n.inputs[1])))
      return false;
    return true;
  }

  // Appends to s.activations every point-wise activation that follows `out`, each the only reader
  // of the one before, and x * sigmoid(x) / x * hardsigmoid(x) (SiLU, hardswish as exported before
  // opset 14); `out` becomes the last one's output. With `keep_off_output`, stops before an
  // activation that writes the graph output (a blocked step may not).
  void absorb_activations(Step& s, int& out, std::vector<bool>& absorbed, bool keep_off_output) {
    int next = sole_consumer(out);
    while (true) {
      core::PointwiseStep step;
      if (next >= 0 && pointwise_step_of(node(next), &step) &&
          !(keep_off_output && node(next).outputs[0] == p_.output)) {
        s.activations.push_back(step);
        absorbed[static_cast<size_t>(next)] = true;
        s.nodes.push_back(next);
        out = node(next).outputs[0];
        next = sole_consumer(out);
        continue;
      }
      int gate = -1, product = -1;
      if (self_gated(out, &step, &gate, &product) && !(keep_off_output && node(product).outputs[0] == p_.output)) {
        s.activations.push_back(step);
        absorbed[static_cast<size_t>(gate)] = absorbed[static_cast<size_t>(product)] = true;
        s.nodes.push_back(gate);
        s.nodes.push_back(product);
        out = node(product).outputs[0];
        next = sole_consumer(out);
        continue;
      }
      return;
    }
  }

  // A BatchNormalization of a blocked activation with weight parameters (DenseNet's pre-activation
  // BN after each Concat) runs on the blocked layout with the activations after it, through the
  // conv epilogue's code (the same folding and arithmetic as the reference kernel).
  bool plan_batch_norm_blocked(const Node& n, int index, std::vector<bool>& absorbed) {
    if (n.op != OpType::BatchNormalization || kernels_ != CpuKernels::Fast) return false;
    const int x = n.inputs[0];
    if (!p_.blocked[static_cast<size_t>(x)] || shape(x).size() != 4 || n.outputs[0] == p_.output) return false;
    for (size_t k = 1; k < 5; ++k)
      if (!is_weight(n.inputs[k])) return false;
    Step s;
    s.kind = StepKind::BatchNormBlocked;
    s.node = index;
    s.nodes = {index};
    s.inputs = {x};
    s.bn_scale = n.inputs[1];
    s.bn_bias = n.inputs[2];
    s.bn_mean = n.inputs[3];
    s.bn_var = n.inputs[4];
    s.bn_epsilon = std::get<BatchNormParams>(n.params).epsilon;
    int out = n.outputs[0];
    absorb_activations(s, out, absorbed, true);
    s.output = out;
    p_.blocked[static_cast<size_t>(out)] = true;
    p_.steps.push_back(s);
    computed_[static_cast<size_t>(out)] = true;
    return true;
  }

  // Gemm/MatMul of an activation by weights (a Linear layer) as a oneDNN matmul on plain data.
  bool plan_gemm(const Node& n, int index) {
    if ((n.op != OpType::Gemm && n.op != OpType::MatMul) || kernels_ != CpuKernels::Fast) return false;
    if (is_weight(n.inputs[0]) || !is_weight(n.inputs[1])) return false;
    if (n.inputs.size() > 2 && n.inputs[2] >= 0 && !is_weight(n.inputs[2])) return false;
    if (!gemm_fits_onednn(n, p_.shapes)) return false;
    GemmPrimitive g = make_gemm_primitive(n, p_.shapes, engine_);
    if (g.implementation.rfind("ref", 0) == 0) return false;
    Step s;
    s.kind = StepKind::Gemm;
    s.node = index;
    s.inputs = {n.inputs[0], n.inputs[1]};  // A is 2-D, so plain (blocked values are 4-D)
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) s.inputs.push_back(n.inputs[2]);
    s.output = n.outputs[0];
    s.gemm_index = static_cast<int>(p_.gemms.size());
    p_.scratchpad_bytes = std::max<size_t>(p_.scratchpad_bytes, g.scratchpad_md.get_size());
    p_.gemms.push_back(std::move(g));
    p_.steps.push_back(s);
    computed_[static_cast<size_t>(s.output)] = true;
    return true;
  }

  void plan_fused_conv(int conv_node, std::vector<bool>& absorbed) {
    const Node& conv = node(conv_node);
    const auto& cp = std::get<ConvParams>(conv.params);
    Step s;
    s.kind = StepKind::FusedConv;
    s.node = conv_node;
    s.nodes = {conv_node};
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
        s.nodes.push_back(next);
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
        s.nodes.push_back(next);
        out = add.outputs[0];
      }
    }
    absorb_activations(s, out, absorbed, false);

    const int block = p_.block;
    const int64_t out_channels = shape(out)[1];
    const int src = conv.inputs[0];
    const int64_t in_channels = shape(src)[1];
    const bool src_is_blocked = p_.blocked[static_cast<size_t>(src)];
    // Preferred layouts: a blocked output unless it is the graph output (with padding lanes when
    // the channels are not whole blocks: oneDNN's depthwise kernels, for one, need a blocked
    // layout, and on plain data with 72 channels run ~30x slower); a blocked input when it already
    // is, or has whole blocks (small-channel inputs, images, stay plain: oneDNN has direct kernels
    // for nchw → blocked).
    const bool dst_can_block = out != p_.output;
    const bool src_prefers_blocked = src_is_blocked || (in_channels % block == 0 && in_channels >= block);

    ConvGeometry g;
    g.params = &cp;
    g.transposed = conv.op == OpType::ConvTranspose;
    g.src_shape = shape(src);
    g.weight_shape = shape(s.weight);
    g.dst_shape = shape(conv.outputs[0]);
    g.block = block;
    g.has_bias = s.bias >= 0;
    g.out_channels = out_channels;
    // oneDNN has no fast kernel for some layout pairs and falls back to its reference
    // implementation at ~100x the cost (a plain 24-channel input into a blocked 144-channel output,
    // MobileNetV2's expansions; a blocked input into a plain 11-channel output, a segmentation head),
    // or to im2col + gemm, which for a depthwise conv on plain data is ~30x its blocked kernel
    // (ShuffleNetV2's 24-channel branches after a Slice). The layout pairs are tried, preferred
    // first, down to a plain input reordered to blocked; the first direct (jit) kernel is kept, else
    // the first gemm, else the preferred pair. Reorders are added only for the layout chosen.
    const std::pair<bool, bool> candidates[] = {{src_prefers_blocked, dst_can_block}, {false, dst_can_block},
                                                {true, dst_can_block},
                                                {src_prefers_blocked, false},
                                                {false, false},
                                                {true, false}};
    constexpr size_t candidate_count = sizeof candidates / sizeof candidates[0];
    auto rank = [](const std::string& implementation) {  // lower is faster
      if (implementation.rfind("ref", 0) == 0) return 2;
      return implementation.find("gemm") != std::string::npos ? 1 : 0;
    };
    ConvPrimitive prim;
    std::pair<bool, bool> chosen = candidates[0];
    int chosen_rank = 3;
    for (size_t k = 0; k < candidate_count && chosen_rank > 0; ++k) {
      const auto& [try_src_blocked, try_dst_blocked] = candidates[k];
      bool tried = false;
      for (size_t j = 0; j < k; ++j) tried = tried || candidates[j] == candidates[k];
      if (tried) continue;
      g.src_md = activation_md(g.src_shape, try_src_blocked, block);
      g.dst_blocked = try_dst_blocked;
      ConvPrimitive candidate = make_conv_primitive(g, engine_);
      const int r = rank(candidate.implementation);
      if (r < chosen_rank) {
        prim = std::move(candidate);
        chosen = candidates[k];
        chosen_rank = r;
      }
    }
    const auto [src_blocked, dst_blocked] = chosen;
    const int src_id = src_blocked == src_is_blocked ? src : src_blocked ? to_blocked(src) : to_plain(src);
    if (s.residual >= 0 && p_.blocked[static_cast<size_t>(s.residual)] != dst_blocked)
      s.residual = dst_blocked ? to_blocked(s.residual) : to_plain(s.residual);
    s.inputs = {src_id};
    if (s.residual >= 0) s.inputs.push_back(s.residual);
    s.output = out;
    p_.blocked[static_cast<size_t>(out)] = dst_blocked;
    p_.scratchpad_bytes = std::max<size_t>(p_.scratchpad_bytes, prim.scratchpad_md.get_size());
    s.conv_index = static_cast<int>(p_.convs.size());
    p_.convs.push_back(std::move(prim));
    p_.conv_steps.push_back(static_cast<int>(p_.steps.size()));
    p_.steps.push_back(s);
    computed_[static_cast<size_t>(out)] = true;
  }

  // A channel Concat of whole blocks in place: with one image per tile an image's channel blocks
  // are one contiguous run, so a blocked input that nothing else reads is written by its producer
  // straight into the Concat's output at its channel offset, and the Concat copies nothing for it
  // (SqueezeNet's fire modules, a U-Net's upsampled half). With more images per tile the blocks of
  // the images interleave, and oneDNN 2.6 runs a conv whose output is a strided part of a larger
  // tensor in its reference implementation.
  void place_concat_inputs(std::vector<int>& lives_in, std::vector<int64_t>& offset_in) const {
    const size_t values = p_.shapes.size();
    lives_in.assign(values, -1);
    offset_in.assign(values, 0);
    std::vector<int> readers(values, 0);
    std::vector<bool> written(values, false);
    for (const Step& st : p_.steps) {
      for (int id : st.inputs)
        if (id >= 0) readers[static_cast<size_t>(id)]++;
      written[static_cast<size_t>(st.output)] = true;
    }
    for (const Step& st : p_.steps) {
      if (st.kind != StepKind::ConcatBlocked || shape(st.output)[0] != 1) continue;
      int64_t offset = 0;
      for (int id : st.inputs) {
        const size_t v = static_cast<size_t>(id);
        if (written[v] && readers[v] == 1 && lives_in[v] < 0) {
          lives_in[v] = st.output;
          offset_in[v] = offset;
        }
        offset += element_count(shape(id));
      }
    }
  }

  // Blocked activations share a few buffers: a buffer is free again after the last step that reads
  // what it holds, so consecutive layers reuse memory that is still in cache. A buffer holds one
  // value and the values living in it (Concat inputs in place) from the first step writing any of
  // them to the last step reading any of them. A step's output never shares a buffer with its
  // inputs (other than its own Concat inputs in place, which it does not copy).
  void assign_blocked_buffers() {
    std::vector<int> lives_in;
    std::vector<int64_t> offset_in;
    place_concat_inputs(lives_in, offset_in);
    const size_t values = p_.shapes.size();
    auto root_of = [&](int id) {
      while (lives_in[static_cast<size_t>(id)] >= 0) id = lives_in[static_cast<size_t>(id)];
      return id;
    };
    const int never = static_cast<int>(p_.steps.size());
    std::vector<int> begin(values, never), end(values, -1);
    for (size_t i = 0; i < p_.steps.size(); ++i) {
      const int step = static_cast<int>(i);
      for (int id : p_.steps[i].inputs)
        if (id >= 0 && p_.blocked[static_cast<size_t>(id)]) {
          const size_t r = static_cast<size_t>(root_of(id));
          end[r] = std::max(end[r], step);
        }
      const int out = p_.steps[i].output;
      if (!p_.blocked[static_cast<size_t>(out)]) continue;
      const size_t r = static_cast<size_t>(root_of(out));
      begin[r] = std::min(begin[r], step);
      end[r] = std::max(end[r], step);
    }
    p_.blocked_buffer_of.assign(values, -1);
    p_.blocked_offset.assign(values, 0);
    std::vector<int> owner;  // per buffer: the root value holding it, -1 when free
    for (size_t i = 0; i < p_.steps.size(); ++i) {
      const int out = p_.steps[i].output;
      if (!p_.blocked[static_cast<size_t>(out)]) continue;
      const int root = root_of(out);
      if (begin[static_cast<size_t>(root)] != static_cast<int>(i)) continue;  // its buffer is taken already
      for (size_t b = 0; b < owner.size(); ++b)
        if (owner[b] >= 0 && end[static_cast<size_t>(owner[b])] < static_cast<int>(i)) owner[b] = -1;
      int chosen = -1;
      for (size_t b = 0; b < owner.size() && chosen < 0; ++b)
        if (owner[b] < 0) chosen = static_cast<int>(b);
      if (chosen < 0) {
        chosen = static_cast<int>(owner.size());
        owner.push_back(-1);
      }
      owner[static_cast<size_t>(chosen)] = root;
      p_.blocked_buffer_of[static_cast<size_t>(root)] = chosen;
      p_.blocked_buffer_floats = std::max(p_.blocked_buffer_floats, element_count(padded_shape(shape(root), p_.block)));
    }
    for (size_t id = 0; id < values; ++id) {
      if (!p_.blocked[id] || lives_in[id] < 0) continue;
      int64_t offset = 0;
      int v = static_cast<int>(id);
      for (; lives_in[static_cast<size_t>(v)] >= 0; v = lives_in[static_cast<size_t>(v)]) offset += offset_in[static_cast<size_t>(v)];
      p_.blocked_buffer_of[id] = p_.blocked_buffer_of[static_cast<size_t>(v)];
      p_.blocked_offset[id] = offset;
    }
    p_.blocked_buffer_count = owner.size();
  }

  // CpuPlan::step_weights and live_before (see there).
  void index_for_prefix_sharing() {
    const size_t steps = p_.steps.size();
    const int graph_values = static_cast<int>(p_.graph_value_count());
    auto weight = [&](int id) { return id >= 0 && id < graph_values && is_weight(id); };
    std::vector<int> written_at(p_.shapes.size(), -1), last_read(p_.shapes.size(), -1);
    last_read[static_cast<size_t>(p_.output)] = static_cast<int>(steps);
    p_.step_weights.assign(steps, {});
    for (size_t i = 0; i < steps; ++i) {
      const Step& st = p_.steps[i];
      std::vector<int>& reads = p_.step_weights[i];
      for (int id : st.inputs)
        if (weight(id)) reads.push_back(id);
        else if (id >= 0) last_read[static_cast<size_t>(id)] = static_cast<int>(i);
      for (int id : {st.weight, st.bias, st.bn_scale, st.bn_bias, st.bn_mean, st.bn_var})
        if (weight(id)) reads.push_back(id);
      std::sort(reads.begin(), reads.end());
      reads.erase(std::unique(reads.begin(), reads.end()), reads.end());
      written_at[static_cast<size_t>(st.output)] = static_cast<int>(i);
    }
    p_.live_before.assign(steps + 1, {});
    for (size_t id = 0; id < p_.shapes.size(); ++id) {
      const bool computed = static_cast<int>(id) == p_.input || written_at[id] >= 0;
      if (!computed || last_read[id] < 0) continue;
      // Live before d for written_at < d <= last_read (the input: from d = 0).
      for (int d = written_at[id] + 1; d <= last_read[id]; ++d) p_.live_before[static_cast<size_t>(d)].push_back(static_cast<int>(id));
    }
  }

  // Which inputs of a step, all NaN, make every element of its output NaN whatever the weights.
  // Only ops whose every output element reads at least one element of such an input through +, *,
  // a comparison that keeps NaN, or a copy; anything else (Pad, ConvTranspose's bias-only
  // positions, linear Resize, unknown ops, empty values) is Never.
  enum class NanRule { Never, AnyInput, EveryInput, FirstInput, FirstTwoInputs };

  NanRule nan_rule(const Step& st) const {
    if (element_count(shape(st.output)) == 0) return NanRule::Never;
    for (int id : st.inputs)
      if (id >= 0 && !is_weight(id) && element_count(shape(id)) == 0) return NanRule::Never;
    // Every window of a conv or pool has a tap on an input element (not only padding, and not
    // only the gaps of a dilated kernel): checked position by position, per spatial axis.
    auto windows_hold_input = [](const SpatialGeometry& g) {
      for (size_t d = 0; d < g.kernel.size(); ++d)
        for (int64_t o = 0; o < g.output[d]; ++o) {
          bool tap_on_input = false;
          for (int64_t t = 0; t < g.kernel[d] && !tap_on_input; ++t) {
            const int64_t position = o * g.strides[d] - g.pads_begin[d] + t * g.dilations[d];
            tap_on_input = position >= 0 && position < g.input[d];
          }
          if (!tap_on_input) return false;
        }
      return true;
    };
    const auto when = [](bool holds, NanRule rule) { return holds ? rule : NanRule::Never; };
    switch (st.kind) {
      case StepKind::ToPlain:
      case StepKind::ToBlocked:
      case StepKind::GlobalAveragePoolBlocked:
      case StepKind::BinaryBlocked:
      case StepKind::PointwiseBlocked:
      case StepKind::ResizeBlocked:
      case StepKind::BatchNormBlocked: return NanRule::AnyInput;
      case StepKind::ConcatBlocked: return NanRule::EveryInput;
      case StepKind::FusedConv: {
        // The conv's input and the absorbed residual.
        const Node& conv = node(st.node);
        if (conv.op != OpType::Conv) return NanRule::Never;
        return when(windows_hold_input(conv_geometry(std::get<ConvParams>(conv.params), shape(conv.inputs[0]),
                                                     shape(conv.inputs[1]))),
                    NanRule::AnyInput);
      }
      case StepKind::PoolBlocked:
      case StepKind::Gemm:
      case StepKind::Reference: break;
    }
    const Node& n = node(st.node);
    switch (n.op) {
      case OpType::Relu: case OpType::LeakyRelu: case OpType::Clip: case OpType::Sigmoid: case OpType::HardSigmoid:
      case OpType::Tanh: case OpType::Softsign: case OpType::Atan: case OpType::HardSwish: case OpType::Identity:
      case OpType::Dropout: case OpType::Flatten: case OpType::Reshape: case OpType::Transpose: case OpType::Slice:
      case OpType::Add: case OpType::Sub: case OpType::Mul: case OpType::Div: case OpType::Softmax:
      case OpType::ReduceMean: case OpType::GlobalAveragePool:
        return NanRule::AnyInput;
      case OpType::BatchNormalization: return NanRule::FirstInput;
      case OpType::Concat: return NanRule::EveryInput;
      case OpType::Resize:
        return when(std::get<ResizeParams>(n.params).mode == ResizeMode::Nearest, NanRule::FirstInput);
      case OpType::MaxPool:
      case OpType::AveragePool:
        return when(windows_hold_input(pool_geometry(std::get<PoolParams>(n.params), shape(n.inputs[0]))),
                    NanRule::AnyInput);
      case OpType::Gemm: {
        // y = alpha * (A B) + beta * C with a reduction of at least one term: NaN in A or B.
        const Shape& a = shape(n.inputs[0]);
        const int64_t k = std::get<GemmParams>(n.params).trans_a ? a[0] : a[a.size() - 1];
        return when(k > 0, NanRule::FirstTwoInputs);
      }
      case OpType::MatMul: {
        const Shape& a = shape(n.inputs[0]);
        return when(a[a.size() - 1] > 0, NanRule::AnyInput);
      }
      default: return NanRule::Never;
    }
  }

  // CpuPlan::nan_reaches_output: for each step, whether NaN in all of its output flows through
  // every later step to the graph output. Each step's rule is found once; the walk per step only
  // tests which of its inputs are NaN.
  void index_for_all_nan() {
    const size_t steps = p_.steps.size();
    std::vector<NanRule> rules(steps);
    for (size_t j = 0; j < steps; ++j) rules[j] = nan_rule(p_.steps[j]);
    p_.nan_reaches_output.assign(steps, false);
    for (size_t i = 0; i < steps; ++i) {
      const int out = p_.steps[i].output;
      // A blocked value with padded channels would hold zeros in its padding lanes.
      if (p_.blocked[static_cast<size_t>(out)] && shape(out)[1] % p_.block != 0) continue;
      std::vector<bool> nan(p_.shapes.size(), false);
      nan[static_cast<size_t>(out)] = true;
      // Weights are never NaN here: they may hold anything.
      auto is_nan = [&](int id) { return id >= 0 && !is_weight(id) && nan[static_cast<size_t>(id)]; };
      for (size_t j = i + 1; j < steps; ++j) {
        const std::vector<int>& in = p_.steps[j].inputs;
        bool result = false;
        switch (rules[j]) {
          case NanRule::Never: break;
          case NanRule::AnyInput: result = std::any_of(in.begin(), in.end(), is_nan); break;
          case NanRule::EveryInput:
            result = std::all_of(in.begin(), in.end(), [&](int id) { return id < 0 || is_nan(id); }) &&
                     std::any_of(in.begin(), in.end(), is_nan);
            break;
          case NanRule::FirstInput: result = !in.empty() && is_nan(in[0]); break;
          case NanRule::FirstTwoInputs: result = (!in.empty() && is_nan(in[0])) || (in.size() > 1 && is_nan(in[1])); break;
        }
        if (result) nan[static_cast<size_t>(p_.steps[j].output)] = true;
      }
      p_.nan_reaches_output[i] = nan[static_cast<size_t>(p_.output)];
    }
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
    p_.steps.push_back(s);
    copies[id] = copy;
    return copy;
  }

  int add_internal_value(const Shape& s, bool blocked) {
    int id = static_cast<int>(p_.shapes.size());
    p_.shapes.push_back(s);
    p_.blocked.push_back(blocked);
    consumers_.push_back(1);
    computed_.push_back(true);
    return id;
  }

  CpuPlan p_;
  CpuKernels kernels_;
  const dnnl::engine& engine_;
  std::vector<bool> computed_;  // by value id: produced by an earlier step
  std::vector<int> consumers_;  // activation readers per value id
  std::unordered_map<int, int> plain_copy_, blocked_copy_;
};

}  // namespace

CpuPlan build_plan(const Model& model, CpuKernels kernels, int block, int64_t tile, const dnnl::engine& engine) {
  // Dimension 0 is the batch: each image's outputs must stay its own, whatever the tile.
  const std::vector<Shape> shapes = infer_shapes_for_batch(model, 1);
  for (const Node& n : model.graph.activation_nodes) {
    const size_t rank = shapes[static_cast<size_t>(n.inputs[0])].size();
    const bool cuts = (n.op == OpType::Slice && !slice_keeps_batch(std::get<SliceParams>(n.params), rank)) ||
                      (n.op == OpType::Transpose && !transpose_keeps_batch(std::get<TransposeParams>(n.params), rank));
    if (cuts)
      throw Error(model.path + ": node '" + n.name + "' (" + op_type_name(n.op) +
                  ") moves or cuts axis 0, the batch of images; flipsweep runs a model on any number of images");
  }
  PlanBuilder builder(model, kernels, block, tile, engine);
  // oneDNN fixes a primitive's thread count when the primitive is created; each of ours runs on
  // one thread inside the backend's own parallel loop, so create them with a single-thread budget.
  const int previous_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  try {
    CpuPlan plan = builder.build();
    omp_set_num_threads(previous_threads);
    return plan;
  } catch (...) {
    omp_set_num_threads(previous_threads);
    throw;
  }
}

}  // namespace flipsweep::cpu
