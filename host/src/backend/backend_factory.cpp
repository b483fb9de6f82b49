// Choosing a backend by name, the CPU default for trials in flight, and the CUDA registration hook.
#include "flipsweep/backend/backend_factory.h"

#include <algorithm>
#include <cstdint>

#include "flipsweep/error.h"

namespace flipsweep {

namespace {

CudaBackendHooks& registered_hooks() {
  static CudaBackendHooks hooks;
  return hooks;
}

const char* const kNoCudaBuild = "flipsweep was built without CUDA (nvcc not found at build time or FLIPSWEEP_CUDA=OFF)";

// Trial slots the CPU backend holds when the user does not say. Each slot keeps a full copy of the
// WeightSet (parameters, constants, prepared values) and oneDNN-packed copies of the conv weights,
// so a slot costs about twice the weight bytes. Slots do not make a single trial faster on the
// CPU (every (slot, tile) item runs single-threaded either way); what a block of T trials saves is
// reading and preprocessing the dataset once instead of T times, and it hands the thread pool
// T times as many independent items per batch, which keeps cores busy on the last, short batch.
// The gain flattens after a few slots, so: 8 slots, fewer when that would exceed 2 GiB.
int cpu_default_trial_slots(const Model& model) {
  constexpr int64_t kMaxSlots = 8;
  constexpr int64_t kBudgetBytes = int64_t{2} << 30;
  int64_t weight_elements = 0;
  for (const Value& v : model.graph.values)
    if (v.kind == ValueKind::Parameter || v.kind == ValueKind::Constant || v.kind == ValueKind::Prepared)
      weight_elements += element_count(v.shape);
  const int64_t bytes_per_slot = std::max<int64_t>(1, 2 * weight_elements * static_cast<int64_t>(sizeof(float)));
  return static_cast<int>(std::clamp<int64_t>(kBudgetBytes / bytes_per_slot, 1, kMaxSlots));
}

}  // namespace

BackendKind parse_backend_kind(const std::string& text) {
  for (BackendKind kind : {BackendKind::Auto, BackendKind::Cpu, BackendKind::Cuda, BackendKind::HostPlan})
    if (text == backend_kind_name(kind)) return kind;
  throw Error("unknown backend '" + text + "' (auto, cpu, cuda, host-plan)");
}

const char* backend_kind_name(BackendKind kind) {
  switch (kind) {
    case BackendKind::Auto: return "auto";
    case BackendKind::Cpu: return "cpu";
    case BackendKind::Cuda: return "cuda";
    case BackendKind::HostPlan: return "host-plan";
  }
  return "?";
}

void register_cuda_backend_hooks(const CudaBackendHooks& hooks) { registered_hooks() = hooks; }

bool cuda_backend_built() {
  const CudaBackendHooks& h = registered_hooks();
  return h.device_count != nullptr && h.make != nullptr;
}

std::unique_ptr<Backend> make_backend(BackendKind kind, const Model& model, const BackendOptions& options,
                                      CpuKernels kernels, std::string* note) {
  if (options.trials_in_flight < 0)
    throw Error("trials in flight must be 0 (the backend chooses) or more, got " + std::to_string(options.trials_in_flight));
  if (options.device < 0) throw Error("device must be 0 or more, got " + std::to_string(options.device));
  if (note) note->clear();
  const CudaBackendHooks& hooks = registered_hooks();
  if (kind == BackendKind::Auto) {
    if (!cuda_backend_built()) {
      if (note) *note = "flipsweep was built without CUDA; using the CPU";
      kind = BackendKind::Cpu;
    } else if (hooks.device_count() == 0) {
      if (note) *note = "no CUDA device found; using the CPU";
      kind = BackendKind::Cpu;
    } else {
      kind = BackendKind::Cuda;
    }
  }
  switch (kind) {
    case BackendKind::Cpu: {
      const int slots = options.trials_in_flight > 0 ? options.trials_in_flight : cpu_default_trial_slots(model);
      return make_cpu_backend(model, options, slots, kernels);
    }
    case BackendKind::Cuda: {
      if (!cuda_backend_built()) throw Error(kNoCudaBuild);
      const int devices = hooks.device_count();
      if (devices == 0) throw Error("no CUDA device found (--backend cuda); use --backend cpu or auto");
      if (options.device >= devices)
        throw Error("CUDA device " + std::to_string(options.device) + " does not exist (" + std::to_string(devices) +
                    " device(s): --device 0.." + std::to_string(devices - 1) + ")");
      return hooks.make(model, options);
    }
    case BackendKind::HostPlan: return make_host_plan_backend(model, options);
    case BackendKind::Auto: break;
  }
  throw Error("make_backend: unresolved backend kind");
}

}  // namespace flipsweep
