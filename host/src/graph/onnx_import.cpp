#include "flipsweep/graph/onnx_import.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "flipsweep/error.h"
#include "flipsweep/graph/shape_inference.h"
#include "flipsweep/ops/shapes.h"
#include "known_tensor.h"

namespace flipsweep {

namespace {

// A tensor whose values are known at load time (an initializer, a Constant node's output, or
// shape arithmetic folded at load: known_tensor.h). Int64 data stays exact so it can resolve
// shape-like inputs (Reshape's shape, Resize's sizes).
using onnx_load::KnownTensor;
using onnx_load::SymbolicShape;

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file: " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  return buffer.str();
}

const char* onnx_type_name(int type) {
  switch (type) {
    case onnx::TensorProto::FLOAT: return "float";
    case onnx::TensorProto::UINT8: return "uint8";
    case onnx::TensorProto::INT8: return "int8";
    case onnx::TensorProto::UINT16: return "uint16";
    case onnx::TensorProto::INT16: return "int16";
    case onnx::TensorProto::INT32: return "int32";
    case onnx::TensorProto::INT64: return "int64";
    case onnx::TensorProto::STRING: return "string";
    case onnx::TensorProto::BOOL: return "bool";
    case onnx::TensorProto::FLOAT16: return "float16";
    case onnx::TensorProto::DOUBLE: return "double";
    case onnx::TensorProto::BFLOAT16: return "bfloat16";
    default: return "unsupported type";
  }
}

template <typename T>
std::vector<T> raw_values(const std::string& raw, int64_t count, const std::string& what) {
  if (static_cast<int64_t>(raw.size()) != count * static_cast<int64_t>(sizeof(T)))
    throw Error(what + ": raw_data has " + std::to_string(raw.size()) + " bytes, expected " +
                std::to_string(count * static_cast<int64_t>(sizeof(T))));
  std::vector<T> values(static_cast<size_t>(count));
  if (count) std::memcpy(values.data(), raw.data(), raw.size());  // ONNX raw_data is little-endian, like x86
  return values;
}

// Converts a TensorProto; `what` prefixes errors ("model.onnx: initializer 'conv1.weight'").
KnownTensor convert_tensor(const onnx::TensorProto& t, const std::string& what) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    throw Error(what + ": external tensor data is not supported (save the model with the data inside the file)");
  KnownTensor out;
  out.shape.assign(t.dims().begin(), t.dims().end());
  // Checked before any data is copied; the data itself must then be in the file (check_count,
  // raw_values), so a declared size never allocates more than the file holds.
  const int64_t count = checked_element_count(out.shape, what);
  const bool raw = t.has_raw_data();
  auto check_count = [&](int64_t n) {
    if (n != count)
      throw Error(what + ": holds " + std::to_string(n) + " values but its shape " + shape_to_string(out.shape) +
                  " needs " + std::to_string(count));
  };
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      if (raw) {
        out.floats = raw_values<float>(t.raw_data(), count, what);
      } else {
        check_count(t.float_data_size());
        out.floats.assign(t.float_data().begin(), t.float_data().end());
      }
      break;
    case onnx::TensorProto::DOUBLE: {
      std::vector<double> d;
      if (raw) {
        d = raw_values<double>(t.raw_data(), count, what);
      } else {
        check_count(t.double_data_size());
        d.assign(t.double_data().begin(), t.double_data().end());
      }
      out.floats.assign(d.begin(), d.end());
      break;
    }
    case onnx::TensorProto::INT64:
      out.is_float = false;
      if (raw) {
        out.ints = raw_values<int64_t>(t.raw_data(), count, what);
      } else {
        check_count(t.int64_data_size());
        out.ints.assign(t.int64_data().begin(), t.int64_data().end());
      }
      break;
    case onnx::TensorProto::INT32: {
      out.is_float = false;
      if (raw) {
        auto v = raw_values<int32_t>(t.raw_data(), count, what);
        out.ints.assign(v.begin(), v.end());
      } else {
        check_count(t.int32_data_size());
        out.ints.assign(t.int32_data().begin(), t.int32_data().end());
      }
      break;
    }
    default:
      throw Error(what + ": data type " + onnx_type_name(t.data_type()) +
                  " is not supported (flipsweep reads fp32 models; int32/int64 only for shape constants)");
  }
  return out;
}

std::vector<float> known_as_floats(const KnownTensor& t) {
  if (t.is_float) return t.floats;
  return std::vector<float>(t.ints.begin(), t.ints.end());
}

// A scalar constant input (Clip's min and max): exactly one value.
float single_value(const KnownTensor& t, const std::string& where, const char* role) {
  const std::vector<float> values = known_as_floats(t);
  if (values.size() != 1)
    throw Error(where + ": input '" + role + "' must hold one value, it holds " + std::to_string(values.size()));
  return values[0];
}

AutoPad parse_auto_pad(const std::string& s, const std::string& where) {
  if (s == "NOTSET") return AutoPad::NotSet;
  if (s == "SAME_UPPER") return AutoPad::SameUpper;
  if (s == "SAME_LOWER") return AutoPad::SameLower;
  if (s == "VALID") return AutoPad::Valid;
  throw Error(where + ": attribute 'auto_pad' has unsupported value '" + s + "'");
}

// Reads a node's attributes and refuses any it does not understand, so that an attribute
// flipsweep would silently ignore can never change the meaning of a model.
class AttributeReader {
 public:
  AttributeReader(const onnx::NodeProto& node, std::string where) : where_(std::move(where)) {
    for (const auto& a : node.attribute()) attributes_[a.name()] = &a;
  }

  bool has(const std::string& name) const { return attributes_.count(name) > 0; }

  int64_t get_int(const std::string& name, int64_t fallback) {
    const onnx::AttributeProto* a = take(name, onnx::AttributeProto::INT);
    return a ? a->i() : fallback;
  }
  float get_float(const std::string& name, float fallback) {
    const onnx::AttributeProto* a = take(name, onnx::AttributeProto::FLOAT);
    return a ? a->f() : fallback;
  }
  std::string get_string(const std::string& name, const std::string& fallback) {
    const onnx::AttributeProto* a = take(name, onnx::AttributeProto::STRING);
    return a ? a->s() : fallback;
  }
  std::vector<int64_t> get_ints(const std::string& name) {
    const onnx::AttributeProto* a = take(name, onnx::AttributeProto::INTS);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
  }
  std::vector<float> get_floats(const std::string& name) {
    const onnx::AttributeProto* a = take(name, onnx::AttributeProto::FLOATS);
    return a ? std::vector<float>(a->floats().begin(), a->floats().end()) : std::vector<float>{};
  }
  const onnx::TensorProto* get_tensor(const std::string& name) {
    const onnx::AttributeProto* a = take(name, onnx::AttributeProto::TENSOR);
    return a ? &a->t() : nullptr;
  }
  // Accepts an attribute only when it holds its default (an int), since flipsweep implements
  // only that behaviour.
  void require_int(const std::string& name, int64_t only_supported) {
    const onnx::AttributeProto* a = take(name, onnx::AttributeProto::INT);
    if (a && a->i() != only_supported)
      throw Error(where_ + ": attribute '" + name + "' = " + std::to_string(a->i()) + " is not supported (only " +
                  std::to_string(only_supported) + ")");
  }
  void ignore(const std::string& name) { attributes_.erase(name); }

  void finish() const {
    if (!attributes_.empty())
      throw Error(where_ + ": unsupported attribute '" + attributes_.begin()->first + "'");
  }
  const std::string& where() const { return where_; }

 private:
  const onnx::AttributeProto* take(const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto it = attributes_.find(name);
    if (it == attributes_.end()) return nullptr;
    const onnx::AttributeProto* a = it->second;
    attributes_.erase(it);
    if (a->type() != type && a->type() != onnx::AttributeProto::UNDEFINED)
      throw Error(where_ + ": attribute '" + name + "' has the wrong type");
    return a;
  }

  std::string where_;
  std::map<std::string, const onnx::AttributeProto*> attributes_;
};

void split_pads(const std::vector<int64_t>& pads, std::vector<int64_t>& begin, std::vector<int64_t>& end,
                const std::string& where) {
  if (pads.empty()) return;
  if (pads.size() % 2 != 0) throw Error(where + ": attribute 'pads' must have an even number of values");
  const size_t half = pads.size() / 2;
  begin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(half));
  end.assign(pads.begin() + static_cast<std::ptrdiff_t>(half), pads.end());
}

ConvParams parse_conv(AttributeReader& attrs, bool transpose) {
  ConvParams p;
  p.auto_pad = parse_auto_pad(attrs.get_string("auto_pad", "NOTSET"), attrs.where());
  p.group = attrs.get_int("group", 1);
  if (p.group < 1) throw Error(attrs.where() + ": attribute 'group' must be >= 1");
  p.kernel_shape = attrs.get_ints("kernel_shape");
  p.strides = attrs.get_ints("strides");
  p.dilations = attrs.get_ints("dilations");
  split_pads(attrs.get_ints("pads"), p.pads_begin, p.pads_end, attrs.where());
  if (transpose) {
    p.output_padding = attrs.get_ints("output_padding");
    p.output_shape = attrs.get_ints("output_shape");
  }
  return p;
}

PoolParams parse_pool(AttributeReader& attrs, bool is_max) {
  PoolParams p;
  p.auto_pad = parse_auto_pad(attrs.get_string("auto_pad", "NOTSET"), attrs.where());
  p.kernel_shape = attrs.get_ints("kernel_shape");
  if (p.kernel_shape.empty()) throw Error(attrs.where() + ": attribute 'kernel_shape' is required");
  p.strides = attrs.get_ints("strides");
  p.dilations = attrs.get_ints("dilations");
  split_pads(attrs.get_ints("pads"), p.pads_begin, p.pads_end, attrs.where());
  p.ceil_mode = attrs.get_int("ceil_mode", 0) != 0;
  if (is_max) {
    attrs.require_int("storage_order", 0);
  } else {
    p.count_include_pad = attrs.get_int("count_include_pad", 0) != 0;
  }
  return p;
}

// ONNX input positions that are data (tensors flowing through the op) rather than constants
// folded into the op's parameters at load.
std::vector<int> data_input_positions(OpType op, int input_count) {
  switch (op) {
    case OpType::Reshape:
    case OpType::Clip:
    case OpType::Resize:
    case OpType::Pad:
    case OpType::ReduceMean:
    case OpType::Dropout:
    case OpType::Slice:
      return {0};
    default: {
      std::vector<int> all;
      for (int i = 0; i < input_count; ++i) all.push_back(i);
      return all;
    }
  }
}

// Op types the importer takes care of at load rather than at run time: shape arithmetic
// (evaluated, known_tensor.h), Unsqueeze/Squeeze/Cast of data (rewritten as Reshape/Identity)
// and Split (one Slice per output).
constexpr const char* kLoadTimeOps[] = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Cast", "Split"};

bool is_load_time_op(const std::string& type) {
  for (const char* op : kLoadTimeOps)
    if (type == op) return true;
  return false;
}

struct Importer {
  std::string origin;
  const onnx::ModelProto& proto;
  Model model;
  std::map<std::string, KnownTensor> known;        // initializers and Constant outputs by name
  std::set<std::string> initializer_names;
  std::map<std::string, int> data_use_count;       // how often a name is a data input

  Importer(const std::string& o, const onnx::ModelProto& p) : origin(o), proto(p) {}

  int add_value(const std::string& name, ValueKind kind, Shape shape = {}) {
    if (model.graph.value_ids.count(name))
      throw Error(origin + ": value '" + name + "' is defined twice");
    int id = static_cast<int>(model.graph.values.size());
    model.graph.values.push_back(Value{name, kind, std::move(shape)});
    model.stored.emplace_back();
    model.graph.value_ids[name] = id;
    return id;
  }

  // A constant input; one computed from shapes may depend on the batch size only where the caller
  // resolves that (Reshape's target, Resize's sizes[0]).
  const KnownTensor& require_known(const onnx::NodeProto& node, int position, const std::string& where,
                                   const char* role, bool batch_dependent_ok = false) {
    const std::string& name = node.input(position);
    auto it = known.find(name);
    if (it == known.end())
      throw Error(where + ": input " + std::to_string(position) + " ('" + role + "') must be a constant or initializer, '" +
                  name + "' is computed at run time");
    if (!batch_dependent_ok && it->second.depends_on_batch())
      throw Error(where + ": input " + std::to_string(position) + " ('" + role + "') is computed from the batch size; "
                  "flipsweep needs it to be the same for every batch");
    return it->second;
  }

  // Integer constant inputs (Slice's starts, Unsqueeze's axes).
  std::vector<int64_t> known_ints(const onnx::NodeProto& node, int position, const std::string& where, const char* role) {
    const KnownTensor& t = require_known(node, position, where, role);
    if (t.is_float) throw Error(where + ": input '" + std::string(role) + "' must be integers");
    return t.ints;
  }

  // The shapes of every value built so far at batch 1 and 2, recomputed when nodes were added:
  // a value's shape as a function of the batch size N (for Shape and Split).
  size_t shapes_node_count_ = static_cast<size_t>(-1);
  std::vector<Shape> shapes_at_1_, shapes_at_2_;

  SymbolicShape symbolic_shape_of(int id, const std::string& where) {
    const ValueKind kind = model.graph.values[static_cast<size_t>(id)].kind;
    if (kind == ValueKind::Parameter || kind == ValueKind::Constant)
      return onnx_load::constant_shape(model.stored[static_cast<size_t>(id)].shape);
    const size_t nodes = model.graph.weight_nodes.size() + model.graph.activation_nodes.size();
    if (nodes != shapes_node_count_ || static_cast<size_t>(id) >= shapes_at_1_.size()) {
      try {
        shapes_at_1_ = infer_shapes_for_batch(model, 1);
        shapes_at_2_ = infer_shapes_for_batch(model, 2);
      } catch (const Error& e) {
        throw Error(where + ": needs the shapes of the nodes before it: " + e.what());
      }
      shapes_node_count_ = nodes;
    }
    return onnx_load::symbolic_shape(shapes_at_1_[static_cast<size_t>(id)], shapes_at_2_[static_cast<size_t>(id)]);
  }

  bool is_known_int(const std::string& name) const {
    auto it = known.find(name);
    return it != known.end() && !it->second.is_float;
  }

  bool has_input(const onnx::NodeProto& node, int position) const {
    return node.input_size() > position && !node.input(position).empty();
  }

  OpParams parse_params(const onnx::NodeProto& node, OpType op, const std::string& where) {
    AttributeReader attrs(node, where);
    OpParams params;
    switch (op) {
      case OpType::Conv: params = parse_conv(attrs, false); break;
      case OpType::ConvTranspose: params = parse_conv(attrs, true); break;
      case OpType::BatchNormalization: {
        BatchNormParams p;
        p.epsilon = attrs.get_float("epsilon", 1e-5f);
        attrs.ignore("momentum");  // only used when training
        attrs.require_int("training_mode", 0);
        attrs.require_int("spatial", 1);
        attrs.ignore("is_test");
        for (int i = 1; i < node.output_size(); ++i)
          if (!node.output(i).empty())
            throw Error(where + ": training-mode outputs (running mean/var) are not supported");
        params = p;
        break;
      }
      case OpType::LeakyRelu: params = ActivationParams{attrs.get_float("alpha", 0.01f), 0.0f}; break;
      case OpType::HardSigmoid:
        params = ActivationParams{attrs.get_float("alpha", 0.2f), attrs.get_float("beta", 0.5f)};
        break;
      case OpType::Clip: {
        ClipParams p;
        if (model.opset < 11) {
          p.min = attrs.get_float("min", p.min);
          p.max = attrs.get_float("max", p.max);
        } else {
          if (has_input(node, 1)) p.min = single_value(require_known(node, 1, where, "min"), where, "min");
          if (has_input(node, 2)) p.max = single_value(require_known(node, 2, where, "max"), where, "max");
        }
        params = p;
        break;
      }
      case OpType::MaxPool:
        if (node.output_size() > 1 && !node.output(1).empty())
          throw Error(where + ": the Indices output is not supported");
        params = parse_pool(attrs, true);
        break;
      case OpType::AveragePool: params = parse_pool(attrs, false); break;
      case OpType::Flatten: params = FlattenParams{attrs.get_int("axis", 1)}; break;
      case OpType::Reshape: {
        ReshapeParams p;
        p.allow_zero = attrs.get_int("allowzero", 0) != 0;
        if (!has_input(node, 1)) throw Error(where + ": input 1 ('shape') is required");
        const KnownTensor& shape = require_known(node, 1, where, "shape", true);
        if (shape.is_float) throw Error(where + ": input 'shape' must be int64");
        p.target = shape.ints;
        if (shape.depends_on_batch()) {
          const int input = model.graph.find_value(node.input(0));
          if (input < 0) throw Error(where + ": input '" + node.input(0) + "' is not defined before this node");
          try {
            p.target = onnx_load::batch_free_reshape_target(shape, symbolic_shape_of(input, where), p.allow_zero);
          } catch (const Error& e) {
            throw Error(where + ": " + e.what());
          }
        }
        params = p;
        break;
      }
      case OpType::Gemm: {
        GemmParams p;
        p.alpha = attrs.get_float("alpha", 1.0f);
        p.beta = attrs.get_float("beta", 1.0f);
        p.trans_a = attrs.get_int("transA", 0) != 0;
        p.trans_b = attrs.get_int("transB", 0) != 0;
        // Opset < 7 flagged C's unidirectional broadcast explicitly; later opsets always allow it.
        if (model.opset < 7) attrs.ignore("broadcast");
        params = p;
        break;
      }
      case OpType::Concat: {
        if (!attrs.has("axis")) throw Error(where + ": attribute 'axis' is required");
        params = ConcatParams{attrs.get_int("axis", 0)};
        break;
      }
      case OpType::Resize: params = parse_resize(node, attrs, where); break;
      case OpType::Pad: params = parse_pad(node, attrs, where); break;
      case OpType::Softmax: {
        // Before opset 13 Softmax normalises over all dims from `axis` on (default 1).
        SoftmaxParams p;
        p.coerce_2d = model.opset < 13;
        p.axis = attrs.get_int("axis", p.coerce_2d ? 1 : -1);
        params = p;
        break;
      }
      case OpType::ReduceMean: {
        ReduceParams p;
        p.keepdims = attrs.get_int("keepdims", 1) != 0;
        if (model.opset >= 18) {
          p.noop_with_empty_axes = attrs.get_int("noop_with_empty_axes", 0) != 0;
          if (has_input(node, 1)) {
            const KnownTensor& axes = require_known(node, 1, where, "axes");
            if (axes.is_float) throw Error(where + ": input 'axes' must be int64");
            p.axes = axes.ints;
          }
        } else {
          p.axes = attrs.get_ints("axes");
        }
        params = p;
        break;
      }
      case OpType::Transpose: params = TransposeParams{attrs.get_ints("perm")}; break;
      case OpType::Slice: params = parse_slice(node, attrs, where); break;
      case OpType::Dropout: {
        // Inference: the identity. A model asking for training-mode dropout or its mask is refused.
        attrs.ignore("seed");
        attrs.ignore("ratio");    // before opset 12
        attrs.ignore("is_test");  // before opset 7
        if (node.output_size() > 1 && !node.output(1).empty())
          throw Error(where + ": the mask output is not supported (inference only)");
        if (has_input(node, 2)) {
          const KnownTensor& training = require_known(node, 2, where, "training_mode");
          const bool on = training.is_float ? (!training.floats.empty() && training.floats[0] != 0.0f)
                                            : (!training.ints.empty() && training.ints[0] != 0);
          if (on) throw Error(where + ": training_mode = true is not supported (inference only)");
        }
        break;
      }
      default: break;
    }
    attrs.finish();
    return params;
  }

  // Slice: attributes before opset 10, constant inputs (starts, ends, axes, steps) from 10 on.
  SliceParams parse_slice(const onnx::NodeProto& node, AttributeReader& attrs, const std::string& where) {
    SliceParams p;
    if (model.opset < 10) {
      p.starts = attrs.get_ints("starts");
      p.ends = attrs.get_ints("ends");
      p.axes = attrs.get_ints("axes");
      return p;
    }
    if (!has_input(node, 1) || !has_input(node, 2)) throw Error(where + ": inputs 'starts' and 'ends' are required");
    p.starts = known_ints(node, 1, where, "starts");
    p.ends = known_ints(node, 2, where, "ends");
    if (has_input(node, 3)) p.axes = known_ints(node, 3, where, "axes");
    if (has_input(node, 4)) p.steps = known_ints(node, 4, where, "steps");
    return p;
  }

  // Pad: attributes before opset 11 (pads, value), constant inputs from 11 on (pads,
  // constant_value, and from 18 axes).
  PadParams parse_pad(const onnx::NodeProto& node, AttributeReader& attrs, const std::string& where) {
    PadParams p;
    const std::string mode = attrs.get_string("mode", "constant");
    if (mode == "constant") p.mode = PadMode::Constant;
    else if (mode == "reflect") p.mode = PadMode::Reflect;
    else if (mode == "edge") p.mode = PadMode::Edge;
    else throw Error(where + ": attribute 'mode' = '" + mode + "' is not supported (constant, reflect, edge)");
    if (model.opset < 11) {
      if (!attrs.has("pads")) throw Error(where + ": attribute 'pads' is required");
      p.pads = attrs.get_ints("pads");
      p.value = attrs.get_float("value", 0.0f);
      return p;
    }
    if (!has_input(node, 1)) throw Error(where + ": input 1 ('pads') is required");
    const KnownTensor& pads = require_known(node, 1, where, "pads");
    if (pads.is_float) throw Error(where + ": input 'pads' must be int64");
    p.pads = pads.ints;
    if (has_input(node, 2)) {
      const std::vector<float> value = known_as_floats(require_known(node, 2, where, "constant_value"));
      if (value.size() != 1)
        throw Error(where + ": input 'constant_value' must hold one value, it holds " + std::to_string(value.size()));
      p.value = value[0];
    }
    if (has_input(node, 3)) {
      if (model.opset < 18) throw Error(where + ": input 3 ('axes') needs opset 18, the model declares " + std::to_string(model.opset));
      const KnownTensor& axes = require_known(node, 3, where, "axes");
      if (axes.is_float) throw Error(where + ": input 'axes' must be an integer tensor");
      p.axes = axes.ints;
    }
    if (node.input_size() > 4) throw Error(where + ": Pad has at most 4 inputs");
    return p;
  }

  ResizeParams parse_resize(const onnx::NodeProto& node, AttributeReader& attrs, const std::string& where) {
    ResizeParams p;
    const std::string mode = attrs.get_string("mode", "nearest");
    if (mode == "nearest") p.mode = ResizeMode::Nearest;
    else if (mode == "linear") p.mode = ResizeMode::Linear;
    else throw Error(where + ": attribute 'mode' = '" + mode + "' is not supported (nearest, linear)");

    // Opset 10 Resize had the Upsample semantics: asymmetric coordinates, floor rounding.
    const bool opset10 = model.opset < 11;
    const std::string ctm = attrs.get_string("coordinate_transformation_mode", opset10 ? "asymmetric" : "half_pixel");
    if (ctm == "half_pixel") p.coordinate_transform = CoordinateTransform::HalfPixel;
    else if (ctm == "pytorch_half_pixel") p.coordinate_transform = CoordinateTransform::PytorchHalfPixel;
    else if (ctm == "align_corners") p.coordinate_transform = CoordinateTransform::AlignCorners;
    else if (ctm == "asymmetric") p.coordinate_transform = CoordinateTransform::Asymmetric;
    else if (ctm == "tf_half_pixel_for_nn") p.coordinate_transform = CoordinateTransform::TfHalfPixelForNn;
    else throw Error(where + ": attribute 'coordinate_transformation_mode' = '" + ctm + "' is not supported");

    const std::string nearest = attrs.get_string("nearest_mode", opset10 ? "floor" : "round_prefer_floor");
    if (nearest == "round_prefer_floor") p.nearest_rounding = NearestRounding::RoundPreferFloor;
    else if (nearest == "round_prefer_ceil") p.nearest_rounding = NearestRounding::RoundPreferCeil;
    else if (nearest == "floor") p.nearest_rounding = NearestRounding::Floor;
    else if (nearest == "ceil") p.nearest_rounding = NearestRounding::Ceil;
    else throw Error(where + ": attribute 'nearest_mode' = '" + nearest + "' is not supported");

    attrs.ignore("cubic_coeff_a");        // cubic mode only
    attrs.ignore("extrapolation_value");  // tf_crop_and_resize only
    attrs.require_int("exclude_outside", 0);

    const int scales_position = opset10 ? 1 : 2;
    if (has_input(node, scales_position)) {
      p.scales = known_as_floats(require_known(node, scales_position, where, "scales"));
    }
    if (!opset10 && has_input(node, 3)) {
      // sizes[0] is the batch (ignored, see ResizeParams), so it may be computed from the batch size.
      const KnownTensor& sizes = require_known(node, 3, where, "sizes", true);
      if (sizes.is_float) throw Error(where + ": input 'sizes' must be int64");
      for (size_t i = 1; i < sizes.per_batch.size(); ++i)
        if (sizes.per_batch[i] != 0)
          throw Error(where + ": input 'sizes' element " + std::to_string(i) + " depends on the batch size");
      p.sizes = sizes.ints;
      if (!sizes.per_batch.empty() && __builtin_add_overflow(p.sizes[0], sizes.per_batch[0], &p.sizes[0]))
        throw Error(where + ": input 'sizes' overflows int64");  // else sizes[0] is its value at batch 1
    }
    if (!p.sizes.empty() && !p.scales.empty()) throw Error(where + ": only one of 'scales' and 'sizes' may be given");
    if (p.sizes.empty() && p.scales.empty()) throw Error(where + ": one of 'scales' and 'sizes' is required");
    return p;
  }

  void import() {
    const onnx::GraphProto& g = proto.graph();
    for (const auto& opset : proto.opset_import())
      if (opset.domain().empty() || opset.domain() == "ai.onnx") model.opset = opset.version();
    if (model.opset == 0) throw Error(origin + ": no default-domain opset_import");
    check_all_ops_supported(g);

    for (const auto& init : g.initializer()) {
      // An empty input name means "optional input omitted" in ONNX, so a nameless initializer
      // would silently stand in for every omitted input.
      if (init.name().empty()) throw Error(origin + ": an initializer has no name");
      if (known.count(init.name())) throw Error(origin + ": initializer '" + init.name() + "' is defined twice");
      known[init.name()] = convert_tensor(init, origin + ": initializer '" + init.name() + "'");
      initializer_names.insert(init.name());
    }
    // Which names feed data inputs decides whether a float initializer is a parameter: an
    // initializer used only as, say, Resize scales is a constant and never a fault target.
    for (const auto& node : g.node()) {
      // Unsqueeze, Squeeze, Cast and Split pass their data on (a weight unsqueezed before use is
      // still a parameter); Shape reads only a shape and Gather is refused on parameters.
      const std::string& type = node.op_type();
      if ((type == "Unsqueeze" || type == "Squeeze" || type == "Cast" || type == "Split") && node.input_size() > 0)
        data_use_count[node.input(0)]++;
      OpType op;
      if (!op_type_from_name(node.op_type(), &op)) continue;  // reported below with the node name
      for (int pos : data_input_positions(op, node.input_size()))
        if (pos < node.input_size() && !node.input(pos).empty()) data_use_count[node.input(pos)]++;
    }

    // Runtime inputs: graph inputs that are not initializers.
    for (const auto& in : g.input()) {
      if (initializer_names.count(in.name())) continue;
      const std::string where = origin + ": graph input '" + in.name() + "'";
      if (!in.type().has_tensor_type()) throw Error(where + ": only tensor inputs are supported");
      const auto& tt = in.type().tensor_type();
      if (tt.elem_type() != onnx::TensorProto::FLOAT)
        throw Error(where + ": element type " + onnx_type_name(tt.elem_type()) + " is not supported (float only)");
      Shape shape;
      const auto& dims = tt.shape().dim();
      for (int i = 0; i < dims.size(); ++i) {
        if (dims[i].has_dim_value()) {
          if (dims[i].dim_value() < 0)
            throw Error(where + ": dimension " + std::to_string(i) + " is " + std::to_string(dims[i].dim_value()) +
                        ", must not be negative");
          shape.push_back(dims[i].dim_value());
        } else if (i == 0) {
          shape.push_back(1);  // symbolic batch
        } else {
          throw Error(where + ": dimension " + std::to_string(i) + " is symbolic; only the batch (first) dimension may be");
        }
      }
      (void)checked_element_count(shape, where);
      model.graph.inputs.push_back(add_value(in.name(), ValueKind::Input, shape));
    }

    // Parameters in file order, each with its own storage.
    for (const auto& init : g.initializer()) {
      const KnownTensor& t = known[init.name()];
      if (!t.is_float || data_use_count[init.name()] == 0) continue;
      int id = add_value(init.name(), ValueKind::Parameter, t.shape);
      model.stored[static_cast<size_t>(id)] = Tensor(t.shape, t.floats);
      model.graph.parameters.push_back(id);
    }

    int index = 0;
    for (const auto& node : g.node()) import_node(node, index++);

    for (const auto& out : g.output()) {
      int id = model.graph.find_value(out.name());
      if (id < 0) throw Error(origin + ": graph output '" + out.name() + "' is not produced by any node");
      model.graph.outputs.push_back(id);
    }
    if (model.graph.outputs.empty()) throw Error(origin + ": the graph has no outputs");

    std::vector<Shape> declared;
    for (int id : model.graph.inputs) declared.push_back(model.graph.values[static_cast<size_t>(id)].shape);
    auto shapes = infer_shapes(model, declared);
    for (size_t id = 0; id < shapes.size(); ++id) model.graph.values[id].shape = shapes[id];
  }

  static std::string node_name(const onnx::NodeProto& node, int index) {
    return node.name().empty() ? node.op_type() + "_" + std::to_string(index) : node.name();
  }

  // Every operator the model uses that flipsweep lacks, in one error: op type (with its domain when
  // not the default one), how many nodes use it and their names, so a user sees the whole gap at once.
  void check_all_ops_supported(const onnx::GraphProto& g) const {
    struct Missing {
      std::vector<std::string> nodes;
    };
    std::vector<std::string> order;  // op types in order of first use
    std::map<std::string, Missing> missing;
    int index = 0;
    for (const auto& node : g.node()) {
      const bool default_domain = node.domain().empty() || node.domain() == "ai.onnx";
      OpType op;
      if (!default_domain || (!op_type_from_name(node.op_type(), &op) && !is_load_time_op(node.op_type()))) {
        const std::string type = default_domain ? node.op_type() : node.domain() + "." + node.op_type();
        if (!missing.count(type)) order.push_back(type);
        missing[type].nodes.push_back(node_name(node, index));
      }
      ++index;
    }
    if (missing.empty()) return;
    size_t node_count = 0;
    for (const auto& entry : missing) node_count += entry.second.nodes.size();
    constexpr size_t kNamesShown = 8;
    std::ostringstream message;
    message << origin << ": " << order.size() << (order.size() == 1 ? " operator" : " operators")
            << " not supported by flipsweep, used by " << node_count << (node_count == 1 ? " node" : " nodes") << ":";
    for (const std::string& type : order) {
      const std::vector<std::string>& nodes = missing[type].nodes;
      message << "\n  " << type << " (" << nodes.size() << (nodes.size() == 1 ? " node" : " nodes") << "): ";
      for (size_t i = 0; i < nodes.size() && i < kNamesShown; ++i) message << (i ? ", " : "") << "'" << nodes[i] << "'";
      if (nodes.size() > kNamesShown) message << " and " << nodes.size() - kNamesShown << " more";
    }
    message << "\nsupported operators:";
    for (OpType op : supported_op_types()) message << " " << op_type_name(op);
    message << "; at load:";
    for (const char* folded : kLoadTimeOps) message << " " << folded;
    throw Error(message.str());
  }

  void import_node(const onnx::NodeProto& node, int index) {
    const std::string name = node_name(node, index);
    const std::string where = origin + ": node '" + name + "' (" + node.op_type() + ")";
    if (!node.domain().empty() && node.domain() != "ai.onnx")
      throw Error(where + ": operator domain '" + node.domain() + "' is not supported");
    if (is_load_time_op(node.op_type())) {
      import_load_time_op(node, name, where);
      return;
    }
    OpType op;
    if (!op_type_from_name(node.op_type(), &op))
      throw Error(where + ": operator '" + node.op_type() + "' is not supported");

    if (op == OpType::Constant) {
      import_constant(node, where);
      return;
    }

    if (fold_integer_node(node, op, where)) return;
    if (op == OpType::Concat && fold_constant_concat(node, where)) return;

    Node n;
    n.name = name;
    n.op = op;
    n.params = parse_params(node, op, where);
    // torch exports avg_pool2d(padding=0) as a Pad of zeros in front of the AveragePool (DenseNet's
    // transitions): the identity, which every backend then treats as such.
    if (op == OpType::Pad) {
      const auto& pads = std::get<PadParams>(n.params).pads;
      if (std::all_of(pads.begin(), pads.end(), [](int64_t v) { return v == 0; })) {
        n.op = OpType::Identity;
        n.params = std::monostate{};
      }
    }

    bool depends_on_input = false;
    for (int pos : data_input_positions(op, node.input_size())) {
      if (pos >= node.input_size() || node.input(pos).empty()) {
        n.inputs.push_back(-1);
        continue;
      }
      const std::string& in = node.input(pos);
      int id = model.graph.find_value(in);
      if (id < 0 && known.count(in)) {
        if (!known[in].is_float)
          throw Error(where + ": input '" + in + "' is an integer tensor; flipsweep computes in fp32");
        // A float computed at load (Cast of a shape, say) used as data: a constant, never a fault
        // target (every initializer used as data is already a parameter).
        const KnownTensor& t = known[in];
        id = add_value(in, ValueKind::Constant, t.shape);
        model.stored[static_cast<size_t>(id)] = Tensor(t.shape, t.floats);
      }
      if (id < 0)
        throw Error(where + ": input '" + in + "' is not defined before this node (nodes must be topologically sorted)");
      ValueKind kind = model.graph.values[static_cast<size_t>(id)].kind;
      if (kind == ValueKind::Input || kind == ValueKind::Activation) depends_on_input = true;
      n.inputs.push_back(id);
    }
    int real_outputs = 0;
    for (int i = 0; i < node.output_size(); ++i)
      if (!node.output(i).empty()) real_outputs = i + 1;
    if (real_outputs != 1) throw Error(where + ": exactly one output is supported");

    // The exporter deduplicates identical initializers (all-zero running means, say) through
    // Identity nodes. Each logical parameter must own its storage so that two parameters never
    // share a fault: the Identity's output becomes a parameter with a copy of the data.
    if (op == OpType::Identity && !depends_on_input) {
      if (n.inputs.size() != 1 || n.inputs[0] < 0) throw Error(where + ": Identity needs exactly one input");
      int src = n.inputs[0];
      ValueKind kind = model.graph.values[static_cast<size_t>(src)].kind;
      if (kind == ValueKind::Parameter || kind == ValueKind::Constant) {
        int id = add_value(node.output(0), kind, model.stored[static_cast<size_t>(src)].shape);
        model.stored[static_cast<size_t>(id)] = model.stored[static_cast<size_t>(src)];
        if (kind == ValueKind::Parameter) model.graph.parameters.push_back(id);
        return;
      }
    }

    n.outputs.push_back(add_value(node.output(0), depends_on_input ? ValueKind::Activation : ValueKind::Prepared));
    (depends_on_input ? model.graph.activation_nodes : model.graph.weight_nodes).push_back(std::move(n));
  }

  // Adds a node the importer built (not read from the file): its inputs are values already
  // defined; its one output is an activation when any input depends on the images.
  void add_built_node(Node n, const std::string& output) {
    bool depends_on_input = false;
    for (int id : n.inputs) {
      if (id < 0) continue;
      const ValueKind kind = model.graph.values[static_cast<size_t>(id)].kind;
      depends_on_input = depends_on_input || kind == ValueKind::Input || kind == ValueKind::Activation;
    }
    n.outputs.push_back(add_value(output, depends_on_input ? ValueKind::Activation : ValueKind::Prepared));
    (depends_on_input ? model.graph.activation_nodes : model.graph.weight_nodes).push_back(std::move(n));
  }

  int defined_value(const std::string& name, const std::string& where) const {
    const int id = model.graph.find_value(name);
    if (id < 0) throw Error(where + ": input '" + name + "' is not defined before this node (nodes must be topologically sorted)");
    return id;
  }

  void define_known(const onnx::NodeProto& node, KnownTensor t, const std::string& where) {
    if (node.output_size() != 1 || node.output(0).empty()) throw Error(where + ": exactly one output is supported");
    for (const auto& o : proto.graph().output())
      if (o.name() == node.output(0))
        throw Error(where + ": graph output '" + o.name() + "' is computed from shapes only, not from the images");
    if (known.count(node.output(0)) || model.graph.value_ids.count(node.output(0)))
      throw Error(origin + ": value '" + node.output(0) + "' is defined twice");
    known[node.output(0)] = std::move(t);
  }

  // Unsqueeze/Squeeze axes: an attribute before opset 13, an optional constant input from 13 on.
  std::vector<int64_t> axes_of(const onnx::NodeProto& node, AttributeReader& attrs, const std::string& where) {
    if (model.opset < 13) return attrs.get_ints("axes");
    return has_input(node, 1) ? known_ints(node, 1, where, "axes") : std::vector<int64_t>{};
  }

  // Shape, Gather, Unsqueeze, Squeeze, Cast and Split (kLoadTimeOps).
  void import_load_time_op(const onnx::NodeProto& node, const std::string& name, const std::string& where) {
    const std::string& type = node.op_type();
    if (node.input_size() == 0 || node.input(0).empty()) throw Error(where + ": input 0 is required");
    const std::string& data = node.input(0);
    const bool data_known = known.count(data) > 0 && !model.graph.value_ids.count(data);
    AttributeReader attrs(node, where);
    try {
      if (type == "Shape") {
        const int64_t start = attrs.get_int("start", 0), end = attrs.get_int("end", std::numeric_limits<int64_t>::max());
        attrs.finish();
        const SymbolicShape shape = data_known ? onnx_load::constant_shape(known[data].shape)
                                               : symbolic_shape_of(defined_value(data, where), where);
        define_known(node, onnx_load::shape_tensor(shape, start, end), where);
        return;
      }
      if (type == "Gather") {
        const int64_t axis = attrs.get_int("axis", 0);
        attrs.finish();
        // A float initializer is a parameter (a fault target): gathering from it at load would
        // hide the faults, so only integer tensors and float Constants are folded.
        if (!data_known || (known[data].is_float && initializer_names.count(data)))
          throw Error("Gather is supported only on shapes and constants (folded at load), not on '" + data +
                      "', which is a parameter or computed from the images");
        if (!has_input(node, 1)) throw Error("input 1 ('indices') is required");
        define_known(node, onnx_load::gather_known(known[data], require_known(node, 1, where, "indices"), axis), where);
        return;
      }
      if (type == "Unsqueeze" || type == "Squeeze") {
        const std::vector<int64_t> axes = axes_of(node, attrs, where);
        attrs.finish();
        const int input = data_known ? -1 : defined_value(data, where);
        const SymbolicShape in_shape = data_known ? onnx_load::constant_shape(known[data].shape)
                                                  : symbolic_shape_of(input, where);
        SymbolicShape out_shape;
        if (type == "Unsqueeze") {
          out_shape = onnx_load::unsqueeze_dims(in_shape, axes, onnx_load::SymbolicDim{1, 0});
        } else {
          const std::vector<int64_t> dropped = onnx_load::squeeze_axes(in_shape, axes);
          for (size_t a = 0; a < in_shape.size(); ++a)
            if (std::find(dropped.begin(), dropped.end(), static_cast<int64_t>(a)) == dropped.end())
              out_shape.push_back(in_shape[a]);
        }
        if (data_known) {
          Shape fixed;
          for (const auto& d : out_shape) fixed.push_back(d.constant);
          define_known(node, onnx_load::reshaped_known(known[data], fixed), where);
          return;
        }
        KnownTensor target = onnx_load::shape_tensor(out_shape, 0, static_cast<int64_t>(out_shape.size()));
        Node n;
        n.name = name;
        n.op = OpType::Reshape;
        n.params = ReshapeParams{onnx_load::batch_free_reshape_target(target, in_shape, true), true};
        n.inputs = {input};
        add_built_node(std::move(n), single_output(node, where));
        return;
      }
      if (type == "Cast") {
        const int64_t to = attrs.get_int("to", 0);
        attrs.ignore("saturate");  // float8 targets only
        attrs.finish();
        if (data_known) {
          define_known(node, onnx_load::cast_known(known[data], to), where);
          return;
        }
        constexpr int64_t kFloat = 1;
        if (to != kFloat)
          throw Error("Cast of '" + data + "' to ONNX type " + std::to_string(to) + " (flipsweep computes in fp32)");
        Node n;
        n.name = name;
        n.op = OpType::Identity;
        n.inputs = {defined_value(data, where)};
        add_built_node(std::move(n), single_output(node, where));
        return;
      }
      if (type == "Split") {
        import_split(node, name, attrs, where);
        return;
      }
    } catch (const Error& e) {
      const std::string message = e.what();
      if (message.rfind(origin, 0) == 0) throw;  // already located
      throw Error(where + ": " + message);
    }
    throw Error(where + ": internal: no load-time rule for " + type);
  }

  std::string single_output(const onnx::NodeProto& node, const std::string& where) const {
    if (node.output_size() != 1 || node.output(0).empty()) throw Error(where + ": exactly one output is supported");
    return node.output(0);
  }

  // Split along an axis whose length does not depend on the batch: one Slice node per output.
  void import_split(const onnx::NodeProto& node, const std::string& name, AttributeReader& attrs, const std::string& where) {
    const int64_t axis_attribute = attrs.get_int("axis", 0);
    std::vector<int64_t> sizes;
    int64_t parts = node.output_size();
    if (model.opset < 13) {
      sizes = attrs.get_ints("split");
    } else {
      if (has_input(node, 1)) sizes = known_ints(node, 1, where, "split");
      if (model.opset >= 18 && attrs.has("num_outputs")) parts = attrs.get_int("num_outputs", parts);
    }
    attrs.finish();
    const int input = defined_value(node.input(0), where);
    const SymbolicShape shape = symbolic_shape_of(input, where);
    const int64_t rank = static_cast<int64_t>(shape.size());
    const int64_t axis = axis_attribute < 0 ? axis_attribute + rank : axis_attribute;
    if (axis < 0 || axis >= rank)
      throw Error("axis " + std::to_string(axis_attribute) + " is out of range for rank " + std::to_string(rank));
    const onnx_load::SymbolicDim length = shape[static_cast<size_t>(axis)];
    if (length.per_batch != 0) throw Error("splitting the batch axis is not supported");
    if (parts != node.output_size())
      throw Error("num_outputs is " + std::to_string(parts) + " but the node has " + std::to_string(node.output_size()) + " outputs");
    if (sizes.empty()) {
      if (parts < 1) throw Error("needs at least one output");
      // Equal parts; from opset 18 the last may be smaller (ceil), before that they must divide.
      const int64_t part = (length.constant + parts - 1) / parts;
      if (model.opset < 18 && length.constant % parts != 0)
        throw Error("axis length " + std::to_string(length.constant) + " does not split into " + std::to_string(parts) + " equal parts");
      for (int64_t k = 0; k < parts; ++k) sizes.push_back(std::max<int64_t>(0, std::min(part, length.constant - k * part)));
    }
    if (static_cast<int64_t>(sizes.size()) != node.output_size())
      throw Error(std::to_string(sizes.size()) + " split sizes for " + std::to_string(node.output_size()) + " outputs");
    int64_t offset = 0;
    for (size_t k = 0; k < sizes.size(); ++k) {
      if (sizes[k] < 0) throw Error("split size " + std::to_string(sizes[k]) + " is negative");
      if (sizes[k] > length.constant - offset)  // offset <= length here, so this cannot overflow
        throw Error("split sizes add up to more than the axis length " + std::to_string(length.constant));
      const int64_t end = offset + sizes[k];
      if (!node.output(static_cast<int>(k)).empty()) {
        Node n;
        n.name = name + "/output_" + std::to_string(k);
        n.op = OpType::Slice;
        n.params = SliceParams{{offset}, {end}, {axis}, {1}};
        n.inputs = {input};
        add_built_node(std::move(n), node.output(static_cast<int>(k)));
      }
      offset = end;
    }
    if (offset != length.constant)
      throw Error("split sizes add up to " + std::to_string(offset) + ", not the axis length " + std::to_string(length.constant));
  }

  // Add, Sub, Mul, Div, Concat, Slice, Reshape and Identity on integer tensors (shape arithmetic):
  // evaluated here. Integer data never reaches run time, where flipsweep computes in fp32.
  bool fold_integer_node(const onnx::NodeProto& node, OpType op, const std::string& where) {
    const bool folds = op == OpType::Add || op == OpType::Sub || op == OpType::Mul || op == OpType::Div ||
                       op == OpType::Concat || op == OpType::Slice || op == OpType::Reshape || op == OpType::Identity;
    if (!folds) return false;
    std::vector<int> data_positions = data_input_positions(op, node.input_size());
    bool any_integer = false;
    for (int pos : data_positions)
      if (pos < node.input_size()) any_integer = any_integer || is_known_int(node.input(pos));
    if (!any_integer) return false;
    std::vector<const KnownTensor*> inputs;
    for (int pos : data_positions) {
      if (pos >= node.input_size() || node.input(pos).empty()) continue;
      if (!is_known_int(node.input(pos)) || model.graph.value_ids.count(node.input(pos)))
        throw Error(where + ": mixes the integer tensor '" + node.input(data_positions[0]) + "' (shape arithmetic) with '" +
                    node.input(pos) + "', which is not an integer constant");
      inputs.push_back(&known[node.input(pos)]);
    }
    KnownTensor result;
    try {
      switch (op) {
        case OpType::Concat: {
          AttributeReader attrs(node, where);
          if (!attrs.has("axis")) throw Error("attribute 'axis' is required");
          const int64_t axis = attrs.get_int("axis", 0);
          attrs.finish();
          result = onnx_load::concat_known(inputs, axis);
          break;
        }
        case OpType::Slice: {
          AttributeReader attrs(node, where);
          const SliceParams p = parse_slice(node, attrs, where);
          attrs.finish();
          result = onnx_load::slice_known(*inputs.at(0), p);
          break;
        }
        case OpType::Reshape: {
          const ReshapeParams p = std::get<ReshapeParams>(parse_params(node, op, where));
          result = onnx_load::reshaped_known(*inputs.at(0), reshape_output_shape_of(p, inputs.at(0)->shape));
          break;
        }
        case OpType::Identity:
          AttributeReader(node, where).finish();
          result = *inputs.at(0);
          break;
        default:
          AttributeReader(node, where).finish();
          if (inputs.size() != 2) throw Error("needs two inputs");
          result = onnx_load::binary_known(op, *inputs[0], *inputs[1]);
          break;
      }
    } catch (const Error& e) {
      const std::string message = e.what();
      if (message.rfind(origin, 0) == 0) throw;
      throw Error(where + ": " + message);
    }
    define_known(node, std::move(result), where);
    return true;
  }

  static Shape reshape_output_shape_of(const ReshapeParams& p, const Shape& input) {
    return infer_output_shapes(OpType::Reshape, p, {input}, {true})[0];
  }

  // torch.onnx (constant folding off, as the exporter must run to keep raw weights) computes
  // nn.Upsample's Resize scales as a Concat of Constant nodes. A Concat of 1-D values all known
  // at load and none of them a parameter is evaluated here, so the result can feed Resize's
  // constant inputs like any Constant.
  bool fold_constant_concat(const onnx::NodeProto& node, const std::string& where) {
    if (node.input_size() == 0 || node.output_size() != 1) return false;
    KnownTensor result;
    result.is_float = known.count(node.input(0)) ? known[node.input(0)].is_float : true;
    for (const auto& in : node.input()) {
      auto it = known.find(in);
      if (it == known.end() || initializer_names.count(in) || it->second.shape.size() != 1 ||
          it->second.is_float != result.is_float)
        return false;
      result.floats.insert(result.floats.end(), it->second.floats.begin(), it->second.floats.end());
      result.ints.insert(result.ints.end(), it->second.ints.begin(), it->second.ints.end());
    }
    AttributeReader attrs(node, where);
    const int64_t axis = attrs.get_int("axis", 0);
    attrs.finish();
    if (axis != 0 && axis != -1) throw Error(where + ": attribute 'axis' = " + std::to_string(axis) + " is out of range for 1-D inputs");
    result.shape = {static_cast<int64_t>(result.is_float ? result.floats.size() : result.ints.size())};
    const std::string& out = node.output(0);
    known[out] = result;
    if (result.is_float && data_use_count[out] > 0) {
      int id = add_value(out, ValueKind::Constant, result.shape);
      model.stored[static_cast<size_t>(id)] = Tensor(result.shape, result.floats);
    }
    return true;
  }

  void import_constant(const onnx::NodeProto& node, const std::string& where) {
    AttributeReader attrs(node, where);
    KnownTensor t;
    if (const onnx::TensorProto* value = attrs.get_tensor("value")) {
      t = convert_tensor(*value, where + ": attribute 'value'");
    } else if (attrs.has("value_float")) {
      t.floats = {attrs.get_float("value_float", 0.0f)};
    } else if (attrs.has("value_floats")) {
      t.floats = attrs.get_floats("value_floats");
      t.shape = {static_cast<int64_t>(t.floats.size())};
    } else if (attrs.has("value_int")) {
      t.is_float = false;
      t.ints = {attrs.get_int("value_int", 0)};
    } else if (attrs.has("value_ints")) {
      t.is_float = false;
      t.ints = attrs.get_ints("value_ints");
      t.shape = {static_cast<int64_t>(t.ints.size())};
    } else {
      attrs.finish();  // reports sparse_value / value_string as unsupported
      throw Error(where + ": no value attribute");
    }
    attrs.finish();
    if (node.output_size() != 1) throw Error(where + ": exactly one output is supported");
    const std::string& out = node.output(0);
    known[out] = t;
    bool is_graph_output = false;
    for (const auto& o : proto.graph().output()) is_graph_output = is_graph_output || o.name() == out;
    if (t.is_float && (data_use_count[out] > 0 || is_graph_output)) {
      int id = add_value(out, ValueKind::Constant, t.shape);
      model.stored[static_cast<size_t>(id)] = Tensor(t.shape, t.floats);
    }
  }
};

}  // namespace

bool onnx_op_type_is_supported(const std::string& op_type) {
  return op_type_from_name(op_type, nullptr) || is_load_time_op(op_type);
}

Model load_onnx_model_from_bytes(const std::string& bytes, const std::string& origin) {
  onnx::ModelProto proto;
  if (!proto.ParseFromString(bytes)) throw Error(origin + ": not a valid ONNX model (protobuf parse failed)");
  if (!proto.has_graph()) throw Error(origin + ": ONNX model has no graph");
  Importer importer(origin, proto);
  importer.model.path = origin;
  importer.import();
  return std::move(importer.model);
}

Model load_onnx_model(const std::string& path) { return load_onnx_model_from_bytes(read_file_bytes(path), path); }

Tensor load_tensor_proto_file(const std::string& path) {
  onnx::TensorProto proto;
  if (!proto.ParseFromString(read_file_bytes(path))) throw Error(path + ": not a valid ONNX TensorProto");
  KnownTensor t = convert_tensor(proto, path);
  return Tensor(t.shape, known_as_floats(t));
}

}  // namespace flipsweep
