#pragma once
// Readable reference kernels for every supported op, on plain row-major (NCHW) fp32 tensors.
// They define what each op means in flipsweep (ONNX semantics, PyTorch's NaN/Inf behaviour);
// the CPU fast path and the CUDA backend are checked against them.
//
// Data inputs per op (nullptr for an absent optional input):
//   Conv: X, W, B?            ConvTranspose: X, W, B?       BatchNormalization: X, scale, B, mean, var
//   Gemm: A, B, C?            MatMul: A, B                  Add/Sub/Mul/Div: A, B
//   Concat: any number        everything else: X
// Constant inputs (Reshape's shape, Clip's min/max, Resize's roi/scales/sizes, Pad's pads,
// constant_value and axes) are resolved into the op's params at load and are not passed here.
#include <vector>

#include "flipsweep/core/resize_math.h"
#include "flipsweep/graph/op_params.h"
#include "flipsweep/tensor.h"

namespace flipsweep::reference {

// Runs one op. `outputs` is resized to the op's output count and each output is (re)shaped by
// infer_output_shapes(). Throws flipsweep::Error for unsupported parameter combinations.
void run_op(OpType op, const OpParams& params, const std::vector<const Tensor*>& inputs,
            std::vector<Tensor>& outputs);

// Resize from x's shape to y's: for each output index along `axis`, the input index (or the two,
// with weights) it reads. The reference kernel and the CPU backend's blocked nearest Resize share it.
std::vector<core::ResizeAxisTap> resize_axis_taps(const ResizeParams& p, const Shape& x, const Shape& y, size_t axis);

// Index of the largest logit, PyTorch style: the first NaN if any logit is NaN, otherwise the
// first occurrence of the maximum.
int64_t argmax(const float* logits, int64_t count);

// True when `label` is among the `k` largest logits (NaN counts as largest, ties broken by
// lower index, like torch.topk on CPU).
bool in_top_k(const float* logits, int64_t count, int64_t label, int64_t k);

}  // namespace flipsweep::reference
