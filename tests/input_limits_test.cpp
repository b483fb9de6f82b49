// Hostile and broken input (issue 12, docs/FUZZING.md). Declared sizes that no file holds — an IDX
// header claiming billions of images, a tensor cache or ONNX tensor of 2^50 elements, negative
// dimensions, shape products that overflow int64 — fail with an Error naming the file and the
// problem before any large allocation; ONNX external data is refused. Every input the fuzzers
// under fuzz/ found a bug with is kept here, shrunk by hand to what shows the bug, as a
// regression test (the comment says which target found it and what it did).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "flipsweep/campaign/campaign.h"
#include "flipsweep/data/dataset.h"
#include "flipsweep/error.h"
#include "flipsweep/graph/onnx_import.h"
#include "flipsweep/util/yaml_config.h"

namespace flipsweep {
namespace {

namespace fsys = std::filesystem;
using Bytes = std::string;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

// Runs `action`, expecting flipsweep::Error whose message contains every one of `fragments`.
void expect_error(const std::function<void()>& action, const std::vector<std::string>& fragments) {
  try {
    action();
    ADD_FAILURE() << "expected flipsweep::Error containing \"" << fragments.front() << "\"";
  } catch (const Error& error) {
    const std::string message = error.what();
    for (const std::string& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos) << "message: " << message << "\nmissing: " << fragment;
  }
}

// Peak resident memory of this process so far, in MiB. ctest runs each test in its own process,
// so the growth over a test shows what the code under test allocated (and touched).
int64_t peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

// A fresh folder per test, removed afterwards.
class InputLimits : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fsys::temp_directory_path() /
           ("flipsweep_limits_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    fsys::remove_all(dir_);
    fsys::create_directories(dir_);
  }
  void TearDown() override { fsys::remove_all(dir_); }

  std::string write(const std::string& name, const Bytes& bytes) const {
    const std::string path = (dir_ / name).string();
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(out.good()) << path;
    return path;
  }

  // gzip of `bytes` followed by `zeros` zero bytes, deflated in chunks (never held whole).
  std::string write_gzip(const std::string& name, const Bytes& bytes, int64_t zeros = 0) const {
    const std::string path = (dir_ / name).string();
    gzFile file = gzopen(path.c_str(), "wb9");
    EXPECT_NE(file, nullptr) << path;
    EXPECT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
    const std::vector<char> chunk(1 << 20, 0);
    for (int64_t left = zeros; left > 0; left -= static_cast<int64_t>(chunk.size())) {
      const auto n = static_cast<unsigned>(std::min<int64_t>(left, static_cast<int64_t>(chunk.size())));
      EXPECT_EQ(gzwrite(file, chunk.data(), n), static_cast<int>(n));
    }
    EXPECT_EQ(gzclose(file), Z_OK);
    return path;
  }

  fsys::path dir_;
};

void append_u32_big_endian(Bytes& bytes, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(value >> shift));
}

void append_u32_little_endian(Bytes& bytes, uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) bytes.push_back(static_cast<char>(value >> shift));
}

void append_u64_little_endian(Bytes& bytes, uint64_t value) {
  append_u32_little_endian(bytes, static_cast<uint32_t>(value));
  append_u32_little_endian(bytes, static_cast<uint32_t>(value >> 32));
}

// An IDX images header followed by `pixel_bytes` bytes of pixels.
Bytes idx_images(uint32_t count, uint32_t rows, uint32_t cols, size_t pixel_bytes) {
  Bytes bytes;
  for (uint32_t v : {0x00000803u, count, rows, cols}) append_u32_big_endian(bytes, v);
  bytes.append(pixel_bytes, '\x10');
  return bytes;
}

Bytes idx_labels(uint32_t count) {
  Bytes bytes;
  append_u32_big_endian(bytes, 0x00000801);
  append_u32_big_endian(bytes, count);
  bytes.append(count, '\x01');
  return bytes;
}

// A tensor cache header (datasets/FORMATS.md) followed by `body` bytes.
Bytes tensor_cache(uint32_t channels, uint32_t height, uint32_t width, uint64_t count, size_t body) {
  Bytes bytes = "FSWPTC01";
  for (uint32_t v : {1u, channels, height, width}) append_u32_little_endian(bytes, v);
  append_u64_little_endian(bytes, count);
  append_u32_little_endian(bytes, 10);
  append_u32_little_endian(bytes, 0);
  bytes.append(body, '\0');
  return bytes;
}

// ---- IDX ----------------------------------------------------------------------------------------

// idx_fuzzer: rows * cols of two 32-bit dimensions overflowed int64 (UBSan: signed integer
// overflow in open_idx, "both < 2^32, so no overflow"). The header's size is now computed with
// overflow checks.
TEST_F(InputLimits, IdxHeaderWhosePixelCountOverflowsIsAnError) {
  const std::string labels = write("labels", idx_labels(1));
  for (const bool gzip : {false, true}) {
    const Bytes images = idx_images(1, 2223522835u, 4226863524u, 4);
    const std::string path = gzip ? write_gzip("images.gz", images) : write("images", images);
    expect_error([&] { data::open_idx(path, labels); },
                 {path, "header says 1 images of 2223522835x4226863524, more than 2^63 bytes"});
  }
  const std::string path = write("images_max", idx_images(0xffffffffu, 0xffffffffu, 0xffffffffu, 4));
  expect_error([&] { data::open_idx(path, labels); }, {path, "more than 2^63 bytes"});
}

// 4,294,967,295 images of 28x28 declared (3.4 TB), 3 images there: an error naming the file,
// plain or gzip, without allocating what the header claims.
TEST_F(InputLimits, IdxHeaderClaimingBillionsOfImagesFailsBeforeAllocating) {
  const std::string labels = write("labels", idx_labels(3));
  const int64_t before = peak_rss_mib();
  const Bytes images = idx_images(0xffffffffu, 28, 28, 3 * 28 * 28);
  const std::string plain = write("images", images);
  expect_error([&] { data::open_idx(plain, labels); },
               {plain, "truncated: header says 4294967295 images of 28x28 (3367254359296 bytes) but file has 2368 bytes"});
  const std::string gzip = write_gzip("images.gz", images);
  expect_error([&] { data::open_idx(gzip, labels); },
               {gzip, "truncated: header says 4294967295 images of 28x28 (3367254359296 bytes) but decompressed data has 2368 bytes"});
  EXPECT_LT(peak_rss_mib() - before, 64);
}

// A 256 KB gzip file that inflates to 256 MiB, behind a header declaring one 1x1 image: it is
// decompressed only one byte past the declared 17 bytes, never to 256 MiB.
TEST_F(InputLimits, GzipDataLongerThanItsHeaderIsNotDecompressedFurther) {
  const std::string labels = write("labels", idx_labels(1));
  const std::string bomb = write_gzip("bomb.gz", idx_images(1, 1, 1, 1), int64_t{256} << 20);
  ASSERT_LT(fsys::file_size(bomb), 1u << 20);
  const int64_t before = peak_rss_mib();
  expect_error([&] { data::open_idx(bomb, labels); },
               {bomb, "trailing bytes: header says 1 images of 1x1 (17 bytes) but decompressed data has more"});
  EXPECT_LT(peak_rss_mib() - before, 64);
  // The same for a labels file.
  const std::string images = write("images", idx_images(1, 1, 1, 1));
  const std::string label_bomb = write_gzip("labels.gz", idx_labels(1), int64_t{64} << 20);
  expect_error([&] { data::open_idx(images, label_bomb); },
               {label_bomb, "trailing bytes: header says 1 labels (9 bytes) but decompressed data has more"});
  EXPECT_LT(peak_rss_mib() - before, 64);
}

// ---- tensor cache -------------------------------------------------------------------------------

TEST_F(InputLimits, TensorCacheClaiming2To50ImagesFailsBeforeAllocatingLabels) {
  const int64_t before = peak_rss_mib();
  const std::string path = write("cache", tensor_cache(3, 2, 2, uint64_t{1} << 50, 64));
  expect_error([&] { data::open_tensor_cache(path); },
               {path, "truncated: header says 1125899906842624 images of 3x2x2 (18014398509482024 bytes) but file has 104 bytes"});
  EXPECT_LT(peak_rss_mib() - before, 64);
}

// Sizes beyond int64: the label block (count * 4), the pixels, and their sum (header + labels +
// pixels, which overflowed in the 40-byte header addition before).
TEST_F(InputLimits, TensorCacheSizesThatOverflowInt64AreAnError) {
  for (const auto& [c, h, w, count] :
       std::vector<std::tuple<uint32_t, uint32_t, uint32_t, uint64_t>>{{1, 1, 1, uint64_t{1} << 62},
                                                                       {1, 1, 1, (uint64_t{1} << 61) - 1},
                                                                       {0xffffffffu, 0xffffffffu, 0xffffffffu, 1},
                                                                       {65536, 65536, 65536, 65536}}) {
    const std::string path = write("cache", tensor_cache(c, h, w, count, 8));
    expect_error([&] { data::open_tensor_cache(path); }, {path, "truncated: header says", "more than 2^63 bytes"});
  }
}

// ---- preprocessing ------------------------------------------------------------------------------

TEST(InputLimitsPreprocess, PadAndResizeAreLimitedBeforeAnythingIsComputed) {
  const data::ImageFormat gray{1, 28, 28};
  data::Preprocess p;
  p.pad = kInt64Max;  // 2 * pad overflowed before
  expect_error([&] { data::preprocessed_format(gray, p); }, {"preprocess: pad 9223372036854775807", "more than 2^31 values"});
  p.pad = 40000;
  expect_error([&] { data::preprocessed_format(gray, p); }, {"preprocess: pad 40000 gives images of 1x80028x80028"});
  p.pad = 0;
  p.resize_height = p.resize_width = int64_t{1} << 40;
  expect_error([&] { data::preprocessed_format(gray, p); }, {"preprocess: resize 1099511627776x1099511627776"});
  p.resize_height = p.resize_width = 30000;
  p.channels = 3;
  expect_error([&] { data::preprocessed_format(gray, p); }, {"gives images of 3x30000x30000, more than 2^31 values"});
  p.resize_height = p.resize_width = 224;
  EXPECT_EQ(data::preprocessed_format(gray, p), (data::ImageFormat{3, 224, 224}));
}

// ---- ONNX ---------------------------------------------------------------------------------------

// Models built field by field, as the fuzzers' structural mutator edits them.
struct OnnxModel {
  onnx::ModelProto proto;

  explicit OnnxModel(int64_t opset = 13) {
    proto.set_ir_version(7);
    proto.add_opset_import()->set_version(opset);
  }
  onnx::GraphProto& graph() { return *proto.mutable_graph(); }
  OnnxModel& input(const std::string& name, const std::vector<int64_t>& dims) {
    auto* tt = graph().add_input()->mutable_type()->mutable_tensor_type();
    graph().mutable_input(graph().input_size() - 1)->set_name(name);
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
    return *this;
  }
  onnx::TensorProto& initializer(const std::string& name, const std::vector<int64_t>& dims, bool with_data = true) {
    onnx::TensorProto& t = *graph().add_initializer();
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t.add_dims(d);
    if (with_data) {  // only for small shapes: absurd ones (whose product overflows) carry no data
      int64_t count = 1;
      for (int64_t d : dims) count *= d;
      for (int64_t i = 0; i < count; ++i) t.add_float_data(0.5f);
    }
    return t;
  }
  OnnxModel& int_initializer(const std::string& name, const std::vector<int64_t>& values) {
    onnx::TensorProto& t = *graph().add_initializer();
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::INT64);
    t.add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) t.add_int64_data(v);
    return *this;
  }
  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& inputs, const std::string& output) {
    onnx::NodeProto& n = *graph().add_node();
    n.set_op_type(op);
    n.set_name(op + "_node");
    for (const auto& i : inputs) n.add_input(i);
    if (!output.empty()) n.add_output(output);
    return n;
  }
  OnnxModel& output(const std::string& name) {
    graph().add_output()->set_name(name);
    return *this;
  }
  Model load() const {
    std::string bytes;
    proto.SerializeToString(&bytes);
    return load_onnx_model_from_bytes(bytes, "limits.onnx");
  }
};

void add_ints(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& values) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void add_int(onnx::NodeProto& n, const std::string& name, int64_t value) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

// A tensor of 2^50 elements, a shape whose product overflows int64 and a negative dimension are
// refused by their declared shape, before any data is converted or copied.
TEST(InputLimitsOnnx, AbsurdInitializerShapesAreRefusedBeforeAllocating) {
  const int64_t before = peak_rss_mib();
  for (const auto& [dims, problem] : std::vector<std::pair<std::vector<int64_t>, std::string>>{
           {{int64_t{1} << 25, int64_t{1} << 25}, "shape [33554432,33554432] is too large: its dimensions multiply to more than 2^40"},
           {{int64_t{1} << 32, int64_t{1} << 32}, "shape [4294967296,4294967296] is too large"},
           {{kInt64Max, 2}, "is too large"},
           {{0, int64_t{1} << 32, int64_t{1} << 32}, "shape [0,4294967296,4294967296] is too large"},
           {{4, -1}, "shape [4,-1] has a negative dimension"}}) {
    OnnxModel m;
    m.input("x", {1, 4});
    onnx::TensorProto& w = m.initializer("w", dims, false);
    w.set_raw_data(std::string(16, '\0'));
    m.node("MatMul", {"x", "w"}, "y");
    m.output("y");
    expect_error([&] { m.load(); }, {"limits.onnx: initializer 'w'", problem});
  }
  EXPECT_LT(peak_rss_mib() - before, 64);
}

TEST(InputLimitsOnnx, ConstantNodeTensorsAreCheckedLikeInitializers) {
  OnnxModel m;
  m.input("x", {1, 4});
  onnx::NodeProto& c = m.node("Constant", {}, "k");
  auto* a = c.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  a->mutable_t()->add_dims(int64_t{1} << 45);
  m.node("Add", {"x", "k"}, "y");
  m.output("y");
  expect_error([&] { m.load(); }, {"limits.onnx", "node 'Constant_node' (Constant): attribute 'value'", "is too large"});
}

TEST(InputLimitsOnnx, GraphInputShapesAreChecked) {
  {
    OnnxModel m;
    m.input("x", {1, -3, 4});
    m.node("Relu", {"x"}, "y");
    m.output("y");
    expect_error([&] { m.load(); }, {"limits.onnx: graph input 'x': dimension 1 is -3, must not be negative"});
  }
  {
    OnnxModel m;
    m.input("x", {1, int64_t{1} << 31, int64_t{1} << 31});
    m.node("Relu", {"x"}, "y");
    m.output("y");
    expect_error([&] { m.load(); }, {"limits.onnx: graph input 'x': shape [1,2147483648,2147483648] is too large"});
  }
}

// External data (TensorProto.data_location = EXTERNAL) is refused, for initializers and Constant
// values alike: flipsweep reads one self-contained file, never paths a model names.
TEST(InputLimitsOnnx, ExternalDataIsRefused) {
  const auto external = [](onnx::TensorProto& t, const std::string& location) {
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    auto* entry = t.add_external_data();
    entry->set_key("location");
    entry->set_value(location);
  };
  for (const std::string location : {"weights.bin", "../../etc/passwd", "/etc/passwd"}) {
    OnnxModel m;
    m.input("x", {1, 2});
    external(m.initializer("w", {2, 2}, false), location);
    m.node("MatMul", {"x", "w"}, "y");
    m.output("y");
    expect_error([&] { m.load(); },
                 {"limits.onnx: initializer 'w': external tensor data is not supported (save the model with the data inside the file)"});
  }
  OnnxModel m;
  m.input("x", {1, 2});
  onnx::NodeProto& c = m.node("Constant", {}, "k");
  auto* a = c.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  a->mutable_t()->add_dims(2);
  external(*a->mutable_t(), "k.bin");
  m.node("Add", {"x", "k"}, "y");
  m.output("y");
  expect_error([&] { m.load(); }, {"limits.onnx: node 'Constant_node' (Constant): attribute 'value': external tensor data"});
}

// onnx_import_fuzzer: errors from shape inference during import did not name the model file
// ("node 'Pad_0' (Pad): Pad (reflect) pads ... must be smaller than ..."); now every one does.
TEST(InputLimitsOnnx, ShapeErrorsNameTheModelFile) {
  OnnxModel m;
  m.input("x", {1, 1, 2, 4}).int_initializer("pads", {0, 0, 0, 2, 0, 0, 3, 1});
  onnx::NodeProto& pad = m.node("Pad", {"x", "pads"}, "y");
  auto* mode = pad.add_attribute();
  mode->set_name("mode");
  mode->set_type(onnx::AttributeProto::STRING);
  mode->set_s("reflect");
  m.output("y");
  expect_error([&] { m.load(); },
               {"limits.onnx: node 'Pad_node' (Pad): Pad (reflect) pads [0,0,0,2,0,0,3,1] must be smaller than axis 2"});
}

// Attributes and constant inputs at the extremes of int64 and float: each shape rule's arithmetic
// is checked, and every inferred shape is bounded like the shapes in the file.
TEST(InputLimitsOnnx, ExtremeAttributesGiveErrorsNotOverflows) {
  const auto conv = [](const std::function<void(onnx::NodeProto&)>& edit, const std::vector<std::string>& fragments,
                       const std::vector<int64_t>& weight = {1, 1, 3, 3}) {
    OnnxModel m;
    m.input("x", {1, 1, 8, 8});
    m.initializer("w", weight);
    edit(m.node("Conv", {"x", "w"}, "y"));
    m.output("y");
    expect_error([&] { m.load(); }, fragments);
  };
  conv([](onnx::NodeProto& n) { add_ints(n, "dilations", {kInt64Max, 1}); },
       {"limits.onnx: node 'Conv_node' (Conv): dilated kernel size is out of range"});
  conv([](onnx::NodeProto& n) { add_ints(n, "pads", {kInt64Max, 0, kInt64Max, 0}); },
       {"padded input size is out of range"});
  conv([](onnx::NodeProto& n) { add_int(n, "group", kInt64Max); }, {"input channels", "out of range"}, {1, 2, 3, 3});
  conv([](onnx::NodeProto& n) { add_ints(n, "pads", {int64_t{1} << 41, 0, 0, 0}); },
       {"limits.onnx: node 'Conv_node' (Conv): output 'y': shape [1,1,2199023255558,6] is too large"});

  const auto transpose = [](const std::function<void(onnx::NodeProto&)>& edit, const std::vector<std::string>& fragments) {
    OnnxModel m;
    m.input("x", {1, 1, 8, 8});
    m.initializer("w", {1, 1, 3, 3});
    edit(m.node("ConvTranspose", {"x", "w"}, "y"));
    m.output("y");
    expect_error([&] { m.load(); }, fragments);
  };
  transpose([](onnx::NodeProto& n) { add_ints(n, "strides", {kInt64Max, 1}); }, {"ConvTranspose output size is out of range"});
  transpose([](onnx::NodeProto& n) { add_ints(n, "output_shape", {kInt64Min, 8}); }, {"ConvTranspose", "out of range"});
  transpose([](onnx::NodeProto& n) { add_ints(n, "output_padding", {kInt64Max, 0}); }, {"ConvTranspose output size is out of range"});

  {  // Pad with INT64_MIN: -pads overflowed.
    OnnxModel m;
    m.input("x", {1, 4}).int_initializer("pads", {kInt64Min, 0, 0, 0});
    m.node("Pad", {"x", "pads"}, "y");
    m.output("y");
    expect_error([&] { m.load(); }, {"limits.onnx: node 'Pad_node' (Pad): Pad pads", "out of range"});
  }
  {  // Reshape to a target whose product overflows.
    OnnxModel m;
    m.input("x", {1, 4}).int_initializer("shape", {int64_t{1} << 40, int64_t{1} << 40, -1});
    m.node("Reshape", {"x", "shape"}, "y");
    m.output("y");
    expect_error([&] { m.load(); }, {"limits.onnx: node 'Reshape_node' (Reshape): Reshape target", "out of range"});
  }
  for (const float scale : {1e30f, std::numeric_limits<float>::infinity()}) {  // float -> int64 overflowed
    OnnxModel m;
    m.input("x", {1, 1, 2, 2});
    onnx::TensorProto& scales = m.initializer("scales", {4});
    for (int i = 0; i < 3; ++i) scales.set_float_data(i, 1.0f);
    scales.set_float_data(3, scale);
    m.node("Resize", {"x", "", "scales"}, "y");
    m.output("y");
    expect_error([&] { m.load(); }, {"limits.onnx: node 'Resize_node' (Resize): Resize scale", "larger than 2^40"});
  }
}

// Clip's min and max are scalars: an empty constant was read with .at(0), a std::out_of_range
// escaping as an internal error.
TEST(InputLimitsOnnx, ClipBoundsMustHoldOneValue) {
  OnnxModel m;
  m.input("x", {1, 4});
  m.initializer("lo", {0});
  m.node("Clip", {"x", "lo"}, "y");
  m.output("y");
  expect_error([&] { m.load(); }, {"limits.onnx: node 'Clip_node' (Clip): input 'min' must hold one value, it holds 0"});
}

// An Identity of a parameter with its input missing read n.inputs[0] of an empty list.
TEST(InputLimitsOnnx, IdentityWithoutItsInputIsAnError) {
  for (const std::vector<std::string>& inputs : {std::vector<std::string>{}, std::vector<std::string>{""}}) {
    OnnxModel m;
    m.input("x", {1, 4});
    m.initializer("b", {4});
    m.node("Identity", inputs, "c");
    m.node("Add", {"x", "b"}, "y");
    m.output("y");
    expect_error([&] { m.load(); }, {"limits.onnx: node 'Identity_node' (Identity): Identity needs exactly one input"});
  }
}

// ---- YAML configs -------------------------------------------------------------------------------

class InputLimitsConfig : public InputLimits {
 protected:
  void SetUp() override {
    InputLimits::SetUp();
    write("model.onnx", "");
  }
  // A campaign config whose dataset is `dataset` (one YAML value) and with `extra` lines appended.
  std::string campaign(const std::string& dataset, const std::string& extra = "") const {
    return write("campaign.yaml", "ber: 1e-5\nformats: [fp32]\nmodels: [{path: model.onnx, saf: none}]\ndataset: " +
                                      dataset + "\n" + extra);
  }
};

// campaign_config_fuzzer: a key that is a list or mapping (`? [a]: 1`, `{[a]: 1}`) threw
// yaml-cpp's TypedBadConversion out of require_known_keys.
TEST_F(InputLimitsConfig, KeysThatAreNotNamesAreAnError) {
  const std::string top = campaign("'idx:a,b'", "? [a, b]\n: 1\n");
  expect_error([&] { load_campaign_config(top); }, {top, "the config has a key that is a list, expected a field name"});
  const std::string nested = campaign("{format: idx, paths: [a, b], preprocess: {{mean: 1}: 2}}");
  expect_error([&] { load_campaign_config(nested); },
               {nested, "field 'dataset.preprocess' has a key that is a mapping, expected a field name"});
}

// campaign_config_fuzzer: dataset errors found only when the files were opened named neither the
// config nor the field ("unknown dataset format \"cifap10\" ..."); they are now config errors.
TEST_F(InputLimitsConfig, DatasetSpecErrorsNameTheConfigAndField) {
  std::string path = campaign("{format: cifap10, paths: [a.bin]}");
  expect_error([&] { load_campaign_config(path); }, {path, "field 'dataset.format': unknown dataset format \"cifap10\""});
  path = campaign("{format: idx, paths: [images]}");
  expect_error([&] { load_campaign_config(path); }, {path, "field 'dataset.paths': dataset format idx needs 2 file(s), got 1"});
  path = campaign("{format: tensor-cache, paths: ['']}");
  expect_error([&] { load_campaign_config(path); }, {path, "field 'dataset.paths': dataset format tensor-cache: empty file name"});
  path = campaign("'imagenet:/x'");
  expect_error([&] { load_campaign_config(path); }, {path, "field 'dataset': dataset \"imagenet:/x\": unknown format"});
  path = campaign("{spec: 'idx:only-one'}");
  expect_error([&] { load_campaign_config(path); }, {path, "field 'dataset.spec': dataset \"idx:only-one\""});
}

// campaign_config_fuzzer: a model path with a component longer than NAME_MAX made
// std::filesystem::exists throw filesystem_error ("File name too long"), an internal error.
TEST_F(InputLimitsConfig, AnUncheckableModelPathIsAnError) {
  const std::string long_name(300, 'm');
  const std::string path = write("campaign.yaml", "ber: 1e-5\nformats: [fp32]\nmodels: [{path: " + long_name +
                                                      ".onnx, saf: none}]\ndataset: 'idx:a,b'\n");
  expect_error([&] { load_campaign_config(path); },
               {path, "field 'models[0].path': model file", "cannot be checked: File name too long"});
}

// Preprocessing values from a config that give absurd images are blamed on their field.
TEST_F(InputLimitsConfig, AbsurdPreprocessingNamesItsField) {
  Bytes images;
  for (uint32_t v : {0x00000803u, 1u, 2u, 2u}) append_u32_big_endian(images, v);
  images.append(4, '\x20');
  write("images", images);
  write("labels", idx_labels(1));
  const std::string path = campaign("{format: idx, paths: [images, labels], preprocess: {resize: [1000000, 1000000]}}");
  const CampaignConfig config = load_campaign_config(path);
  expect_error([&] { open_configured_dataset(config.dataset, path); },
               {path, "field 'dataset.preprocess.resize'", "gives images of 1x1000000x1000000, more than 2^31 values"});
}

}  // namespace
}  // namespace flipsweep
