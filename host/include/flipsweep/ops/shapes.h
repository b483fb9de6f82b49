#pragma once
// Output-shape rules for every supported op. Shape inference at load and the executors at run
// time call the same functions, so the two cannot disagree. Errors are flipsweep::Error with a
// message describing the problem; callers prefix the node name.
#include <vector>

#include "flipsweep/graph/op_params.h"
#include "flipsweep/tensor.h"

namespace flipsweep {

// Shapes of the node's outputs from the shapes of its data inputs (see reference_ops.h for which
// inputs those are). An absent optional input has an empty Shape and `present[i] == false`.
std::vector<Shape> infer_output_shapes(OpType op, const OpParams& params, const std::vector<Shape>& inputs,
                                       const std::vector<bool>& present);

// Softmax's axis in [0, rank), ReduceMean's axes (sorted, distinct, in [0, rank); empty = none
// reduced, i.e. noop_with_empty_axes), Transpose's permutation; Error when they do not fit the rank.
int64_t softmax_axis(const SoftmaxParams& p, size_t rank);
std::vector<int64_t> reduce_axes(const ReduceParams& p, size_t rank);
std::vector<int64_t> transpose_permutation(const TransposeParams& p, size_t rank);

// Slice on `shape`: for every axis, the first index read, the step between reads and how many
// are read (axes Slice does not list: 0, 1, dim). Errors for mismatched lists, a zero step, an axis
// out of range or listed twice.
struct SliceAxis {
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;
};
std::vector<SliceAxis> slice_axes(const SliceParams& p, const Shape& shape);

// A strided view of a row-major tensor: output element i (row-major over `shape`) reads the input
// at offset + sum over d of coordinate_d * strides[d]. Transpose and Slice are such views, so one
// loop (for_each_view_element) serves their kernels and the importer's folding.
struct StridedView {
  Shape shape;
  int64_t offset = 0;
  std::vector<int64_t> strides;
};
StridedView transpose_view(const TransposeParams& p, const Shape& input);
// True when the op leaves axis 0 (the batch, whose size flipsweep chooses at run time) first and
// whole for every batch size: Transpose keeps it first; Slice does not list it, or reads it from
// 0 to the end with step 1 (`x[0:]` exports ends = INT64_MAX). `x[:2]` keeps a batch of 2 whole
// but not a batch of 4, so it does not.
bool transpose_keeps_batch(const TransposeParams& p, size_t rank);
bool slice_keeps_batch(const SliceParams& p, size_t rank);
StridedView slice_view(const SliceParams& p, const Shape& input);

// Calls f(output_index, input_index) for every element of the view, in output order.
template <class F>
void for_each_view_element(const StridedView& view, F&& f) {
  const size_t rank = view.shape.size();
  for (int64_t d : view.shape)
    if (d == 0) return;
  std::vector<int64_t> coordinate(rank, 0);
  int64_t source = view.offset, index = 0;
  while (true) {
    f(index++, source);
    size_t d = rank;
    while (d > 0) {  // odometer: advance the last axis, carry into earlier ones
      --d;
      if (++coordinate[d] < view.shape[d]) {
        source += view.strides[d];
        break;
      }
      source -= (view.shape[d] - 1) * view.strides[d];
      coordinate[d] = 0;
      if (d == 0) return;
    }
    if (rank == 0) return;
  }
}

// Numpy-style multidirectional broadcasting (Add, Sub, Mul, Div, MatMul batch dims).
Shape broadcast_shapes(const Shape& a, const Shape& b);

// Explicit begin/end pads for a conv or pool over `input_spatial`, applying auto_pad.
struct ResolvedPads {
  std::vector<int64_t> begin;
  std::vector<int64_t> end;
};
// resolve_conv_pads takes the kernel from p.kernel_shape; SAME_* auto_pad with an empty kernel_shape
// needs the overload that takes W's spatial shape. Conv only: ConvTranspose pads follow other rules.
ResolvedPads resolve_conv_pads(const ConvParams& p, const std::vector<int64_t>& input_spatial);
ResolvedPads resolve_conv_pads(const ConvParams& p, const std::vector<int64_t>& input_spatial,
                               const std::vector<int64_t>& kernel_spatial);
ResolvedPads resolve_conv_transpose_pads(const ConvParams& p, const std::vector<int64_t>& input_spatial,
                                         const std::vector<int64_t>& kernel_spatial);
ResolvedPads resolve_pool_pads(const PoolParams& p, const std::vector<int64_t>& input_spatial);
// Pad's begin/end pads for every axis of an input of rank `rank` (axes not listed get 0); pads may
// be negative (cropping). Throws when pads/axes do not fit the rank.
ResolvedPads resolve_pad_axes(const PadParams& p, size_t rank);

// Every spatial quantity of a Conv, ConvTranspose or pool made explicit, one entry per spatial
// dimension: defaults filled in, auto_pad and ceil_mode applied, the kernel taken from W where
// kernel_shape was omitted. Kernels of every backend read this instead of re-deriving it.
// For ConvTranspose, pads_end may be negative: an output_shape larger than the full transposed
// output leaves zero (bias-only) positions at the end, as ONNX Runtime does.
struct SpatialGeometry {
  std::vector<int64_t> input;
  std::vector<int64_t> output;
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads_begin;
  std::vector<int64_t> pads_end;
};
// x: [N, C, spatial...]; w: Conv [M, C/group, kernel...], ConvTranspose [C, M/group, kernel...].
SpatialGeometry conv_geometry(const ConvParams& p, const Shape& x, const Shape& w);
SpatialGeometry conv_transpose_geometry(const ConvParams& p, const Shape& x, const Shape& w);
SpatialGeometry pool_geometry(const PoolParams& p, const Shape& x);

}  // namespace flipsweep
