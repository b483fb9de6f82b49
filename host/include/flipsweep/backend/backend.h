#pragma once
// The interface every backend implements: one compiled activation pass, run with per-trial
// effective weights for many trials at once. The CPU backend is the reference; the CUDA backend
// implements the same contract with the same fault maps.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flipsweep/core/storage_formats.h"
#include "flipsweep/data/dataset.h"
#include "flipsweep/graph/graph.h"
#include "flipsweep/model/weight_set.h"

namespace flipsweep {

struct BackendOptions {
  int64_t batch_size = 64;  // images per run() call at most
  int threads = 0;          // 0 = all cores
  int64_t tile = 0;         // images one thread runs through the network at a time; 0 = automatic
  int trials_in_flight = 0;  // trial slots; 0 = the backend chooses (memory, cores)
  int device = 0;            // CUDA device index
  bool tf32 = false;         // CUDA: allow TF32 in the dense library calls (never in fault corrections)
  // CPU: skip work that cannot change a result. Per image tile, the layers before a slot's first
  // changed one run once for all slots of a run (clean-prefix sharing: the same bits either way),
  // and a tile whose activations are all NaN after a layer from which NaN reaches every output
  // skips the rest (all-NaN: every output NaN either way, perhaps another NaN payload).
  bool shortcuts = true;
};

// What a backend reports for one image under one trial's weights: the top-5 classes, best first
// (NaN ranks above every number, ties go to the lower index, so top[0] is torch.argmax), -1 past
// the number of classes, and whether every output was NaN.
struct ImageScore {
  int32_t top[5] = {-1, -1, -1, -1, -1};
  bool all_nan = false;
};

// One batch of images for score(). `raw` always holds the images as the dataset stores them;
// `preprocessed` holds the network inputs unless the backend preprocesses itself.
struct ImageBatch {
  int64_t first = 0;  // dataset index of the first image
  int64_t count = 0;
  const uint8_t* raw = nullptr;
  const float* preprocessed = nullptr;
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

  // "cpu (oneDNN, 2 threads)", "cuda:0 NVIDIA H200 (sm_90, 139.8 GiB)": printed and written to results.
  virtual std::string description() const { return name(); }

  // True when score() wants raw images only (the backend normalises them itself, e.g. in a CUDA
  // kernel); evaluation then skips host preprocessing.
  virtual bool preprocesses_images() const { return false; }

  // The storage format of the stored words that load_weights' parameter changes carry (see
  // ValueChange::words). A backend that decodes faulted words itself needs it; others ignore it.
  virtual void set_storage_format(const core::StorageFormat& format) {}

  // Called once before a dataset is scored; a backend may keep the raw images (uint8) resident.
  virtual void attach_dataset(const data::ImageDataset& dataset, const data::Preprocess& preprocess) {}

  // Called after a block's weights are loaded and before it is scored: the trial-batched backends
  // build and upload the block's fault corrections here (they would do it on the first score()
  // otherwise), so a campaign can time that work apart from the activation passes.
  virtual void prepare_block(const std::vector<int>& slots) {}

  // True when the backend holds the attached dataset's raw images itself (say, resident on the
  // GPU): score() then reads images by `ImageBatch::first` and `raw` may be null.
  virtual bool keeps_dataset_resident() const { return false; }

  // Since `slot` was last loaded, what run() skipped for it: "clean-prefix:<node>" when it did not
  // compute the layers before node <node> for this slot alone but took them from the clean
  // computation that its group of slots ran once per image tile (its weights equal the clean ones
  // there), "all-nan" when an image tile's
  // activations were all NaN after a layer from which NaN reaches every output, and the rest was
  // skipped; both joined by ';'; empty when the slot ran every layer itself.
  virtual std::string shortcut_taken(int slot) const { return {}; }

  // Scores `batch` under each slot's weights: scores[slot_position * batch.count + image].
  // The default runs run() on batch.preprocessed and ranks the outputs on the host.
  virtual void score(const std::vector<int>& slots, const ImageBatch& batch, ImageScore* scores);
};

enum class CpuKernels {
  Fast,       // oneDNN convolutions with fused epilogues, blocked layouts, per-thread image tiles
  Reference,  // the readable reference kernels only
};

std::unique_ptr<Backend> make_cpu_backend(const Model& model, const BackendOptions& options, int trial_slots = 1,
                                          CpuKernels kernels = CpuKernels::Fast);

// What the fast CPU backend compiles `model` into, one entry per step in order: the kind ("conv",
// "reference", "reorder", "pool", "element-wise", ...), the node (empty for reorders), its op, and
// for convolutions and Gemm/MatMul oneDNN's implementation ("jit:avx512_core", "gemm:jit", or
// "ref:any" when oneDNN has nothing fast for that layer); for a channel Concat on blocked data how
// many inputs were written in place ("2 of 2 inputs in place"). For `flipsweep inspect --plan`,
// benchmarks and tests.
struct CpuPlanEntry {
  std::string kind;
  std::string node;
  std::string op;
  std::string implementation;
};
std::vector<CpuPlanEntry> describe_cpu_plan(const Model& model, const BackendOptions& options);

// The per-layer guard "no layer is slower on the fast path than on the reference kernels", for
// benchmarks (bench/flipsweep_bench_eval --layers). Both plans are compiled for the same tile of
// images and run on one thread with the clean weights, step by step, `repeats` times; a layer is
// one step of the fast plan (a conv with what it absorbed, a pool, ...), timed together with the
// layout reorders its choice of layout made (the copy of a blocked output back to plain goes to
// the layer that wrote it, the copy of an input into the blocked layout to the layer that reads
// it), against the reference kernels' time for the same ONNX nodes. Seconds per tile, the best of
// the repeats.
struct CpuLayerTiming {
  std::string nodes;  // the ONNX node names, '+'-joined
  std::string kind;   // as in CpuPlanEntry
  double fast_seconds = 0.0;
  double reference_seconds = 0.0;
};
std::vector<CpuLayerTiming> time_cpu_layers(const Model& model, const BackendOptions& options, int repeats);

}  // namespace flipsweep
