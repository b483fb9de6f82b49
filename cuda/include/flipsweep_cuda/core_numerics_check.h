#pragma once
// Compile-and-run check of the core/ numerics under nvcc: one kernel evaluates, for each input
// float, the saturated activation functions (SAFs), every PointwiseOp, encode/decode with bit
// flips and stuck-at faults for every StorageKind, Philox and the FLIPSWEEP_HD fault-sampling
// helpers, and returns every result as bits. The host twin runs the same element function
// compiled by the host compiler; tests/saf_numerics_test.cpp requires identical words.
//
// Layout: kCoreCheckColumns words per input, input-major; column c of input i is
// result[i * kCoreCheckColumns + c]. core_check_column_name(c) names a column.
#include <cstdint>
#include <vector>

#include "flipsweep/core/bit_ops.h"
#include "flipsweep/core/fault_sampling.h"
#include "flipsweep/core/host_device.h"
#include "flipsweep/core/philox.h"
#include "flipsweep/core/pointwise.h"
#include "flipsweep/core/storage_formats.h"
#include "flipsweep/core/unary_ops.h"

namespace flipsweep::cuda {

enum CoreCheckColumn : int {
  // The SAFs (float bits): the program [MulConst 0.5, Tanh] and hardtanh = Clip(-1, 1).
  kColumnTanh,
  kColumnAtan,
  kColumnSoftsign,
  kColumnSigmoid,
  kColumnExp,
  kColumnTanhHalf,
  kColumnHardtanh,
  // Per storage format (kCoreCheckFormats of them, in core_check_format order), four words:
  // the encoded word, its decoded value, the value after flip_bit, the value after stuck_at.
  kColumnFirstFormat,
  // One per PointwiseOp, in enum order, with the constants of core_check_step.
  kColumnFirstPointwise = kColumnFirstFormat + 6 * 4,
  // philox4x32_10 of a counter made from the input's bits and index: four words.
  kColumnPhilox = kColumnFirstPointwise + 15,
  // position_uniform (53-bit integer, high and low word), stuck_at_value, sample_binomial,
  // PhiloxStream::next_below.
  kColumnPositionUniformHigh = kColumnPhilox + 4,
  kColumnPositionUniformLow,
  kColumnStuckAtValue,
  kColumnBinomial,
  kColumnNextBelow,
  kCoreCheckColumns
};

constexpr int kCoreCheckFormats = 6;
constexpr int kCoreCheckPointwiseOps = 15;

// fp32, fp16, bf16, q2.5, q2.5-sm, int8 (scale 1/64).
FLIPSWEEP_HD core::StorageFormat core_check_format(int f) {
  switch (f) {
    case 0: return core::StorageFormat::fp32();
    case 1: return core::StorageFormat::fp16();
    case 2: return core::StorageFormat::bf16();
    case 3: return core::StorageFormat::fixed_point(2, 5);
    case 4: return core::StorageFormat::fixed_point(2, 5, core::SignEncoding::SignMagnitude);
    default: return core::StorageFormat::int8();
  }
}

constexpr float kCoreCheckInt8Scale = 0.015625f;

// PointwiseOp number `op` with fixed constants.
FLIPSWEEP_HD core::PointwiseStep core_check_step(int op) {
  core::PointwiseStep step;
  step.op = static_cast<core::PointwiseOp>(op);
  switch (step.op) {
    case core::PointwiseOp::LeakyRelu: step.a = 0.01f; break;
    case core::PointwiseOp::Clip: step.a = -1.0f; step.b = 1.0f; break;
    case core::PointwiseOp::HardSigmoid: step.a = 0.2f; step.b = 0.5f; break;
    case core::PointwiseOp::AddConst: step.a = 0.1f; break;
    case core::PointwiseOp::SubConst: step.a = 0.3f; break;
    case core::PointwiseOp::ConstSub: step.a = 1.0f; break;
    case core::PointwiseOp::MulConst: step.a = 0.7f; break;
    case core::PointwiseOp::DivConst: step.a = 3.0f; break;
    case core::PointwiseOp::ConstDiv: step.a = 1.0f; break;
    default: break;
  }
  return step;
}

// Every column for input x at position index; out has kCoreCheckColumns words.
FLIPSWEEP_HD void core_check_element(float x, uint32_t index, uint32_t* out) {
  using core::float_to_bits;
  out[kColumnTanh] = float_to_bits(core::tanh(x));
  out[kColumnAtan] = float_to_bits(core::atan(x));
  out[kColumnSoftsign] = float_to_bits(core::softsign(x));
  out[kColumnSigmoid] = float_to_bits(core::sigmoid(x));
  out[kColumnExp] = float_to_bits(core::exp(x));
  core::PointwiseProgram tanh_half;
  tanh_half.steps[0] = core::PointwiseStep{core::PointwiseOp::MulConst, 0.5f, 0.0f};
  tanh_half.steps[1] = core::PointwiseStep{core::PointwiseOp::Tanh, 0.0f, 0.0f};
  tanh_half.count = 2;
  out[kColumnTanhHalf] = float_to_bits(core::apply_pointwise(tanh_half, x));
  core::PointwiseProgram hardtanh;
  hardtanh.steps[0] = core::PointwiseStep{core::PointwiseOp::Clip, -1.0f, 1.0f};
  hardtanh.count = 1;
  out[kColumnHardtanh] = float_to_bits(core::apply_pointwise(hardtanh, x));

  for (int f = 0; f < kCoreCheckFormats; ++f) {
    const core::StorageFormat format = core_check_format(f);
    const int bits = format.bits();
    const uint32_t word = core::encode(format, x, kCoreCheckInt8Scale);
    const int flip_position = static_cast<int>(index % static_cast<uint32_t>(bits));
    const int stuck_position = static_cast<int>((index * 5u + 3u) % static_cast<uint32_t>(bits));
    uint32_t* column = out + kColumnFirstFormat + 4 * f;
    column[0] = word;
    column[1] = float_to_bits(core::decode(format, word, kCoreCheckInt8Scale));
    column[2] = float_to_bits(core::decode(format, core::flip_bit(word, flip_position), kCoreCheckInt8Scale));
    column[3] = float_to_bits(
        core::decode(format, core::stuck_at(word, stuck_position, (index & 1u) != 0), kCoreCheckInt8Scale));
  }

  for (int op = 0; op < kCoreCheckPointwiseOps; ++op)
    out[kColumnFirstPointwise + op] = float_to_bits(core::apply_pointwise(core_check_step(op), x));

  const core::PhiloxKey key = core::philox_key_for_seed(0x0123456789ABCDEFull + index);
  const core::PhiloxCounter counter{{index, float_to_bits(x), 0x243F6A88u, 0x85A308D3u}};
  const core::PhiloxCounter block = core::philox4x32_10(counter, key);
  for (int w = 0; w < 4; ++w) out[kColumnPhilox + w] = block.word[w];

  core::FaultStreamKey stream_key;
  stream_key.campaign_seed = 20240601ull + float_to_bits(x);
  stream_key.trial = index;
  stream_key.tensor_key = 0x0123456789ABCDEFull * (index + 1);
  const double u = core::position_uniform(stream_key, core::RandomPurpose::FlipUniform, index);
  const uint64_t u53 = static_cast<uint64_t>(u * 0x1p53);  // exact: u is a multiple of 2^-53
  out[kColumnPositionUniformHigh] = static_cast<uint32_t>(u53 >> 32);
  out[kColumnPositionUniformLow] = static_cast<uint32_t>(u53);
  out[kColumnStuckAtValue] = core::stuck_at_value(stream_key, index) ? 1u : 0u;
  // Inversion (mean < 10), BTRS (mean >= 10) and the complement branch (p > 1/2).
  const double rates[3] = {1e-3, 0.05, 0.7};
  core::PhiloxStream stream = core::fault_stream(stream_key, core::RandomPurpose::FlipBand, static_cast<int>(index % 65u));
  const uint64_t n = 1000u + 37u * static_cast<uint64_t>(index);
  out[kColumnBinomial] = static_cast<uint32_t>(core::sample_binomial(n, rates[index % 3u], stream));
  out[kColumnNextBelow] = static_cast<uint32_t>(stream.next_below(1000003u));
}

// Host only: "tanh", "fp16.decoded", "pointwise.Sigmoid", ...
inline const char* core_check_column_name(int column) {
  static const char* const kNames[kCoreCheckColumns] = {
      "tanh", "atan", "softsign", "sigmoid", "exp", "tanh(0.5x)", "hardtanh",
      "fp32.word", "fp32.decoded", "fp32.flipped", "fp32.stuck",
      "fp16.word", "fp16.decoded", "fp16.flipped", "fp16.stuck",
      "bf16.word", "bf16.decoded", "bf16.flipped", "bf16.stuck",
      "q2.5.word", "q2.5.decoded", "q2.5.flipped", "q2.5.stuck",
      "q2.5-sm.word", "q2.5-sm.decoded", "q2.5-sm.flipped", "q2.5-sm.stuck",
      "int8.word", "int8.decoded", "int8.flipped", "int8.stuck",
      "pointwise.Identity", "pointwise.Relu", "pointwise.LeakyRelu", "pointwise.Clip", "pointwise.Sigmoid",
      "pointwise.HardSigmoid", "pointwise.Tanh", "pointwise.Softsign", "pointwise.Atan", "pointwise.AddConst",
      "pointwise.SubConst", "pointwise.ConstSub", "pointwise.MulConst", "pointwise.DivConst", "pointwise.ConstDiv",
      "philox.0", "philox.1", "philox.2", "philox.3",
      "position_uniform.high", "position_uniform.low", "stuck_at_value", "sample_binomial", "next_below",
  };
  return column >= 0 && column < kCoreCheckColumns ? kNames[column] : "?";
}

// The host twin: the same element function, compiled by the host compiler.
inline std::vector<uint32_t> evaluate_safs_on_host(const std::vector<float>& inputs) {
  std::vector<uint32_t> result(inputs.size() * kCoreCheckColumns);
  for (size_t i = 0; i < inputs.size(); ++i)
    core_check_element(inputs[i], static_cast<uint32_t>(i), result.data() + i * kCoreCheckColumns);
  return result;
}

// The same on the device (throws flipsweep::Error on CUDA failures). Inputs must number < 2^32.
std::vector<uint32_t> evaluate_safs_on_device(const std::vector<float>& inputs);

}  // namespace flipsweep::cuda
