#!/usr/bin/python3
"""Writes PyTorch's fp32 -> fp16 and fp32 -> bf16 encodings as a golden file.

flipsweep's storage formats (host/include/flipsweep/core/half_precision_formats.h)
promise to encode exactly as a CPU tensor's .half() and .bfloat16() do in
torch 1.13; tests/storage_formats_test.cpp checks every record of this file.

Usage (from the repository root, Debian's interpreter, where torch lives):
    /usr/bin/python3 python/make_format_golden.py \
        tests/golden/storage_formats/fp16_bf16_encodings.bin

File layout, little endian:
    8 bytes   magic b"FSFMT16\\x01"
    uint32    record count N
    N records of 8 bytes: uint32 fp32 bits, uint16 fp16 bits, uint16 bf16 bits

The fp32 inputs, chosen to exercise every branch of a converter:
  * hand-picked specials: zeros, infinities, NaNs with and without payload,
    signalling NaNs, fp32 subnormals, fp16/bf16 overflow and subnormal edges;
  * every midpoint between consecutive fp16 values, both signs (the ties that
    round-to-nearest-even decides, including 65520, which must give inf);
  * bf16 ties: random patterns whose low 16 bits are 0x8000, and neighbours;
  * uniformly random bit patterns (every exponent, NaN, inf, subnormals);
  * random bit patterns with exponents in fp16's range and just outside it;
  * Gaussian values at weight-like scales.
Seeded; rerunning gives a byte-identical file.
"""

import os
import struct
import sys

import numpy as np
import torch

MAGIC = b"FSFMT16\x01"
SEED = 20240613


def fp32_bits(values):
    return np.asarray(values, dtype=np.float32).view(np.uint32)


def special_bit_patterns():
    patterns = [
        0x00000000, 0x80000000,              # +-0
        0x7F800000, 0xFF800000,              # +-inf
        0x7FC00000, 0xFFC00000,              # canonical quiet NaNs
        0x7F800001, 0xFF800001, 0x7FA5A5A5,  # signalling NaNs
        0x7FFFFFFF, 0xFFFFFFFF, 0x7FC00001,  # quiet NaNs with payload
        0x00000001, 0x007FFFFF, 0x80000001,  # fp32 subnormals
        0x00800000, 0x7F7FFFFF, 0xFF7FFFFF,  # smallest normal, +-FLT_MAX
        0x7F7F7FFF, 0x7F7F8000, 0x7F7F8001,  # around the largest finite bf16
        0x7F7EFFFF, 0x7F7E8000,
    ]
    fp16_edges = [
        65504.0, 65505.0, 65519.0, 65520.0, 65536.0, 1e5, 1e38,
        2.0 ** -14, 2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -25, 2.0 ** -26,
        1023.5 * 2.0 ** -24, 1022.5 * 2.0 ** -24, 1.0, 1.0 + 2.0 ** -11,
        1.0 + 3 * 2.0 ** -11, 0.1, 1.0 / 3.0,
    ]
    for value in fp16_edges:
        bits = int(fp32_bits([value])[0])
        for neighbour in (bits - 1, bits, bits + 1):
            patterns.append(neighbour)
            patterns.append(neighbour | 0x80000000)
    return np.array(patterns, dtype=np.uint32)


def fp16_midpoints():
    """Midpoints between consecutive non-negative fp16 values, and 65520 (between
    the largest finite value and 2^16), both signs. Each is exact in fp32."""
    finite = np.arange(0x0000, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)
    upper = np.append(finite[1:], 65536.0)
    midpoints = ((finite + upper) / 2).astype(np.float32)
    assert np.all((midpoints.astype(np.float64) * 2) == finite + upper), "a midpoint is not exact in fp32"
    return np.concatenate([fp32_bits(midpoints), fp32_bits(-midpoints)])


def bf16_ties(rng):
    high = rng.integers(0, 1 << 16, size=3000, dtype=np.uint32) << 16
    low = rng.choice(np.array([0x7FFF, 0x8000, 0x8001], dtype=np.uint32), size=high.size)
    return high | low


def uniform_bit_patterns(rng):
    return rng.integers(0, 1 << 32, size=16000, dtype=np.uint64).astype(np.uint32)


def fp16_range_bit_patterns(rng):
    # Biased exponents 100..145 cover 2^-27 .. 2^18: fp16 subnormals, normals and overflow.
    sign = rng.integers(0, 2, size=10000, dtype=np.uint32) << 31
    exponent = rng.integers(100, 146, size=sign.size, dtype=np.uint32) << 23
    fraction = rng.integers(0, 1 << 23, size=sign.size, dtype=np.uint32)
    return sign | exponent | fraction


def gaussian_values(rng):
    scales = np.repeat(np.array([1e-3, 0.05, 1.0, 30.0], dtype=np.float32), 1000)
    return fp32_bits(rng.standard_normal(scales.size).astype(np.float32) * scales)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    inputs = np.concatenate([
        special_bit_patterns(),
        fp16_midpoints(),
        bf16_ties(rng),
        uniform_bit_patterns(rng),
        fp16_range_bit_patterns(rng),
        gaussian_values(rng),
    ]).astype(np.uint32)

    # Viewing the bits as float32 (no arithmetic) carries NaN payloads to torch unchanged.
    as_float = torch.from_numpy(inputs.view(np.float32).copy())
    fp16 = as_float.half().numpy().view(np.uint16)
    bf16 = as_float.bfloat16().view(torch.int16).numpy().view(np.uint16)

    records = np.zeros(inputs.size, dtype=[("fp32", "<u4"), ("fp16", "<u2"), ("bf16", "<u2")])
    records["fp32"], records["fp16"], records["bf16"] = inputs, fp16, bf16

    out_path = sys.argv[1]
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<I", inputs.size))
        f.write(records.tobytes())

    nan_inputs = int(np.isnan(inputs.view(np.float32)).sum())
    fp16_inf = int(((fp16 & 0x7FFF) == 0x7C00).sum())
    fp16_subnormal = int((((fp16 & 0x7C00) == 0) & ((fp16 & 0x03FF) != 0)).sum())
    print(f"{out_path}: {inputs.size} records, {os.path.getsize(out_path)} bytes; "
          f"{nan_inputs} NaN inputs, {fp16_inf} fp16 infinities, {fp16_subnormal} fp16 subnormals; "
          f"torch {torch.__version__}")


if __name__ == "__main__":
    main()
