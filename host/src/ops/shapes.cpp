#include "flipsweep/ops/shapes.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "flipsweep/error.h"
#include "internal.h"

namespace flipsweep {

namespace {

std::string list_to_string(const std::vector<int64_t>& values) { return shape_to_string(values); }

// Shape arithmetic on values from model files (dimensions, attributes, constant inputs): an
// overflow is an Error naming what was computed, never a wrapped size.
int64_t checked_add(int64_t a, int64_t b, const std::string& what) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum))
    throw Error(what + " is out of range: " + std::to_string(a) + " + " + std::to_string(b) + " overflows int64");
  return sum;
}

int64_t checked_sub(int64_t a, int64_t b, const std::string& what) {
  int64_t difference = 0;
  if (__builtin_sub_overflow(a, b, &difference))
    throw Error(what + " is out of range: " + std::to_string(a) + " - " + std::to_string(b) + " overflows int64");
  return difference;
}

int64_t checked_mul(int64_t a, int64_t b, const std::string& what) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product))
    throw Error(what + " is out of range: " + std::to_string(a) + " * " + std::to_string(b) + " overflows int64");
  return product;
}

int64_t ceil_div(int64_t numerator, int64_t denominator) {
  // Floor-based so that it is also right for negative numerators.
  int64_t quotient = numerator / denominator;
  if ((numerator % denominator != 0) && ((numerator < 0) == (denominator < 0))) ++quotient;
  return quotient;
}

int64_t floor_div(int64_t numerator, int64_t denominator) {
  int64_t quotient = numerator / denominator;
  if ((numerator % denominator != 0) && ((numerator < 0) != (denominator < 0))) --quotient;
  return quotient;
}

// An empty attribute means "the default for every spatial dimension".
std::vector<int64_t> per_dim_or_default(const std::vector<int64_t>& values, size_t spatial_dims, int64_t fallback,
                                        const char* attribute) {
  if (values.empty()) return std::vector<int64_t>(spatial_dims, fallback);
  if (values.size() != spatial_dims)
    throw Error(std::string(attribute) + " " + list_to_string(values) + " has " + std::to_string(values.size()) +
                " entries but the input has " + std::to_string(spatial_dims) + " spatial dimensions");
  return values;
}

void require_positive(const std::vector<int64_t>& values, const char* attribute) {
  for (int64_t v : values)
    if (v < 1) throw Error(std::string(attribute) + " " + list_to_string(values) + " must be positive");
}

void require_non_negative(const std::vector<int64_t>& values, const char* attribute) {
  for (int64_t v : values)
    if (v < 0) throw Error(std::string(attribute) + " " + list_to_string(values) + " must not be negative");
}

// (kernel - 1) * dilation + 1; kernel and dilation are positive.
int64_t effective_kernel(int64_t kernel, int64_t dilation) {
  return checked_add(checked_mul(kernel - 1, dilation, "dilated kernel size"), 1, "dilated kernel size");
}

// ONNX auto_pad for Conv and pools: the output keeps ceil(input / stride) positions and the padding
// that takes is split evenly, the odd element going to the end (SAME_UPPER) or the begin (SAME_LOWER).
ResolvedPads resolve_forward_pads(AutoPad auto_pad, const std::vector<int64_t>& explicit_begin,
                                  const std::vector<int64_t>& explicit_end, const std::vector<int64_t>& input_spatial,
                                  const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
                                  const std::vector<int64_t>& dilations) {
  const size_t dims = input_spatial.size();
  ResolvedPads pads;
  switch (auto_pad) {
    case AutoPad::NotSet:
      pads.begin = per_dim_or_default(explicit_begin, dims, 0, "pads (begin)");
      pads.end = per_dim_or_default(explicit_end, dims, 0, "pads (end)");
      require_non_negative(pads.begin, "pads");
      require_non_negative(pads.end, "pads");
      break;
    case AutoPad::Valid:
      pads.begin.assign(dims, 0);
      pads.end.assign(dims, 0);
      break;
    case AutoPad::SameUpper:
    case AutoPad::SameLower:
      pads.begin.resize(dims);
      pads.end.resize(dims);
      for (size_t i = 0; i < dims; ++i) {
        int64_t output = ceil_div(input_spatial[i], strides[i]);
        int64_t total = std::max<int64_t>(
            0, checked_add((output - 1) * strides[i], effective_kernel(kernel[i], dilations[i]), "auto_pad SAME padding") -
                   input_spatial[i]);
        int64_t smaller_half = total / 2;
        pads.begin[i] = auto_pad == AutoPad::SameUpper ? smaller_half : total - smaller_half;
        pads.end[i] = total - pads.begin[i];
      }
      break;
  }
  return pads;
}

// stride * (input - 1) + output_padding + (kernel - 1) * dilation + 1: ConvTranspose's output
// before padding is removed.
int64_t conv_transpose_full_size(int64_t input, int64_t stride, int64_t output_padding, int64_t kernel, int64_t dilation) {
  const char* what = "ConvTranspose output size";
  return checked_add(checked_add(checked_mul(stride, input - 1, what), output_padding, what),
                     effective_kernel(kernel, dilation), what);
}

std::vector<int64_t> spatial_of(const Shape& shape) { return std::vector<int64_t>(shape.begin() + 2, shape.end()); }

void require_spatial_input(const Shape& x, const char* what) {
  if (x.size() < 3 || x.size() > 5)
    throw Error(std::string(what) + " input must be [N, C, D1..Dk] with 1 to 3 spatial dimensions, got " +
                shape_to_string(x));
}

std::vector<int64_t> kernel_from_params_or_weight(const std::vector<int64_t>& kernel_shape, const Shape& w) {
  std::vector<int64_t> weight_kernel(w.begin() + 2, w.end());
  if (kernel_shape.empty()) return weight_kernel;
  if (kernel_shape != weight_kernel)
    throw Error("kernel_shape " + list_to_string(kernel_shape) + " does not match the weight shape " +
                shape_to_string(w));
  return kernel_shape;
}

// ---- per-op shape rules -------------------------------------------------------------------------

void require_input_count(const std::vector<Shape>& inputs, size_t min_count, size_t max_count) {
  if (inputs.size() < min_count || inputs.size() > max_count) {
    std::string expected = min_count == max_count ? std::to_string(min_count)
                                                  : std::to_string(min_count) + " to " + std::to_string(max_count);
    throw Error("expected " + expected + " data inputs, got " + std::to_string(inputs.size()));
  }
}

bool is_present(const std::vector<bool>& present, size_t index, const std::vector<Shape>& inputs) {
  if (index >= inputs.size()) return false;
  return index >= present.size() || present[index];
}

void require_present(const std::vector<bool>& present, size_t index, const std::vector<Shape>& inputs,
                     const char* name) {
  if (!is_present(present, index, inputs)) throw Error(std::string("required input ") + name + " is missing");
}

Shape conv_output_shape(const ConvParams& p, const Shape& x, const Shape& w, const std::vector<Shape>& inputs,
                        const std::vector<bool>& present) {
  SpatialGeometry g = conv_geometry(p, x, w);
  Shape out{x[0], w[0]};
  out.insert(out.end(), g.output.begin(), g.output.end());
  if (is_present(present, 2, inputs) && inputs[2] != Shape{w[0]})
    throw Error("bias shape " + shape_to_string(inputs[2]) + " does not match the " + std::to_string(w[0]) +
                " output channels");
  return out;
}

Shape conv_transpose_output_shape(const ConvParams& p, const Shape& x, const Shape& w, const std::vector<Shape>& inputs,
                                  const std::vector<bool>& present) {
  SpatialGeometry g = conv_transpose_geometry(p, x, w);
  int64_t output_channels = checked_mul(w[1], p.group, "ConvTranspose output channels (weight " + shape_to_string(w) + " times group)");
  Shape out{x[0], output_channels};
  out.insert(out.end(), g.output.begin(), g.output.end());
  if (is_present(present, 2, inputs) && inputs[2] != Shape{output_channels})
    throw Error("bias shape " + shape_to_string(inputs[2]) + " does not match the " + std::to_string(output_channels) +
                " output channels");
  return out;
}

Shape batch_norm_output_shape(const std::vector<Shape>& inputs) {
  const Shape& x = inputs[0];
  if (x.size() < 2) throw Error("BatchNormalization input must have a channel axis, got " + shape_to_string(x));
  const char* names[] = {"X", "scale", "B", "mean", "var"};
  for (size_t i = 1; i < 5; ++i)
    if (inputs[i] != Shape{x[1]})
      throw Error(std::string(names[i]) + " shape " + shape_to_string(inputs[i]) + " does not match the " +
                  std::to_string(x[1]) + " channels of input " + shape_to_string(x));
  return x;
}

Shape pool_output_shape(const PoolParams& p, const Shape& x) {
  SpatialGeometry g = pool_geometry(p, x);
  Shape out{x[0], x[1]};
  out.insert(out.end(), g.output.begin(), g.output.end());
  return out;
}

Shape global_pool_output_shape(const Shape& x) {
  if (x.size() < 3) throw Error("GlobalAveragePool input must be [N, C, D1..Dk], got " + shape_to_string(x));
  Shape out(x.size(), 1);
  out[0] = x[0];
  out[1] = x[1];
  return out;
}

Shape flatten_output_shape(const FlattenParams& p, const Shape& x) {
  int64_t rank = static_cast<int64_t>(x.size());
  int64_t axis = p.axis < 0 ? p.axis + rank : p.axis;
  if (axis < 0 || axis > rank)
    throw Error("Flatten axis " + std::to_string(p.axis) + " is out of range for input " + shape_to_string(x));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t& part = i < axis ? outer : inner;
    part = checked_mul(part, x[static_cast<size_t>(i)], "Flatten output size");
  }
  return Shape{outer, inner};
}

Shape reshape_output_shape(const ReshapeParams& p, const Shape& x) {
  Shape out(p.target.size());
  int64_t inferred_axis = -1;
  int64_t known_count = 1;
  for (size_t i = 0; i < p.target.size(); ++i) {
    int64_t t = p.target[i];
    if (t == -1) {
      if (inferred_axis >= 0) throw Error("Reshape target " + list_to_string(p.target) + " has more than one -1");
      inferred_axis = static_cast<int64_t>(i);
      continue;
    }
    if (t < -1)
      throw Error("Reshape target " + list_to_string(p.target) + " has an invalid entry " + std::to_string(t));
    if (t == 0 && !p.allow_zero) {
      if (i >= x.size())
        throw Error("Reshape target " + list_to_string(p.target) + " copies dimension " + std::to_string(i) +
                    " (0) but input " + shape_to_string(x) + " has rank " + std::to_string(x.size()));
      t = x[i];
    }
    out[i] = t;
    known_count = checked_mul(known_count, t, "Reshape target " + list_to_string(p.target) + " size");
  }
  int64_t input_count = element_count(x);
  if (inferred_axis >= 0) {
    if (known_count == 0 || input_count % known_count != 0)
      throw Error("cannot reshape " + shape_to_string(x) + " to " + list_to_string(p.target) +
                  ": the -1 dimension cannot be inferred");
    out[static_cast<size_t>(inferred_axis)] = input_count / known_count;
  } else if (known_count != input_count) {
    throw Error("cannot reshape " + shape_to_string(x) + " (" + std::to_string(input_count) + " elements) to " +
                list_to_string(p.target) + " (" + std::to_string(known_count) + " elements)");
  }
  return out;
}

Shape gemm_output_shape(const GemmParams& p, const std::vector<Shape>& inputs, const std::vector<bool>& present) {
  const Shape& a = inputs[0];
  const Shape& b = inputs[1];
  if (a.size() != 2 || b.size() != 2)
    throw Error("Gemm inputs must be 2-D, got A " + shape_to_string(a) + " and B " + shape_to_string(b));
  int64_t m = p.trans_a ? a[1] : a[0];
  int64_t k_a = p.trans_a ? a[0] : a[1];
  int64_t k_b = p.trans_b ? b[1] : b[0];
  int64_t n = p.trans_b ? b[0] : b[1];
  if (k_a != k_b)
    throw Error("Gemm inner dimensions differ: A " + shape_to_string(a) + (p.trans_a ? " (transposed)" : "") +
                " and B " + shape_to_string(b) + (p.trans_b ? " (transposed)" : ""));
  Shape out{m, n};
  if (is_present(present, 2, inputs)) {
    const Shape& c = inputs[2];
    bool ok = c.size() <= 2;
    for (size_t i = 0; ok && i < c.size(); ++i) {
      int64_t target = out[2 - c.size() + i];
      ok = c[i] == 1 || c[i] == target;
    }
    if (!ok) throw Error("Gemm C " + shape_to_string(c) + " does not broadcast to " + shape_to_string(out));
  }
  return out;
}

Shape matmul_output_shape(const Shape& a, const Shape& b) {
  if (a.empty() || b.empty())
    throw Error("MatMul inputs must have rank >= 1, got " + shape_to_string(a) + " and " + shape_to_string(b));
  Shape a2 = a.size() == 1 ? Shape{1, a[0]} : a;
  Shape b2 = b.size() == 1 ? Shape{b[0], 1} : b;
  int64_t k_a = a2[a2.size() - 1];
  int64_t k_b = b2[b2.size() - 2];
  if (k_a != k_b) throw Error("MatMul inner dimensions differ: " + shape_to_string(a) + " and " + shape_to_string(b));
  Shape batch_a(a2.begin(), a2.end() - 2);
  Shape batch_b(b2.begin(), b2.end() - 2);
  Shape out;
  try {
    out = broadcast_shapes(batch_a, batch_b);
  } catch (const Error&) {
    throw Error("MatMul batch dimensions of " + shape_to_string(a) + " and " + shape_to_string(b) +
                " do not broadcast");
  }
  if (a.size() > 1) out.push_back(a2[a2.size() - 2]);
  if (b.size() > 1) out.push_back(b2[b2.size() - 1]);
  return out;
}

Shape concat_output_shape(const ConcatParams& p, const std::vector<Shape>& inputs) {
  const Shape& first = inputs[0];
  int64_t rank = static_cast<int64_t>(first.size());
  if (rank == 0) throw Error("Concat inputs must have rank >= 1");
  int64_t axis = p.axis < 0 ? p.axis + rank : p.axis;
  if (axis < 0 || axis >= rank)
    throw Error("Concat axis " + std::to_string(p.axis) + " is out of range for rank " + std::to_string(rank));
  Shape out = first;
  out[static_cast<size_t>(axis)] = 0;
  for (const Shape& s : inputs) {
    bool ok = s.size() == first.size();
    for (size_t i = 0; ok && i < s.size(); ++i) ok = static_cast<int64_t>(i) == axis || s[i] == first[i];
    if (!ok)
      throw Error("Concat inputs " + shape_to_string(first) + " and " + shape_to_string(s) + " differ outside axis " +
                  std::to_string(axis));
    out[static_cast<size_t>(axis)] =
        checked_add(out[static_cast<size_t>(axis)], s[static_cast<size_t>(axis)], "Concat output size");
  }
  return out;
}

Shape resize_output_shape(const ResizeParams& p, const Shape& x) {
  if (x.empty()) throw Error("Resize input must have rank >= 1");
  if (p.scales.empty() == p.sizes.empty()) throw Error("Resize needs exactly one of scales and sizes");
  Shape out(x.size());
  if (!p.scales.empty()) {
    if (p.scales.size() != x.size())
      throw Error("Resize has " + std::to_string(p.scales.size()) + " scales for input " + shape_to_string(x));
    if (p.scales[0] != 1.0f)
      throw Error("Resize scale of the batch axis must be 1, got " + std::to_string(p.scales[0]));
    for (size_t i = 0; i < x.size(); ++i) {
      if (!(p.scales[i] > 0.0f)) throw Error("Resize scale " + std::to_string(p.scales[i]) + " must be positive");
      // Double, like the ONNX reference and PyTorch, so that e.g. 3 * 0.6f floors as expected.
      const double size = std::floor(static_cast<double>(x[i]) * static_cast<double>(p.scales[i]));
      if (!(size <= static_cast<double>(kMaxTensorElements)))
        throw Error("Resize scale " + std::to_string(p.scales[i]) + " of axis " + std::to_string(i) + " of input " +
                    shape_to_string(x) + " gives an output larger than 2^40");
      out[i] = static_cast<int64_t>(size);
    }
  } else {
    if (p.sizes.size() != x.size())
      throw Error("Resize has " + std::to_string(p.sizes.size()) + " sizes for input " + shape_to_string(x));
    out.assign(p.sizes.begin(), p.sizes.end());
  }
  out[0] = x[0];
  for (size_t i = 1; i < out.size(); ++i)
    if (out[i] < 1) throw Error("Resize of " + shape_to_string(x) + " gives an empty output " + shape_to_string(out));
  return out;
}

Shape pad_output_shape(const PadParams& p, const Shape& x) {
  const ResolvedPads pads = resolve_pad_axes(p, x.size());
  Shape out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const std::string what = "Pad pads " + list_to_string(p.pads) + " on axis " + std::to_string(i);
    const int64_t crop_begin = std::max<int64_t>(0, checked_sub(0, pads.begin[i], what));
    const int64_t crop_end = std::max<int64_t>(0, checked_sub(0, pads.end[i], what));
    const int64_t kept = checked_sub(checked_sub(x[i], crop_begin, what), crop_end, what);
    if (kept < 0)
      throw Error("Pad pads " + list_to_string(p.pads) + " remove more than the " + std::to_string(x[i]) +
                  " elements of axis " + std::to_string(i) + " of input " + shape_to_string(x));
    const int64_t added = checked_add(std::max<int64_t>(0, pads.begin[i]), std::max<int64_t>(0, pads.end[i]), what);
    if (added > 0 && p.mode == PadMode::Edge && kept == 0)
      throw Error("Pad (edge) cannot pad axis " + std::to_string(i) + " of input " + shape_to_string(x) +
                  ": no elements left to repeat");
    if (p.mode == PadMode::Reflect && (pads.begin[i] > kept - 1 || pads.end[i] > kept - 1) && added > 0)
      throw Error("Pad (reflect) pads " + list_to_string(p.pads) + " must be smaller than axis " +
                  std::to_string(i) + " (" + std::to_string(kept) + " elements) of input " + shape_to_string(x));
    out[i] = checked_add(kept, added, what);
  }
  return out;
}

}  // namespace

// ---- public API ---------------------------------------------------------------------------------

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Right-aligned: missing leading dimensions act as 1.
    int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
    int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
    if (da != db && da != 1 && db != 1)
      throw Error("shapes " + shape_to_string(a) + " and " + shape_to_string(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

ResolvedPads resolve_conv_pads(const ConvParams& p, const std::vector<int64_t>& input_spatial) {
  if (p.kernel_shape.empty() && (p.auto_pad == AutoPad::SameUpper || p.auto_pad == AutoPad::SameLower))
    throw Error("auto_pad SAME needs the kernel shape, but kernel_shape is empty; pass W's spatial shape");
  return resolve_conv_pads(p, input_spatial, p.kernel_shape);
}

ResolvedPads resolve_conv_pads(const ConvParams& p, const std::vector<int64_t>& input_spatial,
                               const std::vector<int64_t>& kernel_spatial) {
  const size_t dims = input_spatial.size();
  std::vector<int64_t> kernel =
      kernel_spatial.empty() ? std::vector<int64_t>(dims, 1) : per_dim_or_default(kernel_spatial, dims, 1, "kernel");
  std::vector<int64_t> strides = per_dim_or_default(p.strides, dims, 1, "strides");
  std::vector<int64_t> dilations = per_dim_or_default(p.dilations, dims, 1, "dilations");
  require_positive(strides, "strides");
  require_positive(dilations, "dilations");
  return resolve_forward_pads(p.auto_pad, p.pads_begin, p.pads_end, input_spatial, kernel, strides, dilations);
}

ResolvedPads resolve_pad_axes(const PadParams& p, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  std::vector<int64_t> axes = p.axes;
  if (axes.empty())
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  if (p.pads.size() != 2 * axes.size())
    throw Error("Pad pads " + list_to_string(p.pads) + " has " + std::to_string(p.pads.size()) + " values but " +
                (p.axes.empty() ? "the input has rank " + std::to_string(rank)
                                : "axes " + list_to_string(p.axes) + " has " + std::to_string(p.axes.size()) +
                                      " entries") +
                " (one begin and one end value per axis)");
  ResolvedPads out;
  out.begin.assign(rank, 0);
  out.end.assign(rank, 0);
  std::vector<bool> seen(rank, false);
  for (size_t k = 0; k < axes.size(); ++k) {
    const int64_t axis = axes[k] < 0 ? axes[k] + r : axes[k];
    if (axis < 0 || axis >= r)
      throw Error("Pad axis " + std::to_string(axes[k]) + " is out of range for rank " + std::to_string(rank));
    if (seen[static_cast<size_t>(axis)]) throw Error("Pad axes " + list_to_string(p.axes) + " repeat an axis");
    seen[static_cast<size_t>(axis)] = true;
    out.begin[static_cast<size_t>(axis)] = p.pads[k];
    out.end[static_cast<size_t>(axis)] = p.pads[k + axes.size()];
  }
  return out;
}

ResolvedPads resolve_pool_pads(const PoolParams& p, const std::vector<int64_t>& input_spatial) {
  const size_t dims = input_spatial.size();
  if (p.kernel_shape.empty()) throw Error("pool has no kernel_shape");
  std::vector<int64_t> kernel = per_dim_or_default(p.kernel_shape, dims, 1, "kernel_shape");
  std::vector<int64_t> strides = per_dim_or_default(p.strides, dims, 1, "strides");
  std::vector<int64_t> dilations = per_dim_or_default(p.dilations, dims, 1, "dilations");
  require_positive(kernel, "kernel_shape");
  require_positive(strides, "strides");
  require_positive(dilations, "dilations");
  return resolve_forward_pads(p.auto_pad, p.pads_begin, p.pads_end, input_spatial, kernel, strides, dilations);
}

ResolvedPads resolve_conv_transpose_pads(const ConvParams& p, const std::vector<int64_t>& input_spatial,
                                         const std::vector<int64_t>& kernel_spatial) {
  const size_t dims = input_spatial.size();
  std::vector<int64_t> kernel = per_dim_or_default(kernel_spatial, dims, 1, "kernel");
  std::vector<int64_t> strides = per_dim_or_default(p.strides, dims, 1, "strides");
  std::vector<int64_t> dilations = per_dim_or_default(p.dilations, dims, 1, "dilations");
  std::vector<int64_t> output_padding = per_dim_or_default(p.output_padding, dims, 0, "output_padding");
  require_positive(strides, "strides");
  require_positive(dilations, "dilations");
  require_non_negative(output_padding, "output_padding");

  std::vector<int64_t> target;  // the requested spatial output, if any
  if (!p.output_shape.empty()) {
    // Some exporters write the full [N, C, spatial...] shape; only the spatial part matters.
    if (p.output_shape.size() == dims)
      target = p.output_shape;
    else if (p.output_shape.size() == dims + 2)
      target.assign(p.output_shape.begin() + 2, p.output_shape.end());
    else
      throw Error("output_shape " + list_to_string(p.output_shape) + " does not fit " + std::to_string(dims) +
                  " spatial dimensions");
  } else if (p.auto_pad == AutoPad::SameUpper || p.auto_pad == AutoPad::SameLower) {
    target.resize(dims);
    for (size_t i = 0; i < dims; ++i) target[i] = checked_mul(input_spatial[i], strides[i], "ConvTranspose output size");
  }

  ResolvedPads pads;
  if (target.empty()) {
    if (p.auto_pad == AutoPad::Valid) {
      pads.begin.assign(dims, 0);
      pads.end.assign(dims, 0);
    } else {
      pads.begin = per_dim_or_default(p.pads_begin, dims, 0, "pads (begin)");
      pads.end = per_dim_or_default(p.pads_end, dims, 0, "pads (end)");
      require_non_negative(pads.begin, "pads");
      require_non_negative(pads.end, "pads");
    }
    return pads;
  }
  pads.begin.resize(dims);
  pads.end.resize(dims);
  for (size_t i = 0; i < dims; ++i) {
    const int64_t full = conv_transpose_full_size(input_spatial[i], strides[i], output_padding[i], kernel[i], dilations[i]);
    // A target larger than the full output gets no negative begin pad (ONNX Runtime's rule): the
    // extra positions are at the end and receive only the bias.
    const int64_t excess = checked_sub(full, target[i], "ConvTranspose padding for output_shape");
    int64_t total = std::max<int64_t>(0, excess);
    int64_t smaller_half = total / 2;
    pads.begin[i] = p.auto_pad == AutoPad::SameUpper ? smaller_half : total - smaller_half;
    pads.end[i] = excess - pads.begin[i];
  }
  return pads;
}

SpatialGeometry conv_geometry(const ConvParams& p, const Shape& x, const Shape& w) {
  require_spatial_input(x, "Conv");
  const size_t dims = x.size() - 2;
  if (w.size() != x.size())
    throw Error("Conv weight " + shape_to_string(w) + " must have the same rank as input " + shape_to_string(x));
  if (p.group < 1) throw Error("group " + std::to_string(p.group) + " must be positive");
  const int64_t expected_channels = checked_mul(w[1], p.group, "input channels (weight " + shape_to_string(w) + " times group)");
  if (x[1] != expected_channels)
    throw Error("input " + shape_to_string(x) + " has " + std::to_string(x[1]) + " channels but weight " +
                shape_to_string(w) + " with group " + std::to_string(p.group) + " expects " +
                std::to_string(expected_channels));
  if (w[0] % p.group != 0)
    throw Error("weight " + shape_to_string(w) + " has " + std::to_string(w[0]) +
                " output channels, not divisible by group " + std::to_string(p.group));

  SpatialGeometry g;
  g.input = spatial_of(x);
  g.kernel = kernel_from_params_or_weight(p.kernel_shape, w);
  require_positive(g.kernel, "kernel_shape");
  g.strides = per_dim_or_default(p.strides, dims, 1, "strides");
  g.dilations = per_dim_or_default(p.dilations, dims, 1, "dilations");
  ResolvedPads pads = resolve_conv_pads(p, g.input, g.kernel);
  g.pads_begin = pads.begin;
  g.pads_end = pads.end;
  g.output.resize(dims);
  for (size_t i = 0; i < dims; ++i) {
    int64_t span = checked_add(checked_add(g.input[i], g.pads_begin[i], "padded input size"), g.pads_end[i],
                               "padded input size") -
                   effective_kernel(g.kernel[i], g.dilations[i]);
    if (span < 0)
      throw Error("kernel " + list_to_string(g.kernel) + " with dilations " + list_to_string(g.dilations) +
                  " is larger than the padded input " + shape_to_string(x));
    g.output[i] = span / g.strides[i] + 1;
  }
  return g;
}

SpatialGeometry conv_transpose_geometry(const ConvParams& p, const Shape& x, const Shape& w) {
  require_spatial_input(x, "ConvTranspose");
  const size_t dims = x.size() - 2;
  if (w.size() != x.size())
    throw Error("ConvTranspose weight " + shape_to_string(w) + " must have the same rank as input " +
                shape_to_string(x));
  if (p.group < 1) throw Error("group " + std::to_string(p.group) + " must be positive");
  if (x[1] != w[0])
    throw Error("input " + shape_to_string(x) + " has " + std::to_string(x[1]) + " channels but weight " +
                shape_to_string(w) + " expects " + std::to_string(w[0]));
  if (w[0] % p.group != 0)
    throw Error("weight " + shape_to_string(w) + " has " + std::to_string(w[0]) +
                " input channels, not divisible by group " + std::to_string(p.group));

  SpatialGeometry g;
  g.input = spatial_of(x);
  g.kernel = kernel_from_params_or_weight(p.kernel_shape, w);
  require_positive(g.kernel, "kernel_shape");
  g.strides = per_dim_or_default(p.strides, dims, 1, "strides");
  g.dilations = per_dim_or_default(p.dilations, dims, 1, "dilations");
  std::vector<int64_t> output_padding = per_dim_or_default(p.output_padding, dims, 0, "output_padding");
  ResolvedPads pads = resolve_conv_transpose_pads(p, g.input, g.kernel);
  g.pads_begin = pads.begin;
  g.pads_end = pads.end;
  g.output.resize(dims);
  for (size_t i = 0; i < dims; ++i) {
    const int64_t full =
        conv_transpose_full_size(g.input[i], g.strides[i], output_padding[i], g.kernel[i], g.dilations[i]);
    g.output[i] = checked_sub(checked_sub(full, g.pads_begin[i], "ConvTranspose output size"), g.pads_end[i],
                              "ConvTranspose output size");
    if (g.output[i] < 1)
      throw Error("ConvTranspose of " + shape_to_string(x) + " with pads " + list_to_string(g.pads_begin) + "/" +
                  list_to_string(g.pads_end) + " has an empty output");
  }
  return g;
}

SpatialGeometry pool_geometry(const PoolParams& p, const Shape& x) {
  require_spatial_input(x, "pool");
  const size_t dims = x.size() - 2;
  if (p.kernel_shape.size() != dims)
    throw Error("kernel_shape " + list_to_string(p.kernel_shape) + " does not fit input " + shape_to_string(x));
  SpatialGeometry g;
  g.input = spatial_of(x);
  g.kernel = p.kernel_shape;
  g.strides = per_dim_or_default(p.strides, dims, 1, "strides");
  g.dilations = per_dim_or_default(p.dilations, dims, 1, "dilations");
  ResolvedPads pads = resolve_pool_pads(p, g.input);
  g.pads_begin = pads.begin;
  g.pads_end = pads.end;
  g.output.resize(dims);
  for (size_t i = 0; i < dims; ++i) {
    int64_t span = checked_add(checked_add(g.input[i], g.pads_begin[i], "padded input size"), g.pads_end[i],
                               "padded input size") -
                   effective_kernel(g.kernel[i], g.dilations[i]);
    if (span < 0)
      throw Error("pool kernel " + list_to_string(g.kernel) + " is larger than the padded input " + shape_to_string(x));
    int64_t out = (p.ceil_mode ? ceil_div(span, g.strides[i]) : floor_div(span, g.strides[i])) + 1;
    // ceil_mode may add a window; PyTorch and the ONNX reference drop it when it would start in
    // the end padding (or beyond), so every window sees input or left padding.
    if (p.ceil_mode && checked_mul(out - 1, g.strides[i], "pool window start") >= g.input[i] + g.pads_begin[i]) --out;
    g.output[i] = out;
  }
  return g;
}

std::vector<Shape> infer_output_shapes(OpType op, const OpParams& params, const std::vector<Shape>& inputs,
                                       const std::vector<bool>& present) {
  switch (op) {
    case OpType::Conv:
    case OpType::ConvTranspose: {
      require_input_count(inputs, 2, 3);
      require_present(present, 0, inputs, "X");
      require_present(present, 1, inputs, "W");
      const ConvParams& p = params_as<ConvParams>(params, op);
      if (op == OpType::Conv) return {conv_output_shape(p, inputs[0], inputs[1], inputs, present)};
      return {conv_transpose_output_shape(p, inputs[0], inputs[1], inputs, present)};
    }
    case OpType::BatchNormalization:
      require_input_count(inputs, 5, 5);
      for (size_t i = 0; i < 5; ++i) require_present(present, i, inputs, "of BatchNormalization");
      return {batch_norm_output_shape(inputs)};
    case OpType::Relu:
    case OpType::LeakyRelu:
    case OpType::Clip:
    case OpType::Sigmoid:
    case OpType::HardSigmoid:
    case OpType::Tanh:
    case OpType::Softsign:
    case OpType::Atan:
    case OpType::HardSwish:
    case OpType::Dropout:
    case OpType::Identity:
      require_input_count(inputs, 1, 1);
      require_present(present, 0, inputs, "X");
      return {inputs[0]};
    case OpType::Softmax:
      require_input_count(inputs, 1, 1);
      require_present(present, 0, inputs, "X");
      (void)softmax_axis(params_as<SoftmaxParams>(params, op), inputs[0].size());
      return {inputs[0]};
    case OpType::ReduceMean: {
      require_input_count(inputs, 1, 1);
      require_present(present, 0, inputs, "X");
      const ReduceParams& p = params_as<ReduceParams>(params, op);
      const std::vector<int64_t> axes = reduce_axes(p, inputs[0].size());
      Shape out;
      for (size_t i = 0; i < inputs[0].size(); ++i) {
        const bool reduced = std::find(axes.begin(), axes.end(), static_cast<int64_t>(i)) != axes.end();
        if (!reduced) out.push_back(inputs[0][i]);
        else if (p.keepdims) out.push_back(1);
      }
      return {out};
    }
    case OpType::Transpose: {
      require_input_count(inputs, 1, 1);
      require_present(present, 0, inputs, "X");
      Shape out;
      for (int64_t axis : transpose_permutation(params_as<TransposeParams>(params, op), inputs[0].size()))
        out.push_back(inputs[0][static_cast<size_t>(axis)]);
      return {out};
    }
    case OpType::Add:
    case OpType::Sub:
    case OpType::Mul:
    case OpType::Div:
      require_input_count(inputs, 2, 2);
      require_present(present, 0, inputs, "A");
      require_present(present, 1, inputs, "B");
      return {broadcast_shapes(inputs[0], inputs[1])};
    case OpType::MaxPool:
    case OpType::AveragePool:
      require_input_count(inputs, 1, 1);
      require_present(present, 0, inputs, "X");
      return {pool_output_shape(params_as<PoolParams>(params, op), inputs[0])};
    case OpType::GlobalAveragePool:
      require_input_count(inputs, 1, 1);
      require_present(present, 0, inputs, "X");
      return {global_pool_output_shape(inputs[0])};
    case OpType::Flatten:
      require_input_count(inputs, 1, 1);
      require_present(present, 0, inputs, "X");
      return {flatten_output_shape(params_as<FlattenParams>(params, op), inputs[0])};
    case OpType::Reshape:
      require_input_count(inputs, 1, 1);
      require_present(present, 0, inputs, "X");
      return {reshape_output_shape(params_as<ReshapeParams>(params, op), inputs[0])};
    case OpType::Gemm:
      require_input_count(inputs, 2, 3);
      require_present(present, 0, inputs, "A");
      require_present(present, 1, inputs, "B");
      return {gemm_output_shape(params_as<GemmParams>(params, op), inputs, present)};
    case OpType::MatMul:
      require_input_count(inputs, 2, 2);
      require_present(present, 0, inputs, "A");
      require_present(present, 1, inputs, "B");
      return {matmul_output_shape(inputs[0], inputs[1])};
    case OpType::Concat:
      if (inputs.empty()) throw Error("Concat needs at least one input");
      for (size_t i = 0; i < inputs.size(); ++i) require_present(present, i, inputs, "of Concat");
      return {concat_output_shape(params_as<ConcatParams>(params, op), inputs)};
    case OpType::Resize:
      require_input_count(inputs, 1, 1);
      require_present(present, 0, inputs, "X");
      return {resize_output_shape(params_as<ResizeParams>(params, op), inputs[0])};
    case OpType::Pad:
      require_input_count(inputs, 1, 1);
      require_present(present, 0, inputs, "X");
      return {pad_output_shape(params_as<PadParams>(params, op), inputs[0])};
    case OpType::Slice: {
      require_input_count(inputs, 1, 1);
      require_present(present, 0, inputs, "data");
      Shape out;
      for (const SliceAxis& axis : slice_axes(params_as<SliceParams>(params, op), inputs[0])) out.push_back(axis.count);
      return {out};
    }
    case OpType::Constant:
      throw Error("Constant has no shape rule: its value is resolved at load time");
  }
  throw Error(std::string("no shape rule for op ") + op_type_name(op));
}

int64_t softmax_axis(const SoftmaxParams& p, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  const int64_t axis = p.axis < 0 ? p.axis + r : p.axis;
  if (axis < 0 || axis >= r) throw Error("Softmax axis " + std::to_string(p.axis) + " is out of range for rank " + std::to_string(r));
  return axis;
}

std::vector<int64_t> reduce_axes(const ReduceParams& p, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  std::vector<int64_t> axes;
  if (p.axes.empty()) {
    if (!p.noop_with_empty_axes)
      for (int64_t a = 0; a < r; ++a) axes.push_back(a);
    return axes;
  }
  for (int64_t a : p.axes) {
    const int64_t axis = a < 0 ? a + r : a;
    if (axis < 0 || axis >= r) throw Error("ReduceMean axis " + std::to_string(a) + " is out of range for rank " + std::to_string(r));
    if (std::find(axes.begin(), axes.end(), axis) != axes.end()) throw Error("ReduceMean axis " + std::to_string(a) + " is listed twice");
    axes.push_back(axis);
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}

std::vector<int64_t> transpose_permutation(const TransposeParams& p, size_t rank) {
  std::vector<int64_t> perm = p.perm;
  if (perm.empty())
    for (int64_t i = static_cast<int64_t>(rank) - 1; i >= 0; --i) perm.push_back(i);
  if (perm.size() != rank) throw Error("Transpose perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(rank));
  std::vector<bool> seen(rank, false);
  for (int64_t axis : perm) {
    if (axis < 0 || axis >= static_cast<int64_t>(rank) || seen[static_cast<size_t>(axis)])
      throw Error("Transpose perm is not a permutation of 0.." + std::to_string(rank - 1));
    seen[static_cast<size_t>(axis)] = true;
  }
  return perm;
}

}  // namespace flipsweep

namespace flipsweep {

std::vector<SliceAxis> slice_axes(const SliceParams& p, const Shape& shape) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const size_t n = p.starts.size();
  if (p.ends.size() != n)
    throw Error("Slice has " + std::to_string(n) + " starts but " + std::to_string(p.ends.size()) + " ends");
  if (!p.axes.empty() && p.axes.size() != n)
    throw Error("Slice has " + std::to_string(n) + " starts but " + std::to_string(p.axes.size()) + " axes");
  if (!p.steps.empty() && p.steps.size() != n)
    throw Error("Slice has " + std::to_string(n) + " starts but " + std::to_string(p.steps.size()) + " steps");
  std::vector<SliceAxis> result(shape.size());
  for (size_t a = 0; a < shape.size(); ++a) result[a] = SliceAxis{0, 1, shape[a]};
  std::vector<bool> listed(shape.size(), false);
  for (size_t i = 0; i < n; ++i) {
    const int64_t given_axis = p.axes.empty() ? static_cast<int64_t>(i) : p.axes[i];
    const int64_t axis = given_axis < 0 ? given_axis + rank : given_axis;
    if (axis < 0 || axis >= rank)
      throw Error("Slice axis " + std::to_string(given_axis) + " is out of range for rank " + std::to_string(rank));
    if (listed[static_cast<size_t>(axis)]) throw Error("Slice axis " + std::to_string(given_axis) + " is listed twice");
    listed[static_cast<size_t>(axis)] = true;
    const int64_t step = p.steps.empty() ? 1 : p.steps[i];
    if (step == 0) throw Error("Slice step on axis " + std::to_string(given_axis) + " is 0");
    const int64_t dim = shape[static_cast<size_t>(axis)];
    // Negative positions count from the end (adding dim cannot overflow a negative value); then
    // both are clamped to the axis, where a backward slice may end just before index 0.
    int64_t start = p.starts[i] < 0 ? p.starts[i] + dim : p.starts[i];
    int64_t end = p.ends[i] < 0 ? p.ends[i] + dim : p.ends[i];
    int64_t count = 0;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      if (end > start) count = (end - start - 1) / step + 1;
    } else if (dim > 0) {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      // A step of INT64_MIN cannot be negated; any step at least as long as the axis reads one element.
      if (start > end) count = step <= -dim ? 1 : (start - end - 1) / (-step) + 1;
    }
    result[static_cast<size_t>(axis)] = SliceAxis{count > 0 ? start : 0, step, count};
  }
  return result;
}

namespace {

std::vector<int64_t> row_major_strides_of(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

}  // namespace

StridedView transpose_view(const TransposeParams& p, const Shape& input) {
  const std::vector<int64_t> in_strides = row_major_strides_of(input);
  StridedView view;
  for (int64_t axis : transpose_permutation(p, input.size())) {
    view.shape.push_back(input[static_cast<size_t>(axis)]);
    view.strides.push_back(in_strides[static_cast<size_t>(axis)]);
  }
  return view;
}

bool transpose_keeps_batch(const TransposeParams& p, size_t rank) {
  const std::vector<int64_t> perm = transpose_permutation(p, rank);
  return !perm.empty() && perm[0] == 0;
}

bool slice_keeps_batch(const SliceParams& p, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  for (size_t i = 0; i < p.starts.size(); ++i) {
    const int64_t axis = p.axes.empty() ? static_cast<int64_t>(i) : p.axes[i];
    if (axis != 0 && axis != -r) continue;
    const int64_t step = p.steps.empty() ? 1 : p.steps[i];
    const int64_t end = i < p.ends.size() ? p.ends[i] : 0;
    if (p.starts[i] != 0 || step != 1 || end < std::numeric_limits<int64_t>::max() / 2) return false;
  }
  return true;
}

StridedView slice_view(const SliceParams& p, const Shape& input) {
  const std::vector<int64_t> in_strides = row_major_strides_of(input);
  StridedView view;
  const std::vector<SliceAxis> axes = slice_axes(p, input);
  for (size_t d = 0; d < axes.size(); ++d) {
    view.shape.push_back(axes[d].count);
    view.offset += axes[d].start * in_strides[d];
    // With two or more elements read, |step| < dim and the product is bounded; a single read
    // (any step, up to INT64_MAX) never moves.
    view.strides.push_back(axes[d].count > 1 ? axes[d].step * in_strides[d] : 0);
  }
  return view;
}

}  // namespace flipsweep
