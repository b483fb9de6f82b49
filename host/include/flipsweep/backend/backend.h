#pragma once
// The interface every backend implements: one compiled activation pass, run with per-trial
// effective weights for many trials at once. The CPU backend is the reference; the CUDA backend
// implements the same contract with the same fault maps.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flipsweep/graph/graph.h"
#include "flipsweep/model/weight_preparation.h"

namespace flipsweep {

struct BackendOptions {
  int64_t batch_size = 64;  // images per run() call at most
  int threads = 0;          // 0 = all cores
  int64_t tile = 0;         // images one thread runs through the network at a time; 0 = automatic
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;

  // Number of trial slots: independent weight sets held at once.
  virtual int trial_slots() const = 0;

  // Loads effective weights into a slot. With `changes`, only those elements differ from what the
  // slot last held (a backend may patch in O(changes)); without, the slot is loaded whole.
  virtual void load_weights(int slot, const WeightSet& weights, const WeightChanges* changes = nullptr) = 0;

  // Runs `count` (≤ batch_size) images, NCHW fp32, through the network once per slot in `slots`.
  // `outputs` receives slots.size() × count × output_size floats, slot-major.
  virtual void run(const std::vector<int>& slots, const float* images, int64_t count, float* outputs) = 0;

  // Elements per image of the (single) graph output, e.g. the number of classes.
  virtual int64_t output_size() const = 0;
};

enum class CpuKernels {
  Fast,       // oneDNN convolutions with fused epilogues, blocked layouts, per-thread image tiles
  Reference,  // the readable reference kernels only
};

std::unique_ptr<Backend> make_cpu_backend(const Model& model, const BackendOptions& options, int trial_slots = 1,
                                          CpuKernels kernels = CpuKernels::Fast);

}  // namespace flipsweep
