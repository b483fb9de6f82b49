#include "flipsweep/batched/trial_plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "flipsweep/core/batch_norm.h"
#include "flipsweep/error.h"
#include "flipsweep/graph/pointwise_node.h"
#include "flipsweep/kernels/concat.h"
#include "flipsweep/kernels/strided_copy.h"
#include "flipsweep/graph/shape_inference.h"
#include "flipsweep/ops/shapes.h"

namespace flipsweep::batched {

const char* step_op_name(StepOp op) {
  switch (op) {
    case StepOp::Conv: return "Conv";
    case StepOp::ConvTranspose: return "ConvTranspose";
    case StepOp::Gemm: return "Gemm";
    case StepOp::BatchNorm: return "BatchNorm";
    case StepOp::Unary: return "Unary";
    case StepOp::Binary: return "Binary";
    case StepOp::MaxPool: return "MaxPool";
    case StepOp::AveragePool: return "AveragePool";
    case StepOp::GlobalAveragePool: return "GlobalAveragePool";
    case StepOp::Concat: return "Concat";
    case StepOp::Resize: return "Resize";
    case StepOp::StridedCopy: return "StridedCopy";
    case StepOp::ReduceMean: return "ReduceMean";
    case StepOp::Alias: return "Alias";
  }
  return "?";
}

namespace {

ConvShape conv_shape_from(const SpatialGeometry& g, int64_t in_channels, int64_t out_channels, int64_t groups) {
  ConvShape s;
  s.in_channels = in_channels;
  s.out_channels = out_channels;
  s.in_height = g.input[0];
  s.in_width = g.input[1];
  s.out_height = g.output[0];
  s.out_width = g.output[1];
  s.kernel_h = g.kernel[0];
  s.kernel_w = g.kernel[1];
  s.stride_h = g.strides[0];
  s.stride_w = g.strides[1];
  s.dilation_h = g.dilations[0];
  s.dilation_w = g.dilations[1];
  s.pad_h = g.pads_begin[0];
  s.pad_w = g.pads_begin[1];
  s.pad_h_end = g.pads_end[0];
  s.pad_w_end = g.pads_end[1];
  s.groups = groups;
  return s;
}

}  // namespace

ModelPlan::ModelPlan(const Model& model) : model_(model) {
  if (model.graph.inputs.size() != 1 || model.graph.outputs.size() != 1)
    throw Error(model.path + ": the trial-batched backends need exactly one graph input and one output");
  input_ = model.graph.inputs[0];
  output_ = model.graph.outputs[0];
  image_shapes_ = infer_shapes_for_batch(model, 1);
  const size_t values = model.graph.values.size();
  per_image_.assign(values, 0);
  for (size_t id = 0; id < values; ++id) {
    const ValueKind kind = model.graph.values[id].kind;
    if (kind == ValueKind::Activation || kind == ValueKind::Input) per_image_[id] = element_count(image_shapes_[id]);
  }
  consumers_.assign(values, 0);
  for (const Node& n : model.graph.activation_nodes)
    for (int id : n.inputs)
      if (id >= 0) consumers_[static_cast<size_t>(id)]++;
  consumers_[static_cast<size_t>(output_)]++;
  storage_of_.resize(values);
  for (size_t id = 0; id < values; ++id) storage_of_[id] = static_cast<int>(id);
  compile();
  compile_weight_sources();
}

bool ModelPlan::is_weight(int value) const {
  const ValueKind k = model_.graph.values[static_cast<size_t>(value)].kind;
  return k == ValueKind::Parameter || k == ValueKind::Constant || k == ValueKind::Prepared;
}

bool ModelPlan::computed(int value) const { return computed_[static_cast<size_t>(value)]; }

int ModelPlan::sole_consumer(int value) const {
  if (consumers_[static_cast<size_t>(value)] != 1) return -1;
  const auto& nodes = model_.graph.activation_nodes;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (int id : nodes[i].inputs)
      if (id == value) return static_cast<int>(i);
  return -1;
}

void ModelPlan::plan_epilogue(PlanStep& step, std::vector<bool>& absorbed) {
  const auto& nodes = model_.graph.activation_nodes;
  int out = step.output;
  int next = sole_consumer(out);
  if (step.op != StepOp::Gemm && next >= 0 && nodes[static_cast<size_t>(next)].op == OpType::BatchNormalization &&
      nodes[static_cast<size_t>(next)].inputs[0] == out) {
    const Node& bn = nodes[static_cast<size_t>(next)];
    bool weights_only = true;
    for (size_t k = 1; k < 5; ++k) weights_only = weights_only && is_weight(bn.inputs[k]);
    if (weights_only) {
      step.epilogue.bn_scale = bn.inputs[1];
      step.epilogue.bn_bias = bn.inputs[2];
      step.epilogue.bn_mean = bn.inputs[3];
      step.epilogue.bn_var = bn.inputs[4];
      step.epilogue.bn_epsilon = std::get<BatchNormParams>(bn.params).epsilon;
      step.epilogue.absorbed_nodes.push_back(next);
      absorbed[static_cast<size_t>(next)] = true;
      out = bn.outputs[0];
      next = sole_consumer(out);
    }
  }
  if (next >= 0 && nodes[static_cast<size_t>(next)].op == OpType::Add) {
    const Node& add = nodes[static_cast<size_t>(next)];
    const int other = add.inputs[0] == out ? add.inputs[1] : add.inputs[0];
    if (other != out && !is_weight(other) && image_shapes_[static_cast<size_t>(other)] == image_shapes_[static_cast<size_t>(out)] &&
        computed(other)) {
      step.epilogue.residual = other;
      step.epilogue.absorbed_nodes.push_back(next);
      absorbed[static_cast<size_t>(next)] = true;
      out = add.outputs[0];
      next = sole_consumer(out);
    }
  }
  core::PointwiseStep activation;
  if (next >= 0 && pointwise_step_of(nodes[static_cast<size_t>(next)], &activation)) {
    step.epilogue.activation = activation;
    step.epilogue.absorbed_nodes.push_back(next);
    absorbed[static_cast<size_t>(next)] = true;
    out = nodes[static_cast<size_t>(next)].outputs[0];
  }
  step.output = out;
}

void ModelPlan::compile() {
  const auto& nodes = model_.graph.activation_nodes;
  computed_.assign(model_.graph.values.size(), false);
  computed_[static_cast<size_t>(input_)] = true;
  std::vector<bool> absorbed(nodes.size(), false);
  std::vector<std::string> unsupported;
  auto shape = [&](int id) -> const Shape& { return image_shapes_[static_cast<size_t>(id)]; };
  auto lacks = [&](const Node& n, const std::string& why) {
    unsupported.push_back(std::string(op_type_name(n.op)) + " '" + n.name + "'" + (why.empty() ? "" : " (" + why + ")"));
  };
  auto activation_input = [&](int id) { return id >= 0 && !is_weight(id); };

  for (size_t i = 0; i < nodes.size(); ++i) {
    if (absorbed[i]) continue;
    const Node& n = nodes[i];
    PlanStep step;
    step.node = static_cast<int>(i);
    step.name = n.name;
    step.output = n.outputs.empty() ? -1 : n.outputs[0];
    if (n.outputs.size() != 1) {
      lacks(n, "more than one output");
      continue;
    }
    switch (n.op) {
      case OpType::Conv:
      case OpType::ConvTranspose: {
        const bool transpose = n.op == OpType::ConvTranspose;
        const auto& p = std::get<ConvParams>(n.params);
        if (shape(n.inputs[0]).size() != 4) {
          lacks(n, "only 2-D convolutions");
          continue;
        }
        if (!activation_input(n.inputs[0]) || !is_weight(n.inputs[1]) ||
            (n.inputs.size() > 2 && n.inputs[2] >= 0 && !is_weight(n.inputs[2]))) {
          lacks(n, "the weights must not depend on the images");
          continue;
        }
        const Shape& x = shape(n.inputs[0]);
        const Shape& w = model_.graph.values[static_cast<size_t>(n.inputs[1])].shape;
        const SpatialGeometry g = transpose ? conv_transpose_geometry(p, x, w) : conv_geometry(p, x, w);
        step.op = transpose ? StepOp::ConvTranspose : StepOp::Conv;
        step.inputs = {n.inputs[0]};
        step.weight = n.inputs[1];
        step.conv = conv_shape_from(g, x[1], shape(n.outputs[0])[1], p.group);
        if (n.inputs.size() > 2 && n.inputs[2] >= 0) step.epilogue.bias = n.inputs[2];
        plan_epilogue(step, absorbed);
        break;
      }
      case OpType::Gemm:
      case OpType::MatMul: {
        const bool gemm = n.op == OpType::Gemm;
        if (!activation_input(n.inputs[0]) || !is_weight(n.inputs[1]) ||
            (n.inputs.size() > 2 && n.inputs[2] >= 0 && !is_weight(n.inputs[2]))) {
          lacks(n, "only an activation times a weight");
          continue;
        }
        const Shape& a = shape(n.inputs[0]);
        const Shape& b = model_.graph.values[static_cast<size_t>(n.inputs[1])].shape;
        if (b.size() != 2 || a.size() < 2 || (gemm && a.size() != 2)) {
          lacks(n, "a 2-D weight and an activation of rank >= 2");
          continue;
        }
        GemmParams gp;
        if (gemm) gp = std::get<GemmParams>(n.params);
        if (gp.trans_a) {
          lacks(n, "transA");
          continue;
        }
        step.op = StepOp::Gemm;
        step.inputs = {n.inputs[0]};
        step.weight = n.inputs[1];
        step.gemm.weight_transposed = gp.trans_b;
        step.gemm.k = a.back();
        step.gemm.m = gp.trans_b ? b[0] : b[1];
        step.gemm.rows_per_image = per_image_[static_cast<size_t>(n.inputs[0])] / step.gemm.k;
        step.epilogue.alpha = gp.alpha;
        if (gemm && n.inputs.size() > 2 && n.inputs[2] >= 0) {
          const Shape& c = model_.graph.values[static_cast<size_t>(n.inputs[2])].shape;
          const int64_t count = element_count(c);
          if (count != 1 && count != step.gemm.m) {
            lacks(n, "C must be a scalar or one value per output");
            continue;
          }
          step.epilogue.bias = n.inputs[2];
          step.epilogue.bias_multiplier = gp.beta;
        }
        plan_epilogue(step, absorbed);
        break;
      }
      case OpType::BatchNormalization: {
        bool weights_only = activation_input(n.inputs[0]);
        for (size_t k = 1; k < 5; ++k) weights_only = weights_only && is_weight(n.inputs[k]);
        if (!weights_only || shape(n.inputs[0]).size() < 2) {
          lacks(n, "statistics must be weights");
          continue;
        }
        step.op = StepOp::BatchNorm;
        step.inputs = {n.inputs[0]};
        step.epilogue.bn_scale = n.inputs[1];
        step.epilogue.bn_bias = n.inputs[2];
        step.epilogue.bn_mean = n.inputs[3];
        step.epilogue.bn_var = n.inputs[4];
        step.epilogue.bn_epsilon = std::get<BatchNormParams>(n.params).epsilon;
        break;
      }
      case OpType::Add:
      case OpType::Sub:
      case OpType::Mul:
      case OpType::Div: {
        const Shape out = broadcast_shapes(shape(n.inputs[0]).size() ? shape(n.inputs[0]) : Shape{},
                                           shape(n.inputs[1]).size() ? shape(n.inputs[1]) : Shape{});
        if (out.size() > 6) {
          lacks(n, "more than 6 dimensions");
          continue;
        }
        step.op = StepOp::Binary;
        step.binary = n.op;
        step.inputs = n.inputs;
        break;
      }
      case OpType::MaxPool:
      case OpType::AveragePool: {
        const auto& p = std::get<PoolParams>(n.params);
        const Shape& x = shape(n.inputs[0]);
        if (x.size() != 4) {
          lacks(n, "only 2-D pooling");
          continue;
        }
        const SpatialGeometry g = pool_geometry(p, x);
        step.op = n.op == OpType::MaxPool ? StepOp::MaxPool : StepOp::AveragePool;
        step.inputs = {n.inputs[0]};
        step.conv = conv_shape_from(g, x[1], x[1], x[1]);
        step.count_include_pad = p.count_include_pad;
        break;
      }
      case OpType::GlobalAveragePool:
        step.op = StepOp::GlobalAveragePool;
        step.inputs = {n.inputs[0]};
        if (shape(n.inputs[0]).size() < 3) {
          lacks(n, "input of rank < 3");
          continue;
        }
        break;
      case OpType::Concat: {
        int64_t axis = std::get<ConcatParams>(n.params).axis;
        const int64_t rank = static_cast<int64_t>(shape(n.outputs[0]).size());
        if (axis < 0) axis += rank;
        if (axis < 1 || n.inputs.size() > static_cast<size_t>(kernels::ConcatBody::kMaxInputs)) {
          lacks(n, "only along a non-batch axis, at most " + std::to_string(kernels::ConcatBody::kMaxInputs) + " inputs");
          continue;
        }
        bool all_activations = true;
        for (int id : n.inputs) all_activations = all_activations && activation_input(id);
        if (!all_activations) {
          lacks(n, "weight inputs");
          continue;
        }
        step.op = StepOp::Concat;
        step.inputs = n.inputs;
        step.concat_axis = axis;
        break;
      }
      case OpType::Resize:
        if (shape(n.inputs[0]).size() != 4) {
          lacks(n, "only 4-D");
          continue;
        }
        step.op = StepOp::Resize;
        step.inputs = {n.inputs[0]};
        step.resize = std::get<ResizeParams>(n.params);
        break;
      case OpType::Transpose:
      case OpType::Slice: {
        if (!activation_input(n.inputs[0])) {
          lacks(n, "a weight input");
          continue;
        }
        // The batch axis carries the trials' images: it must stay first and whole for every batch.
        const size_t rank = shape(n.inputs[0]).size();
        const bool keeps_batch = n.op == OpType::Transpose
                                     ? transpose_keeps_batch(std::get<TransposeParams>(n.params), rank)
                                     : slice_keeps_batch(std::get<SliceParams>(n.params), rank);
        if (!keeps_batch || rank > static_cast<size_t>(kernels::StridedCopyBody::kMaxRank)) {
          lacks(n, "it moves or cuts the batch axis, or rank above 6");
          continue;
        }
        step.op = StepOp::StridedCopy;
        step.inputs = {n.inputs[0]};
        step.view = n.params;
        break;
      }
      case OpType::ReduceMean: {
        const Shape& in = shape(n.inputs[0]);
        const std::vector<int64_t> axes = reduce_axes(std::get<ReduceParams>(n.params), in.size());
        // Trailing axes only (x.mean((2, 3))), so each output element is one contiguous plane.
        bool trailing = !axes.empty() && axes.front() >= 1;
        for (size_t k = 0; k < axes.size(); ++k)
          trailing = trailing && axes[k] == static_cast<int64_t>(in.size() - axes.size() + k);
        if (!trailing || !activation_input(n.inputs[0])) {
          lacks(n, "only over trailing axes of an activation");
          continue;
        }
        step.op = StepOp::ReduceMean;
        step.inputs = {n.inputs[0]};
        break;
      }
      case OpType::Flatten:
      case OpType::Reshape:
      case OpType::Identity: {
        if (!activation_input(n.inputs[0])) {
          lacks(n, "a weight input");
          continue;
        }
        // Row-major data of one image stays where it is as long as dim 0 stays the batch.
        const Shape& out = shape(n.outputs[0]);
        const Shape out2 = infer_shapes_for_batch(model_, 2)[static_cast<size_t>(n.outputs[0])];
        if (out.empty() || out[0] != 1 || out2.empty() || out2[0] != 2) {
          lacks(n, "it mixes the batch with other dimensions");
          continue;
        }
        step.op = StepOp::Alias;
        step.inputs = {n.inputs[0]};
        storage_of_[static_cast<size_t>(step.output)] = storage_of_[static_cast<size_t>(n.inputs[0])];
        break;
      }
      default: {
        core::PointwiseStep activation;
        if (pointwise_step_of(n, &activation)) {
          if (!activation_input(n.inputs[0])) {
            lacks(n, "a weight input");
            continue;
          }
          step.op = StepOp::Unary;
          step.inputs = {n.inputs[0]};
          step.unary = activation;
          break;
        }
        lacks(n, "");
        continue;
      }
    }
    computed_[static_cast<size_t>(step.output)] = true;
    steps_.push_back(std::move(step));
  }
  if (!unsupported.empty()) {
    std::string list;
    for (const auto& u : unsupported) list += (list.empty() ? "" : ", ") + u;
    throw Error(model_.path + ": the trial-batched (CUDA) backend lacks " + std::to_string(unsupported.size()) +
                " node(s): " + list + "; use --backend cpu");
  }

  readers_.assign(model_.graph.values.size(), {});
  for (size_t s = 0; s < steps_.size(); ++s) {
    const PlanStep& st = steps_[s];
    std::vector<int> reads;
    if (st.weight >= 0) reads.push_back(st.weight);
    for (int id : {st.epilogue.bias, st.epilogue.bn_scale, st.epilogue.bn_bias, st.epilogue.bn_mean, st.epilogue.bn_var})
      if (id >= 0) reads.push_back(id);
    if (st.op == StepOp::Binary)
      for (int id : st.inputs)
        if (is_weight(id)) reads.push_back(id);
    for (int id : reads) {
      auto& r = readers_[static_cast<size_t>(id)];
      if (std::find(r.begin(), r.end(), static_cast<int>(s)) == r.end()) r.push_back(static_cast<int>(s));
    }
  }

  // Peak of live activation floats per image, every value per trial: what a block costs.
  std::vector<int> last_use(model_.graph.values.size(), -1);
  for (size_t s = 0; s < steps_.size(); ++s) {
    std::vector<int> reads = steps_[s].inputs;
    if (steps_[s].epilogue.residual >= 0) reads.push_back(steps_[s].epilogue.residual);
    for (int id : reads)
      if (id >= 0 && !is_weight(id)) last_use[static_cast<size_t>(storage_of(id))] = static_cast<int>(s);
  }
  last_use[static_cast<size_t>(storage_of(output_))] = static_cast<int>(steps_.size());
  int64_t live = per_image(input_);
  peak_floats_per_image_ = live;
  std::vector<bool> alive(model_.graph.values.size(), false);
  alive[static_cast<size_t>(input_)] = true;
  for (size_t s = 0; s < steps_.size(); ++s) {
    const int out = storage_of(steps_[s].output);
    if (!alive[static_cast<size_t>(out)]) {
      alive[static_cast<size_t>(out)] = true;
      live += per_image(out);
    }
    peak_floats_per_image_ = std::max(peak_floats_per_image_, live);
    for (size_t id = 0; id < alive.size(); ++id)
      if (alive[id] && last_use[id] <= static_cast<int>(s)) {
        alive[id] = false;
        live -= per_image_[id];
      }
  }
}

void ModelPlan::compile_weight_sources() {
  const Graph& g = model_.graph;
  weight_sources_.assign(g.values.size(), WeightSource{});
  std::unordered_map<int, const Node*> producer;
  for (const Node& n : g.weight_nodes) producer[n.outputs[0]] = &n;
  auto scalar_constant = [&](int id, float* value) {
    const Value& v = g.values[static_cast<size_t>(id)];
    if (v.kind != ValueKind::Constant) return false;
    const Tensor& t = model_.stored[static_cast<size_t>(id)];
    if (t.size() != 1) return false;
    *value = t.data[0];
    return true;
  };
  for (size_t id = 0; id < g.values.size(); ++id) {
    if (readers_[id].empty()) continue;
    // Walk back from the value to a parameter through point-wise single-element-per-element nodes.
    std::vector<core::PointwiseStep> chain;  // last step first
    int current = static_cast<int>(id);
    bool ok = true;
    while (ok && g.values[static_cast<size_t>(current)].kind == ValueKind::Prepared) {
      const auto it = producer.find(current);
      if (it == producer.end()) {
        ok = false;
        break;
      }
      const Node& n = *it->second;
      core::PointwiseStep step;
      if (n.op == OpType::Identity) {
        current = n.inputs[0];
        continue;
      }
      if (pointwise_step_of(n, &step)) {
        chain.push_back(step);
        current = n.inputs[0];
        continue;
      }
      if (n.op == OpType::Add || n.op == OpType::Sub || n.op == OpType::Mul || n.op == OpType::Div) {
        float c = 0.0f;
        const bool constant_right = scalar_constant(n.inputs[1], &c);
        const bool constant_left = !constant_right && scalar_constant(n.inputs[0], &c);
        if (!constant_left && !constant_right) {
          ok = false;
          break;
        }
        step.a = c;
        switch (n.op) {
          case OpType::Add: step.op = core::PointwiseOp::AddConst; break;
          case OpType::Mul: step.op = core::PointwiseOp::MulConst; break;
          case OpType::Sub: step.op = constant_right ? core::PointwiseOp::SubConst : core::PointwiseOp::ConstSub; break;
          default: step.op = constant_right ? core::PointwiseOp::DivConst : core::PointwiseOp::ConstDiv; break;
        }
        // x + c and c + x (x·c and c·x) are the same IEEE operation.
        chain.push_back(step);
        current = constant_right ? n.inputs[0] : n.inputs[1];
        continue;
      }
      ok = false;
    }
    if (!ok || g.values[static_cast<size_t>(current)].kind != ValueKind::Parameter ||
        chain.size() > static_cast<size_t>(core::PointwiseProgram::kMaxSteps) ||
        g.values[static_cast<size_t>(current)].shape != g.values[id].shape)
      continue;
    WeightSource& source = weight_sources_[id];
    source.parameter = current;
    source.program.count = static_cast<int>(chain.size());
    for (size_t k = 0; k < chain.size(); ++k) source.program.steps[k] = chain[chain.size() - 1 - k];
  }
}

float effective_value(const WeightSet& clean, const SlotDelta& delta, int weight, int64_t element) {
  const auto v = delta.values.find(weight);
  if (v != delta.values.end()) {
    const auto e = v->second.find(element);
    if (e != v->second.end()) return e->second.effective;
  }
  return clean.tensors[static_cast<size_t>(weight)].data[static_cast<size_t>(element)];
}

int64_t epilogue_channels(const ModelPlan& plan, const PlanStep& step) {
  switch (step.op) {
    case StepOp::Conv:
    case StepOp::ConvTranspose: return step.conv.out_channels;
    case StepOp::Gemm: return step.gemm.m;
    default: return plan.image_shape(step.inputs[0])[1];
  }
}

void epilogue_parameters(const ModelPlan& plan, const PlanStep& step, const WeightSet& clean, const SlotDelta* delta,
                         float* bias, float* bn_a, float* bn_b) {
  const int64_t channels = epilogue_channels(plan, step);
  const EpiloguePlan& e = step.epilogue;
  static const SlotDelta kNoDelta;
  const SlotDelta& d = delta ? *delta : kNoDelta;
  for (int64_t c = 0; c < channels; ++c) {
    bias[c] = 0.0f;
    bn_a[c] = 1.0f;
    bn_b[c] = 0.0f;
    if (e.bias >= 0) {
      const int64_t count = clean.tensors[static_cast<size_t>(e.bias)].size();
      const float value = effective_value(clean, d, e.bias, count == 1 ? 0 : c);
      bias[c] = e.bias_multiplier == 1.0f ? value : e.bias_multiplier * value;
    }
    if (e.bn_scale >= 0) {
      // The shared BatchNorm folding (core/batch_norm.h) on this trial's effective values.
      const float gamma = effective_value(clean, d, e.bn_scale, c), beta = effective_value(clean, d, e.bn_bias, c);
      const float mean = effective_value(clean, d, e.bn_mean, c), var = effective_value(clean, d, e.bn_var, c);
      const core::BatchNormFold fold = core::fold_batch_norm_channel(gamma, beta, mean, var, e.bn_epsilon);
      bn_a[c] = fold.a;
      bn_b[c] = fold.b;
    }
  }
}

namespace {

bool slot_changes(const SlotDelta& delta, int value) {
  const auto it = delta.values.find(value);
  return it != delta.values.end() && !it->second.empty();
}

// Output channel a weight element feeds.
int64_t out_channel_of(const PlanStep& step, int64_t element) {
  if (step.op == StepOp::Gemm)
    return step.gemm.weight_transposed ? element / step.gemm.k : element % step.gemm.m;
  const ConvShape& c = step.conv;
  const int64_t taps = c.kernel_h * c.kernel_w;
  if (step.op == StepOp::Conv) return element / ((c.in_channels / c.groups) * taps);
  const int64_t out_per_group = c.out_channels / c.groups, in_per_group = c.in_channels / c.groups;
  const int64_t input_channel = element / (out_per_group * taps);
  return (input_channel / in_per_group) * out_per_group + (element / taps) % out_per_group;
}

}  // namespace

BlockPlan build_block_plan(const ModelPlan& plan, const WeightSet& clean, const std::vector<const SlotDelta*>& slots,
                           const core::StorageFormat& format) {
  BlockPlan bp;
  bp.trials = static_cast<int>(slots.size());
  bp.format = format;
  const Model& model = plan.model();
  bp.per_trial.assign(model.graph.values.size(), false);
  bp.steps.resize(plan.steps().size());
  std::unordered_map<int, int32_t> program_of;  // weight value → program index
  auto any_slot_changes = [&](int value) {
    if (value < 0) return false;
    for (const SlotDelta* s : slots)
      if (slot_changes(*s, value)) return true;
    return false;
  };
  auto is_weight = [&](int id) {
    const ValueKind k = model.graph.values[static_cast<size_t>(id)].kind;
    return k == ValueKind::Parameter || k == ValueKind::Constant || k == ValueKind::Prepared;
  };

  for (size_t si = 0; si < plan.steps().size(); ++si) {
    const PlanStep& step = plan.steps()[si];
    StepBlock& sb = bp.steps[si];
    bool inputs_per_trial = false;
    for (int id : step.inputs)
      if (id >= 0 && !is_weight(id)) inputs_per_trial = inputs_per_trial || bp.per_trial[static_cast<size_t>(id)];
    // The residual of an absorbed Add makes the output per trial but not the dense pass's input:
    // a shared input with a per-trial residual still runs the dense pass once and fans out.
    const bool residual_per_trial =
        step.epilogue.residual >= 0 && bp.per_trial[static_cast<size_t>(step.epilogue.residual)];
    const EpiloguePlan& e = step.epilogue;
    const bool epilogue_changes = any_slot_changes(e.bias) || any_slot_changes(e.bn_scale) || any_slot_changes(e.bn_bias) ||
                                  any_slot_changes(e.bn_mean) || any_slot_changes(e.bn_var);
    const bool weight_changes = any_slot_changes(step.weight);
    bool operand_changes = false;
    if (step.op == StepOp::Binary)
      for (int id : step.inputs) operand_changes = operand_changes || (is_weight(id) && any_slot_changes(id));
    sb.per_trial = inputs_per_trial || residual_per_trial || weight_changes || epilogue_changes || operand_changes;
    sb.fan_out = sb.per_trial && !inputs_per_trial;
    bp.per_trial[static_cast<size_t>(step.output)] = sb.per_trial;

    if (weight_changes) {
      const Tensor& clean_weight = clean.tensors[static_cast<size_t>(step.weight)];
      const WeightSource& source = plan.weight_source(step.weight);
      int32_t program = -1;
      if (source.parameter >= 0) {
        auto it = program_of.find(step.weight);
        if (it == program_of.end()) {
          it = program_of.emplace(step.weight, static_cast<int32_t>(bp.programs.size())).first;
          bp.programs.push_back(source.program);
        }
        program = it->second;
      }
      sb.first_group = static_cast<int64_t>(bp.groups.size());
      for (size_t t = 0; t < slots.size(); ++t) {
        const auto v = slots[t]->values.find(step.weight);
        if (v == slots[t]->values.end() || v->second.empty()) continue;
        const int64_t changed = static_cast<int64_t>(v->second.size());
        // A trial changing more than 1/8 of a layer's weights runs it with its own weight copy:
        // the gathers of a correction cost several times a dense multiply-add.
        const bool own = changed * 8 > clean_weight.size();
        std::vector<kernels::WeightCorrection> list;
        bool finite = true;
        for (const auto& [element, change] : v->second) {
          kernels::WeightCorrection c;
          c.trial = static_cast<int32_t>(t);
          c.program = change.has_word ? program : -1;
          c.element = element;
          c.word = change.word;
          c.scale = change.scale;
          c.clean = clean_weight.data[static_cast<size_t>(element)];
          c.host_value = change.effective;
          finite = finite && std::isfinite(change.effective);
          list.push_back(c);
        }
        if (own) {
          StepBlock::OwnWeights o;
          o.trial = static_cast<int>(t);
          o.first_correction = static_cast<int64_t>(bp.corrections.size());
          o.count = static_cast<int64_t>(list.size());
          o.direct = !finite;
          sb.own_weights.push_back(o);
          bp.corrections.insert(bp.corrections.end(), list.begin(), list.end());
          continue;
        }
        std::stable_sort(list.begin(), list.end(), [&](const kernels::WeightCorrection& a, const kernels::WeightCorrection& b) {
          const int64_t ca = out_channel_of(step, a.element), cb = out_channel_of(step, b.element);
          return ca != cb ? ca < cb : a.element < b.element;
        });
        for (size_t k = 0; k < list.size(); ++k) {
          const int64_t channel = out_channel_of(step, list[k].element);
          if (k == 0 || channel != out_channel_of(step, list[k - 1].element)) {
            kernels::CorrectionGroup group;
            group.trial = static_cast<int32_t>(t);
            group.out_channel = static_cast<int32_t>(channel);
            group.first = static_cast<int64_t>(bp.corrections.size() + k);
            bp.groups.push_back(group);
          }
          bp.groups.back().count++;
        }
        bp.corrections.insert(bp.corrections.end(), list.begin(), list.end());
      }
      sb.group_count = static_cast<int64_t>(bp.groups.size()) - sb.first_group;
    }

    if (epilogue_changes) {
      sb.per_trial_epilogue = true;
      sb.epilogue_offset = static_cast<int64_t>(bp.epilogue_params.size());
      const int64_t channels = epilogue_channels(plan, step);
      const size_t trials = slots.size();
      bp.epilogue_params.resize(bp.epilogue_params.size() + 3 * trials * static_cast<size_t>(channels));
      float* base = bp.epilogue_params.data() + sb.epilogue_offset;
      for (size_t t = 0; t < trials; ++t)
        epilogue_parameters(plan, step, clean, slots[t], base + t * channels, base + (trials + t) * channels,
                            base + (2 * trials + t) * channels);
    }

    if (step.op == StepOp::Binary) {
      sb.operand_offsets.assign(step.inputs.size(), -1);
      for (size_t k = 0; k < step.inputs.size(); ++k) {
        const int id = step.inputs[k];
        if (!is_weight(id) || !any_slot_changes(id)) continue;
        const Tensor& w = clean.tensors[static_cast<size_t>(id)];
        sb.operand_offsets[k] = static_cast<int64_t>(bp.operand_weights.size());
        for (const SlotDelta* s : slots) {
          const size_t at = bp.operand_weights.size();
          bp.operand_weights.insert(bp.operand_weights.end(), w.data.begin(), w.data.end());
          const auto v = s->values.find(id);
          if (v != s->values.end())
            for (const auto& [element, change] : v->second) bp.operand_weights[at + static_cast<size_t>(element)] = change.effective;
        }
      }
    }
    if (step.op == StepOp::Alias) bp.per_trial[static_cast<size_t>(step.output)] = sb.per_trial;
  }
  return bp;
}

}  // namespace flipsweep::batched
