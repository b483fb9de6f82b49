// Running the plan for one tile on one thread: per-thread buffers, and the dispatch of each step
// to oneDNN (convolutions, reorders), the fused epilogue, the blocked pooling or the reference
// kernels.
#include <algorithm>
#include <cmath>
#include <limits>
#include <exception>

#include "flipsweep/error.h"
#include "flipsweep/graph/pointwise_node.h"
#include "flipsweep/ops/reference_ops.h"
#include "internal.h"

namespace flipsweep::cpu {

void prepare_thread_state(const CpuPlan& plan, ThreadState& ts, const dnnl::engine& engine) {
  if (ts.stream) return;
  ts.stream = std::make_unique<dnnl::stream>(engine);
  ts.scratchpad.resize(plan.scratchpad_bytes);
  ts.values.resize(plan.shapes.size());
  ts.blocked.assign(plan.shapes.size(), nullptr);
  ts.blocked_buffers.assign(plan.blocked_buffer_count,
                            std::vector<float>(static_cast<size_t>(plan.blocked_buffer_floats)));
  for (size_t id = 0; id < plan.shapes.size(); ++id) {
    if (plan.blocked[id]) {
      ts.blocked[id] = ts.blocked_buffers[static_cast<size_t>(plan.blocked_buffer_of[id])].data() + plan.blocked_offset[id];
      continue;
    }
    const bool activation = id >= plan.graph_value_count() || plan.kind(static_cast<int>(id)) == ValueKind::Activation ||
                            plan.kind(static_cast<int>(id)) == ValueKind::Input;
    if (activation) ts.values[id] = Tensor(plan.shapes[id]);
  }
}

namespace {

const Tensor& read_value(const CpuPlan& plan, const SlotWeights& slot, ThreadState& ts, int id) {
  if (id < static_cast<int>(plan.graph_value_count()) && plan.is_weight(id))
    return slot.weights.tensors[static_cast<size_t>(id)];
  return ts.values[static_cast<size_t>(id)];
}

// Raw data of a value as the steps see it: blocked activations in the shared buffers, plain
// activations in their tensors, weights in the slot.
float* data_of(const CpuPlan& plan, const SlotWeights& slot, ThreadState& ts, int id) {
  if (plan.blocked[static_cast<size_t>(id)]) return ts.blocked[static_cast<size_t>(id)];
  return const_cast<float*>(read_value(plan, slot, ts, id).ptr());
}

void run_reference(const CpuPlan& plan, const Step& st, const SlotWeights& slot, ThreadState& ts) {
  const Node& n = plan.node(st.node);
  std::vector<const Tensor*> inputs;
  for (int id : st.inputs) inputs.push_back(id >= 0 ? &read_value(plan, slot, ts, id) : nullptr);
  // The op writes into the output's tensor from the last tile: same size, no allocation.
  std::vector<Tensor> outputs(1);
  outputs[0] = std::move(ts.values[static_cast<size_t>(st.output)]);
  try {
    reference::run_op(n.op, n.params, inputs, outputs);
  } catch (const Error& e) {
    ts.values[static_cast<size_t>(st.output)] = std::move(outputs.at(0));  // keep the buffer its size
    throw Error("node '" + n.name + "' (" + op_type_name(n.op) + "): " + e.what());
  }
  ts.values[static_cast<size_t>(st.output)] = std::move(outputs.at(0));
}

void run_fused_conv(const CpuPlan& plan, size_t step_index, const SlotWeights& slot, ThreadState& ts,
                    const dnnl::engine& engine) {
  const Step& st = plan.steps[step_index];
  const ConvPrimitive& prim = plan.convs[static_cast<size_t>(st.conv_index)];
  const size_t c = static_cast<size_t>(st.conv_index);
  const float* bias = prim.has_bias ? slot.weights.tensors[static_cast<size_t>(st.bias)].ptr() : nullptr;
  float* y = data_of(plan, slot, ts, st.output);
  run_conv(prim, data_of(plan, slot, ts, st.inputs[0]), slot.conv_weights[c].data(), bias, y, ts.scratchpad.data(),
           engine, *ts.stream);
  if (st.bn_scale < 0 && st.residual < 0 && st.activations.empty()) return;
  const bool blocked = plan.blocked[static_cast<size_t>(st.output)];
  run_epilogue(st.bn_scale >= 0, st.activations, slot.epilogue_scale[step_index].data(),
               slot.epilogue_shift[step_index].data(), y,
               st.residual >= 0 ? data_of(plan, slot, ts, st.residual) : nullptr, plan.shape(st.output),
               blocked ? plan.block : 1);
}

void run_reorder(const CpuPlan& plan, const Step& st, const SlotWeights& slot, ThreadState& ts,
                 const dnnl::engine& engine) {
  const bool to_blocked_layout = st.kind == StepKind::ToBlocked;
  memory src(activation_md(plan.shape(st.inputs[0]), !to_blocked_layout, plan.block), engine,
             data_of(plan, slot, ts, st.inputs[0]));
  memory dst(activation_md(plan.shape(st.output), to_blocked_layout, plan.block), engine,
             data_of(plan, slot, ts, st.output));
  dnnl::reorder(src, dst).execute(*ts.stream, src, dst);
  ts.stream->wait();
}

}  // namespace

void zero_padding_lanes(float* y, const Shape& shape, int block) {
  const int64_t channels = shape[1], used = channels % block;
  if (used == 0) return;
  const int64_t blocks = channel_blocks(channels, block), spatial = shape[2] * shape[3];
  for (int64_t n = 0; n < shape[0]; ++n) {
    float* last_block = y + (n * blocks + blocks - 1) * spatial * block;
    for (int64_t p = 0; p < spatial; ++p) std::fill(last_block + p * block + used, last_block + (p + 1) * block, 0.0f);
  }
}

bool run_steps_until_all_nan(const CpuPlan& plan, const SlotWeights& slot, ThreadState& ts,
                             const dnnl::engine& engine, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    run_steps(plan, slot, ts, engine, i, i + 1);
    if (!plan.nan_reaches_output[i]) continue;
    // Stops at the first number: on a tile that is not all NaN this costs one comparison.
    const int id = plan.steps[i].output;
    const float* v = data_of(plan, slot, ts, id);
    const int64_t count = element_count(plan.shape(id));
    int64_t k = 0;
    while (k < count && std::isnan(v[k])) ++k;
    if (count == 0 || k < count) continue;
    Tensor& out = ts.values[static_cast<size_t>(plan.output)];
    std::fill(out.data.begin(), out.data.end(), std::numeric_limits<float>::quiet_NaN());
    return true;
  }
  return false;
}

void copy_live_values(const CpuPlan& plan, const ThreadState& from, ThreadState& to, size_t step) {
  for (int id : plan.live_before[step]) {
    const size_t v = static_cast<size_t>(id);
    if (plan.blocked[v]) {
      // Its extent with the channels padded to whole blocks, in place (ts.blocked points into
      // the buffers).
      std::copy_n(from.blocked[v], element_count(padded_shape(plan.shape(id), plan.block)), to.blocked[v]);
    } else {
      to.values[v] = from.values[v];
    }
  }
}

void run_steps(const CpuPlan& plan, const SlotWeights& slot, ThreadState& ts, const dnnl::engine& engine, size_t begin,
               size_t end) {
  for (size_t step_index = begin; step_index < end; ++step_index) {
    const Step& st = plan.steps[step_index];
    switch (st.kind) {
      case StepKind::Reference: run_reference(plan, st, slot, ts); break;
      case StepKind::FusedConv: run_fused_conv(plan, step_index, slot, ts, engine); break;
      case StepKind::Gemm:
        run_gemm(plan.gemms[static_cast<size_t>(st.gemm_index)], data_of(plan, slot, ts, st.inputs[0]),
                 data_of(plan, slot, ts, st.inputs[1]), st.inputs.size() > 2 ? data_of(plan, slot, ts, st.inputs[2]) : nullptr,
                 data_of(plan, slot, ts, st.output), ts.scratchpad.data(), engine, *ts.stream);
        break;
      case StepKind::BatchNormBlocked: {
        // The epilogue works in place: on a copy of the input, which later steps still read.
        const float* x = data_of(plan, slot, ts, st.inputs[0]);
        float* y = data_of(plan, slot, ts, st.output);
        std::copy_n(x, element_count(padded_shape(plan.shape(st.output), plan.block)), y);
        run_epilogue(true, st.activations, slot.epilogue_scale[step_index].data(),
                     slot.epilogue_shift[step_index].data(), y, nullptr, plan.shape(st.output), plan.block);
        break;
      }
      case StepKind::ToPlain:
      case StepKind::ToBlocked: run_reorder(plan, st, slot, ts, engine); break;
      case StepKind::GlobalAveragePoolBlocked:
        global_average_pool_blocked(data_of(plan, slot, ts, st.inputs[0]), plan.shape(st.inputs[0]), plan.block,
                                    plan.shape(st.output), ts.values[static_cast<size_t>(st.output)]);
        break;
      case StepKind::BinaryBlocked: {
        BinaryBlockedArgs args;
        args.shape = plan.shape(st.output);
        args.block = plan.block;
        args.blocked = data_of(plan, slot, ts, st.inputs[0]);
        args.other = data_of(plan, slot, ts, st.inputs[1]);
        args.out = data_of(plan, slot, ts, st.output);
        args.blocked_first = st.blocked_first;
        args.other_is_blocked = plan.blocked[static_cast<size_t>(st.inputs[1])];
        if (!args.other_is_blocked) {
          Shape os = plan.shape(st.inputs[1]);
          os.insert(os.begin(), 4 - os.size(), 1);
          args.other_image_stride = os[0] > 1 ? os[1] : 0;
          args.other_channel_stride = os[1] > 1 ? 1 : 0;
        }
        binary_blocked(plan.node(st.node).op, args);
        break;
      }
      case StepKind::PointwiseBlocked: {
        core::PointwiseStep step;
        pointwise_step_of(plan.node(st.node), &step);
        pointwise_blocked(step, data_of(plan, slot, ts, st.inputs[0]), data_of(plan, slot, ts, st.output),
                          element_count(padded_shape(plan.shape(st.output), plan.block)));
        break;
      }
      case StepKind::ConcatBlocked: {
        std::vector<const float*> inputs;
        std::vector<int64_t> channels;
        for (int id : st.inputs) {
          inputs.push_back(data_of(plan, slot, ts, id));
          channels.push_back(plan.shape(id)[1]);
        }
        const Shape& out = plan.shape(st.output);
        concat_channels_blocked(inputs, channels, out[0], out[2] * out[3], data_of(plan, slot, ts, st.output));
        break;
      }
      case StepKind::ResizeBlocked:
        resize_blocked(std::get<ResizeParams>(plan.node(st.node).params), data_of(plan, slot, ts, st.inputs[0]),
                       plan.shape(st.inputs[0]), plan.shape(st.output), plan.block, data_of(plan, slot, ts, st.output));
        break;
      case StepKind::PoolBlocked: {
        const Node& n = plan.node(st.node);
        pool_blocked(n.op == OpType::MaxPool, std::get<PoolParams>(n.params), data_of(plan, slot, ts, st.inputs[0]),
                     plan.shape(st.inputs[0]), plan.block, data_of(plan, slot, ts, st.output));
        break;
      }
    }
    if (plan.blocked[static_cast<size_t>(st.output)])
      zero_padding_lanes(ts.blocked[static_cast<size_t>(st.output)], plan.shape(st.output), plan.block);
  }
}

}  // namespace flipsweep::cpu
