#pragma once
#include <string>

#include "flipsweep/graph/graph.h"

namespace flipsweep {

// Reads an ONNX model, resolves constant inputs into op parameters, splits weight preparation
// from the activation pass and infers shapes. Unsupported ops, attributes or data types are an
// Error naming the file, the node and the attribute.
Model load_onnx_model(const std::string& path);

// Same, from serialized bytes; `origin` names the source in error messages.
Model load_onnx_model_from_bytes(const std::string& bytes, const std::string& origin);

// True for the ONNX op types (default domain) load_onnx_model accepts: the OpType ops, and those
// it takes care of at load (shape arithmetic such as Shape and Gather, evaluated with the batch
// size kept free; Unsqueeze, Squeeze and Cast of data; Split, imported as Slices).
bool onnx_op_type_is_supported(const std::string& op_type);

// Reads a serialized onnx TensorProto (the .pb files of ONNX's test data) as fp32. Integer and
// double tensors are converted; other types are an Error.
Tensor load_tensor_proto_file(const std::string& path);

}  // namespace flipsweep
