// Trial slots: each holds one trial's effective weights twice, plain (for the reference steps and
// conv biases) and in the layouts the fused conv steps read (oneDNN-packed weights, BatchNorm
// folded per channel). A trial that changes a few weights patches a few packed floats. A slot also
// knows which of its values differ from the backend's clean reference, and so the first step
// whose result can differ from the clean computation (clean-prefix sharing, cpu_backend.cpp).
#include <algorithm>
#include <cstring>
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
  s.epilogue_scale.resize(plan.steps.size());
  s.epilogue_shift.resize(plan.steps.size());
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
  }
  // BatchNorm folded per channel, for convs that absorbed one and for BatchNorm steps on blocked data.
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const Step& st = plan.steps[i];
    if (st.bn_scale >= 0 && (touched(st.bn_scale) || touched(st.bn_bias) || touched(st.bn_mean) || touched(st.bn_var))) {
      // The reference kernel's (and PyTorch CPU's) folding, y = x * a + b: same bits, same
      // NaN/Inf behaviour.
      const Tensor& gamma = s.weights.tensors[static_cast<size_t>(st.bn_scale)];
      const Tensor& beta = s.weights.tensors[static_cast<size_t>(st.bn_bias)];
      const Tensor& mean = s.weights.tensors[static_cast<size_t>(st.bn_mean)];
      const Tensor& var = s.weights.tensors[static_cast<size_t>(st.bn_var)];
      // Padded to whole channel blocks with 0 for a blocked output's padding lanes.
      const int64_t channels = plan.shape(st.output)[1];
      const size_t padded = static_cast<size_t>(channel_blocks(channels, plan.block) * plan.block);
      auto& scale = s.epilogue_scale[i];
      auto& shift = s.epilogue_shift[i];
      scale.assign(padded, 0.0f);
      shift.assign(padded, 0.0f);
      core::fold_batch_norm(gamma.ptr(), beta.ptr(), mean.ptr(), var.ptr(), st.bn_epsilon, channels, scale.data(),
                            shift.data());
    }
  }
}

// Bitwise: a NaN equals the same NaN, and -0 differs from +0.
bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool same_tensor_bits(const Tensor& a, const Tensor& b) {
  if (a.shape != b.shape || a.data.size() != b.data.size()) return false;
  // memcmp may not be given the null data() of an empty tensor (non-weight entries are empty).
  return a.data.empty() || std::memcmp(a.ptr(), b.ptr(), a.data.size() * sizeof(float)) == 0;
}

int64_t count_differing(const Tensor& value, const Tensor* reference) {
  if (!reference || reference->shape != value.shape) return std::max<int64_t>(1, value.size());
  int64_t n = 0;
  for (size_t i = 0; i < value.data.size(); ++i) n += !same_bits(value.data[i], reference->data[i]);
  return n;
}

const Tensor* reference_of(const WeightSet& reference, int id) {
  return static_cast<size_t>(id) < reference.tensors.size() ? &reference.tensors[static_cast<size_t>(id)] : nullptr;
}

void find_first_changed_step(const CpuPlan& plan, SlotWeights& s) {
  s.first_changed_step = plan.steps.size();
  for (size_t i = 0; i < plan.steps.size() && s.first_changed_step == plan.steps.size(); ++i)
    for (int id : plan.step_weights[i])
      if (s.differing[static_cast<size_t>(id)] > 0) {
        s.first_changed_step = i;
        break;
      }
}

}  // namespace

bool same_weight_bits(const WeightSet& a, const WeightSet& b) {
  if (a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i)
    if (!same_tensor_bits(a.tensors[i], b.tensors[i])) return false;
  return true;
}

void compare_slot_with_reference(const CpuPlan& plan, SlotWeights& s, const WeightSet& reference) {
  s.differing.assign(s.weights.tensors.size(), 0);
  for (size_t id = 0; id < s.weights.tensors.size(); ++id)
    s.differing[id] = count_differing(s.weights.tensors[id], reference_of(reference, static_cast<int>(id)));
  find_first_changed_step(plan, s);
}

void load_slot(const CpuPlan& plan, SlotWeights& s, const WeightSet& weights, const WeightChanges* changes,
               const WeightSet& reference, const dnnl::engine& engine) {
  if (!changes || !s.loaded) {
    s.weights = weights;
    repack(plan, s, nullptr, nullptr, engine);
    compare_slot_with_reference(plan, s, reference);
  } else {
    std::vector<bool> changed(plan.graph_value_count(), false);
    for (const ValueChange& c : *changes) {
      changed[static_cast<size_t>(c.value)] = true;
      Tensor& dst = s.weights.tensors[static_cast<size_t>(c.value)];
      const Tensor& src = weights.tensors[static_cast<size_t>(c.value)];
      const Tensor* ref = reference_of(reference, c.value);
      int64_t& differing = s.differing[static_cast<size_t>(c.value)];
      if (c.all) {
        dst = src;
        differing = count_differing(dst, ref);
      } else if (!ref || ref->shape != dst.shape) {
        for (int64_t e : c.elements) dst.data[static_cast<size_t>(e)] = src.data[static_cast<size_t>(e)];
        differing = count_differing(dst, ref);
      } else {
        // O(changes): each element's difference from the reference before and after.
        for (int64_t e : c.elements) {
          const size_t i = static_cast<size_t>(e);
          differing -= !same_bits(dst.data[i], ref->data[i]);
          dst.data[i] = src.data[i];
          differing += !same_bits(dst.data[i], ref->data[i]);
        }
      }
    }
    repack(plan, s, &changed, changes, engine);
    find_first_changed_step(plan, s);
  }
  s.loaded = true;
}

}  // namespace flipsweep::cpu
