#pragma once
// Dense fp32 tensors (activations, parameters) and int64 tensors (shape constants), row-major
// in ONNX/PyTorch order. Nothing here knows about layouts other than plain row-major; backends
// keep their own blocked copies.
#include <cstdint>
#include <string>
#include <vector>

namespace flipsweep {

using Shape = std::vector<int64_t>;

int64_t element_count(const Shape& shape);

// The most elements one tensor may have: 2^40 (4 TiB as fp32), far beyond any real network, and
// small enough that byte counts and batch multiples of it cannot overflow int64. Shapes read from
// files (ONNX initializers and inputs) and inferred from them are checked against it before
// anything is allocated.
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 40;

// element_count for a shape that comes from outside: throws Error("<what>: ...") when a
// dimension is negative or the shape, with zero-sized dimensions counted as 1, has more than
// kMaxTensorElements elements (so that no product of some of its dimensions can overflow either).
int64_t checked_element_count(const Shape& shape, const std::string& what);
std::string shape_to_string(const Shape& shape);

struct Tensor {
  Shape shape;
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(Shape s) : shape(std::move(s)), data(static_cast<size_t>(element_count(shape))) {}
  Tensor(Shape s, std::vector<float> values) : shape(std::move(s)), data(std::move(values)) {}

  int64_t size() const { return static_cast<int64_t>(data.size()); }
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t dim(int64_t axis) const { return shape[static_cast<size_t>(axis)]; }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }
};

struct Int64Tensor {
  Shape shape;
  std::vector<int64_t> data;
};

}  // namespace flipsweep
