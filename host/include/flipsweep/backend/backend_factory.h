#pragma once
// Choosing a backend by name: `--backend cpu|cuda|auto|host-plan` and `backend:` in configs.
//
// The CUDA backend lives in the flipsweep_cuda library, which depends on this one, so it reaches
// the factory by registration: a program built with CUDA calls
// flipsweep::cuda::register_cuda_backend() (cuda/include/flipsweep_cuda/cuda_backend.h) once at
// start-up. Without that, "cuda" fails with a message saying flipsweep was built without CUDA.
#include <memory>
#include <string>

#include "flipsweep/backend/backend.h"

namespace flipsweep {

enum class BackendKind {
  Auto,      // CUDA when built with it and a device is present, else the CPU (and says so)
  Cpu,       // the oneDNN CPU backend
  Cuda,      // the CUDA backend; an error without a device
  HostPlan,  // the CUDA backend's trial-batched plan executed on the CPU (slow; a check)
};

// "auto", "cpu", "cuda", "host-plan"; anything else is an Error listing the accepted names.
BackendKind parse_backend_kind(const std::string& text);
const char* backend_kind_name(BackendKind kind);

struct CudaBackendHooks {
  int (*device_count)() = nullptr;  // 0 without a driver or device; never throws
  std::unique_ptr<Backend> (*make)(const Model& model, const BackendOptions& options) = nullptr;
};
void register_cuda_backend_hooks(const CudaBackendHooks& hooks);
bool cuda_backend_built();  // hooks registered

// Resolves `kind` (Auto → Cuda or Cpu) and creates the backend. `note`, when given, receives a
// line for the user when Auto fell back to the CPU ("no CUDA device found; using the CPU").
// Cuda without a build or device is an Error with one clear line.
std::unique_ptr<Backend> make_backend(BackendKind kind, const Model& model, const BackendOptions& options,
                                      CpuKernels kernels = CpuKernels::Fast, std::string* note = nullptr);

// The trial-batched plan on the CPU (host-plan): the CUDA backend's code path, host runtime.
std::unique_ptr<Backend> make_host_plan_backend(const Model& model, const BackendOptions& options);

}  // namespace flipsweep
