#include "flipsweep/tensor.h"

#include <sstream>

#include "flipsweep/error.h"

namespace flipsweep {

int64_t element_count(const Shape& shape) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  return count;
}

int64_t checked_element_count(const Shape& shape, const std::string& what) {
  int64_t bound = 1;  // zero-sized dimensions counted as 1
  for (int64_t d : shape) {
    if (d < 0) throw Error(what + ": shape " + shape_to_string(shape) + " has a negative dimension");
    // bound * max(d, 1) <= kMaxTensorElements, tested without forming the product.
    if (d > 1 && bound > kMaxTensorElements / d)
      throw Error(what + ": shape " + shape_to_string(shape) + " is too large: its dimensions multiply to more than 2^40, "
                  "the most elements flipsweep accepts in one tensor");
    if (d > 1) bound *= d;
  }
  return element_count(shape);
}

std::string shape_to_string(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
  out << ']';
  return out.str();
}

}  // namespace flipsweep
