#!/usr/bin/python3
"""flipsweep's fault maps, written from docs/CAMPAIGNS.md ("Fault maps, exactly") alone.

A second implementation of the scheme, in plain Python, so that anyone can reproduce which bits
a campaign faulted from (seed, trial, tensor name, tensor size, storage format, bit selection,
rate), and so that the documentation is checked: `--check DIR MODEL.onnx` recomputes every fault
of a campaign folder's faults.csv (written with --save-faults) and exits 1 on any difference.
For `single-flip` and `layer-bit` campaigns (one flip per trial, drawn over all targets) it checks
the rows of the configurations whose model has MODEL.onnx's SHA-256 in config.yaml, with the
targets chosen from the ONNX graph by `targets` (roles, include, exclude) as flipsweep does for
models whose nodes read their parameters directly.

    fault_map.py --seed 1 --trial 0 --tensor conv1.weight --elements 432 --format fp32 --ber 1e-4
    fault_map.py --check results/demo models/fashion-mnist/resnet20_none.onnx

Plain floats are IEEE doubles and math.log/exp/log1p/sqrt are the C library's, as in the C++.
"""
import argparse
import csv
import math
import os
import re
import sys

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF

# ---------------------------------------------------------------------------------------------
# Philox4x32-10 (Random123's definition).


def philox4x32_10(counter, key):
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        hi0, lo0 = p0 >> 32, p0 & MASK32
        hi1, lo1 = p1 >> 32, p1 & MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + 0x9E3779B9) & MASK32
        k1 = (k1 + 0xBB67AE85) & MASK32
    return (c0, c1, c2, c3)


def tensor_name_key(name):
    h = 14695981039346656037
    for byte in name.encode("utf-8"):
        h ^= byte
        h = (h * 1099511628211) & MASK64
    return h


def stream_key(seed, tensor_key):
    block = philox4x32_10((tensor_key & MASK32, tensor_key >> 32, 0x6D617073, 0x74656E73),
                          (seed & MASK32, (seed >> 32) & MASK32))
    return (block[0], block[1])


PURPOSE = {"flip-band": 0, "flip-uniform": 1, "stuck-band": 2, "stuck-uniform": 3, "stuck-value": 4, "single-flip": 6,
           "layer-bit": 7}


def stream_word(purpose, band):
    return PURPOSE[purpose] * 256 + band


class Stream:
    """The sequential stream: blocks 0, 1, 2, ... of counter {block low, high, trial, word}."""

    def __init__(self, key, trial, word):
        self.key, self.trial, self.word = key, trial, word
        self.block, self.buffer = 0, []

    def next_word(self):
        if not self.buffer:
            self.buffer = list(philox4x32_10(
                (self.block & MASK32, self.block >> 32, self.trial, self.word), self.key))
            self.block += 1
        return self.buffer.pop(0)

    def uniform_open(self):  # (2m + 1) 2^-53, m = high word's 32 bits and the next's top 20
        high = self.next_word()
        m = (high << 20) | (self.next_word() >> 12)
        return (2 * m + 1) * 2.0 ** -53

    def next_u64(self):
        high = self.next_word()
        return (high << 32) | self.next_word()

    def next_below(self, bound):
        threshold = (2 ** 64 - bound) % bound
        while True:
            draw = self.next_u64()
            if draw >= threshold:
                return draw % bound


def position_block(key, trial, purpose, band, position):
    return philox4x32_10((position & MASK32, position >> 32, trial, stream_word(purpose, band)), key)


# ---------------------------------------------------------------------------------------------
# Binomial draws: inversion below mean 10, Hörmann's BTRS above (fault_sampling.h).

STIRLING_SMALL = [0.0, 0.0810614667953272582197, 0.0413406959554092940938, 0.0276779256849983391488,
                  0.0207906721037650931115, 0.0166446911898211921632, 0.0138761288230707479987,
                  0.0118967099458917700951, 0.0104112652619720964975, 0.00925546218271273291773,
                  0.00833056343336287125647, 0.00757367548795184079497, 0.00694284010720952986566,
                  0.00640899418800420706844, 0.00595137011275884773562, 0.00555473355196280137104]


def stirling_error(n):
    if n < 16:
        return STIRLING_SMALL[n]
    x = float(n)
    x2 = x * x
    return (1.0 / 12 - (1.0 / 360 - (1.0 / 1260 - (1.0 / 1680 - 1.0 / 1188 / x2) / x2) / x2) / x2) / x


def deviance(x, mean):
    if x == 0.0:
        return mean
    difference = x - mean
    if math.fabs(difference) < 0.1 * (x + mean):
        v = difference / (x + mean)
        v2 = v * v
        total = difference * v
        term = 2.0 * x * v
        for j in range(1, 1000):
            term *= v2
            following = total + term / (2 * j + 1)
            if following == total:
                return following
            total = following
        return total
    return x * math.log(x / mean) + mean - x


def log_binomial_pmf(k, n, p):
    q = 1.0 - p
    n_real = float(n)
    if k == 0:
        return n_real * math.log1p(-p)
    if k == n:
        return n_real * math.log(p)
    k_real = float(k)
    rest = float(n - k)
    two_pi = 6.283185307179586476925
    saddle = (stirling_error(n) - stirling_error(k) - stirling_error(n - k) - deviance(k_real, n_real * p)
              - deviance(rest, n_real * q))
    return saddle - 0.5 * math.log(two_pi * k_real * (rest / n_real))


def by_inversion(n, p, stream):
    odds = p / (1.0 - p)
    pmf_at_zero = math.exp(float(n) * math.log1p(-p))
    while True:
        u = stream.uniform_open()
        pmf = pmf_at_zero
        k = 0
        exhausted = False
        while u > pmf:
            u -= pmf
            if k == n:
                exhausted = True
                break
            pmf *= odds * (float(n - k) / float(k + 1))
            k += 1
            if pmf == 0.0:
                exhausted = True
                break
        if not exhausted:
            return k


def by_transformed_rejection(n, p, stream):
    n_real = float(n)
    spread = math.sqrt(n_real * p * (1.0 - p))
    b = 1.15 + 2.53 * spread
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n_real * p + 0.5
    squeeze_v_limit = 0.92 - 4.2 / b
    hat_scale = (2.83 + 5.1 / b) * spread
    mode = int(math.floor((n_real + 1.0) * p))
    log_pmf_at_mode = log_binomial_pmf(mode, n, p)
    while True:
        u = stream.uniform_open() - 0.5
        v = stream.uniform_open()
        us = 0.5 - math.fabs(u)
        k_real = math.floor((2.0 * a / us + b) * u + c)
        if not (0.0 <= k_real <= n_real):
            continue
        k = int(k_real)
        if us >= 0.07 and v <= squeeze_v_limit:
            return k
        v *= hat_scale / (a / (us * us) + b)
        if math.log(v) <= log_binomial_pmf(k, n, p) - log_pmf_at_mode:
            return k


def sample_binomial(n, p, stream):
    if not p > 0.0 or n == 0:
        return 0
    if p >= 1.0:
        return n
    complement = p > 0.5
    q = 1.0 - p if complement else p
    k = by_inversion(n, q, stream) if float(n) * q < 10.0 else by_transformed_rejection(n, q, stream)
    return n - k if complement else k


def distinct_positions(count, bound, stream):
    if count == 0:
        return []
    if count > bound // 2:
        excluded = set(distinct_positions(bound - count, bound, stream))
        return [p for p in range(bound) if p not in excluded]
    positions = []
    while len(positions) < count:
        missing = count - len(positions)
        positions = sorted(set(positions) | {stream.next_below(bound) for _ in range(missing)})
    return positions


# ---------------------------------------------------------------------------------------------
# The banded map.

def band_of_rate(rate):
    if rate >= 0.5:
        return 0
    _, exponent = math.frexp(rate)
    return min(-exponent, 64)


def faulty_positions(seed, trial, name, bits, rate, kind="flip"):
    """Sorted positions (element-major over the selected bits) faulty at `rate`."""
    if rate == 0.0 or bits == 0:
        return []
    key = stream_key(seed, tensor_name_key(name))
    band_purpose, uniform_purpose = ("flip-band", "flip-uniform") if kind == "flip" else ("stuck-band", "stuck-uniform")
    taken = []
    faulty = []
    for band in range(64, band_of_rate(rate) - 1, -1):
        remaining = bits - len(taken)
        if remaining == 0:
            break
        if band == 64:
            lower, probability = 0.0, 2.0 ** -64
        else:
            lower = 2.0 ** -(band + 1)
            probability = lower / (1.0 - lower)
        stream = Stream(key, trial, stream_word(band_purpose, band))
        count = sample_binomial(remaining, probability, stream)
        if count == 0:
            continue
        positions = []
        below = 0
        for rank in distinct_positions(count, remaining, stream):
            while below < len(taken) and taken[below] <= rank + below:
                below += 1
            positions.append(rank + below)
        for position in positions:
            w = position_block(key, trial, uniform_purpose, band, position)
            m = ((w[0] << 32) | w[1]) >> 12
            u = math.ldexp(m * 2.0 ** -52, -64) if band == 64 else math.ldexp(1.0 + m * 2.0 ** -52, -(band + 1))
            if u < rate:
                faulty.append(position)
        taken = sorted(taken + positions)
    return sorted(faulty)


def stuck_at_one(seed, trial, name, position):
    w = position_block(stream_key(seed, tensor_name_key(name)), trial, "stuck-value", 0, position)
    u = (((w[0] >> 5) << 26) | (w[1] >> 6)) * 2.0 ** -53
    return u < 0.5


# ---------------------------------------------------------------------------------------------
# Storage formats and bit selections (docs/CAMPAIGNS.md, targets.bits).

def word_bits(fmt):
    if fmt == "fp32":
        return 32
    if fmt in ("fp16", "bf16"):
        return 16
    if fmt.startswith("int8"):
        return 8
    match = re.fullmatch(r"q(\d+)\.(\d+)(-sm)?", fmt)
    if match:
        return int(match.group(1)) + int(match.group(2)) + 1
    raise ValueError(f"unknown storage format {fmt}")


def selected_bits(selection, fmt):
    width = word_bits(fmt)
    exponent = {"fp32": (23, 30), "fp16": (10, 14), "bf16": (7, 14)}
    if selection in ("", "all"):
        return list(range(width))
    if selection in ("sign", "msb"):
        return [width - 1]
    if selection == "lsb":
        return [0]
    if selection in ("exponent", "mantissa"):
        first, last = exponent[fmt]
        return list(range(first, last + 1)) if selection == "exponent" else list(range(first))
    first, _, last = selection.partition("-")
    return list(range(int(first), int(last or first) + 1))


def tensor_faults(seed, trial, name, elements, fmt, selection, rate, model="bit-flip"):
    """[(element, bit, kind)] as faults.csv lists them for one tensor."""
    bits = selected_bits(selection, fmt)
    kind = "flip" if model == "bit-flip" else "stuck"
    out = []
    for position in faulty_positions(seed, trial, name, elements * len(bits), rate, kind):
        element, bit = position // len(bits), bits[position % len(bits)]
        label = "flip" if kind == "flip" else ("stuck1" if stuck_at_one(seed, trial, name, position) else "stuck0")
        out.append((element, bit, label))
    return out


def single_flip_fault(seed, trial, targets, fmt, selection):
    """(tensor, element, bit) of a single-flip trial (CAMPAIGNS.md item 7); targets: [(name, elements)]."""
    bits = selected_bits(selection, fmt)
    total = sum(elements for _, elements in targets) * len(bits)
    position = Stream(stream_key(seed, 0), trial, stream_word("single-flip", 0)).next_below(total)
    for name, elements in targets:
        if position < elements * len(bits):
            return name, position // len(bits), bits[position % len(bits)]
        position -= elements * len(bits)
    raise AssertionError("position past the last target")


def layer_bit_fault(seed, trial, targets, fmt, selection):
    """(tensor, element, bit) of a layer-bit trial (CAMPAIGNS.md item 8)."""
    bits = selected_bits(selection, fmt)
    name, elements = targets[(trial // len(bits)) % len(targets)]
    stream = Stream(stream_key(seed, tensor_name_key(name)), trial, stream_word("layer-bit", 0))
    return name, stream.next_below(elements), bits[trial % len(bits)]


def parameter_roles(graph):
    """{initializer name: role} from the nodes that read it directly (faults/targets.cpp's slots)."""
    slots = {"Conv": {1: "conv-weight", 2: "bias"}, "ConvTranspose": {1: "conv-weight", 2: "bias"},
             "Gemm": {1: "linear-weight", 2: "bias"}, "MatMul": {1: "linear-weight"},
             "BatchNormalization": {1: "batchnorm-affine", 2: "batchnorm-affine", 3: "batchnorm-stats",
                                    4: "batchnorm-stats"}}
    roles = {}
    for node in graph.node:
        for slot, name in enumerate(node.input):
            roles.setdefault(name, slots.get(node.op_type, {}).get(slot, "other"))
    return roles


def campaign_targets(graph, targets_config):
    """[(name, elements)] of the targets in parameter order, for graphs whose nodes read the
    initializers directly (no weight-preparation or Identity nodes; refused otherwise)."""
    import fnmatch
    initializers = {t.name: math.prod(t.dims) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input and node.input[0] in initializers:
            raise ValueError(f"{node.name or node.output[0]}: an Identity node copies a parameter; --check of "
                             "single-flip and layer-bit campaigns handles models whose nodes read parameters directly")
    roles = parameter_roles(graph)
    include, exclude = targets_config.get("include") or [], targets_config.get("exclude") or []
    wanted = targets_config.get("roles") or ["conv-weight", "linear-weight"]
    chosen = []
    for t in graph.initializer:
        if include:
            keep = any(fnmatch.fnmatchcase(t.name, pattern) for pattern in include)
        else:
            keep = roles.get(t.name, "other") in wanted
        if keep and not any(fnmatch.fnmatchcase(t.name, pattern) for pattern in exclude):
            chosen.append((t.name, initializers[t.name]))
    return chosen


def check_one_flip_campaign(folder, model_path, config, fault_model):
    """Every trial of a single-flip or layer-bit faults.csv, recomputed from the documented draws."""
    import onnx
    graph = onnx.load(model_path, load_external_data=False).graph
    try:
        targets = campaign_targets(graph, config.get("targets", {}))
    except ValueError as e:
        print(f"fault_map.py: {model_path}: {e}", file=sys.stderr)
        return 1
    selection = str(config.get("targets", {}).get("bits", "all"))
    seed = int(config["seed"])
    draw = single_flip_fault if fault_model == "single-flip" else layer_bit_fault
    # The draw depends on every target's size, so only the rows of this model's configurations are
    # checked: the models config.yaml records with this file's SHA-256.
    import hashlib
    with open(model_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    names = {m["name"] for m in config.get("models", []) if m.get("sha256") == digest}
    if not names:
        print(f"fault_map.py: {model_path} is none of the models {folder}/config.yaml records (by SHA-256)",
              file=sys.stderr)
        return 1
    model_name = os.path.basename(model_path)
    checked = 0
    with open(os.path.join(folder, "faults.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    seen = set()
    for row in rows:
        config_name, trial = row["config"], int(row["trial"])
        if config_name.split("/", 1)[0] not in names:
            continue
        key = (config_name, trial)
        if key in seen:
            print(f"fault_map.py: {config_name} trial {trial}: more than one fault in a {fault_model} campaign",
                  file=sys.stderr)
            return 1
        seen.add(key)
        fmt = config_name.split("/", 1)[1]
        recorded = (row["tensor"], int(row["element"]), int(row["bit"]))
        expected = draw(seed, trial, targets, fmt, selection)
        if recorded != expected or row["kind"] != "flip":
            print(f"fault_map.py: {config_name} trial {trial}: faults.csv has {recorded + (row['kind'],)}, the "
                  f"documented scheme gives {expected + ('flip',)} for {model_name}", file=sys.stderr)
            return 1
        checked += 1
    # Every recorded trial flipped exactly one bit, so each has its line in faults.csv.
    with open(os.path.join(folder, "trials.csv"), newline="") as f:
        trials = {(r["config"], int(r["trial"])) for r in csv.DictReader(f) if r["config"].split("/", 1)[0] in names}
    if trials != seen:
        missing = sorted(trials - seen)[:3]
        print(f"fault_map.py: {len(trials - seen)} trial(s) of trials.csv have no line in faults.csv (first: {missing}), "
              f"{len(seen - trials)} line(s) of faults.csv no trial", file=sys.stderr)
        return 1
    print(f"fault_map.py: {checked} {fault_model} faults of {folder} ({', '.join(sorted(names))}) reproduced exactly")
    return 0 if checked else 1


def check_campaign(folder, model_path):
    import onnx
    import yaml
    with open(os.path.join(folder, "config.yaml")) as f:
        config = yaml.safe_load(f)
    fault_model = config.get("faults", {}).get("model", "bit-flip")
    if fault_model in ("single-flip", "layer-bit"):
        return check_one_flip_campaign(folder, model_path, config, fault_model)
    if fault_model not in ("bit-flip", "stuck-at"):
        print(f"fault_map.py: {fault_model} faults are not drawn from bands; nothing to check", file=sys.stderr)
        return 1
    selection = str(config.get("targets", {}).get("bits", "all"))
    seed = int(config["seed"])
    sizes = {t.name: math.prod(t.dims) for t in onnx.load(model_path, load_external_data=False).graph.initializer}
    recorded = {}
    with open(os.path.join(folder, "faults.csv"), newline="") as f:
        for row in csv.DictReader(f):
            key = (row["config"], row["ber"], int(row["trial"]), row["tensor"])
            recorded.setdefault(key, []).append((int(row["element"]), int(row["bit"]), row["kind"]))
    checked = faults = 0
    for (config_name, ber, trial, tensor), rows in sorted(recorded.items()):
        fmt = config_name.split("/", 1)[1]
        expected = tensor_faults(seed, trial, tensor, sizes[tensor], fmt, selection, float(ber), fault_model)
        if rows != expected:
            print(f"fault_map.py: {config_name} BER {ber} trial {trial} {tensor}: faults.csv has {len(rows)} faults, "
                  f"the documented scheme gives {len(expected)}; first recorded {rows[:3]}, expected {expected[:3]}",
                  file=sys.stderr)
            return 1
        checked += 1
        faults += len(rows)
    print(f"fault_map.py: {faults} faults in {checked} (trial, tensor) maps of {folder} reproduced exactly")
    return 0 if checked else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", nargs=2, metavar=("DIR", "MODEL"), help="verify a campaign's faults.csv")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--trial", type=int)
    parser.add_argument("--tensor")
    parser.add_argument("--elements", type=int)
    parser.add_argument("--format", default="fp32")
    parser.add_argument("--bits", default="all")
    parser.add_argument("--ber", type=float)
    parser.add_argument("--stuck-at", action="store_true")
    args = parser.parse_args()
    if args.check:
        return check_campaign(*args.check)
    if None in (args.seed, args.trial, args.tensor, args.elements, args.ber):
        parser.error("give --check DIR MODEL, or --seed, --trial, --tensor, --elements and --ber")
    model = "stuck-at" if args.stuck_at else "bit-flip"
    for element, bit, kind in tensor_faults(args.seed, args.trial, args.tensor, args.elements, args.format,
                                            args.bits, args.ber, model):
        print(f"{element},{bit},{kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
