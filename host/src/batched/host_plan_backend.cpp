// Placeholder until the trial-batched plan lands (same session): keeps the factory linkable.
#include "flipsweep/backend/backend_factory.h"
#include "flipsweep/error.h"

namespace flipsweep {

std::unique_ptr<Backend> make_host_plan_backend(const Model&, const BackendOptions&) {
  throw Error("the host-plan backend is not built yet");
}

}  // namespace flipsweep
