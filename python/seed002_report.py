#!/usr/bin/python3
"""Seed 002's tables from the mosaic U-Net campaigns (results/mosaics-seed002/README.md).

    /usr/bin/python3 python/seed002_report.py results/mosaics-seed002 [MODELS_DIR]

Reads, under the folder given:
  single-flip/   `flipsweep run configs/seed002_single_flip.yaml --save-faults` (one flip per trial)
  layer-bit/     `flipsweep run configs/seed002_layer_bit.yaml --save-faults` (every tensor × bit)
  ber-sweep/     `flipsweep run configs/seed002_ber_sweep.yaml` (optional)
  ranges/<model>.csv  `flipsweep inspect M.onnx --ranges-csv` of each model (optional)
and, from MODELS_DIR (default models/mosaics/ of this repository), each U-Net's .json (training
settings and PyTorch's test metrics on the 2,000 test mosaics),
and writes tables.md (every table the README quotes), per_bit.png (share of single-flip trials
that cost at least one point of mean IoU, per bit of the FP32 word, per activation) and
ber_sweep.png (mean IoU kept against BER, a panel per storage format), each written to a
temporary name and renamed.

Per trial, from trials.csv (segmentation rows): *changed* = some pixel's predicted class differs
from the fault-free model's (sdc > 0), seed 002's error propagation; *critical* = mean IoU at
least 1 point below the fault-free value (or NaN); *collapsed* = mean IoU at most half the
fault-free value, or every pixel NaN (as python/plot_profile.py); *NaN* = some pixel's logits all
NaN. Parameters counted in the ranges table are the campaign targets: conv and transposed-conv
weights, biases, BatchNorm scale and shift (not the running statistics).
"""
import csv
import math
import os
import sys

ACTIVATIONS = ["relu", "relu6", "sigmoid", "hardsigmoid"]
CRITICAL_POINTS = 1.0


class ReportError(Exception):
    pass


def read_csv(path, required=True):
    if not os.path.exists(path):
        if required:
            raise ReportError(f"{path}: missing")
        return None
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ReportError(f"{path}: no rows")
    return rows


def number(text):
    return float(text) if text not in ("", "nan", "-nan") else math.nan


class TrialStats:
    """Counts over a set of trials of one configuration."""

    def __init__(self, clean_miou):
        self.clean = clean_miou
        self.trials = self.changed = self.critical = self.collapsed = self.nan = 0
        self.sdc_sum = self.miou_sum = 0.0

    def add(self, row):
        miou, sdc = number(row["mean_iou"]), number(row["sdc"])
        all_nan = row.get("all_nan") == "1"
        self.trials += 1
        self.changed += sdc > 0.0
        self.critical += not (miou > self.clean - CRITICAL_POINTS)
        self.collapsed += all_nan or not (miou > 0.5 * self.clean)
        self.nan += number(row["nan_pixels"]) > 0.0
        self.sdc_sum += sdc
        self.miou_sum += miou if math.isfinite(miou) else 0.0

    def share(self, count):
        return 100.0 * count / self.trials if self.trials else math.nan


def model_and_format(config):
    model, _, storage = config.partition("/")
    return model, storage


def order_key(config):
    model, storage = model_and_format(config)
    activation, _, pruned = model.partition("-")
    rank = ACTIVATIONS.index(activation) if activation in ACTIVATIONS else len(ACTIVATIONS)
    return (storage, rank, pruned)


def load_campaign(folder):
    trials = read_csv(os.path.join(folder, "trials.csv"))
    if "mean_iou" not in trials[0]:
        raise ReportError(f"{folder}/trials.csv: not a segmentation campaign (no mean_iou column)")
    clean = {row["config"]: row for row in read_csv(os.path.join(folder, "clean.csv"))}
    for row in trials:
        if row["config"] not in clean:
            raise ReportError(f"{folder}/clean.csv: no fault-free row for {row['config']}, which trials.csv has")
    faults = read_csv(os.path.join(folder, "faults.csv"), required=False)
    fault_of = {}
    for row in faults or []:
        fault_of.setdefault((row["config"], row["trial"]), []).append(row)
    return trials, clean, fault_of


def region_of(tensor):
    """The U-Net part a parameter belongs to (flipsweep_models.UNet's names)."""
    head = tensor.split(".")[0]
    if head == "encoders":
        return "encoder " + tensor.split(".")[1]
    if head in ("ups", "decoders"):
        return "decoder " + tensor.split(".")[1]
    return head  # bottleneck, head


REGIONS = ["encoder 0", "encoder 1", "bottleneck", "decoder 0", "decoder 1", "head"]


TOP_BIT = {}  # bit_class label -> its highest bit (the tables' column order)


def bit_class(bit, storage):
    label = _bit_class(bit, storage)
    TOP_BIT[label] = max(TOP_BIT.get(label, -1), bit)
    return label


def _bit_class(bit, storage):
    if storage == "int8":
        return "sign (7)" if bit == 7 else f"bit {bit}"
    if storage == "fp32":
        if bit == 31:
            return "sign (31)"
        if bit == 30:
            return "exponent MSB (30)"
        if bit >= 23:
            return "exponent 29-23"
        return "mantissa 22-0"
    return f"bit {bit}"


def fmt(value, digits=2):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text  # no "-0.0"


def single_flip_tables(folder, lines, per_bit):
    trials, clean, fault_of = load_campaign(folder)
    overall, by_class, by_kind = {}, {}, {}
    for row in trials:
        config = row["config"]
        clean_miou = number(clean[config]["mean_iou"])
        overall.setdefault(config, TrialStats(clean_miou)).add(row)
        storage = model_and_format(config)[1]
        for fault in fault_of.get((config, row["trial"]), []):
            bit = int(fault["bit"])
            by_class.setdefault(config, {}).setdefault(bit_class(bit, storage), TrialStats(clean_miou)).add(row)
            per_bit.setdefault(config, {}).setdefault(bit, TrialStats(clean_miou)).add(row)
            kind = kind_of(fault["tensor"])
            by_kind.setdefault(config, {}).setdefault(kind, TrialStats(clean_miou)).add(row)
    configs = sorted(overall, key=order_key)
    lines += ["## Single flips: one stored bit per trial, uniform over every targeted bit", "",
              f"`{folder}`. Changed: some pixel's class differs from the fault-free model's. Critical: mean IoU "
              f"≥ {CRITICAL_POINTS:g} point below fault-free. Collapsed: mean IoU ≤ half, or every pixel NaN.", "",
              "| config | trials | clean pixel acc. | clean mean IoU | mean IoU after | mean changed pixels (%) | "
              "changed trials (%) | critical (%) | collapsed (%) | some pixel NaN (%) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for config in configs:
        s = overall[config]
        lines.append(f"| {config} | {s.trials} | {fmt(number(clean[config]['pixel_accuracy']))} | {fmt(s.clean)} | "
                     f"{fmt(s.miou_sum / s.trials)} | {fmt(s.sdc_sum / s.trials, 4)} | {fmt(s.share(s.changed))} | "
                     f"{fmt(s.share(s.critical))} | {fmt(s.share(s.collapsed))} | {fmt(s.share(s.nan))} |")
    if by_class:
        lines += ["", "### By the bit that flipped (critical trials / trials)", ""]
        for storage in sorted({model_and_format(c)[1] for c in by_class}):
            group = [c for c in configs if model_and_format(c)[1] == storage and c in by_class]
            classes = sorted({k for c in group for k in by_class[c]}, key=lambda k: -TOP_BIT[k])
            lines += [f"{storage}:", "", "| config | " + " | ".join(classes) + " |",
                      "|---|" + "---|" * len(classes)]
            for config in group:
                cells = []
                for k in classes:
                    s = by_class[config].get(k)
                    cells.append("–" if s is None else f"{s.critical}/{s.trials}")
                lines.append(f"| {config} | " + " | ".join(cells) + " |")
            lines.append("")
        lines += ["### By the kind of parameter hit (critical trials / trials)", "",
                  "| config | conv weights | biases | BatchNorm scale/shift |", "|---|---|---|---|"]
        for config in configs:
            cells = []
            for kind in ("weight", "bias", "batchnorm"):
                s = by_kind.get(config, {}).get(kind)
                cells.append("–" if s is None else f"{s.critical}/{s.trials}")
            lines.append(f"| {config} | " + " | ".join(cells) + " |")
    lines.append("")


def kind_of(tensor):
    return ("bias" if tensor.endswith(".bias") and ".bn" not in tensor else
            "batchnorm" if ".bn" in tensor else "weight")


def top_bit(storage):
    """The bit whose flip seed 002 blames: FP32's exponent MSB, an integer word's sign bit."""
    return 30 if storage == "fp32" else 15 if storage in ("fp16", "bf16") else 7


def layer_bit_tables(folder, lines):
    trials, clean, fault_of = load_campaign(folder)
    if not fault_of:
        raise ReportError(f"{folder}/faults.csv: missing; run the layer-bit campaign with --save-faults")
    by_region, by_kind = {}, {}
    for row in trials:
        config = row["config"]
        clean_miou = number(clean[config]["mean_iou"])
        storage = model_and_format(config)[1]
        for fault in fault_of.get((config, row["trial"]), []):
            label = str(top_bit(storage)) if int(fault["bit"]) == top_bit(storage) else "others"
            by_region.setdefault((config, label), {}).setdefault(region_of(fault["tensor"]),
                                                                 TrialStats(clean_miou)).add(row)
            by_kind.setdefault((config, label), {}).setdefault(kind_of(fault["tensor"]),
                                                               TrialStats(clean_miou)).add(row)
    keys = sorted(by_region, key=lambda key: (order_key(key[0]), key[1] == "others"))

    def cell(s):
        return "–" if s is None else f"{fmt(s.clean - s.miou_sum / s.trials, 1)} / {fmt(s.share(s.collapsed), 0)} % (n={s.trials})"

    lines += ["## Where in the U-Net: layer-bit campaign (every tensor × bit cell)", "", f"`{folder}`. "
              "Mean IoU drop (points) / collapsed share of the trials that flipped the top bit that matters (FP32: "
              "the exponent's MSB, bit 30; int8: the sign bit, 7) of a parameter in each part of the U-Net, then "
              "of all other bits.", "",
              "| config | bit | " + " | ".join(REGIONS) + " |", "|---|---|" + "---|" * len(REGIONS)]
    for config, label in keys:
        lines.append(f"| {config} | {label} | " + " | ".join(cell(by_region[(config, label)].get(r)) for r in REGIONS)
                     + " |")
    lines += ["", "By the kind of parameter (same cells):", "",
              "| config | bit | conv weights | biases | BatchNorm scale/shift |", "|---|---|---|---|---|"]
    for config, label in keys:
        lines.append(f"| {config} | {label} | " + " | ".join(cell(by_kind[(config, label)].get(k))
                                                           for k in ("weight", "bias", "batchnorm")) + " |")
    lines.append("")


def ber_tables(folder, lines):
    summary = read_csv(os.path.join(folder, "summary.csv"), required=False)
    if summary is None:
        return
    bers = sorted({row["ber"] for row in summary}, key=float)
    by = {(row["config"], row["ber"]): row for row in summary}
    configs = sorted({row["config"] for row in summary}, key=order_key)
    lines += ["## BER sweeps: mean IoU (%) after faults, mean ± std over trials", "", f"`{folder}`.", "",
              "| config | clean | " + " | ".join(f"BER {b}" for b in bers) + " |", "|---|---|" + "---|" * len(bers)]
    for config in configs:
        clean = by.get((config, bers[0]), {}).get("clean_miou", "")
        cells = []
        for b in bers:
            row = by.get((config, b))
            cells.append("–" if row is None else f"{fmt(number(row['miou_mean']))} ± {fmt(number(row['miou_std']))}")
        lines.append(f"| {config} | {fmt(number(clean))} | " + " | ".join(cells) + " |")
    lines += ["", "The same, as a share of the fault-free mean IoU (%): the models' clean accuracies differ.", "",
              "| config | " + " | ".join(f"BER {b}" for b in bers) + " |", "|---|" + "---|" * len(bers)]
    for config in configs:
        cells = []
        for b in bers:
            row = by.get((config, b))
            cells.append("–" if row is None else fmt(100.0 * number(row["miou_mean"]) / number(row["clean_miou"]), 0))
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    lines.append("")


def ranges_table(folder, lines):
    if not os.path.isdir(folder):
        return
    files = sorted((f for f in os.listdir(folder) if f.endswith(".csv")),
                   key=lambda f: order_key(f[:-4] + "/fp32"))
    lines += ["## Parameter ranges (`flipsweep inspect --ranges-csv`), campaign targets only", "",
              "Values with 1 ≤ \\|w\\| < 2 are the FP32 words that one flip of the exponent's MSB turns into Inf "
              "(or NaN). One flip makes an FP32 word non-finite only when its exponent field has a single 0 bit, "
              "so with no value at 2^64 or above these are the only ones.", "",
              "| model | targeted values | 1 ≤ \\|w\\| < 2 | share (%) | of which BatchNorm scale | "
              "largest exponent |", "|---|---|---|---|---|---|"]
    for name in files:
        counts, in_range, bn_in_range, largest = 0, 0, 0, -1000
        for row in read_csv(os.path.join(folder, name)):
            parameter = row["parameter"]
            if parameter.endswith("running_mean") or parameter.endswith("running_var"):
                continue
            count, exponent = int(row["count"]), row["exponent"]
            counts += count
            if exponent in ("zero", "subnormal", "inf", "nan"):
                continue
            exponent = int(exponent)
            largest = max(largest, exponent)
            if exponent == 0:
                in_range += count
                bn_in_range += count if ".bn" in parameter and parameter.endswith(".weight") else 0
        lines.append(f"| {name[:-4]} | {counts} | {in_range} | {fmt(100.0 * in_range / counts)} | {bn_in_range} | "
                     f"2^{largest} |")
    lines.append("")


def models_table(folder, lines):
    if not os.path.isdir(folder):
        return
    import json
    names = sorted((f[:-5] for f in os.listdir(folder) if f.startswith("unet_") and f.endswith(".json")),
                   key=lambda n: order_key(n[5:].replace("_pruned", "-p") + "/fp32"))
    if not names:
        return
    lines += ["## Models (PyTorch's test metrics on all 2,000 test mosaics, from each model's .json)", "",
              "| model | parameters | trained | pixel acc. | mean IoU | fw IoU | mean IoU right after pruning |",
              "|---|---|---|---|---|---|---|"]
    records = {}
    for name in names:
        with open(os.path.join(folder, name + ".json")) as f:
            records[name] = json.load(f)
    # Training records do not count parameters; a pruned model's record counts its source's.
    source_parameters = {os.path.basename(r["source_model"])[:-5]: r["source_parameters"]
                         for r in records.values() if "source_model" in r}
    for name in names:
        record = records[name]
        test = record["test"]
        if "sparsity" in record:
            trained = f"pruned {100 * record['sparsity']:.0f} %, {record['epochs']} epoch(s) at lr {record['lr']:g}"
            after_pruning = fmt(record["test_after_pruning"]["mean_iou"])
            parameters = record["parameters"]
        else:
            trained = f"{record['epochs']} epochs at lr {record['lr']:g}"
            after_pruning = "–"
            parameters = record.get("parameters", source_parameters.get(name, "–"))
        lines.append(f"| {name[5:].replace('_pruned', '-p')} | {parameters} | {trained} | "
                     f"{fmt(test['pixel_accuracy'])} | {fmt(test['mean_iou'])} | "
                     f"{fmt(test['frequency_weighted_iou'])} | {after_pruning} |")
    lines.append("")


def write_atomically(path, text):
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def plot_per_bit(per_bit, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("seed002_report.py: matplotlib missing (python3-matplotlib); no plot", file=sys.stderr)
        return
    figure, axis = plt.subplots(figsize=(9, 4))
    for config in sorted(per_bit, key=order_key):
        model, storage = model_and_format(config)
        if storage != "fp32" or "-" in model:
            continue
        bits = sorted(per_bit[config], reverse=True)
        axis.plot(bits, [per_bit[config][b].share(per_bit[config][b].critical) for b in bits], marker="o",
                  markersize=3, label=model)
    axis.set_xlim(31.5, -0.5)
    axis.set_xlabel("bit of the FP32 word that flipped (31 sign, 30-23 exponent, 22-0 mantissa)")
    axis.set_ylabel(f"critical trials (%): mean IoU −{CRITICAL_POINTS:g} point or more")
    axis.set_title("Single flips in the mosaic U-Nets, by bit (unpruned, FP32)")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    temporary = out + ".tmp.png"
    figure.savefig(temporary, dpi=120)
    plt.close(figure)
    os.replace(temporary, out)


def plot_ber(folder, out):
    """One panel per storage format: share of the fault-free mean IoU kept against BER, unpruned
    models solid, 50 %-pruned dashed, one colour per activation."""
    summary = read_csv(os.path.join(folder, "summary.csv"), required=False)
    if summary is None:
        return
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    storages = [s for s in ("fp32", "fp16", "int8") if any(model_and_format(r["config"])[1] == s for r in summary)]
    figure, axes = plt.subplots(1, len(storages), figsize=(4.2 * len(storages), 3.8), sharey=True, squeeze=False)
    colours = dict(zip(ACTIVATIONS, ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    for axis, storage in zip(axes[0], storages):
        for activation in ACTIVATIONS:
            for variant, style in (("", "-"), ("-p50", "--")):
                rows = sorted((r for r in summary if r["config"] == f"{activation}{variant}/{storage}"),
                              key=lambda r: float(r["ber"]))
                if rows:
                    axis.plot([float(r["ber"]) for r in rows],
                              [100.0 * number(r["miou_mean"]) / number(r["clean_miou"]) for r in rows], style,
                              marker="o", markersize=3, color=colours[activation], label=activation + variant)
        axis.set_xscale("log")
        axis.set_title(storage.upper())
        axis.set_xlabel("bit error rate")
        axis.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("mean IoU kept (% of fault-free)")
    axes[0][0].set_ylim(0, 105)
    axes[0][-1].legend(fontsize=7)
    figure.suptitle("Mosaic U-Nets under random bit flips (dashed: 50 % of inner channels pruned)", fontsize=10)
    figure.tight_layout()
    temporary = out + ".tmp.png"
    figure.savefig(temporary, dpi=120)
    plt.close(figure)
    os.replace(temporary, out)


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    root = argv[1]
    models = argv[2] if len(argv) == 3 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models",
                                                         "mosaics")
    lines = ["# Seed 002 on the Fashion-MNIST mosaics: tables", "",
             f"Written by `python/seed002_report.py {root}` from the campaign folders beside this file.", ""]
    per_bit = {}
    try:
        models_table(models, lines)
        single_flip_tables(os.path.join(root, "single-flip"), lines, per_bit)
        layer_bit = os.path.join(root, "layer-bit")
        if os.path.isdir(layer_bit):
            layer_bit_tables(layer_bit, lines)
        ber_tables(os.path.join(root, "ber-sweep"), lines)
        ranges_table(os.path.join(root, "ranges"), lines)
    except (ReportError, KeyError, ValueError, OSError) as e:
        print(f"seed002_report.py: {e}", file=sys.stderr)
        return 1
    write_atomically(os.path.join(root, "tables.md"), "\n".join(lines))
    print(f"seed002_report.py: wrote {os.path.join(root, 'tables.md')}")
    plot_per_bit(per_bit, os.path.join(root, "per_bit.png"))
    plot_ber(os.path.join(root, "ber-sweep"), os.path.join(root, "ber_sweep.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
