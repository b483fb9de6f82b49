// Every supported op against ONNX's own operator conformance cases (Debian package
// libonnx-testdata: data/node and data/pytorch-converted). A case runs when every op in its
// model is one flipsweep supports; the only cases left out are listed in kExcluded with the
// reason, so a new failure can never hide as a skip.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "flipsweep/backend/reference_interpreter.h"
#include "flipsweep/error.h"
#include "flipsweep/model/weight_preparation.h"
#include "test_support.h"

namespace flipsweep {
namespace {

namespace fsys = std::filesystem;
const char* kTestDataRoot = "/usr/share/libonnx-testdata/data";

// Cases for supported ops whose features flipsweep rejects on purpose, with the reason.
const std::map<std::string, std::string> kExcluded = {
    {"test_batchnorm_epsilon_training_mode", "training-mode BatchNormalization (flipsweep is inference only)"},
    {"test_batchnorm_example_training_mode", "training-mode BatchNormalization (flipsweep is inference only)"},
    {"test_maxpool_with_argmax_2d_precomputed_pads", "MaxPool's Indices output"},
    {"test_maxpool_with_argmax_2d_precomputed_strides", "MaxPool's Indices output"},
    {"test_resize_downsample_scales_cubic", "cubic Resize"},
    {"test_resize_downsample_scales_cubic_A_n0p5_exclude_outside", "cubic Resize"},
    {"test_resize_downsample_scales_cubic_align_corners", "cubic Resize"},
    {"test_resize_downsample_sizes_cubic", "cubic Resize"},
    {"test_resize_upsample_scales_cubic", "cubic Resize"},
    {"test_resize_upsample_scales_cubic_A_n0p5_exclude_outside", "cubic Resize"},
    {"test_resize_upsample_scales_cubic_align_corners", "cubic Resize"},
    {"test_resize_upsample_scales_cubic_asymmetric", "cubic Resize"},
    {"test_resize_upsample_sizes_cubic", "cubic Resize"},
    {"test_resize_tf_crop_and_resize", "tf_crop_and_resize Resize"},
    // Dimension 0 of the input is the batch, whose size flipsweep chooses at run time.
    {"test_split_equal_parts_1d", "Split along axis 0 (the batch)"},
    {"test_split_equal_parts_default_axis", "Split along axis 0 (the batch)"},
    {"test_split_variable_parts_1d", "Split along axis 0 (the batch)"},
    {"test_split_variable_parts_default_axis", "Split along axis 0 (the batch)"},
    {"test_split_zero_size_splits", "Split along axis 0 (the batch)"},
    {"test_squeeze", "Squeeze of axis 0 (the batch)"},
};

bool read_model(const std::string& path, onnx::ModelProto& model) {
  std::ifstream in(path, std::ios::binary);
  return in && model.ParseFromIstream(&in);
}

// flipsweep requires Reshape's shape, Clip's bounds, Resize's roi/scales/sizes, Pad's pads/
// constant_value/axes, Slice's starts/ends/axes/steps, Split's sizes and Unsqueeze/Squeeze's axes
// to be known at load (they become op parameters). ONNX's cases feed them as
// graph inputs, so the harness turns those inputs into initializers holding the test data's
// values, exactly what an exporter emits.
bool is_static_slot(const std::string& op, int position) {
  if (op == "Reshape" || op == "Clip" || op == "Resize" || op == "Pad" || op == "Slice" || op == "Split" ||
      op == "Unsqueeze" || op == "Squeeze")
    return position >= 1;
  return false;
}

std::set<std::string> static_input_names(const onnx::ModelProto& model) {
  std::set<std::string> names;
  for (const auto& node : model.graph().node())
    for (int i = 0; i < node.input_size(); ++i)
      if (is_static_slot(node.op_type(), i) && !node.input(i).empty()) names.insert(node.input(i));
  return names;
}

bool has_elem_type(const onnx::ValueInfoProto& v, int type) {
  return v.type().has_tensor_type() && v.type().tensor_type().elem_type() == type;
}

// Ops that only move elements: on int32 data their fp32 result is exact (ONNX's edge and reflect
// Pad cases use int32), so such cases run with their int32 tensors read as fp32.
bool only_moves_data(const onnx::ModelProto& model) {
  for (const auto& node : model.graph().node())
    if (node.op_type() != "Pad") return false;
  return true;
}

std::string model_with_static_inputs_baked(const std::string& dir, int set, std::vector<Tensor>& runtime_inputs) {
  onnx::ModelProto model;
  if (!read_model(dir + "/model.onnx", model)) throw Error(dir + ": cannot read model.onnx");
  const std::set<std::string> static_names = static_input_names(model);
  onnx::GraphProto* graph = model.mutable_graph();
  if (only_moves_data(model)) {
    auto as_float = [](onnx::ValueInfoProto& v) {
      if (has_elem_type(v, onnx::TensorProto::INT32)) v.mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    };
    for (auto& v : *graph->mutable_input())
      if (!static_names.count(v.name())) as_float(v);
    for (auto& v : *graph->mutable_output()) as_float(v);
  }
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> kept;
  runtime_inputs.clear();
  std::set<std::string> initializers;
  for (const auto& init : graph->initializer()) initializers.insert(init.name());
  int index = 0;
  for (const auto& in : graph->input()) {
    if (initializers.count(in.name())) {  // old exporters list initializers as inputs too
      *kept.Add() = in;
      continue;
    }
    const std::string pb = dir + "/test_data_set_" + std::to_string(set) + "/input_" + std::to_string(index++) + ".pb";
    if (static_names.count(in.name())) {
      onnx::TensorProto tensor;
      std::ifstream file(pb, std::ios::binary);
      if (!file || !tensor.ParseFromIstream(&file)) throw Error(pb + ": cannot read");
      tensor.set_name(in.name());
      *graph->add_initializer() = tensor;
    } else {
      *kept.Add() = in;
      runtime_inputs.push_back(load_tensor_proto_file(pb));
    }
  }
  graph->mutable_input()->Swap(&kept);
  std::string bytes;
  model.SerializeToString(&bytes);
  return bytes;
}

bool is_float_typed(const onnx::ValueInfoProto& v) { return has_elem_type(v, onnx::TensorProto::FLOAT); }

// Case directories whose ops are all supported and whose data tensors are all fp32 (flipsweep
// computes in fp32; integer and fp16 variants of an op are out of scope, except int32 cases of
// ops that only move data). Inputs the harness bakes into parameters (shape, pads) may be ints.
std::vector<std::string> supported_cases() {
  std::vector<std::string> cases;
  for (const char* suite : {"node", "pytorch-converted"}) {
    const fsys::path root = fsys::path(kTestDataRoot) / suite;
    if (!fsys::exists(root)) continue;
    for (const auto& entry : fsys::directory_iterator(root)) {
      onnx::ModelProto model;
      if (!read_model((entry.path() / "model.onnx").string(), model)) continue;
      bool supported = true;
      for (const auto& node : model.graph().node()) {
        supported = supported && onnx_op_type_is_supported(node.op_type());
      }
      const std::set<std::string> static_names = static_input_names(model);
      const bool int32_exact = supported && only_moves_data(model);
      auto data_typed = [&](const onnx::ValueInfoProto& v) {
        return is_float_typed(v) || (int32_exact && has_elem_type(v, onnx::TensorProto::INT32));
      };
      for (const auto& v : model.graph().input())
        supported = supported && (static_names.count(v.name()) || data_typed(v));
      for (const auto& v : model.graph().output()) supported = supported && data_typed(v);
      if (supported) cases.push_back(std::string(suite) + "/" + entry.path().filename().string());
    }
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

std::string case_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

class OnnxConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxConformance, MatchesExpectedOutputs) {
  const std::string name = fsys::path(GetParam()).filename().string();
  auto excluded = kExcluded.find(name);
  const std::string dir = std::string(kTestDataRoot) + "/" + GetParam();
  if (excluded != kExcluded.end()) {
    // Excluded cases must still fail loudly at load, never run with a wrong answer.
    EXPECT_THROW(load_onnx_model(dir + "/model.onnx"), Error) << "excluded because: " << excluded->second;
    return;
  }
  for (int set = 0; fsys::exists(dir + "/test_data_set_" + std::to_string(set)); ++set) {
    std::vector<Tensor> inputs;
    Model model = load_onnx_model_from_bytes(model_with_static_inputs_baked(dir, set, inputs), dir + "/model.onnx");
    WeightSet weights = WeightPreparation(model).prepare_clean();
    auto expected = testing::load_case_tensors(dir, "output", set);
    auto outputs = run_reference_graph(model, weights, inputs);
    ASSERT_EQ(outputs.size(), expected.size());
    for (size_t k = 0; k < outputs.size(); ++k)
      EXPECT_TRUE(testing::tensors_match(outputs[k], expected[k], 1e-3, 1e-6)) << "data set " << set << ", output " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(LibOnnxTestdata, OnnxConformance, ::testing::ValuesIn(supported_cases()), case_test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OnnxConformance);

TEST(OnnxConformanceSuite, TestDataIsInstalled) {
  if (!fsys::exists(kTestDataRoot))
    GTEST_SKIP() << "libonnx-testdata is not installed (scripts/install-deps.sh installs it); conformance cases not run";
  // Every supported op should be covered by at least one case.
  auto cases = supported_cases();
  EXPECT_GT(cases.size(), 150u);
}

}  // namespace
}  // namespace flipsweep
