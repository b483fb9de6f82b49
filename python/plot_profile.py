#!/usr/bin/python3
"""Where the damage comes from: a per-layer × bit vulnerability profile from a layer-bit campaign.

    ./build/flipsweep run CONFIG.yaml --save-faults      # faults: {model: layer-bit}, see below
    /usr/bin/python3 python/plot_profile.py results/<campaign>

A `faults: {model: layer-bit}` campaign flips exactly one stored bit per trial: trial t on target
tensor (t / k) mod n and the (t mod k)-th selected bit (n targets, k bits selected by
`targets.bits`), at a uniformly drawn element; `trials` = r · n · k gives every (tensor, bit) cell
r trials. From trials.csv, clean.csv and faults.csv (so run with --save-faults) this writes, per
configuration (model × format):

  profile.csv   config,tensor,bit,trials,mean_drop,collapsed_share — mean_drop: the clean
                top-1 (segmentation: mean IoU) minus the trial's, in points, averaged over the
                cell's trials; collapsed_share: the share of its trials whose metric fell to half
                the clean one or below, or whose every output was NaN (all_nan; segmentation: every
                pixel NaN)
  profile_<config>.png   two heat maps (rows: tensors in model order, columns: bits, most
                significant left):
                mean drop and collapsed share

Works for classification and segmentation campaigns alike. Files are written to a temporary
name and renamed. Exit status: 0 written, 3 matplotlib missing (profile.csv is still written),
1 bad input.
"""
import csv
import math
import os
import sys


class ProfileError(Exception):
    pass


def read_csv(path):
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError as e:
        raise ProfileError(f"{path}: cannot read: {e.strerror}")


def metric_column(rows, path):
    if not rows:
        raise ProfileError(f"{path}: no rows")
    for column in ("top1", "mean_iou"):
        if column in rows[0]:
            return column
    raise ProfileError(f"{path}: neither a top1 nor a mean_iou column")


def collapsed(row, metric, clean_value):
    if "all_nan" in row and row["all_nan"] == "1":
        return True
    if "nan_pixels" in row and float(row["nan_pixels"]) >= 100.0:
        return True
    return float(row[metric]) <= 0.5 * clean_value


def profile(folder):
    """{config: {(tensor, bit): [drops], ...}} plus the tensor order and collapse counts."""
    trials_path, clean_path, faults_path = (os.path.join(folder, name) for name in ("trials.csv", "clean.csv",
                                                                                     "faults.csv"))
    if not os.path.exists(faults_path):
        raise ProfileError(f"{faults_path}: missing; run the layer-bit campaign with --save-faults")
    trials, clean = read_csv(trials_path), read_csv(clean_path)
    metric = metric_column(trials, trials_path)
    clean_of = {row["config"]: float(row[metric]) for row in clean}
    cell_of = {}  # (config, trial) -> (tensor, bit)
    tensor_order = {}
    for row in read_csv(faults_path):
        key = (row["config"], int(row["trial"]))
        if key in cell_of:
            raise ProfileError(f"{faults_path}: {row['config']} trial {row['trial']} has more than one fault; "
                               "a profile needs faults: {model: layer-bit}")
        cell_of[key] = (row["tensor"], int(row["bit"]))
        tensor_order.setdefault(row["config"], {}).setdefault(row["tensor"], len(tensor_order[row["config"]]))
    cells = {}
    for row in trials:
        config = row["config"]
        if config not in clean_of:
            raise ProfileError(f"{clean_path}: no clean {metric} for {config}")
        key = (config, int(row["trial"]))
        if key not in cell_of:
            raise ProfileError(f"{faults_path}: no fault for {config} trial {row['trial']} (a layer-bit campaign "
                               "flips one bit in every trial)")
        drop = clean_of[config] - float(row[metric])
        entry = cells.setdefault(config, {}).setdefault(cell_of[key], [0, 0.0, 0])
        entry[0] += 1
        entry[1] += drop if math.isfinite(drop) else clean_of[config]
        entry[2] += collapsed(row, metric, clean_of[config])
    return metric, cells, tensor_order


def write_atomically(path, text):
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder = argv[1]
    try:
        metric, cells, tensor_order = profile(folder)
    except ProfileError as e:
        print(f"plot_profile.py: {e}", file=sys.stderr)
        return 1
    lines = ["config,tensor,bit,trials,mean_drop,collapsed_share"]
    for config in sorted(cells):
        order = tensor_order[config]
        for (tensor, bit), (count, drop_sum, collapses) in sorted(cells[config].items(),
                                                                  key=lambda item: (order[item[0][0]], -item[0][1])):
            lines.append(f"{config},{tensor},{bit},{count},{drop_sum / count:.4f},{collapses / count:.4f}")
    write_atomically(os.path.join(folder, "profile.csv"), "\n".join(lines) + "\n")
    print(f"plot_profile.py: wrote {os.path.join(folder, 'profile.csv')} ({len(lines) - 1} cells)")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_profile.py: matplotlib is not installed (Debian package python3-matplotlib); no plot made",
              file=sys.stderr)
        return 3
    name = "mean IoU" if metric == "mean_iou" else "top-1"
    for config in sorted(cells):
        tensors = sorted(tensor_order[config], key=tensor_order[config].get)
        bits = sorted({bit for _, bit in cells[config]}, reverse=True)
        drop = [[math.nan] * len(bits) for _ in tensors]
        share = [[math.nan] * len(bits) for _ in tensors]
        for (tensor, bit), (count, drop_sum, collapses) in cells[config].items():
            i, j = tensors.index(tensor), bits.index(bit)
            drop[i][j], share[i][j] = drop_sum / count, collapses / count
        height = max(3.0, 0.28 * len(tensors) + 1.5)
        figure, axes = plt.subplots(1, 2, figsize=(2 * max(4.0, 0.3 * len(bits) + 3.0), height), squeeze=False)
        for axis, values, title, limit in ((axes[0][0], drop, f"{name} drop (points), mean of the cell's trials", None),
                                           (axes[0][1], share, "share of trials collapsed", 1.0)):
            image = axis.imshow(values, aspect="auto", cmap="magma_r", vmin=0.0, vmax=limit, interpolation="nearest")
            axis.set_xticks(range(len(bits)))
            axis.set_xticklabels([str(b) for b in bits], fontsize=6)
            axis.set_yticks(range(len(tensors)))
            axis.set_yticklabels(tensors, fontsize=6)
            axis.set_xlabel("bit of the stored word (most significant left)")
            axis.set_title(title, fontsize=9)
            figure.colorbar(image, ax=axis)
        figure.suptitle(f"{config}: one bit flip per trial", fontsize=10)
        figure.tight_layout()
        out = os.path.join(folder, "profile_" + config.replace("/", "_") + ".png")
        temporary = out + ".tmp.png"
        figure.savefig(temporary, dpi=120)
        plt.close(figure)
        os.replace(temporary, out)
        print(f"plot_profile.py: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
