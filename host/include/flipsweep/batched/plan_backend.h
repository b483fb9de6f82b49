#pragma once
// The trial-batched backend: executes a ModelPlan for blocks of trials on a *runtime* — the CUDA
// runtime (cuda/src/cuda_backend.cu: device memory, cuDNN/cuBLAS for the dense calls, our kernel
// bodies on the GPU) or the host runtime (host/src/batched/host_plan_backend.cpp: host memory,
// oneDNN's sgemm for the dense calls, the same kernel bodies run by host_launch). Everything in this
// file is shared, so CI runs the GPU path's whole logic — fan-out, memory plan, corrections,
// epilogues, scoring, preprocessing — on the CPU.
//
// A Runtime provides:
//   template <class T> using Buffer = ...;          owning memory with get(), size()
//   template <class T> Buffer<T> allocate(size_t n);
//   template <class T> void upload(T* dst, const T* host, size_t n);    host → runtime memory
//   template <class T> void download(T* host, const T* src, size_t n);  runtime → host memory
//   template <class T> void copy(T* dst, const T* src, size_t n);       within runtime memory
//   template <class Body> void launch(int64_t count, const Body& body);
//   void conv(const kernels::Conv2dGeometry& g, const float* x, const float* w, float* y);   g.batch images, no bias
//   void gemm(int64_t rows, int64_t k, int64_t m, bool weight_transposed, const float* x, const float* w, float* y);
//   void synchronize();
//   size_t dataset_budget_bytes() const;   how much raw image data may stay resident
//   std::string name() const; std::string description() const;
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "flipsweep/backend/backend.h"
#include "flipsweep/batched/trial_plan.h"
#include "flipsweep/error.h"
#include "flipsweep/kernels/concat.h"
#include "flipsweep/kernels/corrections.h"
#include "flipsweep/kernels/direct_conv.h"
#include "flipsweep/kernels/elementwise.h"
#include "flipsweep/kernels/epilogue.h"
#include "flipsweep/kernels/pooling.h"
#include "flipsweep/kernels/preprocess.h"
#include "flipsweep/kernels/resize.h"
#include "flipsweep/kernels/strided_copy.h"
#include "flipsweep/kernels/scoring.h"
#include "flipsweep/ops/shapes.h"

namespace flipsweep::batched {

template <class Runtime>
class PlanBackend final : public Backend {
  template <class T>
  using Buffer = typename Runtime::template Buffer<T>;

 public:
  PlanBackend(const Model& model, const BackendOptions& options, std::unique_ptr<Runtime> runtime, int trial_slots)
      : plan_(model), options_(options), runtime_(std::move(runtime)) {
    if (options.batch_size < 1) throw Error("batch size must be at least 1");
    if (trial_slots < 1) throw Error("trials in flight must be at least 1");
    deltas_.resize(static_cast<size_t>(trial_slots));
    slot_base_.resize(static_cast<size_t>(trial_slots));
    loaded_.assign(static_cast<size_t>(trial_slots), false);
    for (size_t id = 0; id < model.graph.values.size(); ++id)
      if (!plan_.readers_of(static_cast<int>(id)).empty()) read_weights_.push_back(static_cast<int>(id));
  }

  std::string name() const override { return runtime_->name(); }
  std::string description() const override { return runtime_->description(); }
  int trial_slots() const override { return static_cast<int>(deltas_.size()); }
  int64_t output_size() const override { return plan_.output_size(); }
  bool preprocesses_images() const override { return true; }
  const ModelPlan& plan() const { return plan_; }
  Runtime& runtime() { return *runtime_; }

  void load_weights(int slot, const WeightSet& weights, const WeightChanges* changes) override {
    if (slot < 0 || slot >= trial_slots()) throw Error("load_weights: no trial slot " + std::to_string(slot));
    const size_t s = static_cast<size_t>(slot);
    if (!changes || !loaded_[s]) {
      load_whole(s, weights);
    } else {
      rebase(s);
      apply_changes(deltas_[s], weights, *changes);
    }
    loaded_[s] = true;
    deltas_[s].generation = ++generation_;
  }

  void attach_dataset(const data::ImageDataset& dataset, const data::Preprocess& preprocess) override {
    // Every block of a campaign scores the same dataset: upload it once.
    if (attached_ == &dataset && attached_size_ == dataset.size() && attached_name_ == dataset.name() &&
        same_preprocess(preprocess, attached_preprocess_))
      return;
    const data::ImageFormat in = dataset.format();
    preprocess_body_ = kernels::make_preprocess_body(in, preprocess);
    const data::ImageFormat out = data::preprocessed_format(in, preprocess);
    if (out.pixels_per_image() != plan_.per_image(plan_.input()))
      throw Error("the model expects " + std::to_string(plan_.per_image(plan_.input())) + " input values per image, " +
                  dataset.name() + " gives " + std::to_string(out.pixels_per_image()) + " after preprocessing");
    raw_per_image_ = in.pixels_per_image();
    attached_ = &dataset;
    attached_size_ = dataset.size();
    attached_name_ = dataset.name();
    attached_preprocess_ = preprocess;
    // Raw uint8 images stay resident when they fit (the 50,000 ImageNet validation images are
    // 7.5 GB); otherwise each batch is uploaded as it comes.
    resident_.reset();
    const size_t bytes = static_cast<size_t>(dataset.size() * raw_per_image_);
    if (bytes > 0 && bytes <= runtime_->dataset_budget_bytes()) {
      resident_ = std::make_unique<Buffer<uint8_t>>(runtime_->template allocate<uint8_t>(bytes));
      // In chunks, so host memory stays bounded however large the dataset.
      const int64_t chunk = std::max<int64_t>(1, (int64_t{256} << 20) / raw_per_image_);
      std::vector<uint8_t> staging(static_cast<size_t>(std::min(chunk, dataset.size()) * raw_per_image_));
      for (int64_t first = 0; first < dataset.size(); first += chunk) {
        const int64_t n = std::min(chunk, dataset.size() - first);
        dataset.read(first, n, staging.data(), nullptr);
        runtime_->upload(resident_->get() + first * raw_per_image_, staging.data(), static_cast<size_t>(n * raw_per_image_));
      }
    }
  }

  bool keeps_dataset_resident() const override { return resident_ != nullptr; }

  void score(const std::vector<int>& slots, const ImageBatch& batch, ImageScore* scores) override {
    if (!attached_) throw Error(name() + ": score() before attach_dataset()");
    check_batch(slots, batch.count);
    const uint8_t* raw = nullptr;
    if (resident_) {
      raw = resident_->get() + batch.first * raw_per_image_;
    } else {
      ensure(raw_batch_, static_cast<size_t>(options_.batch_size * raw_per_image_));
      runtime_->upload(raw_batch_.get(), batch.raw, static_cast<size_t>(batch.count * raw_per_image_));
      raw = raw_batch_.get();
    }
    const int64_t rows = execute(slots, batch.count, [&](float* input) {
      kernels::PreprocessBody body = preprocess_body_;
      body.pixels = raw;
      body.y = input;
      runtime_->launch(batch.count * plan_.per_image(plan_.input()), body);
    });
    // Only the ranks come back, never the logits.
    ensure(scores_device_, static_cast<size_t>(rows));
    kernels::ScoreRowsBody body;
    body.outputs = value_pointer(plan_.output());
    body.classes = plan_.output_size();
    body.scores = scores_device_.get();
    runtime_->launch(rows, body);
    runtime_->download(scores, scores_device_.get(), static_cast<size_t>(rows));
    replicate_shared(slots.size(), rows, batch.count, scores);
  }

  void run(const std::vector<int>& slots, const float* images, int64_t count, float* outputs) override {
    check_batch(slots, count);
    const int64_t rows = execute(slots, count, [&](float* input) {
      runtime_->upload(input, images, static_cast<size_t>(count * plan_.per_image(plan_.input())));
    });
    runtime_->download(outputs, value_pointer(plan_.output()), static_cast<size_t>(rows * plan_.output_size()));
    const int64_t classes = plan_.output_size();
    if (rows != static_cast<int64_t>(slots.size()) * count)
      for (size_t t = 1; t < slots.size(); ++t)
        std::copy(outputs, outputs + count * classes, outputs + static_cast<int64_t>(t) * count * classes);
  }

  // The block plan of the last execute() (tests look at fan-out and corrections).
  const BlockPlan& last_block() const { return block_; }

  // Effective values the runtime decoded for the last block's corrections, next to the host's.
  std::vector<std::pair<float, float>> decoded_corrections() {
    std::vector<float> effective(block_.corrections.size());
    if (!effective.empty()) runtime_->download(effective.data(), effective_device_.get(), effective.size());
    std::vector<std::pair<float, float>> out;
    for (size_t k = 0; k < effective.size(); ++k) out.emplace_back(effective[k], block_.corrections[k].host_value);
    return out;
  }

  // The storage format of the stored words in load_weights' changes; without one, corrections
  // use the host's effective values.
  void set_storage_format(const core::StorageFormat& format) override {
    storage_format_ = format;
    storage_format_known_ = true;
    block_valid_ = false;
  }

  // Builds and uploads the block's corrections and decodes the faulted words (once per block;
  // score() calls it too, and it returns at once when nothing changed since).
  void prepare_block(const std::vector<int>& slots) override {
    check_slots(slots);
    std::vector<uint64_t> generations;
    for (int s : slots) generations.push_back(deltas_[static_cast<size_t>(s)].generation);
    if (block_valid_ && slots == block_slots_ && generations == block_generations_) return;
    for (int s : slots) rebase(static_cast<size_t>(s));
    generations.clear();
    for (int s : slots) generations.push_back(deltas_[static_cast<size_t>(s)].generation);
    std::vector<const SlotDelta*> deltas;
    for (int s : slots) deltas.push_back(&deltas_[static_cast<size_t>(s)]);
    block_ = build_block_plan(plan_, *clean_, deltas, storage_format_);
    upload_vector(corrections_device_, block_.corrections);
    upload_vector(groups_device_, block_.groups);
    upload_vector(programs_device_, block_.programs);
    upload_vector(block_epilogue_device_, block_.epilogue_params);
    upload_vector(operands_device_, block_.operand_weights);
    ensure(effective_device_, block_.corrections.size());
    kernels::DecodeCorrectionsBody decode;
    decode.corrections = corrections_device_.get();
    decode.programs = programs_device_.get();
    decode.format = block_.format;
    decode.effective = effective_device_.get();
    runtime_->launch(static_cast<int64_t>(block_.corrections.size()), decode);
    block_slots_ = slots;
    block_generations_ = generations;
    block_valid_ = true;
  }

 private:
  static bool same_preprocess(const data::Preprocess& a, const data::Preprocess& b) {
    return a.mean == b.mean && a.std == b.std && a.pad == b.pad && a.pad_value == b.pad_value &&
           a.resize_height == b.resize_height && a.resize_width == b.resize_width && a.channels == b.channels;
  }

  template <class T>
  void ensure(Buffer<T>& buffer, size_t count) {
    if (buffer.size() >= count) return;
    runtime_->synchronize();  // queued work may still read the buffer being replaced
    buffer = runtime_->template allocate<T>(std::max<size_t>(count, 1));
  }

  void check_batch(const std::vector<int>& slots, int64_t count) const {
    if (count < 1 || count > options_.batch_size)
      throw Error(name() + ": " + std::to_string(count) + " images, batch size is " + std::to_string(options_.batch_size));
    check_slots(slots);
  }

  void check_slots(const std::vector<int>& slots) const {
    if (slots.empty()) throw Error(name() + ": no trial slots to run");
    for (int s : slots)
      if (s < 0 || s >= trial_slots() || !loaded_[static_cast<size_t>(s)])
        throw Error(name() + ": trial slot " + std::to_string(s) + " has no weights loaded");
  }

  // Scores of a network output that no trial of the block changed were computed once.
  void replicate_shared(size_t trials, int64_t rows, int64_t count, ImageScore* scores) const {
    if (rows == static_cast<int64_t>(trials) * count) return;
    for (size_t t = 1; t < trials; ++t) std::copy(scores, scores + count, scores + static_cast<int64_t>(t) * count);
  }

  // ---- weights -------------------------------------------------------------------------------

  static bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

  SlotDelta diff_against_clean(const WeightSet& weights) const {
    SlotDelta delta;
    for (int id : read_weights_) {
      const auto& now = weights.tensors[static_cast<size_t>(id)].data;
      const auto& clean = clean_->tensors[static_cast<size_t>(id)].data;
      if (now.size() != clean.size()) throw Error("load_weights: tensor " + std::to_string(id) + " changed its size");
      for (size_t e = 0; e < now.size(); ++e)
        if (!same_bits(now[e], clean[e])) delta.values[id][static_cast<int64_t>(e)].effective = now[e];
    }
    return delta;
  }

  static WeightSet materialize(const WeightSet& base, const SlotDelta& delta) {
    WeightSet full = base;
    for (const auto& [id, elements] : delta.values)
      for (const auto& [e, change] : elements) full.tensors[static_cast<size_t>(id)].data[static_cast<size_t>(e)] = change.effective;
    return full;
  }

  // A whole load. Close to the current clean weights it becomes a delta; otherwise (the first
  // load, a new storage format) it becomes the new clean reference. The other slots keep their
  // deltas against the reference they were loaded with and are re-expressed against the new one
  // only if they are used before being loaded again (rebase): a campaign reloads every slot for a
  // new format, and re-expressing all of them at once would hold T copies of the weights.
  void load_whole(size_t slot, const WeightSet& weights) {
    if (clean_) {
      SlotDelta delta = diff_against_clean(weights);
      int64_t changed = 0, total = 0;
      for (const auto& [id, elements] : delta.values) changed += static_cast<int64_t>(elements.size());
      for (int id : read_weights_) total += clean_->tensors[static_cast<size_t>(id)].size();
      if (changed * 100 <= total) {
        deltas_[slot] = std::move(delta);
        slot_base_[slot] = clean_;
        return;
      }
    }
    clean_ = std::make_shared<const WeightSet>(weights);
    upload_clean();
    deltas_[slot] = SlotDelta{};
    slot_base_[slot] = clean_;
    block_valid_ = false;
  }

  // Re-expresses a slot's delta against the current clean reference (one slot's copy at a time).
  void rebase(size_t slot) {
    if (slot_base_[slot] == clean_) return;
    deltas_[slot] = diff_against_clean(materialize(*slot_base_[slot], deltas_[slot]));
    deltas_[slot].generation = ++generation_;
    slot_base_[slot] = clean_;
  }

  void apply_changes(SlotDelta& delta, const WeightSet& weights, const WeightChanges& changes) {
    std::unordered_map<int, const ValueChange*> by_value;
    for (const ValueChange& c : changes) by_value[c.value] = &c;
    for (const ValueChange& c : changes) {
      if (plan_.readers_of(c.value).empty()) continue;
      const auto& now = weights.tensors[static_cast<size_t>(c.value)].data;
      const auto& clean = clean_->tensors[static_cast<size_t>(c.value)].data;
      // The stored word of each element, when the change came from a fault in the source parameter.
      const ValueChange* source = nullptr;
      const int parameter = plan_.weight_source(c.value).parameter;
      if (parameter >= 0) {
        const auto it = by_value.find(parameter);
        if (storage_format_known_ && it != by_value.end() && !it->second->all && !it->second->words.empty())
          source = it->second;
      }
      auto update = [&](int64_t e) {
        const float value = now[static_cast<size_t>(e)];
        auto& elements = delta.values[c.value];
        if (same_bits(value, clean[static_cast<size_t>(e)])) {
          elements.erase(e);
          return;
        }
        SlotChange change;
        change.effective = value;
        if (source) {
          const auto pos = std::lower_bound(source->elements.begin(), source->elements.end(), e);
          if (pos != source->elements.end() && *pos == e) {
            const size_t k = static_cast<size_t>(pos - source->elements.begin());
            change.word = source->words[k];
            change.scale = k < source->scales.size() ? source->scales[k] : 1.0f;
            change.has_word = true;
          }
        }
        elements[e] = change;
      };
      if (c.all) {
        for (int64_t e = 0; e < static_cast<int64_t>(now.size()); ++e) update(e);
      } else {
        for (int64_t e : c.elements) update(e);
      }
      if (delta.values[c.value].empty()) delta.values.erase(c.value);
    }
  }

  // Clean weights of every dense layer and Binary operand, and every step's clean epilogue
  // parameters, go to the runtime once per clean reference.
  void upload_clean() {
    runtime_->synchronize();  // work in flight may still read the buffers replaced here
    clean_device_.clear();
    for (int id : read_weights_) {
      const Tensor& t = clean_->tensors[static_cast<size_t>(id)];
      Buffer<float> buffer = runtime_->template allocate<float>(std::max<size_t>(t.data.size(), 1));
      runtime_->upload(buffer.get(), t.data.data(), t.data.size());
      clean_device_.emplace(id, std::move(buffer));
    }
    epilogue_offsets_.assign(plan_.steps().size(), -1);
    std::vector<float> params;
    for (size_t s = 0; s < plan_.steps().size(); ++s) {
      const PlanStep& step = plan_.steps()[s];
      if (!has_epilogue(step)) continue;
      const int64_t channels = epilogue_channels(plan_, step);
      epilogue_offsets_[s] = static_cast<int64_t>(params.size());
      params.resize(params.size() + 3 * static_cast<size_t>(channels));
      float* base = params.data() + epilogue_offsets_[s];
      epilogue_parameters(plan_, step, *clean_, nullptr, base, base + channels, base + 2 * channels);
    }
    // The libraries only ever see finite weights: a layer whose clean weights hold Inf/NaN (an
    // fp16 overflow, say) runs its dense pass in our direct kernels, which skip padded taps.
    clean_nonfinite_.assign(plan_.steps().size(), false);
    for (size_t s = 0; s < plan_.steps().size(); ++s) {
      const int w = plan_.steps()[s].weight;
      if (w < 0) continue;
      for (float v : clean_->tensors[static_cast<size_t>(w)].data) clean_nonfinite_[s] = clean_nonfinite_[s] || !std::isfinite(v);
    }
    epilogue_device_ = runtime_->template allocate<float>(std::max<size_t>(params.size(), 1));
    runtime_->upload(epilogue_device_.get(), params.data(), params.size());
  }

  static bool has_epilogue(const PlanStep& s) {
    const EpiloguePlan& e = s.epilogue;
    return e.alpha != 1.0f || e.bias >= 0 || e.bn_scale >= 0 || e.residual >= 0 || e.activation.op != core::PointwiseOp::Identity;
  }

  // ---- blocks --------------------------------------------------------------------------------

  template <class T>
  void upload_vector(Buffer<T>& buffer, const std::vector<T>& host) {
    ensure(buffer, host.size());
    if (!host.empty()) runtime_->upload(buffer.get(), host.data(), host.size());
  }

  // ---- execution -----------------------------------------------------------------------------

  float* value_pointer(int value) { return arena_.get() + offsets_[static_cast<size_t>(plan_.storage_of(value))]; }
  int64_t trial_stride(int value, int64_t count) const {
    return block_.per_trial[static_cast<size_t>(value)] ? count * plan_.per_image(value) : 0;
  }
  bool is_activation(int id) const {
    const ValueKind k = plan_.model().graph.values[static_cast<size_t>(id)].kind;
    return k == ValueKind::Activation || k == ValueKind::Input;
  }
  Shape batch_shape(int value, int64_t count) const {
    Shape s = plan_.image_shape(value);
    if (is_activation(value)) s[0] = count;
    return s;
  }

  // Offsets of every stored value in the arena for this block and batch size, by liveness: a
  // value's memory is free again after the last step that reads it; a step's output never shares
  // memory with its inputs.
  void plan_memory(int64_t count) {
    const auto& steps = plan_.steps();
    const size_t values = plan_.model().graph.values.size();
    const int trials = block_.trials;
    std::vector<int> last_use(values, -1);
    for (size_t s = 0; s < steps.size(); ++s) {
      std::vector<int> reads = steps[s].inputs;
      if (steps[s].epilogue.residual >= 0) reads.push_back(steps[s].epilogue.residual);
      for (int id : reads)
        if (id >= 0 && is_activation(id)) last_use[static_cast<size_t>(plan_.storage_of(id))] = static_cast<int>(s);
    }
    last_use[static_cast<size_t>(plan_.storage_of(plan_.output()))] = static_cast<int>(steps.size());
    offsets_.assign(values, 0);
    struct Range {
      int64_t offset, size;
    };
    std::vector<Range> used;  // sorted by offset
    std::vector<int> holder;  // value holding each range
    int64_t top = 0;
    auto allocate = [&](int value) {
      const int64_t size = (block_.per_trial[static_cast<size_t>(value)] ? trials : 1) * count * plan_.per_image(value);
      int64_t offset = 0;
      size_t position = 0;
      for (; position < used.size(); ++position) {
        if (used[position].offset - offset >= size) break;
        offset = used[position].offset + used[position].size;
      }
      used.insert(used.begin() + static_cast<std::ptrdiff_t>(position), Range{offset, size});
      holder.insert(holder.begin() + static_cast<std::ptrdiff_t>(position), value);
      offsets_[static_cast<size_t>(value)] = offset;
      top = std::max(top, offset + size);
    };
    auto release_after = [&](int step) {
      for (size_t k = 0; k < used.size();) {
        if (last_use[static_cast<size_t>(holder[k])] <= step) {
          used.erase(used.begin() + static_cast<std::ptrdiff_t>(k));
          holder.erase(holder.begin() + static_cast<std::ptrdiff_t>(k));
        } else {
          ++k;
        }
      }
    };
    allocate(plan_.input());
    for (size_t s = 0; s < steps.size(); ++s) {
      const int out = plan_.storage_of(steps[s].output);
      if (out == steps[s].output) allocate(out);
      release_after(static_cast<int>(s));
    }
    ensure(arena_, static_cast<size_t>(top));
  }

  // Runs the network for `count` images under every slot of the block; `fill_input` writes the
  // network input (count images, shared by all trials). Returns the number of output rows
  // (trials × count, or count when no trial changed anything the output depends on).
  template <class FillInput>
  int64_t execute(const std::vector<int>& slots, int64_t count, FillInput fill_input) {
    prepare_block(slots);
    plan_memory(count);
    fill_input(value_pointer(plan_.input()));
    for (size_t s = 0; s < plan_.steps().size(); ++s) {
      try {
        run_step(s, count);
      } catch (const Error& e) {
        const PlanStep& step = plan_.steps()[s];
        throw Error("node '" + step.name + "' (" + step_op_name(step.op) + "): " + e.what());
      }
    }
    return (block_.per_trial[static_cast<size_t>(plan_.output())] ? block_.trials : 1) * count;
  }

  void run_step(size_t index, int64_t count) {
    const PlanStep& step = plan_.steps()[index];
    const StepBlock& sb = block_.steps[index];
    const int64_t copies = sb.per_trial ? block_.trials : 1;
    const int64_t out_per_trial = count * plan_.per_image(step.output);
    float* y = step.op == StepOp::Alias ? nullptr : value_pointer(step.output);
    switch (step.op) {
      case StepOp::Conv:
      case StepOp::ConvTranspose:
      case StepOp::Gemm: run_dense_layer(index, count); break;
      case StepOp::BatchNorm: {
        kernels::UnaryBody copy;
        copy.x = value_pointer(step.inputs[0]);
        copy.x_trial_stride = trial_stride(step.inputs[0], count);
        copy.y = y;
        copy.per_trial = out_per_trial;
        runtime_->launch(copies * out_per_trial, copy);
        break;
      }
      case StepOp::Unary: {
        kernels::UnaryBody body;
        body.x = value_pointer(step.inputs[0]);
        body.x_trial_stride = trial_stride(step.inputs[0], count);
        body.y = y;
        body.per_trial = out_per_trial;
        body.step = step.unary;
        runtime_->launch(copies * out_per_trial, body);
        break;
      }
      case StepOp::Binary: {
        kernels::BinaryBody body;
        body.op = step.binary == OpType::Add   ? kernels::BinaryOp::Add
                  : step.binary == OpType::Sub ? kernels::BinaryOp::Sub
                  : step.binary == OpType::Mul ? kernels::BinaryOp::Mul
                                               : kernels::BinaryOp::Div;
        kernels::set_binary_shapes(body, batch_shape(step.output, count), batch_shape(step.inputs[0], count),
                                   batch_shape(step.inputs[1], count));
        kernels::BinaryOperand* operands[2] = {&body.a, &body.b};
        for (size_t k = 0; k < 2; ++k) {
          const int id = step.inputs[k];
          if (is_activation(id)) {
            operands[k]->data = value_pointer(id);
            operands[k]->trial_stride = trial_stride(id, count);
          } else if (sb.operand_offsets[k] >= 0) {
            operands[k]->data = operands_device_.get() + sb.operand_offsets[k];
            operands[k]->trial_stride = clean_->tensors[static_cast<size_t>(id)].size();
          } else {
            operands[k]->data = clean_device_.at(id).get();
            operands[k]->trial_stride = 0;
          }
        }
        body.y = y;
        runtime_->launch(copies * body.per_trial, body);
        break;
      }
      case StepOp::MaxPool:
      case StepOp::AveragePool: {
        const Node& node = plan_.model().graph.activation_nodes[static_cast<size_t>(step.node)];
        kernels::Pool2dBody body = kernels::make_pool2d_body(
            step.op == StepOp::MaxPool ? kernels::PoolKind::Max : kernels::PoolKind::Average,
            std::get<PoolParams>(node.params), batch_shape(step.inputs[0], count));
        body.x = value_pointer(step.inputs[0]);
        body.x_trial_stride = trial_stride(step.inputs[0], count);
        body.y = y;
        runtime_->launch(copies * out_per_trial, body);
        break;
      }
      case StepOp::GlobalAveragePool: {
        const Shape x = batch_shape(step.inputs[0], count);
        kernels::GlobalAveragePoolBody body;
        body.x = value_pointer(step.inputs[0]);
        body.x_trial_stride = trial_stride(step.inputs[0], count);
        body.y = y;
        body.planes_per_trial = x[0] * x[1];
        if (x[0] * x[1] == 0) break;  // no planes
        body.plane_size = element_count(x) / (x[0] * x[1]);
        runtime_->launch(copies * body.planes_per_trial, body);
        break;
      }
      case StepOp::Concat: {
        std::vector<std::vector<int64_t>> shapes;
        for (int id : step.inputs) shapes.push_back(batch_shape(id, count));
        kernels::ConcatBody body = kernels::make_concat_body(shapes, step.concat_axis);
        for (size_t k = 0; k < step.inputs.size(); ++k) {
          body.inputs[k].data = value_pointer(step.inputs[k]);
          body.inputs[k].trial_stride = trial_stride(step.inputs[k], count);
        }
        body.y = y;
        runtime_->launch(copies * out_per_trial, body);
        break;
      }
      case StepOp::Resize: {
        kernels::ResizeBody body =
            kernels::make_resize_body(step.resize, batch_shape(step.inputs[0], count), batch_shape(step.output, count));
        body.x = value_pointer(step.inputs[0]);
        body.x_trial_stride = trial_stride(step.inputs[0], count);
        body.y = y;
        runtime_->launch(copies * out_per_trial, body);
        break;
      }
      case StepOp::StridedCopy: {
        const Shape x = batch_shape(step.inputs[0], count);
        const StridedView view = std::holds_alternative<TransposeParams>(step.view)
                                     ? transpose_view(std::get<TransposeParams>(step.view), x)
                                     : slice_view(std::get<SliceParams>(step.view), x);
        // The plan only admits views that keep the batch whole (slice_keeps_batch); a view that
        // did not would read past the input here.
        if (view.shape.empty() || view.shape[0] != count || element_count(view.shape) != out_per_trial)
          throw Error("internal: step '" + step.name + "' does not keep the batch of " + std::to_string(count));
        kernels::StridedCopyBody body = kernels::make_strided_copy_body(view);
        body.x = value_pointer(step.inputs[0]);
        body.x_trial_stride = trial_stride(step.inputs[0], count);
        body.y = y;
        runtime_->launch(copies * out_per_trial, body);
        break;
      }
      case StepOp::ReduceMean: {
        if (out_per_trial == 0) break;  // nothing to reduce into (a zero-sized axis kept)
        kernels::ReduceMeanPlanesBody body;
        body.x = value_pointer(step.inputs[0]);
        body.x_trial_stride = trial_stride(step.inputs[0], count);
        body.y = y;
        body.planes_per_trial = out_per_trial;
        body.plane_size = element_count(batch_shape(step.inputs[0], count)) / out_per_trial;
        runtime_->launch(copies * out_per_trial, body);
        break;
      }
      case StepOp::Alias: break;
    }
    if (step.op == StepOp::BatchNorm) run_epilogue(index, count);
  }

  kernels::Conv2dGeometry conv_geometry_for(const PlanStep& step, int64_t images) const {
    const ConvShape& c = step.conv;
    kernels::Conv2dGeometry g;
    g.batch = images;
    g.in_channels = c.in_channels;
    g.in_h = c.in_height;
    g.in_w = c.in_width;
    g.out_channels = c.out_channels;
    g.out_h = c.out_height;
    g.out_w = c.out_width;
    g.group = c.groups;
    g.kernel_h = c.kernel_h;
    g.kernel_w = c.kernel_w;
    g.stride_h = c.stride_h;
    g.stride_w = c.stride_w;
    g.dilation_h = c.dilation_h;
    g.dilation_w = c.dilation_w;
    g.pad_top = c.pad_h;
    g.pad_left = c.pad_w;
    return g;
  }

  // Dense pass with weights `w` (trial stride `w_stride`) over `images` images at x → y.
  void dense(const PlanStep& step, int64_t images, const float* x, const float* w, float* y, bool direct) {
    if (step.op == StepOp::Gemm) {
      const int64_t rows = images * step.gemm.rows_per_image;
      if (direct) {
        kernels::DirectGemmBody body;
        body.x = x;
        body.w = w;
        body.y = y;
        body.rows = rows;
        body.k = step.gemm.k;
        body.m = step.gemm.m;
        body.trans_b = step.gemm.weight_transposed;
        runtime_->launch(rows * step.gemm.m, body);
      } else {
        runtime_->gemm(rows, step.gemm.k, step.gemm.m, step.gemm.weight_transposed, x, w, y);
      }
      return;
    }
    const kernels::Conv2dGeometry g = conv_geometry_for(step, images);
    const int64_t outputs = images * g.out_channels * g.out_h * g.out_w;
    if (step.op == StepOp::ConvTranspose) {
      kernels::DirectConvTransposeBody body;
      body.x = x;
      body.w = w;
      body.y = y;
      body.g = g;
      runtime_->launch(outputs, body);
    } else if (direct) {
      kernels::DirectConvBody body;
      body.x = x;
      body.w = w;
      body.y = y;
      body.g = g;
      runtime_->launch(outputs, body);
    } else {
      runtime_->conv(g, x, w, y);
    }
  }

  void run_dense_layer(size_t index, int64_t count) {
    const PlanStep& step = plan_.steps()[index];
    const StepBlock& sb = block_.steps[index];
    const int input = step.inputs[0];
    const float* x = value_pointer(input);
    const int64_t x_stride = trial_stride(input, count);
    float* y = value_pointer(step.output);
    const int64_t y_per_trial = count * plan_.per_image(step.output);
    const float* clean_w = clean_device_.at(step.weight).get();
    const int64_t trials = block_.trials;

    // 1. The clean weights over every trial's input, once when the input is shared.
    const bool direct = clean_nonfinite_[index];
    if (!sb.per_trial || sb.fan_out) {
      dense(step, count, x, clean_w, y, direct);
      if (sb.fan_out && trials > 1) {
        kernels::BroadcastBody broadcast;
        broadcast.data = y;
        broadcast.per_trial = y_per_trial;
        runtime_->launch((trials - 1) * y_per_trial, broadcast);
      }
    } else {
      dense(step, trials * count, x, clean_w, y, direct);
    }
    // 2. Trials with so many changes here that they run the layer with their own weight copy.
    for (const StepBlock::OwnWeights& own : sb.own_weights) {
      const size_t weight_count = clean_->tensors[static_cast<size_t>(step.weight)].data.size();
      ensure(own_weights_, weight_count);
      runtime_->copy(own_weights_.get(), clean_w, weight_count);
      kernels::ScatterCorrectionsBody scatter;
      scatter.corrections = corrections_device_.get() + own.first_correction;
      scatter.effective = effective_device_.get() + own.first_correction;
      scatter.weights = own_weights_.get();
      runtime_->launch(own.count, scatter);
      dense(step, count, x + own.trial * x_stride, own_weights_.get(), y + own.trial * y_per_trial, own.direct);
    }
    // 3. Everyone else: sparse corrections on top of the clean result.
    if (sb.group_count > 0) {
      if (step.op == StepOp::Gemm) {
        kernels::GemmCorrectionBody body;
        fill_correction_fields(body, sb, clean_w, x, x_stride, y, y_per_trial);
        body.rows = count * step.gemm.rows_per_image;
        body.k_size = step.gemm.k;
        body.m_size = step.gemm.m;
        body.weight_transposed = step.gemm.weight_transposed;
        runtime_->launch(sb.group_count * body.rows, body);
      } else {
        const kernels::Conv2dGeometry g = conv_geometry_for(step, count);
        const int64_t work = sb.group_count * count * g.out_h * g.out_w;
        if (step.op == StepOp::Conv) {
          kernels::ConvCorrectionBody body;
          fill_correction_fields(body, sb, clean_w, x, x_stride, y, y_per_trial);
          body.g = g;
          runtime_->launch(work, body);
        } else {
          kernels::ConvTransposeCorrectionBody body;
          fill_correction_fields(body, sb, clean_w, x, x_stride, y, y_per_trial);
          body.g = g;
          runtime_->launch(work, body);
        }
      }
    }
    run_epilogue(index, count);
  }

  template <class Body>
  void fill_correction_fields(Body& body, const StepBlock& sb, const float* clean_w, const float* x, int64_t x_stride,
                              float* y, int64_t y_per_trial) {
    body.corrections = corrections_device_.get();
    body.effective = effective_device_.get();
    body.groups = groups_device_.get() + sb.first_group;
    body.clean_weights = clean_w;
    body.x = x;
    body.x_trial_stride = x_stride;
    body.y = y;
    body.y_trial_stride = y_per_trial;
  }

  void run_epilogue(size_t index, int64_t count) {
    const PlanStep& step = plan_.steps()[index];
    if (!has_epilogue(step)) return;
    const StepBlock& sb = block_.steps[index];
    const int64_t trials = block_.trials;
    const int64_t channels = epilogue_channels(plan_, step);
    const int64_t per_trial = count * plan_.per_image(step.output);
    kernels::EpilogueBody body;
    body.y = value_pointer(step.output);
    body.per_trial = per_trial;
    body.channels = channels;
    body.spatial = step.op == StepOp::Gemm ? 1 : plan_.per_image(step.output) / channels;
    body.has_alpha = step.epilogue.alpha != 1.0f;
    body.alpha = step.epilogue.alpha;
    const float* params = sb.per_trial_epilogue ? block_epilogue_device_.get() + sb.epilogue_offset
                                                : epilogue_device_.get() + epilogue_offsets_[index];
    const int64_t params_trials = sb.per_trial_epilogue ? trials : 1;
    const int64_t params_stride = sb.per_trial_epilogue ? channels : 0;
    if (step.epilogue.bias >= 0) {
      body.bias = params;
      body.bias_trial_stride = params_stride;
    }
    if (step.epilogue.bn_scale >= 0) {
      body.bn_scale = params + params_trials * channels;
      body.bn_shift = params + 2 * params_trials * channels;
      body.bn_trial_stride = params_stride;
    }
    if (step.epilogue.residual >= 0) {
      body.residual = value_pointer(step.epilogue.residual);
      body.residual_trial_stride = trial_stride(step.epilogue.residual, count);
    }
    body.activation = step.epilogue.activation;
    runtime_->launch((sb.per_trial ? trials : 1) * per_trial, body);
  }

  ModelPlan plan_;
  BackendOptions options_;
  std::unique_ptr<Runtime> runtime_;
  std::vector<int> read_weights_;  // weight values the activation pass reads
  // Host state: the clean reference and each slot's differences from it.
  std::shared_ptr<const WeightSet> clean_;             // the reference every block's corrections are against
  std::vector<std::shared_ptr<const WeightSet>> slot_base_;  // per slot: the reference its delta is against
  std::vector<bool> clean_nonfinite_;                  // per step: its clean weight holds Inf/NaN
  std::vector<SlotDelta> deltas_;
  std::vector<bool> loaded_;
  uint64_t generation_ = 0;
  core::StorageFormat storage_format_;
  bool storage_format_known_ = false;
  // Runtime copies of the clean state.
  std::unordered_map<int, Buffer<float>> clean_device_;
  Buffer<float> epilogue_device_;
  std::vector<int64_t> epilogue_offsets_;
  // The current block.
  BlockPlan block_;
  bool block_valid_ = false;
  std::vector<int> block_slots_;
  std::vector<uint64_t> block_generations_;
  Buffer<kernels::WeightCorrection> corrections_device_;
  Buffer<kernels::CorrectionGroup> groups_device_;
  Buffer<core::PointwiseProgram> programs_device_;
  Buffer<float> effective_device_, block_epilogue_device_, operands_device_, own_weights_;
  // Activations and data.
  Buffer<float> arena_;
  std::vector<int64_t> offsets_;
  const data::ImageDataset* attached_ = nullptr;
  int64_t attached_size_ = 0;
  std::string attached_name_;
  data::Preprocess attached_preprocess_;
  kernels::PreprocessBody preprocess_body_;
  int64_t raw_per_image_ = 0;
  std::unique_ptr<Buffer<uint8_t>> resident_;
  Buffer<uint8_t> raw_batch_;
  Buffer<ImageScore> scores_device_;
};

}  // namespace flipsweep::batched
