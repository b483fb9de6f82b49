// Softmax, ReduceMean, Transpose and Slice: the reference kernels, plain row-major loops.
#include <cmath>
#include <limits>
#include <vector>

#include "flipsweep/error.h"
#include "flipsweep/ops/shapes.h"
#include "internal.h"

namespace flipsweep::reference::detail {

namespace {

std::vector<int64_t> row_major_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

// y = the view's elements of x (Transpose, Slice).
void gather_view(const StridedView& view, const Tensor& x, Tensor& y) {
  y = Tensor(view.shape);
  for_each_view_element(view, [&](int64_t i, int64_t source) {
    y.data[static_cast<size_t>(i)] = x.data[static_cast<size_t>(source)];
  });
}

}  // namespace

void softmax(const SoftmaxParams& p, const Tensor& x, Tensor& y) {
  const int64_t axis = softmax_axis(p, x.shape.size());
  // Slices: [outer, length, inner]; before opset 13 the length is everything from `axis` on.
  int64_t outer = 1, length = 1, inner = 1;
  for (size_t i = 0; i < x.shape.size(); ++i) {
    const int64_t d = x.shape[i];
    if (static_cast<int64_t>(i) < axis) outer *= d;
    else if (static_cast<int64_t>(i) == axis || p.coerce_2d) length *= d;
    else inner *= d;
  }
  y = Tensor(x.shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      const float* src = x.ptr() + o * length * inner + in;
      float* dst = y.ptr() + o * length * inner + in;
      // The maximum is subtracted first, as PyTorch does; a NaN anywhere makes the slice NaN.
      float maximum = -std::numeric_limits<float>::infinity();
      bool nan = false;
      for (int64_t k = 0; k < length; ++k) {
        const float v = src[k * inner];
        nan = nan || std::isnan(v);
        maximum = std::max(maximum, v);
      }
      double sum = 0.0;
      for (int64_t k = 0; k < length; ++k) {
        const float e = std::exp(src[k * inner] - maximum);
        dst[k * inner] = e;
        sum += e;
      }
      for (int64_t k = 0; k < length; ++k)
        dst[k * inner] = nan ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(dst[k * inner] / sum);
    }
}

void reduce_mean(const ReduceParams& p, const Tensor& x, Tensor& y) {
  const std::vector<int64_t> axes = reduce_axes(p, x.shape.size());
  const std::vector<Shape> out_shapes = infer_output_shapes(OpType::ReduceMean, p, {x.shape}, {true});
  y = Tensor(out_shapes[0]);
  if (axes.empty()) {  // noop_with_empty_axes
    y.data = x.data;
    return;
  }
  // Each input element adds to the output element with its reduced coordinates set to 0.
  Shape kept = x.shape;
  int64_t count = 1;
  for (int64_t a : axes) {
    count *= x.shape[static_cast<size_t>(a)];
    kept[static_cast<size_t>(a)] = 1;
  }
  std::vector<bool> reduced(x.shape.size(), false);
  for (int64_t a : axes) reduced[static_cast<size_t>(a)] = true;
  const std::vector<int64_t> in_strides = row_major_strides(x.shape), kept_strides = row_major_strides(kept);
  std::vector<double> sums(static_cast<size_t>(element_count(kept)), 0.0);
  const int64_t n = x.size();
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, target = 0;
    for (size_t d = 0; d < x.shape.size(); ++d) {
      const int64_t coordinate = rest / in_strides[d];
      rest %= in_strides[d];
      if (!reduced[d]) target += coordinate * kept_strides[d];
    }
    sums[static_cast<size_t>(target)] += x.data[static_cast<size_t>(i)];
  }
  for (size_t i = 0; i < sums.size(); ++i) y.data[i] = static_cast<float>(sums[i] / static_cast<double>(count));
}

void transpose(const TransposeParams& p, const Tensor& x, Tensor& y) { gather_view(transpose_view(p, x.shape), x, y); }

void slice(const SliceParams& p, const Tensor& x, Tensor& y) { gather_view(slice_view(p, x.shape), x, y); }

}  // namespace flipsweep::reference::detail
