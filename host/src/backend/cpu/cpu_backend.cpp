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
#include <cstring>
#include <exception>

#include "flipsweep/backend/backend.h"
#include "flipsweep/error.h"
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
  }

  std::string name() const override { return kernels_ == CpuKernels::Fast ? "cpu" : "cpu-reference"; }
  std::string description() const override {
    return kernels_ == CpuKernels::Fast ? "cpu (oneDNN, " + std::to_string(threads_) + " threads)"
                                        : "cpu-reference (" + std::to_string(threads_) + " threads)";
  }
  int trial_slots() const override { return static_cast<int>(slots_.size()); }
  int64_t output_size() const override { return output_size_; }

  void load_weights(int slot, const WeightSet& weights, const WeightChanges* changes) override {
    cpu::load_slot(plan_, slots_.at(static_cast<size_t>(slot)), weights, changes, engine_);
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
        const int64_t first = tile * tile_images;
        const int64_t n = std::min(tile_images, count - first);
        cpu::ThreadState& ts = thread_states_[static_cast<size_t>(omp_get_thread_num())];
        cpu::prepare_thread_state(plan_, ts, engine_);
        Tensor& in = ts.values[static_cast<size_t>(plan_.input)];
        std::memcpy(in.ptr(), images + first * image_size, static_cast<size_t>(n * image_size) * sizeof(float));
        // Pad a short last tile with zeros: the plan is compiled for exactly `tile` images.
        std::fill(in.data.begin() + n * image_size, in.data.end(), 0.0f);
        cpu::run_tile(plan_, slots_[static_cast<size_t>(slots[slot_pos])], ts, engine_);
        const Tensor& out = ts.values[static_cast<size_t>(plan_.output)];
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
  BackendOptions options_;
  CpuKernels kernels_;
  dnnl::engine engine_;
  int threads_ = 1;
  int64_t output_size_ = 0;
  cpu::CpuPlan plan_;
  std::vector<cpu::SlotWeights> slots_;
  std::vector<cpu::ThreadState> thread_states_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const Model& model, const BackendOptions& options, int trial_slots,
                                          CpuKernels kernels) {
  return std::make_unique<CpuBackend>(model, options, trial_slots, kernels);
}

std::vector<CpuPlanEntry> describe_cpu_plan(const Model& model, const BackendOptions& options) {
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  const cpu::CpuPlan plan = cpu::build_plan(model, CpuKernels::Fast, cpu::block_size_for_isa(),
                                            cpu::choose_tile(model, options, CpuKernels::Fast), engine);
  std::vector<CpuPlanEntry> entries;
  for (const cpu::Step& st : plan.steps) {
    CpuPlanEntry e;
    switch (st.kind) {
      case cpu::StepKind::FusedConv: e.kind = "conv"; break;
      case cpu::StepKind::Reference: e.kind = "reference"; break;
      case cpu::StepKind::ToPlain:
      case cpu::StepKind::ToBlocked: e.kind = "reorder"; break;
      case cpu::StepKind::GlobalAveragePoolBlocked:
      case cpu::StepKind::PoolBlocked: e.kind = "pool"; break;
      case cpu::StepKind::ResizeBlocked: e.kind = "resize"; break;
      case cpu::StepKind::BinaryBlocked:
      case cpu::StepKind::PointwiseBlocked: e.kind = "element-wise"; break;
      case cpu::StepKind::ConcatBlocked: e.kind = "concat"; break;
    }
    if (st.node >= 0) {
      e.node = plan.node(st.node).name;
      e.op = op_type_name(plan.node(st.node).op);
    }
    if (st.kind == cpu::StepKind::FusedConv) e.implementation = plan.convs[static_cast<size_t>(st.conv_index)].implementation;
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace flipsweep
