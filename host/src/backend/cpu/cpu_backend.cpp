// The CPU backend. One compiled plan of steps for a tile of T images; each OpenMP thread runs
// whole tiles through the whole network on its own buffers, so a layer's output is still in the
// core's cache when the next layer reads it and threads never wait for each other.
//
// Fast steps: a 2-D convolution runs in oneDNN (blocked nChw16c/nChw8c layout, conv.cpp) and
// absorbs the BatchNormalization, residual Add and Relu that follow it into one epilogue pass
// (epilogue.cpp). Every other op runs the reference kernel on plain NCHW data, with reorders at
// layout boundaries (plan.cpp, executor.cpp). internal.h gives the map of the parts.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "flipsweep/backend/backend.h"
#include "flipsweep/error.h"
#include "flipsweep/model/weight_preparation.h"
#include "internal.h"

namespace flipsweep {

namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Model& model, const BackendOptions& options, int slots, CpuKernels kernels)
      : options_(options), kernels_(kernels), engine_(dnnl::engine::kind::cpu, 0) {
    if (model.graph.inputs.size() != 1) throw Error(model.path + ": the CPU backend needs exactly one graph input");
    if (model.graph.outputs.size() != 1) throw Error(model.path + ": the CPU backend needs exactly one graph output");
    if (options.batch_size < 1) throw Error("batch size must be at least 1");
    threads_ = options.threads > 0 ? options.threads : omp_get_max_threads();
    plan_ = cpu::build_plan(model, kernels, cpu::block_size_for_isa(), cpu::choose_tile(model, options, kernels),
                            engine_);
    output_size_ = element_count(plan_.shape(plan_.output)) / plan_.tile;
    slots_.resize(static_cast<size_t>(std::max(1, slots)));
    thread_states_.resize(static_cast<size_t>(threads_));
    branch_states_.resize(static_cast<size_t>(threads_));
    shortcut_taken_.resize(slots_.size());
    all_nan_taken_ = std::make_unique<std::atomic<bool>[]>(slots_.size());
    for (size_t k = 0; k < slots_.size(); ++k) all_nan_taken_[k].store(false);
  }

  std::string name() const override { return kernels_ == CpuKernels::Fast ? "cpu" : "cpu-reference"; }
  std::string description() const override {
    return kernels_ == CpuKernels::Fast ? "cpu (oneDNN, " + std::to_string(threads_) + " threads)"
                                        : "cpu-reference (" + std::to_string(threads_) + " threads)";
  }
  int trial_slots() const override { return static_cast<int>(slots_.size()); }
  int64_t output_size() const override { return output_size_; }

  void load_weights(int slot, const WeightSet& weights, const WeightChanges* changes) override {
    cpu::SlotWeights& s = slots_.at(static_cast<size_t>(slot));
    if (options_.shortcuts && (!changes || !s.loaded) && !cpu::same_weight_bits(weights, reference_)) {
      // A whole load with other weights: they are the new clean reference (a campaign loads every
      // slot with the clean weights of each storage format in turn).
      reference_ = weights;
      for (size_t k = 0; k < slots_.size(); ++k)
        if (static_cast<int>(k) != slot && slots_[k].loaded) cpu::compare_slot_with_reference(plan_, slots_[k], reference_);
    }
    cpu::load_slot(plan_, s, weights, changes, reference_, engine_);
    shortcut_taken_[static_cast<size_t>(slot)].clear();
    all_nan_taken_[static_cast<size_t>(slot)].store(false, std::memory_order_relaxed);
  }

  std::string shortcut_taken(int slot) const override {
    std::string taken = shortcut_taken_.at(static_cast<size_t>(slot));
    if (all_nan_taken_[static_cast<size_t>(slot)].load(std::memory_order_relaxed))
      taken += (taken.empty() ? "" : ";") + std::string("all-nan");
    return taken;
  }

  void run(const std::vector<int>& slots, const float* images, int64_t count, float* outputs) override {
    if (count < 0 || count > options_.batch_size)
      throw Error("run: " + std::to_string(count) + " images exceed the batch size " + std::to_string(options_.batch_size));
    for (int s : slots)
      if (s < 0 || s >= trial_slots() || !slots_[static_cast<size_t>(s)].loaded)
        throw Error("run: trial slot " + std::to_string(s) + " has no weights loaded");
    const int64_t tile_images = plan_.tile;
    const int64_t image_size = element_count(plan_.shape(plan_.input)) / tile_images;
    const int64_t tiles = (count + tile_images - 1) / tile_images;
    const size_t steps = plan_.steps.size();
    // Slot positions by first changed step, cut into groups that share one clean computation per
    // tile: as few groups as give every thread two items (one group per slot without shortcuts).
    std::vector<size_t> order(slots.size());
    std::iota(order.begin(), order.end(), size_t{0});
    auto first_changed = [&](size_t position) {
      return slots_[static_cast<size_t>(slots[position])].first_changed_step;
    };
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return first_changed(a) < first_changed(b); });
    int64_t groups = static_cast<int64_t>(slots.size());
    // At least two items per thread, so that the last items do not leave a thread idle long.
    if (options_.shortcuts && slots.size() > 1)
      groups = std::min<int64_t>(groups, std::max<int64_t>(1, (2 * threads_ + tiles - 1) / std::max<int64_t>(tiles, 1)));
    auto group_begin = [&](int64_t g) { return static_cast<size_t>(g * static_cast<int64_t>(slots.size()) / groups); };
    // Reported only when a layer with weights was shared (not just the input's reorder).
    for (int64_t g = 0; g < groups; ++g)
      for (size_t j = group_begin(g); j < group_begin(g + 1); ++j) {
        const size_t d = first_changed(order[j]);
        const bool shares_a_layer = group_begin(g + 1) - group_begin(g) > 1 &&
                                    std::any_of(plan_.step_weights.begin(), plan_.step_weights.begin() + d,
                                                [](const std::vector<int>& w) { return !w.empty(); });
        if (shares_a_layer) {
          std::string node = d < steps ? plan_.node(plan_.steps[d].node).name : std::string("(whole pass)");
          // A node name is free text; trials.csv's column must stay one plain CSV field of
          // ';'-separated parts.
          for (char& c : node)
            if (c == ',' || c == ';' || c == '"' || c == '\n' || c == '\r') c = '_';
          shortcut_taken_[static_cast<size_t>(slots[order[j]])] = "clean-prefix:" + node;
        }
      }

    const int64_t work = tiles * groups;
    std::string failure;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
    for (int64_t item = 0; item < work; ++item) {
      // Each thread runs whole tiles; oneDNN must not open a nested team of its own. With a team
      // of one, omp_in_parallel() is false and oneDNN would otherwise fork every primitive.
      omp_set_num_threads(1);
      try {
        const int64_t group = item / tiles;
        const int64_t tile = item % tiles;
        const int64_t first = tile * tile_images;
        const int64_t n = std::min(tile_images, count - first);
        const size_t thread = static_cast<size_t>(omp_get_thread_num());
        cpu::ThreadState& trunk = thread_states_[thread];
        cpu::prepare_thread_state(plan_, trunk, engine_);
        Tensor& in = trunk.values[static_cast<size_t>(plan_.input)];
        std::memcpy(in.ptr(), images + first * image_size, static_cast<size_t>(n * image_size) * sizeof(float));
        // Pad a short last tile with zeros: the plan is compiled for exactly `tile` images.
        std::fill(in.data.begin() + n * image_size, in.data.end(), 0.0f);
        // The trunk advances with the clean computation: the steps before each slot's first changed
        // one read only clean values, so it runs them with that slot's weights. A slot branches off
        // into its own state there (the group's last slot continues in the trunk itself).
        size_t trunk_step = 0;
        const size_t last = group_begin(group + 1) - 1;
        for (size_t j = group_begin(group); j <= last; ++j) {
          const size_t slot_pos = order[j];
          const cpu::SlotWeights& slot = slots_[static_cast<size_t>(slots[slot_pos])];
          const size_t branch_step = slot.first_changed_step;
          cpu::run_steps(plan_, slot, trunk, engine_, trunk_step, branch_step);
          trunk_step = branch_step;
          cpu::ThreadState* state = &trunk;
          if (branch_step < steps && j != last) {
            state = &branch_states_[thread];
            cpu::prepare_thread_state(plan_, *state, engine_);
            cpu::copy_live_values(plan_, trunk, *state, branch_step);
          }
          if (options_.shortcuts) {
            if (cpu::run_steps_until_all_nan(plan_, slot, *state, engine_, branch_step, steps))
              all_nan_taken_[static_cast<size_t>(slots[slot_pos])].store(true, std::memory_order_relaxed);
          } else {
            cpu::run_steps(plan_, slot, *state, engine_, branch_step, steps);
          }
          const Tensor& out = state->values[static_cast<size_t>(plan_.output)];
          std::memcpy(outputs + (static_cast<int64_t>(slot_pos) * count + first) * output_size_, out.ptr(),
                      static_cast<size_t>(n * output_size_) * sizeof(float));
        }
      } catch (const std::exception& e) {
#pragma omp critical(flipsweep_cpu_failure)
        failure = e.what();
      }
    }
    if (!failure.empty()) throw Error(failure);
  }

 private:
  BackendOptions options_;
  CpuKernels kernels_;
  dnnl::engine engine_;
  int threads_ = 1;
  int64_t output_size_ = 0;
  cpu::CpuPlan plan_;
  std::vector<cpu::SlotWeights> slots_;
  std::vector<cpu::ThreadState> thread_states_;
  std::vector<cpu::ThreadState> branch_states_;  // per thread: a slot's own state past its branch step
  WeightSet reference_;                          // the clean weights (the last whole load that differed)
  std::vector<std::string> shortcut_taken_;      // per slot, for shortcut_taken(): clean-prefix sharing
  std::unique_ptr<std::atomic<bool>[]> all_nan_taken_;  // per slot: an all-NaN tile skipped layers
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const Model& model, const BackendOptions& options, int trial_slots,
                                          CpuKernels kernels) {
  return std::make_unique<CpuBackend>(model, options, trial_slots, kernels);
}

namespace {

const char* step_kind_name(cpu::StepKind kind) {
  switch (kind) {
    case cpu::StepKind::FusedConv: return "conv";
    case cpu::StepKind::Reference: return "reference";
    case cpu::StepKind::ToPlain:
    case cpu::StepKind::ToBlocked: return "reorder";
    case cpu::StepKind::GlobalAveragePoolBlocked:
    case cpu::StepKind::PoolBlocked: return "pool";
    case cpu::StepKind::ResizeBlocked: return "resize";
    case cpu::StepKind::BinaryBlocked:
    case cpu::StepKind::PointwiseBlocked:
    case cpu::StepKind::BatchNormBlocked: return "element-wise";
    case cpu::StepKind::Gemm: return "gemm";
    case cpu::StepKind::ConcatBlocked: return "concat";
  }
  return "?";
}

// Seconds per step of `plan` on one thread over one tile, the best of `repeats` runs.
std::vector<double> time_steps(const cpu::CpuPlan& plan, const WeightSet& weights, const std::vector<float>& tile,
                               int repeats, const dnnl::engine& engine) {
  cpu::SlotWeights slot;
  cpu::load_slot(plan, slot, weights, nullptr, weights, engine);
  cpu::ThreadState ts;
  cpu::prepare_thread_state(plan, ts, engine);
  std::vector<double> best(plan.steps.size(), 1e300);
  for (int r = 0; r < repeats; ++r) {
    Tensor& in = ts.values[static_cast<size_t>(plan.input)];
    std::copy(tile.begin(), tile.end(), in.data.begin());
    for (size_t i = 0; i < plan.steps.size(); ++i) {
      const auto start = std::chrono::steady_clock::now();
      cpu::run_steps(plan, slot, ts, engine, i, i + 1);
      best[i] = std::min(best[i], std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  return best;
}

}  // namespace

std::vector<CpuLayerTiming> time_cpu_layers(const Model& model, const BackendOptions& options, int repeats) {
  if (repeats < 1) throw Error("time_cpu_layers: repeats must be at least 1");
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  const int64_t tile = cpu::choose_tile(model, options, CpuKernels::Fast);
  const cpu::CpuPlan fast = cpu::build_plan(model, CpuKernels::Fast, cpu::block_size_for_isa(), tile, engine);
  const cpu::CpuPlan reference = cpu::build_plan(model, CpuKernels::Reference, cpu::block_size_for_isa(), tile, engine);
  const WeightSet weights = WeightPreparation(model).prepare_clean();
  std::vector<float> images(static_cast<size_t>(element_count(fast.shape(fast.input))));
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& x : images) x = normal(rng);
  // One thread, as each thread of the backend runs its tiles.
  const int previous_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  std::vector<double> fast_seconds, reference_seconds;
  try {
    fast_seconds = time_steps(fast, weights, images, repeats, engine);
    reference_seconds = time_steps(reference, weights, images, repeats, engine);
  } catch (...) {
    omp_set_num_threads(previous_threads);
    throw;
  }
  omp_set_num_threads(previous_threads);
  std::vector<double> reference_of_node(model.graph.activation_nodes.size(), 0.0);
  for (size_t i = 0; i < reference.steps.size(); ++i)
    for (int n : reference.steps[i].nodes) reference_of_node[static_cast<size_t>(n)] += reference_seconds[i];
  // Layout copies are charged to the layer whose choice made them: a copy back to plain to the
  // layer that wrote the blocked value, a copy into the blocked layout to the next layer (the one
  // that reads it). The reference path has neither.
  std::vector<CpuLayerTiming> layers;
  std::vector<int> layer_of_value(fast.shapes.size(), -1);
  double reorders = 0.0;
  for (size_t i = 0; i < fast.steps.size(); ++i) {
    const cpu::Step& st = fast.steps[i];
    if (st.kind == cpu::StepKind::ToPlain && layer_of_value[static_cast<size_t>(st.inputs[0])] >= 0) {
      layers[static_cast<size_t>(layer_of_value[static_cast<size_t>(st.inputs[0])])].fast_seconds += fast_seconds[i];
      continue;
    }
    if (st.nodes.empty()) {
      reorders += fast_seconds[i];
      continue;
    }
    layer_of_value[static_cast<size_t>(st.output)] = static_cast<int>(layers.size());
    CpuLayerTiming t;
    t.kind = step_kind_name(st.kind);
    t.fast_seconds = fast_seconds[i] + reorders;
    reorders = 0.0;
    for (int n : st.nodes) {
      t.nodes += (t.nodes.empty() ? "" : "+") + fast.node(n).name;
      t.reference_seconds += reference_of_node[static_cast<size_t>(n)];
    }
    layers.push_back(std::move(t));
  }
  if (!layers.empty()) layers.back().fast_seconds += reorders;
  return layers;
}

std::vector<CpuPlanEntry> describe_cpu_plan(const Model& model, const BackendOptions& options) {
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  const cpu::CpuPlan plan = cpu::build_plan(model, CpuKernels::Fast, cpu::block_size_for_isa(),
                                            cpu::choose_tile(model, options, CpuKernels::Fast), engine);
  std::vector<CpuPlanEntry> entries;
  for (const cpu::Step& st : plan.steps) {
    CpuPlanEntry e;
    e.kind = step_kind_name(st.kind);
    if (st.node >= 0) {
      e.node = plan.node(st.node).name;
      e.op = op_type_name(plan.node(st.node).op);
    }
    if (st.kind == cpu::StepKind::FusedConv) e.implementation = plan.convs[static_cast<size_t>(st.conv_index)].implementation;
    if (st.kind == cpu::StepKind::Gemm) e.implementation = plan.gemms[static_cast<size_t>(st.gemm_index)].implementation;
    if (st.kind == cpu::StepKind::ConcatBlocked) {
      // Inputs whose producers wrote them into the output (CpuPlan::blocked_offset).
      const size_t out = static_cast<size_t>(st.output);
      int64_t offset = plan.blocked_offset[out];
      int in_place = 0;
      for (int id : st.inputs) {
        const size_t v = static_cast<size_t>(id);
        in_place += plan.blocked_buffer_of[v] == plan.blocked_buffer_of[out] && plan.blocked_offset[v] == offset;
        offset += element_count(plan.shape(id));
      }
      e.implementation = fmt::format("{} of {} inputs in place", in_place, st.inputs.size());
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace flipsweep
