// Fault-target selection: roles through SAF chains, patterns, and errors for empty selections.
#include "flipsweep/error.h"
#include "flipsweep/faults/targets.h"
#include "test_support.h"

namespace flipsweep {
namespace {

Model resnet20_tanh() { return load_onnx_model(testing::source_path("tests/golden/resnet20_tanh_saf/model.onnx")); }

std::vector<std::string> names(const Model& m, const std::vector<int>& ids) {
  std::vector<std::string> out;
  for (int id : ids) out.push_back(m.graph.values[static_cast<size_t>(id)].name);
  return out;
}

TEST(FaultTargets, DefaultIsConvAndLinearWeightsThroughTheSafChain) {
  Model m = resnet20_tanh();
  auto targets = names(m, select_fault_targets(m, TargetSpec{}));
  // 21 convs (19 in blocks/stem + 2 projection shortcuts) and the classifier.
  EXPECT_EQ(targets.size(), 22u);
  EXPECT_EQ(targets.front(), "conv1.weight");
  EXPECT_NE(std::find(targets.begin(), targets.end(), "fc.weight"), targets.end());
  EXPECT_NE(std::find(targets.begin(), targets.end(), "layer2.0.downsample.0.weight"), targets.end());
  for (const auto& n : targets) EXPECT_EQ(n.find("bn"), std::string::npos) << n;
}

TEST(FaultTargets, RolesCoverBiasesAndBatchNorm) {
  Model m = resnet20_tanh();
  auto roles = parameter_roles(m);
  auto role = [&](const std::string& name) { return roles[static_cast<size_t>(m.graph.find_value(name))]; };
  EXPECT_EQ(role("conv1.weight"), ParameterRole::ConvWeight);
  EXPECT_EQ(role("fc.weight"), ParameterRole::LinearWeight);
  EXPECT_EQ(role("fc.bias"), ParameterRole::Bias);
  EXPECT_EQ(role("bn1.weight"), ParameterRole::BatchNormAffine);
  EXPECT_EQ(role("bn1.running_var"), ParameterRole::BatchNormStats);

  TargetSpec stats;
  stats.roles = {ParameterRole::BatchNormStats};
  EXPECT_EQ(select_fault_targets(m, stats).size(), 42u);  // mean and var of 21 BN layers
}

TEST(FaultTargets, PatternsIncludeAndExclude) {
  Model m = resnet20_tanh();
  TargetSpec spec;
  spec.include = {"layer3.*.conv?.weight"};
  spec.exclude = {"layer3.0.*"};
  auto targets = names(m, select_fault_targets(m, spec));
  EXPECT_EQ(targets, (std::vector<std::string>{"layer3.1.conv1.weight", "layer3.1.conv2.weight", "layer3.2.conv1.weight",
                                               "layer3.2.conv2.weight"}));
}

TEST(FaultTargets, PatternMatchingNothingIsAnError) {
  Model m = resnet20_tanh();
  TargetSpec spec;
  spec.include = {"layer9.*"};
  try {
    select_fault_targets(m, spec);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer9.*"), std::string::npos);
  }
  TargetSpec none;
  none.roles = {};
  EXPECT_THROW(select_fault_targets(m, none), Error);
}

TEST(FaultTargets, GlobMatching) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("a*c", "abbbc"));
  EXPECT_TRUE(glob_match("a?c", "abc"));
  EXPECT_FALSE(glob_match("a?c", "ac"));
  EXPECT_TRUE(glob_match("*.weight", "layer1.0.conv1.weight"));
  EXPECT_FALSE(glob_match("*.weight", "layer1.0.conv1.bias"));
  EXPECT_TRUE(glob_match("l*1*w*", "layer1.0.conv1.weight"));
}

}  // namespace
}  // namespace flipsweep
