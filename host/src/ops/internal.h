#pragma once
// Helpers shared by the shape rules and the reference kernels; not part of the public API.
#include <string>
#include <variant>

#include "flipsweep/error.h"
#include "flipsweep/graph/op_params.h"
#include "flipsweep/ops/shapes.h"
#include "flipsweep/tensor.h"

namespace flipsweep {

// The op's parameter struct, or an Error naming the op when the importer stored another kind.
template <class Params>
const Params& params_as(const OpParams& params, OpType op) {
  if (const Params* p = std::get_if<Params>(&params)) return *p;
  throw Error(std::string(op_type_name(op)) + " node carries parameters of the wrong kind (importer bug)");
}

namespace reference::detail {

// Spatial geometry padded to exactly three dimensions (depth, height, width). Missing leading
// dimensions have size 1, kernel 1, stride 1, dilation 1 and no padding, so one loop nest serves
// 1-D, 2-D and 3-D convs and pools.
struct Geometry3 {
  int64_t input[3] = {1, 1, 1};
  int64_t output[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t dilation[3] = {1, 1, 1};
  int64_t pad_begin[3] = {0, 0, 0};
  int64_t pad_end[3] = {0, 0, 0};
};
Geometry3 to_three_dims(const SpatialGeometry& g);

// Each kernel receives its output already shaped by infer_output_shapes(). Optional inputs are
// nullptr when absent.
void unary(OpType op, const OpParams& params, const Tensor& x, Tensor& y);
void binary(OpType op, const Tensor& a, const Tensor& b, Tensor& y);
void batch_norm(const BatchNormParams& p, const Tensor& x, const Tensor& scale, const Tensor& bias, const Tensor& mean,
                const Tensor& var, Tensor& y);

void conv(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);
void conv_transpose(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);

void max_pool(const PoolParams& p, const Tensor& x, Tensor& y);
void average_pool(const PoolParams& p, const Tensor& x, Tensor& y);
void global_average_pool(const Tensor& x, Tensor& y);

void softmax(const SoftmaxParams& p, const Tensor& x, Tensor& y);
void reduce_mean(const ReduceParams& p, const Tensor& x, Tensor& y);
void transpose(const TransposeParams& p, const Tensor& x, Tensor& y);
void slice(const SliceParams& p, const Tensor& x, Tensor& y);

void gemm(const GemmParams& p, const Tensor& a, const Tensor& b, const Tensor* c, Tensor& y);
void matmul(const Tensor& a, const Tensor& b, Tensor& y);

void resize(const ResizeParams& p, const Tensor& x, Tensor& y);

}  // namespace reference::detail
}  // namespace flipsweep
