#!/usr/bin/python3
"""Replays a flipsweep campaign's recorded faults in PyTorch and checks its accuracies.

An independent check of `flipsweep run CONFIG.yaml --save-faults --out DIR`: nothing here
uses flipsweep's code. For every (config, ber, trial) row of DIR/trials.csv (or the first
--max-trials N trials of each config) it

  1. builds the model in PyTorch: python/flipsweep_models.py's resnet20(num_classes,
     in_channels, saf), with num_classes / in_channels read from the ONNX initializer shapes
     of fc.weight / conv1.weight, every initializer loaded by name into the state_dict, and
     the SAF taken from the model's `saf` in DIR/config.yaml (tau applied in forward, so
     the stored parameter stays raw W, as flipsweep faults it);
  2. encodes every fault target (conv and linear weights) into the storage format's words,
     written here from the rules stated in host/include/flipsweep/core/*_formats.h:
       fp32          the float's bit pattern
       fp16 / bf16   tensor.half() / tensor.bfloat16(), viewed as int16
       qM.N          round half to even of w*2^N after saturating to
                     [-2^(M+N), 2^(M+N)-1] (NaN -> 0), two's complement in 1+M+N bits;
                     qM.N-sm: sign-magnitude, range +-(2^(M+N)-1)
       int8          symmetric: scale = max|w|/127 over finite w (0 -> 1), code =
                     round half to even of w/scale clamped to +-127; int8-channel: one
                     scale per output channel (dim 0)
     and decodes them: the clean model in that format (checked against DIR/clean.csv);
  3. applies the trial's faults from DIR/faults.csv to the stored words (flip: xor,
     stuck0: clear, stuck1: set the bit; bit 0 = least significant), decodes, and
  4. evaluates the IDX dataset named in config.yaml, with its limit and preprocessing
     (channels, pad/pad_value, /255, bilinear resize, mean/std), in eval mode, and compares
     the number of correct top-1 predictions with trials.csv's top1 (|delta| < 1e-3 %).

It also checks that each trial's fault count equals trials.csv's `flips` and that every
faulted tensor is a target. Top-5 and SDC are compared too but only reported.

Supported: resnet20 ONNX exports (python/export_onnx.py, with or without an SAF in the graph,
or apply_saf: true); dataset format idx; targets with the default roles (conv-weight,
linear-weight, or one of them) and no include/exclude globs. Anything else exits with 2.

Usage (repository root):
    /usr/bin/python3 python/replay_faults.py DIR [--max-trials N] [--verbose]
Exit status: 0 when every replayed trial (and clean accuracy) matches, 1 when any does not,
2 for unusable input.
"""

import argparse
import csv
import gzip
import os
import struct
import sys
from collections import OrderedDict, defaultdict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import yaml
except ImportError:  # python3-yaml is a Debian package
    sys.stderr.write("replay_faults.py: the Python module 'yaml' is missing (apt-get install python3-yaml)\n")
    sys.exit(2)

import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flipsweep_models import resnet20  # noqa: E402

TOLERANCE_PERCENT = 1e-3


class ReplayError(Exception):
    """Input this checker cannot replay; exit status 2."""


# ---------------------------------------------------------------------------
# Storage formats: fp32 weights <-> stored words (uint32 arrays, low bits used)
# ---------------------------------------------------------------------------


def _saturate_and_round(scaled, lowest, highest):
    """NaN -> 0, clamp to [lowest, highest] before rounding, round half to even (float32 in)."""
    scaled = np.asarray(scaled, dtype=np.float32)
    codes = np.zeros(scaled.shape, dtype=np.int64)
    finite = ~np.isnan(scaled)
    high = finite & (scaled >= np.float32(highest))
    low = finite & (scaled <= np.float32(lowest))
    middle = finite & ~high & ~low
    codes[high] = highest
    codes[low] = lowest
    # np.rint rounds half to even; |scaled| < 2^16 here, so float32 -> int64 is exact.
    codes[middle] = np.rint(scaled[middle]).astype(np.int64)
    return codes


def _int8_scale(values):
    """max|w| / 127 over the finite values, in float32; 1 when that is not > 0."""
    magnitudes = np.abs(values[np.isfinite(values)]).astype(np.float32)
    maximum = magnitudes.max() if magnitudes.size else np.float32(0)
    scale = np.float32(maximum) / np.float32(127)
    return np.float32(scale) if scale > 0 else np.float32(1)


class StorageFormat:
    """One of flipsweep's storage formats, parsed from its canonical name."""

    def __init__(self, name):
        self.name = name.lower()
        n = self.name
        if n in ("fp32", "fp16", "bf16", "int8", "int8-channel"):
            self.kind = n
            self.bits = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "int8-channel": 8}[n]
            return
        if n.startswith("q"):
            body = n[1:]
            self.sign_magnitude = body.endswith("-sm")
            if self.sign_magnitude:
                body = body[:-3]
            m, _, f = body.partition(".")
            if m.isdigit() and f.isdigit():
                self.kind = "fixed"
                self.int_bits, self.frac_bits = int(m), int(f)
                self.bits = 1 + self.int_bits + self.frac_bits
                if not 2 <= self.bits <= 16:
                    raise ReplayError(f"storage format {name}: {self.bits} bits, expected 2..16")
                self.highest = (1 << (self.int_bits + self.frac_bits)) - 1
                self.lowest = -self.highest if self.sign_magnitude else -self.highest - 1
                return
        raise ReplayError(f"unknown storage format {name!r}")

    def scales(self, weights):
        """int8: the scale of every element (broadcast), else None."""
        if self.kind == "int8":
            return np.full(weights.shape, _int8_scale(weights), dtype=np.float32)
        if self.kind == "int8-channel":
            per_channel = np.array([_int8_scale(weights[c]) for c in range(weights.shape[0])], dtype=np.float32)
            return np.broadcast_to(per_channel.reshape((-1,) + (1,) * (weights.ndim - 1)), weights.shape).copy()
        return None

    def encode(self, weights, scales):
        """float32 array -> uint32 words of the same shape."""
        w = np.ascontiguousarray(weights, dtype=np.float32)
        if self.kind == "fp32":
            return w.view(np.uint32).copy()
        if self.kind == "fp16":
            return torch.from_numpy(w).half().view(torch.int16).numpy().view(np.uint16).astype(np.uint32)
        if self.kind == "bf16":
            return torch.from_numpy(w).bfloat16().view(torch.int16).numpy().view(np.uint16).astype(np.uint32)
        if self.kind == "fixed":
            scaled = w * np.float32(2.0 ** self.frac_bits)  # exact (or inf, which saturates)
            codes = _saturate_and_round(scaled, self.lowest, self.highest)
            mask = (1 << self.bits) - 1
            if not self.sign_magnitude:
                return (codes & mask).astype(np.uint32)
            sign = np.where(codes < 0, 1 << (self.bits - 1), 0)
            return (sign | np.abs(codes)).astype(np.uint32)
        # int8, int8-channel: division (not multiplication by 1/scale), as flipsweep does.
        codes = _saturate_and_round(w / scales, -127, 127)
        return (codes & 0xFF).astype(np.uint32)

    def decode(self, words, scales):
        """uint32 words -> float32 array; bits above self.bits are ignored."""
        words = np.ascontiguousarray(words, dtype=np.uint32)
        if self.kind == "fp32":
            return words.view(np.float32).copy()
        if self.kind in ("fp16", "bf16"):
            halves = torch.from_numpy((words & 0xFFFF).astype(np.uint16).view(np.int16))
            dtype = torch.float16 if self.kind == "fp16" else torch.bfloat16
            return halves.view(dtype).float().numpy()
        if self.kind == "fixed":
            stored = (words & ((1 << self.bits) - 1)).astype(np.int64)
            sign_bit = 1 << (self.bits - 1)
            lsb = np.float32(2.0 ** -self.frac_bits)
            if not self.sign_magnitude:
                codes = np.where(stored & sign_bit, stored - (sign_bit << 1), stored)
                return codes.astype(np.float32) * lsb
            magnitude = (stored & (sign_bit - 1)).astype(np.float32) * lsb
            return np.where(stored & sign_bit, -magnitude, magnitude).astype(np.float32)
        stored = (words & 0xFF).astype(np.int64)
        codes = np.where(stored >= 128, stored - 256, stored)
        return codes.astype(np.float32) * scales


def apply_faults(words, faults):
    """Applies [(element, bit, kind)] in order to a flat copy of `words`; returns it."""
    out = words.reshape(-1).copy()
    for element, bit, kind in faults:
        mask = np.uint32(1 << bit)
        if kind == "flip":
            out[element] ^= mask
        elif kind == "stuck0":
            out[element] &= ~mask
        elif kind == "stuck1":
            out[element] |= mask
        else:
            raise ReplayError(f"unknown fault kind {kind!r} in faults.csv")
    return out.reshape(words.shape)


# ---------------------------------------------------------------------------
# Dataset: IDX files and flipsweep's preprocessing
# ---------------------------------------------------------------------------


def _read_idx(path, magic, dims):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    found = struct.unpack(">I", data[:4])[0]
    if found != magic:
        raise ReplayError(f"{path}: IDX magic {found:#010x}, expected {magic:#010x}")
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise ReplayError(f"{path}: {body.size} data bytes, header says {shape}")
    return body.reshape(shape)


def load_dataset(dataset):
    """(images float32 NCHW preprocessed, labels int64) as config.yaml's dataset describes."""
    if dataset.get("format") != "idx":
        raise ReplayError(f"dataset format {dataset.get('format')!r} is not supported (only idx)")
    images_path, labels_path = dataset["paths"]
    images = _read_idx(images_path, 0x00000803, 3)
    labels = _read_idx(labels_path, 0x00000801, 1).astype(np.int64)
    limit = int(dataset.get("limit", 0) or 0)
    if limit > 0:
        images, labels = images[:limit], labels[:limit]
    images = images[:, None, :, :]  # N, 1, H, W

    p = dataset.get("preprocess", {}) or {}
    channels = int(p.get("channels", 0) or 0)
    if channels == 3:
        images = np.repeat(images, 3, axis=1)
    elif channels not in (0, 1):
        raise ReplayError(f"preprocess channels {channels} is not supported for 1-channel IDX images")
    pad = int(p.get("pad", 0) or 0)
    if pad:
        images = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=int(p.get("pad_value", 0) or 0))

    # ToTensor: pixel / 255 in float32, through a table as flipsweep does (same IEEE division).
    unit = np.arange(256, dtype=np.float32) / np.float32(255)
    x = unit[images]
    resize = [int(v) for v in (p.get("resize") or [0, 0])]
    if resize[0] > 0:
        x = F.interpolate(torch.from_numpy(np.ascontiguousarray(x)), size=(resize[0], resize[1]), mode="bilinear",
                          align_corners=False, antialias=False).numpy()
    mean = [float(v) for v in (p.get("mean") or [])]
    std = [float(v) for v in (p.get("std") or [])]
    c = x.shape[1]
    for name, values in (("mean", mean), ("std", std)):
        if values and len(values) != c:
            raise ReplayError(f"preprocess {name} has {len(values)} values for {c} channels")
    if mean:
        x = x - np.array(mean, dtype=np.float32).reshape(1, c, 1, 1)
    if std:
        x = x / np.array(std, dtype=np.float32).reshape(1, c, 1, 1)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(labels)


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


def onnx_parameters(path):
    """Initializers by name, plus outputs of Identity nodes that alias an initializer."""
    model = onnx.load(path)
    tensors = OrderedDict((i.name, numpy_helper.to_array(i).astype(np.float32, copy=True)) for i in model.graph.initializer)
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in tensors and node.output[0] not in tensors:
            tensors[node.output[0]] = tensors[node.input[0]].copy()
    return tensors


def build_model(entry):
    """resnet20 with the ONNX file's parameters and the entry's SAF, in eval mode."""
    params = onnx_parameters(entry["path"])
    for needed in ("conv1.weight", "fc.weight"):
        if needed not in params:
            raise ReplayError(f"{entry['path']}: no initializer {needed!r}; only resnet20 exports are supported")
    in_channels = params["conv1.weight"].shape[1]
    num_classes = params["fc.weight"].shape[0]
    saf = entry.get("saf", "none")
    model = resnet20(num_classes=num_classes, in_channels=in_channels, saf=None if saf in (None, "none") else saf)
    state = model.state_dict()
    loaded = OrderedDict()
    for name, tensor in state.items():
        if name.endswith("num_batches_tracked"):
            loaded[name] = tensor
            continue
        if name not in params:
            raise ReplayError(f"{entry['path']}: no initializer for state_dict entry {name!r}")
        if tuple(params[name].shape) != tuple(tensor.shape):
            raise ReplayError(f"{entry['path']}: {name} has shape {params[name].shape}, resnet20 expects {tuple(tensor.shape)}")
        loaded[name] = torch.from_numpy(params[name])
    unused = [n for n in params if n not in state]
    if unused:
        raise ReplayError(f"{entry['path']}: initializers not in resnet20's state_dict: {unused[:5]}")
    model.load_state_dict(loaded, strict=True)
    model.eval()
    return model, params


def target_names(model, roles):
    """conv-weight: weights of Conv layers (4-D); linear-weight: weights of Linear layers."""
    names = []
    for module_name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and "conv-weight" in roles:
            names.append(module_name + ".weight")
        elif isinstance(module, nn.Linear) and "linear-weight" in roles:
            names.append(module_name + ".weight")
    return names


@torch.no_grad()
def evaluate(model, images, labels, batch_size, clean_predictions=None):
    """(correct top-1, correct top-5, predictions, differing from clean)."""
    top1 = top5 = 0
    predictions = []
    for first in range(0, images.shape[0], batch_size):
        logits = model(images[first:first + batch_size])
        y = labels[first:first + batch_size]
        predicted = logits.argmax(dim=1)  # first NaN wins, as flipsweep's argmax
        predictions.append(predicted)
        top1 += int((predicted == y).sum())
        k = min(5, logits.shape[1])
        top5 += int((logits.topk(k, dim=1).indices == y[:, None]).any(dim=1).sum())
    predictions = torch.cat(predictions)
    differing = None if clean_predictions is None else int((predictions != clean_predictions).sum())
    return top1, top5, predictions, differing


# ---------------------------------------------------------------------------
# Campaign files
# ---------------------------------------------------------------------------


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="campaign output directory (trials.csv, faults.csv, config.yaml)")
    parser.add_argument("--max-trials", type=int, default=0, help="replay at most N trials per config (0 = all)")
    parser.add_argument("--batch-size", type=int, default=0, help="images per forward pass (default: config's)")
    parser.add_argument("--verbose", action="store_true", help="print every trial, not only mismatches")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    try:
        return replay(args)
    except ReplayError as e:
        sys.stderr.write(f"replay_faults.py: {e}\n")
        return 2


def replay(args):
    directory = args.dir
    for name in ("config.yaml", "trials.csv", "faults.csv"):
        if not os.path.exists(os.path.join(directory, name)):
            raise ReplayError(f"{directory}/{name} is missing (run the campaign with --save-faults)")
    with open(os.path.join(directory, "config.yaml")) as f:
        config = yaml.safe_load(f)

    targets = config.get("targets", {}) or {}
    roles = list(targets.get("roles") or ["conv-weight", "linear-weight"])
    if not roles or any(r not in ("conv-weight", "linear-weight") for r in roles) or targets.get("include") or targets.get("exclude"):
        raise ReplayError(f"targets {targets} are not supported: only roles conv-weight / linear-weight without include/exclude")
    batch_size = args.batch_size or int(config.get("batch_size", 256) or 256)

    trials = read_csv(os.path.join(directory, "trials.csv"))
    clean_rows = {r["config"]: r for r in read_csv(os.path.join(directory, "clean.csv"))} \
        if os.path.exists(os.path.join(directory, "clean.csv")) else {}
    faults = defaultdict(lambda: defaultdict(list))  # (config, ber, trial) -> tensor -> [(element, bit, kind)]
    with open(os.path.join(directory, "faults.csv"), newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header != ["config", "ber", "trial", "tensor", "element", "bit", "kind"]:
            raise ReplayError(f"faults.csv: unexpected header {header}")
        for row in reader:
            if len(row) != 7:
                raise ReplayError(f"faults.csv: malformed line {row}")
            faults[(row[0], row[1], row[2])][row[3]].append((int(row[4]), int(row[5]), row[6]))

    images, labels = load_dataset(config["dataset"])
    n = images.shape[0]
    print(f"replaying {directory}: {n} images, batch {batch_size}, targets {roles}")

    # trials.csv rows grouped by config, in file order, cut to --max-trials per config.
    by_config = OrderedDict()
    for row in trials:
        rows = by_config.setdefault(row["config"], [])
        if not args.max_trials or len(rows) < args.max_trials:
            rows.append(row)

    models = {m["name"]: m for m in config["models"]}
    results = []  # (config, ber, trial, flips, recorded, replayed, ok, note)
    summary = OrderedDict()
    for config_name, rows in by_config.items():
        model_name, _, format_name = config_name.rpartition("/")
        if model_name not in models:
            raise ReplayError(f"trials.csv config {config_name!r}: no model {model_name!r} in config.yaml")
        entry = models[model_name]
        fmt = StorageFormat(format_name)
        model, params = build_model(entry)
        names = target_names(model, roles)
        parameters = dict(model.named_parameters())

        # The clean model in this storage format: every target encoded and decoded.
        stored = {}
        for name in names:
            w = params[name]
            scales = fmt.scales(w)
            words = fmt.encode(w, scales)
            stored[name] = (words, scales, fmt.decode(words, scales))
        with torch.no_grad():
            for name, (_, _, clean) in stored.items():
                parameters[name].copy_(torch.from_numpy(clean))
        clean_top1, _, clean_predictions, _ = evaluate(model, images, labels, batch_size)
        stat = summary.setdefault(config_name, {"trials": 0, "matched": 0, "clean": "-", "top5": 0, "sdc": 0})
        if config_name in clean_rows:
            recorded = float(clean_rows[config_name]["top1"])
            ok = abs(100.0 * clean_top1 / n - recorded) < TOLERANCE_PERCENT and int(clean_rows[config_name]["images"]) == n
            stat["clean"] = "ok" if ok else f"MISMATCH {recorded:.4f} vs {100.0 * clean_top1 / n:.4f}"
            stat["clean_ok"] = ok

        for row in rows:
            key = (config_name, row["ber"], row["trial"])
            trial_faults = faults.get(key, {})
            note = []
            unknown = [t for t in trial_faults if t not in stored]
            if unknown:
                note.append(f"faults in non-targets {unknown}")
            count = sum(len(v) for v in trial_faults.values())
            if count != int(row["flips"]):
                note.append(f"faults.csv has {count} faults, trials.csv flips={row['flips']}")
            per_tensor = {t: len(v) for t, v in trial_faults.items()}
            recorded_per_tensor = dict((p.split(":")[0], int(p.split(":")[1])) for p in row["flips_per_tensor"].split(";") if p)
            if per_tensor != recorded_per_tensor:
                note.append("per-tensor fault counts differ from flips_per_tensor")

            with torch.no_grad():
                for tensor, tensor_faults in trial_faults.items():
                    if tensor not in stored:
                        continue
                    words, scales, _ = stored[tensor]
                    parameters[tensor].copy_(torch.from_numpy(fmt.decode(apply_faults(words, tensor_faults), scales)))
            top1, top5, _, differing = evaluate(model, images, labels, batch_size, clean_predictions)
            with torch.no_grad():  # back to the clean encoding
                for tensor in trial_faults:
                    if tensor in stored:
                        parameters[tensor].copy_(torch.from_numpy(stored[tensor][2]))

            replayed = 100.0 * top1 / n
            recorded = float(row["top1"])
            top1_ok = abs(replayed - recorded) < TOLERANCE_PERCENT
            if not top1_ok:
                note.insert(0, f"top1 {round(recorded * n / 100.0)} vs {top1} correct")
            if abs(100.0 * top5 / n - float(row["top5"])) < TOLERANCE_PERCENT:
                stat["top5"] += 1
            else:
                note.append(f"(info) top5 {row['top5']} vs {100.0 * top5 / n:.4f}")
            if abs(100.0 * differing / n - float(row["sdc"])) < TOLERANCE_PERCENT:
                stat["sdc"] += 1
            else:
                note.append(f"(info) sdc {row['sdc']} vs {100.0 * differing / n:.4f}")
            ok = top1_ok and not any(not s.startswith("(info)") and not s.startswith("top1") for s in note)
            stat["trials"] += 1
            stat["matched"] += 1 if ok else 0
            results.append((config_name, row["ber"], row["trial"], count, recorded, replayed, ok, "; ".join(note)))

    width = max([len(r[0]) for r in results] + [6])
    shown = [r for r in results if args.verbose or not r[6] or r[7]]
    if shown:
        print(f"\n{'config':<{width}}  {'ber':>8}  {'trial':>5}  {'faults':>6}  {'recorded':>9}  {'replayed':>9}  status")
    for config_name, ber, trial, count, recorded, replayed, ok, note in shown:
        print(f"{config_name:<{width}}  {ber:>8}  {trial:>5}  {count:>6}  {recorded:>9.4f}  {replayed:>9.4f}  "
              f"{'ok' if ok else 'MISMATCH'}{'  ' + note if note else ''}")
    print(f"\n{'config':<{width}}  {'match':>10}  {'top5 (info)':>11}  {'sdc (info)':>10}  clean top1")
    all_ok = True
    for config_name, s in summary.items():
        print(f"{config_name:<{width}}  {s['matched']:>4}/{s['trials']:<5}  {s['top5']:>5}/{s['trials']:<5}  "
              f"{s['sdc']:>4}/{s['trials']:<5}  {s['clean']}")
        all_ok = all_ok and s["matched"] == s["trials"] and s.get("clean_ok", True)
    total = sum(s["trials"] for s in summary.values())
    matched = sum(s["matched"] for s in summary.values())
    print(f"\n{matched}/{total} trials match{'' if all_ok else '; MISMATCHES above'}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
