// Shape arithmetic folded at load: see known_tensor.h.
#include <algorithm>
#include <cmath>
#include <limits>

#include "flipsweep/error.h"
#include "flipsweep/ops/shapes.h"
#include "known_tensor.h"

namespace flipsweep::onnx_load {

namespace {

int64_t add_checked(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw Error("shape arithmetic overflows int64");
  return r;
}

int64_t sub_checked(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) throw Error("shape arithmetic overflows int64");
  return r;
}

int64_t mul_checked(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw Error("shape arithmetic overflows int64");
  return r;
}

int64_t folded_count(const Shape& shape) {
  const int64_t count = checked_element_count(shape, "a tensor computed at load");
  if (count > kMaxFoldedElements)
    throw Error("a tensor computed at load would have " + std::to_string(count) + " elements (at most " +
                std::to_string(kMaxFoldedElements) + ")");
  return count;
}

// The tensor holding x's elements at the given flat positions, in that order.
KnownTensor pick(const KnownTensor& x, const std::vector<int64_t>& positions, Shape shape) {
  KnownTensor out;
  out.shape = std::move(shape);
  out.is_float = x.is_float;
  for (int64_t p : positions) {
    const size_t i = static_cast<size_t>(p);
    if (x.is_float) {
      out.floats.push_back(x.floats[i]);
    } else {
      out.ints.push_back(x.ints[i]);
      if (x.depends_on_batch()) out.per_batch.push_back(x.per_batch[i]);
    }
  }
  return out;
}

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  return strides;
}

int64_t normalized_axis(int64_t axis, int64_t rank, const char* op) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw Error(std::string(op) + " axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return a;
}

int64_t per_batch_at(const KnownTensor& x, size_t i) { return x.per_batch.empty() ? 0 : x.per_batch[i]; }

}  // namespace

bool KnownTensor::depends_on_batch() const {
  return std::any_of(per_batch.begin(), per_batch.end(), [](int64_t c) { return c != 0; });
}

SymbolicShape symbolic_shape(const Shape& at_batch_1, const Shape& at_batch_2) {
  if (at_batch_1.size() != at_batch_2.size()) throw Error("internal: the rank of a value depends on the batch size");
  SymbolicShape shape;
  for (size_t i = 0; i < at_batch_1.size(); ++i) {
    const int64_t per_batch = at_batch_2[i] - at_batch_1[i];
    shape.push_back(SymbolicDim{at_batch_1[i] - per_batch, per_batch});
  }
  return shape;
}

SymbolicShape constant_shape(const Shape& shape) {
  SymbolicShape out;
  for (int64_t d : shape) out.push_back(SymbolicDim{d, 0});
  return out;
}

std::string symbolic_shape_to_string(const SymbolicShape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    const SymbolicDim& d = shape[i];
    if (d.per_batch == 0) {
      s += std::to_string(d.constant);
      continue;
    }
    s += d.per_batch == 1 ? "N" : std::to_string(d.per_batch) + "N";
    if (d.constant != 0) s += (d.constant > 0 ? "+" : "") + std::to_string(d.constant);
  }
  return s + "]";
}

KnownTensor shape_tensor(const SymbolicShape& shape, int64_t start, int64_t end) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  auto clamp_position = [rank](int64_t p) { return std::clamp<int64_t>(p < 0 ? p + rank : p, 0, rank); };
  const int64_t first = clamp_position(start), last = std::max(first, clamp_position(end));
  KnownTensor out;
  out.is_float = false;
  for (int64_t i = first; i < last; ++i) {
    out.ints.push_back(shape[static_cast<size_t>(i)].constant);
    out.per_batch.push_back(shape[static_cast<size_t>(i)].per_batch);
  }
  out.shape = {last - first};
  if (!out.depends_on_batch()) out.per_batch.clear();
  return out;
}

KnownTensor gather_known(const KnownTensor& data, const KnownTensor& indices, int64_t axis) {
  if (indices.is_float) throw Error("Gather indices must be integers");
  if (indices.depends_on_batch()) throw Error("Gather indices depend on the batch size");
  const int64_t rank = static_cast<int64_t>(data.shape.size());
  if (rank == 0) throw Error("Gather needs data of rank 1 or more");
  const size_t a = static_cast<size_t>(normalized_axis(axis, rank, "Gather"));
  Shape out_shape(data.shape.begin(), data.shape.begin() + static_cast<std::ptrdiff_t>(a));
  out_shape.insert(out_shape.end(), indices.shape.begin(), indices.shape.end());
  out_shape.insert(out_shape.end(), data.shape.begin() + static_cast<std::ptrdiff_t>(a) + 1, data.shape.end());
  const int64_t dim = data.shape[a];
  for (int64_t index : indices.ints)
    if ((index < 0 ? index + dim : index) < 0 || (index < 0 ? index + dim : index) >= dim)
      throw Error("Gather index " + std::to_string(index) + " is out of range for a dimension of " + std::to_string(dim));
  // An empty result needs no loop (a huge leading dimension over an empty tensor would spin).
  if (folded_count(out_shape) == 0) return KnownTensor{out_shape, data.is_float, {}, {}, {}};
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < a; ++d) outer *= data.shape[d];
  for (size_t d = a + 1; d < data.shape.size(); ++d) inner *= data.shape[d];
  std::vector<int64_t> positions;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t index : indices.ints) {
      const int64_t i = index < 0 ? index + dim : index;
      if (i < 0 || i >= dim)
        throw Error("Gather index " + std::to_string(index) + " is out of range for a dimension of " + std::to_string(dim));
      for (int64_t r = 0; r < inner; ++r) positions.push_back((o * dim + i) * inner + r);
    }
  }
  return pick(data, positions, out_shape);
}

KnownTensor concat_known(const std::vector<const KnownTensor*>& inputs, int64_t axis) {
  if (inputs.empty()) throw Error("Concat needs at least one input");
  const KnownTensor& first = *inputs[0];
  const int64_t rank = static_cast<int64_t>(first.shape.size());
  const size_t a = static_cast<size_t>(normalized_axis(axis, rank, "Concat"));
  Shape out_shape = first.shape;
  out_shape[a] = 0;
  for (const KnownTensor* in : inputs) {
    if (in->is_float != first.is_float) throw Error("Concat of integer and float tensors");
    if (in->shape.size() != first.shape.size()) throw Error("Concat inputs differ in rank");
    for (size_t d = 0; d < first.shape.size(); ++d)
      if (d != a && in->shape[d] != first.shape[d])
        throw Error("Concat inputs " + shape_to_string(first.shape) + " and " + shape_to_string(in->shape) +
                    " differ outside axis " + std::to_string(axis));
    out_shape[a] = add_checked(out_shape[a], in->shape[a]);
  }
  if (folded_count(out_shape) == 0) return KnownTensor{out_shape, first.is_float, {}, {}, {}};
  int64_t outer = 1;
  for (size_t d = 0; d < a; ++d) outer *= first.shape[d];
  KnownTensor out;
  out.shape = out_shape;
  out.is_float = first.is_float;
  bool batch = false;
  for (const KnownTensor* in : inputs) batch = batch || in->depends_on_batch();
  for (int64_t o = 0; o < outer; ++o) {
    for (const KnownTensor* in : inputs) {
      const int64_t block = o == 0 && outer == 0 ? 0 : in->count() / std::max<int64_t>(outer, 1);
      for (int64_t k = 0; k < block; ++k) {
        const size_t i = static_cast<size_t>(o * block + k);
        if (out.is_float) {
          out.floats.push_back(in->floats[i]);
        } else {
          out.ints.push_back(in->ints[i]);
          if (batch) out.per_batch.push_back(per_batch_at(*in, i));
        }
      }
    }
  }
  return out;
}

KnownTensor slice_known(const KnownTensor& data, const SliceParams& params) {
  const StridedView view = slice_view(params, data.shape);
  folded_count(view.shape);
  std::vector<int64_t> positions;
  for_each_view_element(view, [&](int64_t, int64_t source) { positions.push_back(source); });
  return pick(data, positions, view.shape);
}

KnownTensor binary_known(OpType op, const KnownTensor& a, const KnownTensor& b) {
  if (a.is_float != b.is_float) throw Error(std::string(op_type_name(op)) + " of an integer and a float tensor");
  const Shape out_shape = broadcast_shapes(a.shape, b.shape);
  const int64_t count = folded_count(out_shape);
  const std::vector<int64_t> out_strides = strides_of(out_shape), a_strides = strides_of(a.shape),
                             b_strides = strides_of(b.shape);
  // The flat position in `x` that output element i reads under broadcasting.
  auto source = [&](const KnownTensor& x, const std::vector<int64_t>& strides, int64_t i) {
    const size_t offset = out_shape.size() - x.shape.size();
    int64_t rest = i, position = 0;
    for (size_t d = 0; d < out_shape.size(); ++d) {
      const int64_t coordinate = rest / out_strides[d];
      rest %= out_strides[d];
      if (d >= offset && x.shape[d - offset] != 1) position += coordinate * strides[d - offset];
    }
    return static_cast<size_t>(position);
  };
  KnownTensor out;
  out.shape = out_shape;
  out.is_float = a.is_float;
  for (int64_t i = 0; i < count; ++i) {
    const size_t ia = source(a, a_strides, i), ib = source(b, b_strides, i);
    if (a.is_float) {
      const float x = a.floats[ia], y = b.floats[ib];
      out.floats.push_back(op == OpType::Add ? x + y : op == OpType::Sub ? x - y : op == OpType::Mul ? x * y : x / y);
      continue;
    }
    const int64_t x = a.ints[ia], xn = per_batch_at(a, ia), y = b.ints[ib], yn = per_batch_at(b, ib);
    int64_t constant = 0, per_batch = 0;
    switch (op) {
      case OpType::Add:
        constant = add_checked(x, y);
        per_batch = add_checked(xn, yn);
        break;
      case OpType::Sub:
        constant = sub_checked(x, y);
        per_batch = sub_checked(xn, yn);
        break;
      case OpType::Mul:
        if (xn != 0 && yn != 0) throw Error("Mul of two sizes that both depend on the batch size");
        constant = mul_checked(x, y);
        per_batch = add_checked(mul_checked(xn, y), mul_checked(x, yn));
        break;
      case OpType::Div:
        if (yn != 0) throw Error("Div by a size that depends on the batch size");
        if (y == 0) throw Error("integer Div by zero");
        if (y == -1 && (x == std::numeric_limits<int64_t>::min() || xn == std::numeric_limits<int64_t>::min()))
          throw Error("shape arithmetic overflows int64");
        // N-dependent: exact only when both parts divide, so that (c + k N) / y is c/y + (k/y) N
        // for every N.
        if (xn != 0 && (xn % y != 0 || x % y != 0))
          throw Error("Div of a size that depends on the batch size (" + std::to_string(x) + " + " +
                      std::to_string(xn) + "N) by " + std::to_string(y) + " is not exact for every batch size");
        constant = x / y;  // ONNX integer Div truncates, as C++ does
        per_batch = xn / y;
        break;
      default: throw Error(std::string("internal: ") + op_type_name(op) + " is not folded");
    }
    out.ints.push_back(constant);
    out.per_batch.push_back(per_batch);
  }
  if (!out.depends_on_batch()) out.per_batch.clear();
  return out;
}

KnownTensor cast_known(const KnownTensor& x, int64_t to) {
  constexpr int64_t kFloat = 1, kInt32 = 6, kInt64 = 7, kDouble = 11;
  KnownTensor out = x;
  if (to == kInt64 || to == kInt32) {
    if (!x.is_float) return out;
    out.is_float = false;
    out.floats.clear();
    for (float v : x.floats) {
      // ONNX Cast to an integer truncates toward zero; values outside int64 (and NaN) are refused.
      if (!(std::fabs(v) < 9.2e18f)) throw Error("Cast of " + std::to_string(v) + " to an integer");
      out.ints.push_back(static_cast<int64_t>(v));
    }
    return out;
  }
  if (to == kFloat || to == kDouble) {
    if (x.is_float) return out;
    if (x.depends_on_batch()) throw Error("Cast to float of a size that depends on the batch size");
    out.is_float = true;
    out.floats.assign(x.ints.begin(), x.ints.end());
    out.ints.clear();
    return out;
  }
  throw Error("Cast to ONNX type " + std::to_string(to) + " (only float, double, int32 and int64 are folded)");
}

KnownTensor reshaped_known(const KnownTensor& x, Shape shape) {
  if (element_count(shape) != x.count())
    throw Error("cannot give " + std::to_string(x.count()) + " elements the shape " + shape_to_string(shape));
  KnownTensor out = x;
  out.shape = std::move(shape);
  return out;
}

template <class Dim>
std::vector<Dim> unsqueeze_dims(const std::vector<Dim>& dims, const std::vector<int64_t>& axes, const Dim& one) {
  const int64_t out_rank = static_cast<int64_t>(dims.size() + axes.size());
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t axis : axes) {
    const size_t a = static_cast<size_t>(normalized_axis(axis, out_rank, "Unsqueeze"));
    if (inserted[a]) throw Error("Unsqueeze axis " + std::to_string(axis) + " is listed twice");
    inserted[a] = true;
  }
  std::vector<Dim> out;
  size_t next = 0;
  for (size_t a = 0; a < inserted.size(); ++a) out.push_back(inserted[a] ? one : dims[next++]);
  return out;
}
template Shape unsqueeze_dims<int64_t>(const Shape&, const std::vector<int64_t>&, const int64_t&);
template SymbolicShape unsqueeze_dims<SymbolicDim>(const SymbolicShape&, const std::vector<int64_t>&,
                                                   const SymbolicDim&);

std::vector<int64_t> squeeze_axes(const SymbolicShape& dims, const std::vector<int64_t>& axes) {
  const int64_t rank = static_cast<int64_t>(dims.size());
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int64_t a = 0; a < rank; ++a)
      if (dims[static_cast<size_t>(a)] == SymbolicDim{1, 0}) out.push_back(a);
    return out;
  }
  for (int64_t axis : axes) {
    const int64_t a = normalized_axis(axis, rank, "Squeeze");
    if (std::find(out.begin(), out.end(), a) != out.end())
      throw Error("Squeeze axis " + std::to_string(axis) + " is listed twice");
    if (!(dims[static_cast<size_t>(a)] == SymbolicDim{1, 0}))
      throw Error("Squeeze axis " + std::to_string(axis) + " has size " +
                  symbolic_shape_to_string({dims[static_cast<size_t>(a)]}) + ", not 1");
    out.push_back(a);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int64_t> batch_free_reshape_target(const KnownTensor& target, const SymbolicShape& input,
                                               bool allow_zero) {
  if (target.is_float) throw Error("the shape input must be integers");
  if (target.shape.size() != 1) throw Error("the shape input must be 1-D, it is " + shape_to_string(target.shape));
  std::vector<int64_t> result = target.ints;
  if (!target.depends_on_batch()) return result;
  const bool has_inferred = std::find(result.begin(), result.end(), -1) != result.end();
  std::vector<size_t> inferred;
  for (size_t i = 0; i < result.size(); ++i) {
    const SymbolicDim wanted{target.ints[i], target.per_batch[i]};
    if (wanted.per_batch == 0) continue;
    if (!allow_zero && i < input.size() && input[i] == wanted) {
      result[i] = 0;
      continue;
    }
    inferred.push_back(i);
    result[i] = -1;
  }
  const std::string wanted_text = [&] {
    SymbolicShape s;
    for (size_t i = 0; i < target.ints.size(); ++i) s.push_back(SymbolicDim{target.ints[i], target.per_batch[i]});
    return symbolic_shape_to_string(s);
  }();
  if (inferred.size() > 1 || (inferred.size() == 1 && has_inferred))
    throw Error("the target shape " + wanted_text + " (N: the batch size) of an input shaped " +
                symbolic_shape_to_string(input) + " depends on the batch size in more than one place");
  // Proof for every N: each dimension is affine in N, so agreement at N = 1 and N = 2 is agreement
  // everywhere.
  ReshapeParams params{result, allow_zero};
  for (int64_t n : {1, 2}) {
    Shape in;
    for (const SymbolicDim& d : input) in.push_back(d.constant + d.per_batch * n);
    const Shape out = infer_output_shapes(OpType::Reshape, params, {in}, {true})[0];
    for (size_t i = 0; i < result.size(); ++i) {
      if (target.per_batch[i] == 0) continue;
      int64_t wanted = 0;
      const bool overflows = __builtin_mul_overflow(target.per_batch[i], n, &wanted) ||
                             __builtin_add_overflow(wanted, target.ints[i], &wanted);
      if (overflows || out[i] != wanted)
        throw Error("the target shape " + wanted_text + " (N: the batch size) of an input shaped " +
                    symbolic_shape_to_string(input) + " cannot be written as a Reshape valid for every batch size");
    }
  }
  return result;
}

}  // namespace flipsweep::onnx_load
