// Reference Gemm and MatMul: plain dot products accumulated in fp32 in increasing k order.
// No product is skipped for a zero operand (0 * Inf must stay NaN).
#include <cstddef>

#include "flipsweep/ops/shapes.h"
#include "internal.h"

namespace flipsweep::reference::detail {

namespace {

// sum over k of a[k * a_step] * b[k * b_step], in order.
float strided_dot(const float* a, int64_t a_step, const float* b, int64_t b_step, int64_t length) {
  float sum = 0.0f;
  for (int64_t k = 0; k < length; ++k) sum += a[k * a_step] * b[k * b_step];
  return sum;
}

// Element strides of `shape`'s leading (batch) dimensions as seen from the broadcast batch shape
// `batch`; broadcast dimensions get stride 0. `matrix_size` is the size of one trailing matrix.
std::vector<int64_t> batch_strides(const Shape& shape, const Shape& batch, int64_t matrix_size) {
  const size_t own_batch_rank = shape.size() - 2;
  std::vector<int64_t> strides(batch.size(), 0);
  int64_t stride = matrix_size;
  for (size_t i = 0; i < own_batch_rank; ++i) {
    size_t own_axis = own_batch_rank - 1 - i;
    size_t batch_axis = batch.size() - 1 - i;
    strides[batch_axis] = shape[own_axis] == 1 ? 0 : stride;
    stride *= shape[own_axis];
  }
  return strides;
}

}  // namespace

void gemm(const GemmParams& p, const Tensor& a, const Tensor& b, const Tensor* c, Tensor& y) {
  const int64_t m_count = y.dim(0);
  const int64_t n_count = y.dim(1);
  const int64_t k_count = p.trans_a ? a.dim(0) : a.dim(1);
  // A'[m, k] = a[m * a_row + k * a_col], B'[k, n] = b[k * b_row + n * b_col].
  const int64_t a_row = p.trans_a ? 1 : k_count;
  const int64_t a_col = p.trans_a ? m_count : 1;
  const int64_t b_row = p.trans_b ? 1 : n_count;
  const int64_t b_col = p.trans_b ? k_count : 1;
  // C broadcasts to [M, N] from the right, like Add.
  int64_t c_row_step = 0, c_col_step = 0;
  if (c) {
    const Shape& cs = c->shape;
    const int64_t c_rows = cs.size() == 2 ? cs[0] : 1;
    const int64_t c_cols = cs.empty() ? 1 : cs.back();
    c_row_step = c_rows == 1 ? 0 : c_cols;
    c_col_step = c_cols == 1 ? 0 : 1;
  }
#pragma omp parallel for collapse(2) schedule(static) if (m_count * n_count * k_count > (1 << 18))
  for (int64_t m = 0; m < m_count; ++m)
    for (int64_t n = 0; n < n_count; ++n) {
      const float product = strided_dot(a.ptr() + m * a_row, a_col, b.ptr() + n * b_col, b_row, k_count);
      float value = p.alpha * product;
      if (c) value += p.beta * c->data[static_cast<size_t>(m * c_row_step + n * c_col_step)];
      y.data[static_cast<size_t>(m * n_count + n)] = value;
    }
}

void matmul(const Tensor& a, const Tensor& b, Tensor& y) {
  // Numpy semantics: a 1-D A is a row vector [1, K], a 1-D B a column vector [K, 1]; the added
  // axis is dropped from the result (infer_output_shapes already did that to y's shape).
  const Shape a_matrix = a.rank() == 1 ? Shape{1, a.dim(0)} : a.shape;
  const Shape b_matrix = b.rank() == 1 ? Shape{b.dim(0), 1} : b.shape;
  const int64_t m_count = a_matrix[a_matrix.size() - 2];
  const int64_t k_count = a_matrix[a_matrix.size() - 1];
  const int64_t n_count = b_matrix[b_matrix.size() - 1];
  const Shape batch =
      broadcast_shapes(Shape(a_matrix.begin(), a_matrix.end() - 2), Shape(b_matrix.begin(), b_matrix.end() - 2));
  const std::vector<int64_t> a_strides = batch_strides(a_matrix, batch, m_count * k_count);
  const std::vector<int64_t> b_strides = batch_strides(b_matrix, batch, k_count * n_count);
  const int64_t batch_count = element_count(batch);
  const int64_t matrix_size = m_count * n_count;
#pragma omp parallel for schedule(static) if (batch_count * matrix_size * k_count > (1 << 18))
  for (int64_t bi = 0; bi < batch_count; ++bi) {
    // Unravel the batch index into per-input offsets.
    int64_t a_offset = 0, b_offset = 0, rest = bi;
    for (size_t axis = batch.size(); axis-- > 0;) {
      const int64_t index = rest % batch[axis];
      rest /= batch[axis];
      a_offset += index * a_strides[axis];
      b_offset += index * b_strides[axis];
    }
    float* out = y.ptr() + bi * matrix_size;
    for (int64_t m = 0; m < m_count; ++m)
      for (int64_t n = 0; n < n_count; ++n)
        out[m * n_count + n] =
            strided_dot(a.ptr() + a_offset + m * k_count, 1, b.ptr() + b_offset + n, n_count, k_count);
  }
}

}  // namespace flipsweep::reference::detail
