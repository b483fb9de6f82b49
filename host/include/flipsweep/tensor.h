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
