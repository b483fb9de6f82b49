// Trial slots: each holds one trial's effective weights twice, plain (for the reference steps and
// conv biases) and in the layouts the fused conv steps read (oneDNN-packed weights, BatchNorm
// folded per channel). A trial that changes a few weights patches a few packed floats.
#include <unordered_map>

#include "flipsweep/core/batch_norm.h"
#include "internal.h"

namespace flipsweep::cpu {

namespace {

// Brings a slot's oneDNN-layout copies up to date; with `changed`, only for convs whose
// weights or BN parameters changed.
void repack(const CpuPlan& plan, SlotWeights& s, const std::vector<bool>* changed, const WeightChanges* changes,
            const dnnl::engine& engine) {
  std::unordered_map<int, const ValueChange*> change_of;
  if (changes)
    for (const ValueChange& c : *changes) change_of[c.value] = &c;
  s.conv_weights.resize(plan.convs.size());
  s.epilogue_scale.resize(plan.convs.size());
  s.epilogue_shift.resize(plan.convs.size());
  dnnl::stream stream(engine);
  auto touched = [&](int id) { return id >= 0 && (!changed || (*changed)[static_cast<size_t>(id)]); };
  for (int step_index : plan.conv_steps) {
    const Step& st = plan.steps[static_cast<size_t>(step_index)];
    const ConvPrimitive& prim = plan.convs[static_cast<size_t>(st.conv_index)];
    const size_t c = static_cast<size_t>(st.conv_index);
    auto change = change_of.find(st.weight);
    if (touched(st.weight) && change != change_of.end() && !change->second->all && !prim.packed_position.empty() &&
        !s.conv_weights[c].empty()) {
      patch_conv_weights(prim, s.weights.tensors[static_cast<size_t>(st.weight)], change->second->elements,
                         s.conv_weights[c]);
    } else if (touched(st.weight)) {
      pack_conv_weights(prim, s.weights.tensors[static_cast<size_t>(st.weight)], s.conv_weights[c], engine, stream);
    }
    if (st.bn_scale >= 0 && (touched(st.bn_scale) || touched(st.bn_bias) || touched(st.bn_mean) || touched(st.bn_var))) {
      // The reference kernel's (and PyTorch CPU's) folding, y = x * a + b: same bits, same
      // NaN/Inf behaviour.
      const Tensor& gamma = s.weights.tensors[static_cast<size_t>(st.bn_scale)];
      const Tensor& beta = s.weights.tensors[static_cast<size_t>(st.bn_bias)];
      const Tensor& mean = s.weights.tensors[static_cast<size_t>(st.bn_mean)];
      const Tensor& var = s.weights.tensors[static_cast<size_t>(st.bn_var)];
      const int64_t channels = prim.out_channels;
      auto& scale = s.epilogue_scale[c];
      auto& shift = s.epilogue_shift[c];
      scale.assign(static_cast<size_t>(channels), 1.0f);
      shift.assign(static_cast<size_t>(channels), 0.0f);
      core::fold_batch_norm(gamma.ptr(), beta.ptr(), mean.ptr(), var.ptr(), st.bn_epsilon, channels, scale.data(),
                            shift.data());
    }
  }
}

}  // namespace

void load_slot(const CpuPlan& plan, SlotWeights& s, const WeightSet& weights, const WeightChanges* changes,
               const dnnl::engine& engine) {
  if (!changes || !s.loaded) {
    s.weights = weights;
    repack(plan, s, nullptr, nullptr, engine);
  } else {
    std::vector<bool> changed(plan.graph_value_count(), false);
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
    repack(plan, s, &changed, changes, engine);
  }
  s.loaded = true;
}

}  // namespace flipsweep::cpu
