#!/usr/bin/python3
"""Heat map of every parameter's fp32 exponents, from `flipsweep inspect M.onnx --ranges-csv R.csv`.

    /usr/bin/python3 python/plot_ranges.py R.csv OUT.png [--title TEXT]

Rows are parameters (in the model's order), columns unbiased exponents e (values in [2^e, 2^(e+1))),
colour the share of the parameter's values there (log scale). The column e = 0 (1 ≤ |w| < 2) is
outlined: one flip of the exponent's MSB turns those fp32 words into Inf/NaN (seed 002).
"""
import argparse
import csv
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv")
    parser.add_argument("out")
    parser.add_argument("--title", default=None)
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:
        print("plot_ranges.py: needs matplotlib and numpy (python3-matplotlib)", file=sys.stderr)
        return 3
    counts, order = {}, []
    with open(args.csv, newline="") as f:
        for row in csv.DictReader(f):
            name = row["parameter"]
            if name not in counts:
                counts[name] = {}
                order.append(name)
            counts[name][int(row["exponent"])] = int(row["count"])
    if not order:
        print(f"plot_ranges.py: {args.csv} has no rows", file=sys.stderr)
        return 1
    exponents = sorted({e for c in counts.values() for e in c if e > -127})
    low, high = max(min(exponents), -40), max(max(exponents), 1)
    grid = np.full((len(order), high - low + 1), np.nan)
    for i, name in enumerate(order):
        total = sum(counts[name].values())
        for e, n in counts[name].items():
            if low <= e <= high:
                grid[i, e - low] = n / total
    fig, ax = plt.subplots(figsize=(8, max(3, 0.18 * len(order) + 1.5)))
    image = ax.imshow(np.log10(grid), aspect="auto", cmap="viridis", interpolation="nearest",
                      extent=(low - 0.5, high + 0.5, len(order) - 0.5, -0.5))
    ax.axvline(-0.5, color="red", linewidth=0.8)
    ax.axvline(0.5, color="red", linewidth=0.8)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels(order, fontsize=6)
    ax.set_xlabel("fp32 exponent e (values in [2^e, 2^(e+1)); red: 1 <= |w| < 2)")
    fig.colorbar(image, ax=ax, label="log10 share of the parameter's values")
    ax.set_title(args.title or args.csv)
    fig.tight_layout()
    fig.savefig(args.out, dpi=150)
    print(f"plot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
