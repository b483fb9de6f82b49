#pragma once
// Tensors the ONNX importer knows at load time (initializers, Constant outputs) and the shape
// arithmetic exporters emit around them, folded at load.
//
// torch.onnx writes `x.view(x.size(0), -1)` as Shape -> Gather -> Unsqueeze -> Concat -> Reshape
// and a channel shuffle's `chunk` as Slices whose bounds are computed from Shape. Everything in
// such a chain depends only on shapes, and every shape is known at load except the batch size N.
// So an integer tensor is kept as, per element, constant + per_batch * N: exact for every
// expression exporters build from sizes (sums, products with constants, exact divisions), and
// a Reshape whose target depends on N is rewritten to ONNX's 0 (copy) or -1 (infer), which hold
// for every batch size. What cannot be written that way is refused with the reason.
#include <cstdint>
#include <string>
#include <vector>

#include "flipsweep/graph/op_params.h"
#include "flipsweep/tensor.h"

namespace flipsweep::onnx_load {

struct KnownTensor {
  Shape shape;
  bool is_float = true;
  std::vector<float> floats;
  std::vector<int64_t> ints;       // integer tensors (int32 and int64 alike)
  std::vector<int64_t> per_batch;  // integer tensors: element i is ints[i] + per_batch[i] * N; empty: all 0

  int64_t count() const { return static_cast<int64_t>(is_float ? floats.size() : ints.size()); }
  bool depends_on_batch() const;
};

// The most elements a tensor computed at load may have; shape arithmetic needs a handful, and
// the bound keeps a hostile model from making the importer allocate without limit.
inline constexpr int64_t kMaxFoldedElements = int64_t{1} << 20;

// One dimension of an activation: constant + per_batch * N.
struct SymbolicDim {
  int64_t constant = 0;
  int64_t per_batch = 0;
  bool operator==(const SymbolicDim& other) const {
    return constant == other.constant && per_batch == other.per_batch;
  }
};
using SymbolicShape = std::vector<SymbolicDim>;

// From the shapes a value has at batch 1 and at batch 2 (dimensions are affine in N).
SymbolicShape symbolic_shape(const Shape& at_batch_1, const Shape& at_batch_2);
SymbolicShape constant_shape(const Shape& shape);
std::string symbolic_shape_to_string(const SymbolicShape& shape);

// The ops, on known tensors. Errors are flipsweep::Error without a location (the importer adds
// the node's).
KnownTensor shape_tensor(const SymbolicShape& shape, int64_t start, int64_t end);  // ONNX Shape (opset 15 start/end)
KnownTensor gather_known(const KnownTensor& data, const KnownTensor& indices, int64_t axis);
KnownTensor concat_known(const std::vector<const KnownTensor*>& inputs, int64_t axis);
KnownTensor slice_known(const KnownTensor& data, const SliceParams& params);
KnownTensor binary_known(OpType op, const KnownTensor& a, const KnownTensor& b);  // Add, Sub, Mul, Div
KnownTensor cast_known(const KnownTensor& x, int64_t to);                        // `to`: onnx::TensorProto type
KnownTensor reshaped_known(const KnownTensor& x, Shape shape);                   // same elements, new shape

// Unsqueeze and Squeeze: the output shape. `axes` as in ONNX (negative counts from the end of the
// output for Unsqueeze, of the input for Squeeze; Squeeze with no axes drops every 1).
template <class Dim>
std::vector<Dim> unsqueeze_dims(const std::vector<Dim>& dims, const std::vector<int64_t>& axes, const Dim& one);
std::vector<int64_t> squeeze_axes(const SymbolicShape& dims, const std::vector<int64_t>& axes);

// A Reshape target (ONNX's 0 and -1 kept) equal to `target` for every batch size, given the
// input's shape: an element depending on N becomes 0 where it equals the input's dimension at
// the same position (unless allow_zero), else -1 (at most one, and only when the target has no
// -1 of its own). The result is checked at batch 1 and 2.
std::vector<int64_t> batch_free_reshape_target(const KnownTensor& target, const SymbolicShape& input, bool allow_zero);

}  // namespace flipsweep::onnx_load
