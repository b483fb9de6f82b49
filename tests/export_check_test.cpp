// Models exported the plain way (torch.onnx.export in eval mode: BatchNorm folded, parameters
// renamed by the exporter) are recognised at load and warned about; the same module exported by
// python/export_onnx.py is not; and a failed export_onnx.py export leaves no file behind.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "flipsweep/graph/export_check.h"
#include "flipsweep/graph/onnx_import.h"
#include "test_support.h"

namespace flipsweep {
namespace {

namespace fsys = std::filesystem;

TEST(ExportCheck, PlainExportsAreRecognisedAndExportOnnxIsNot) {
  if (std::system(FLIPSWEEP_PYTHON " -c 'import torch, onnx' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-torch and python3-onnx are needed";
  const std::string dir = testing::binary_path("export_check");
  fsys::remove_all(dir);
  fsys::create_directories(dir);
  const std::string script = dir + "/make.py";
  {
    std::FILE* f = std::fopen(script.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(
        "import os, sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "import torch\n"
        "from export_onnx import export\n"
        "torch.manual_seed(0)\n"
        "net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),\n"
        "                          torch.nn.Conv2d(8, 4, 3), torch.nn.BatchNorm2d(4)).eval()\n"
        "x = torch.zeros(1, 3, 8, 8)\n"
        "torch.onnx.export(net, x, sys.argv[1] + '/plain.onnx', opset_version=13)\n"
        "export(net, x, sys.argv[1] + '/kept.onnx', verbose=False)\n"
        "class Gelu(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return torch.nn.functional.gelu(x)\n"
        "try:\n"
        "    export(Gelu().eval(), x, sys.argv[1] + '/failed.onnx', verbose=False)\n"
        "except Exception:\n"
        "    pass\n",
        f);
    std::fclose(f);
  }
  ASSERT_EQ(std::system((std::string(FLIPSWEEP_PYTHON " ") + script + " " + dir + " " + testing::source_path("python") +
                         " > /dev/null 2>&1")
                            .c_str()),
            0);
  const auto plain = plain_export_warnings(load_onnx_model(dir + "/plain.onnx"));
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_NE(plain[0].find("BatchNorm was folded into the convolutions"), std::string::npos) << plain[0];
  EXPECT_NE(plain[0].find("2 of 2 conv biases"), std::string::npos) << plain[0];
  EXPECT_NE(plain[1].find("exporter-made names like 'onnx::"), std::string::npos) << plain[1];
  EXPECT_TRUE(plain_export_warnings(load_onnx_model(dir + "/kept.onnx")).empty());
  // GELU exports as Erf, which the importer lacks: export() refuses it and leaves nothing.
  EXPECT_FALSE(fsys::exists(dir + "/failed.onnx"));
  EXPECT_FALSE(fsys::exists(dir + "/failed.onnx.tmp"));
}

}  // namespace
}  // namespace flipsweep
