#pragma once
// The storage format of a faulted tensor (DESIGN.md, "The fault model", step 1): how an fp32
// parameter becomes the stored word whose bits flip, and how a (possibly flipped) word reads back
// as fp32. One descriptor and one encode/decode pair serve the CPU reference and CUDA kernels.
//
//   name            bits  encoding
//   fp32            32    identity on the bit pattern
//   fp16            16    IEEE binary16, as tensor.half()         (half_precision_formats.h)
//   bf16            16    bfloat16, as tensor.bfloat16()          (half_precision_formats.h)
//   qM.N / qM.N-sm  1+M+N fixed point, two's complement / sign-magnitude, ≤ 16 bits (integer_formats.h)
//   int8            8     symmetric, one fp32 scale per tensor    (integer_formats.h)
//   int8-channel    8     symmetric, one fp32 scale per output channel
//
// A stored word is a uint32_t of which only the low bits() bits are meaningful; bit 0 is the
// least significant (flip_bit and stuck_at in bit_ops.h). Decoders ignore the higher bits.
#include <cstdint>

#include "flipsweep/core/bit_ops.h"
#include "flipsweep/core/half_precision_formats.h"
#include "flipsweep/core/host_device.h"
#include "flipsweep/core/integer_formats.h"

#include <cctype>
#include <string>
#include <string_view>

#include "flipsweep/error.h"

namespace flipsweep::core {

enum class StorageKind { Fp32, Fp16, Bf16, FixedPoint, Int8 };

// Which scale an int8 tensor uses; encode/decode take the scale that applies to the element.
enum class ScaleGranularity { PerTensor, PerOutputChannel };

struct StorageFormat {
  StorageKind kind = StorageKind::Fp32;
  // FixedPoint only. The defaults are seed 001's Q2.5.
  int int_bits = 2;
  int frac_bits = 5;
  SignEncoding sign_encoding = SignEncoding::TwosComplement;
  // Int8 only.
  ScaleGranularity scale_granularity = ScaleGranularity::PerTensor;

  static FLIPSWEEP_HD constexpr StorageFormat fp32() { return StorageFormat{}; }
  static FLIPSWEEP_HD constexpr StorageFormat fp16() { return with_kind(StorageKind::Fp16); }
  static FLIPSWEEP_HD constexpr StorageFormat bf16() { return with_kind(StorageKind::Bf16); }
  static FLIPSWEEP_HD constexpr StorageFormat fixed_point(int integer_bits, int fraction_bits,
                                                          SignEncoding sign = SignEncoding::TwosComplement) {
    StorageFormat format = with_kind(StorageKind::FixedPoint);
    format.int_bits = integer_bits;
    format.frac_bits = fraction_bits;
    format.sign_encoding = sign;
    return format;
  }
  static FLIPSWEEP_HD constexpr StorageFormat int8(ScaleGranularity granularity = ScaleGranularity::PerTensor) {
    StorageFormat format = with_kind(StorageKind::Int8);
    format.scale_granularity = granularity;
    return format;
  }

  // Stored bits per element: the bits that can flip.
  FLIPSWEEP_HD int bits() const {
    switch (kind) {
      case StorageKind::Fp32: return 32;
      case StorageKind::Fp16:
      case StorageKind::Bf16: return 16;
      case StorageKind::FixedPoint: return fixed_point_bits(int_bits, frac_bits);
      case StorageKind::Int8: return 8;
    }
    return 32;
  }

  FLIPSWEEP_HD bool uses_scale() const { return kind == StorageKind::Int8; }

  // Fixed point needs a sign bit plus at least one more, and at most 16 bits so that every code
  // converts to fp32 exactly and 2^-n stays a normal float.
  FLIPSWEEP_HD bool is_valid() const {
    if (kind != StorageKind::FixedPoint) return true;
    return int_bits >= 0 && frac_bits >= 0 && fixed_point_bits(int_bits, frac_bits) >= 2 &&
           fixed_point_bits(int_bits, frac_bits) <= 16;
  }

  // Parameters that do not apply to the kind are ignored.
  FLIPSWEEP_HD bool operator==(const StorageFormat& other) const {
    if (kind != other.kind) return false;
    if (kind == StorageKind::FixedPoint)
      return int_bits == other.int_bits && frac_bits == other.frac_bits && sign_encoding == other.sign_encoding;
    if (kind == StorageKind::Int8) return scale_granularity == other.scale_granularity;
    return true;
  }
  FLIPSWEEP_HD bool operator!=(const StorageFormat& other) const { return !(*this == other); }

  // Host only. The names parse() accepts, canonical (lower case): "fp32", "q2.5", "q2.5-sm", "int8-channel".
  std::string name() const;
  // Case-insensitive; throws flipsweep::Error naming the string and the accepted forms.
  static StorageFormat parse(std::string_view text);

 private:
  static FLIPSWEEP_HD constexpr StorageFormat with_kind(StorageKind storage_kind) {
    StorageFormat format;
    format.kind = storage_kind;
    return format;
  }
};

// fp32 → stored word (low format.bits() bits). `scale` is read only by int8 (the element's
// per-tensor or per-channel scale); other formats ignore it.
FLIPSWEEP_HD uint32_t encode(const StorageFormat& format, float value, float scale) {
  switch (format.kind) {
    case StorageKind::Fp32: return float_to_bits(value);
    case StorageKind::Fp16: return encode_fp16(value);
    case StorageKind::Bf16: return encode_bf16(value);
    case StorageKind::FixedPoint:
      return encode_fixed_point(value, format.int_bits, format.frac_bits, format.sign_encoding);
    case StorageKind::Int8: return encode_int8_symmetric(value, scale);
  }
  return float_to_bits(value);
}

// Stored word (possibly flipped) → fp32. Every word of every format decodes to something;
// only fp32, fp16 and bf16 words can decode to NaN or ±inf.
FLIPSWEEP_HD float decode(const StorageFormat& format, uint32_t word, float scale) {
  switch (format.kind) {
    case StorageKind::Fp32: return bits_to_float(word);
    case StorageKind::Fp16: return decode_fp16(word);
    case StorageKind::Bf16: return decode_bf16(word);
    case StorageKind::FixedPoint:
      return decode_fixed_point(word, format.int_bits, format.frac_bits, format.sign_encoding);
    case StorageKind::Int8: return decode_int8_symmetric(word, scale);
  }
  return bits_to_float(word);
}

inline std::string StorageFormat::name() const {
  switch (kind) {
    case StorageKind::Fp32: return "fp32";
    case StorageKind::Fp16: return "fp16";
    case StorageKind::Bf16: return "bf16";
    case StorageKind::FixedPoint:
      return "q" + std::to_string(int_bits) + "." + std::to_string(frac_bits) +
             (sign_encoding == SignEncoding::SignMagnitude ? "-sm" : "");
    case StorageKind::Int8: return scale_granularity == ScaleGranularity::PerOutputChannel ? "int8-channel" : "int8";
  }
  return "unknown";
}

namespace storage_format_detail {

// Reads a decimal of one or two digits at text[position], advancing position; -1 if none.
inline int read_small_number(std::string_view text, size_t& position) {
  int number = -1;
  size_t digits = 0;
  while (position < text.size() && digits < 2 && std::isdigit(static_cast<unsigned char>(text[position]))) {
    number = (number < 0 ? 0 : number * 10) + (text[position] - '0');
    ++position;
    ++digits;
  }
  return number;
}

}  // namespace storage_format_detail

inline StorageFormat StorageFormat::parse(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string accepted = "expected fp32, fp16, bf16, qM.N (fixed point, two's complement), qM.N-sm "
                               "(sign-magnitude), int8 or int8-channel";

  if (lower == "fp32") return fp32();
  if (lower == "fp16") return fp16();
  if (lower == "bf16") return bf16();
  if (lower == "int8") return int8(ScaleGranularity::PerTensor);
  if (lower == "int8-channel") return int8(ScaleGranularity::PerOutputChannel);

  if (!lower.empty() && lower[0] == 'q') {
    size_t position = 1;
    const int integer_bits = storage_format_detail::read_small_number(lower, position);
    const bool has_dot = position < lower.size() && lower[position] == '.';
    if (has_dot) ++position;
    const int fraction_bits = has_dot ? storage_format_detail::read_small_number(lower, position) : -1;
    const std::string_view suffix = std::string_view(lower).substr(position);
    if (integer_bits >= 0 && fraction_bits >= 0 && (suffix.empty() || suffix == "-sm")) {
      const StorageFormat format = fixed_point(integer_bits, fraction_bits,
                                               suffix.empty() ? SignEncoding::TwosComplement : SignEncoding::SignMagnitude);
      if (!format.is_valid())
        throw Error("storage format '" + std::string(text) + "' has " + std::to_string(format.bits()) +
                    " bits; fixed point qM.N uses 1 sign + M integer + N fraction bits, 2 to 16 in all");
      return format;
    }
  }
  throw Error("unknown storage format '" + std::string(text) + "' (" + accepted + ")");
}

}  // namespace flipsweep::core
