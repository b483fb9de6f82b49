// ONNX import: the input is a model file's bytes. load_onnx_model_from_bytes is what
// load_onnx_model runs after reading the file: protobuf parsing, initializers and Constant
// values, every node's attributes and constant inputs, shape inference.
//
// Byte-level mutations of a protobuf mostly break the encoding, so half of the mutations here
// are structural (LLVMFuzzerCustomMutator): the input is parsed as a ModelProto and one field is
// changed — an attribute, a dimension or an opset set to an extreme value (0, -1, 2^31, 2^40,
// INT64_MAX, INT64_MIN, NaN, ...), an op type, an input name, a data type or location, a node
// duplicated or dropped — and the model serialized again. The other half are libFuzzer's own.
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "flipsweep/graph/onnx_import.h"
#include "fuzz_support.h"

namespace {

using Random = std::minstd_rand;

size_t pick(Random& random, size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(random); }

int64_t extreme_int(Random& random) {
  static const int64_t values[] = {0, 1, -1, 2, 3, 7, -2, 255, 65536, int64_t{1} << 31, (int64_t{1} << 32) - 1,
                                   int64_t{1} << 32, int64_t{1} << 40, (int64_t{1} << 40) + 1, int64_t{1} << 50,
                                   int64_t{1} << 62, std::numeric_limits<int64_t>::max(),
                                   std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::min() + 1};
  return values[pick(random, std::size(values))];
}

float extreme_float(Random& random) {
  static const float values[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f, 1e-30f, 1e30f, 3e38f, -3e38f, 1e-45f,
                                 std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                                 std::numeric_limits<float>::quiet_NaN()};
  return values[pick(random, std::size(values))];
}

const char* const kOpTypes[] = {"Conv", "ConvTranspose", "BatchNormalization", "Relu", "LeakyRelu", "Clip",
                                "Sigmoid", "HardSigmoid", "Tanh", "Softsign", "Atan", "Add", "Sub", "Mul", "Div",
                                "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Gemm", "MatMul",
                                "Concat", "Resize", "Pad", "Identity", "Constant", "HardSwish", "Softmax",
                                "ReduceMean", "Transpose", "Dropout"};
const char* const kIntAttributes[] = {"group", "axis", "ceil_mode", "count_include_pad", "transA", "transB",
                                      "allowzero", "storage_order", "training_mode", "spatial", "exclude_outside",
                                      "value_int", "keepdims", "noop_with_empty_axes"};
const char* const kIntsAttributes[] = {"kernel_shape", "strides", "dilations", "pads", "output_padding",
                                       "output_shape", "value_ints", "perm", "axes"};

void mutate_tensor(onnx::TensorProto& t, Random& random) {
  switch (pick(random, 6)) {
    case 0:
      if (t.dims_size() > 0) t.set_dims(static_cast<int>(pick(random, t.dims_size())), extreme_int(random));
      break;
    case 1: t.add_dims(extreme_int(random)); break;
    case 2:
      if (t.dims_size() > 0) t.mutable_dims()->RemoveLast();
      break;
    case 3: t.set_data_type(static_cast<int32_t>(pick(random, 17))); break;
    case 4: t.set_data_location(t.data_location() == onnx::TensorProto::EXTERNAL ? onnx::TensorProto::DEFAULT
                                                                                 : onnx::TensorProto::EXTERNAL); break;
    default:
      if (t.has_raw_data()) t.mutable_raw_data()->resize(pick(random, t.raw_data().size() + 9));
      else if (t.float_data_size() > 0) t.mutable_float_data()->RemoveLast();
      else t.add_int64_data(extreme_int(random));
  }
}

void mutate_attribute(onnx::AttributeProto& a, Random& random) {
  switch (a.type()) {
    case onnx::AttributeProto::INT: a.set_i(extreme_int(random)); break;
    case onnx::AttributeProto::FLOAT: a.set_f(extreme_float(random)); break;
    case onnx::AttributeProto::INTS:
      if (a.ints_size() > 0 && pick(random, 4) != 0) a.set_ints(static_cast<int>(pick(random, a.ints_size())), extreme_int(random));
      else a.add_ints(extreme_int(random));
      break;
    case onnx::AttributeProto::FLOATS:
      if (a.floats_size() > 0) a.set_floats(static_cast<int>(pick(random, a.floats_size())), extreme_float(random));
      else a.add_floats(extreme_float(random));
      break;
    case onnx::AttributeProto::TENSOR: mutate_tensor(*a.mutable_t(), random); break;
    default: a.set_type(static_cast<onnx::AttributeProto::AttributeType>(pick(random, 15)));
  }
}

// The first output of a random node, or `fallback`.
std::string some_node_output(const onnx::GraphProto& g, Random& random, const char* fallback) {
  if (g.node_size() == 0 || pick(random, 3) == 0) return fallback;
  const onnx::NodeProto& other = g.node(static_cast<int>(pick(random, g.node_size())));
  return other.output_size() > 0 ? other.output(0) : fallback;
}

// One structural change; false when the model offers nothing for the change picked.
bool mutate_model(onnx::ModelProto& model, Random& random) {
  onnx::GraphProto& g = *model.mutable_graph();
  const size_t nodes = static_cast<size_t>(g.node_size());
  const int node_index = static_cast<int>(pick(random, nodes));
  onnx::NodeProto* node = nodes ? g.mutable_node(node_index) : nullptr;
  switch (pick(random, 12)) {
    case 0:  // an existing attribute to an extreme value
      if (!node || node->attribute_size() == 0) return false;
      mutate_attribute(*node->mutable_attribute(static_cast<int>(pick(random, node->attribute_size()))), random);
      return true;
    case 1: {  // a new attribute
      if (!node) return false;
      onnx::AttributeProto* a = node->add_attribute();
      if (pick(random, 2)) {
        a->set_name(kIntAttributes[pick(random, std::size(kIntAttributes))]);
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(extreme_int(random));
      } else {
        a->set_name(kIntsAttributes[pick(random, std::size(kIntsAttributes))]);
        a->set_type(onnx::AttributeProto::INTS);
        for (size_t i = 0, n = pick(random, 6); i < n; ++i) a->add_ints(pick(random, 3) ? static_cast<int64_t>(pick(random, 5)) : extreme_int(random));
      }
      return true;
    }
    case 2:  // an initializer's dimensions, type, location or data
      if (g.initializer_size() == 0) return false;
      mutate_tensor(*g.mutable_initializer(static_cast<int>(pick(random, g.initializer_size()))), random);
      return true;
    case 3: {  // a graph input's shape
      if (g.input_size() == 0) return false;
      onnx::TensorShapeProto* shape =
          g.mutable_input(static_cast<int>(pick(random, g.input_size())))->mutable_type()->mutable_tensor_type()->mutable_shape();
      if (shape->dim_size() > 0 && pick(random, 3)) {
        onnx::TensorShapeProto::Dimension* d = shape->mutable_dim(static_cast<int>(pick(random, shape->dim_size())));
        if (pick(random, 5)) d->set_dim_value(extreme_int(random));
        else d->set_dim_param("N");
      } else if (pick(random, 2)) {
        shape->add_dim()->set_dim_value(pick(random, 2) ? static_cast<int64_t>(pick(random, 5)) : extreme_int(random));
      } else if (shape->dim_size() > 0) {
        shape->mutable_dim()->RemoveLast();
      }
      return true;
    }
    case 4:  // another op type
      if (!node) return false;
      node->set_op_type(kOpTypes[pick(random, std::size(kOpTypes))]);
      return true;
    case 5: {  // an input renamed to another value's name, emptied, added or dropped
      if (!node) return false;
      std::vector<std::string> names;
      for (const auto& n : g.node())
        for (const auto& o : n.output()) names.push_back(o);
      for (const auto& i : g.initializer()) names.push_back(i.name());
      for (const auto& i : g.input()) names.push_back(i.name());
      names.push_back("");
      const size_t choice = pick(random, 3);
      if (choice == 0 && node->input_size() > 0) node->set_input(static_cast<int>(pick(random, node->input_size())), names[pick(random, names.size())]);
      else if (choice == 1) node->add_input(names[pick(random, names.size())]);
      else if (node->input_size() > 0) node->mutable_input()->RemoveLast();
      return true;
    }
    case 6:  // a node duplicated (same outputs: a redefinition) or moved to the end
      if (!node) return false;
      *g.add_node() = *node;
      if (pick(random, 2)) g.mutable_node()->SwapElements(static_cast<int>(pick(random, nodes)), g.node_size() - 1);
      return true;
    case 7:  // a node dropped
      if (!node) return false;
      g.mutable_node()->SwapElements(node_index, g.node_size() - 1);
      g.mutable_node()->RemoveLast();
      return true;
    case 8: {  // the default-domain opset
      static const int64_t versions[] = {1, 6, 7, 9, 10, 11, 12, 13, 17, 18, 19, 100, -1, 0};
      if (model.opset_import_size() == 0) model.add_opset_import();
      model.mutable_opset_import(0)->set_version(versions[pick(random, std::size(versions))]);
      return true;
    }
    case 9:  // an output renamed to another node's (a redefinition) or to a fresh name
      if (!node || node->output_size() == 0) return false;
      node->set_output(static_cast<int>(pick(random, node->output_size())), some_node_output(g, random, "x"));
      return true;
    case 10:  // a Constant-valued tensor attribute
      if (!node) return false;
      for (auto& a : *node->mutable_attribute())
        if (a.type() == onnx::AttributeProto::TENSOR) {
          mutate_tensor(*a.mutable_t(), random);
          return true;
        }
      return false;
    default:  // a graph output dropped or renamed
      if (g.output_size() == 0) return false;
      if (pick(random, 2)) g.mutable_output()->RemoveLast();
      else g.mutable_output(0)->set_name(some_node_output(g, random, "y"));
      return true;
  }
}

}  // namespace

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  Random random(seed);
  if (pick(random, 2) == 0) return LLVMFuzzerMutate(data, size, max_size);
  onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size)) || !model.has_graph()) return LLVMFuzzerMutate(data, size, max_size);
  bool changed = false;
  for (size_t i = 0, n = 1 + pick(random, 3); i < n; ++i) changed = mutate_model(model, random) || changed;
  std::string bytes;
  if (!changed || !model.SerializeToString(&bytes) || bytes.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, bytes.data(), bytes.size());
  return bytes.size();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const std::string origin = "fuzz-model.onnx";
  flipsweep::fuzz::expect_success_or_error({origin}, [&] { (void)flipsweep::load_onnx_model_from_bytes(bytes, origin); });
  return 0;
}
