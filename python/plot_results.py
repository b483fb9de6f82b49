#!/usr/bin/python3
"""Accuracy vs bit error rate from a campaign's summary.csv: one line per configuration
(model SAF × storage format), mean top-1 with a ±1 std band, log-scaled BER axis, the clean
accuracy at the left as a dotted reference. Writes accuracy_vs_ber.png and .svg beside it.

    /usr/bin/python3 python/plot_results.py results/<campaign>

`flipsweep run` and `flipsweep report` call this when matplotlib is installed.
Exit status: 0 plotted, 3 matplotlib missing, 4 nothing to plot (every BER is 0: exact-fault
campaigns, or a campaign run at BER 0 only), 1 other problems.
"""
import csv
import os
import sys


def campaign_name(folder):
    """The campaign's name from its config.yaml (`name: ...`), else the folder's name."""
    try:
        with open(os.path.join(folder, "config.yaml")) as f:
            for line in f:
                if line.startswith("name:"):
                    return line.split(":", 1)[1].strip().strip("'\"")
    except OSError:
        pass
    return os.path.basename(os.path.normpath(folder))


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder = argv[1]
    summary = os.path.join(folder, "summary.csv")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_results.py: matplotlib is not installed (Debian package python3-matplotlib); no plot made",
              file=sys.stderr)
        return 3
    with open(summary, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        print(f"plot_results.py: {summary} has no rows", file=sys.stderr)
        return 1
    # Segmentation campaigns summarise mean IoU (miou_* columns), classification ones top-1.
    metric = "miou" if "miou_mean" in rows[0] else "top1"
    clean_column = "clean_miou" if metric == "miou" else "clean_top1"
    series = {}
    for r in rows:
        ber = float(r["ber"])
        if ber <= 0:
            continue  # exact-fault campaigns have no BER axis
        series.setdefault(r["config"], []).append(
            # the std is empty for a point with one trial: no band there.
            (ber, float(r[f"{metric}_mean"]), float(r[f"{metric}_std"] or 0.0), float(r[clean_column]), r["saf"],
             r["format"]))
    if not series:
        print(f"plot_results.py: no plot: every BER in {summary} is 0, so there is no log-scaled BER axis "
              "(summary.md has the results)", file=sys.stderr)
        return 4
    # "FP32 tanh" names a curve while every configuration has its own (format, SAF); campaigns that
    # compare several models with the same SAF need the configuration's name ("relu/fp32").
    short = {config: f"{points[0][5].upper()} {points[0][4]}" for config, points in series.items()}
    unique = len(set(short.values())) == len(short)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for config, points in series.items():
        points.sort()
        bers = [p[0] for p in points]
        mean = [p[1] for p in points]
        low = [max(0.0, p[1] - p[2]) for p in points]
        high = [min(100.0, p[1] + p[2]) for p in points]
        label = short[config] if unique else config + ("" if points[0][4] == "none" else f" ({points[0][4]})")
        line, = ax.plot(bers, mean, marker="o", markersize=3, label=label)
        ax.fill_between(bers, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
        ax.axhline(points[0][3], color=line.get_color(), linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("bit error rate")
    ax.set_ylabel("mean IoU (%)" if metric == "miou" else "top-1 accuracy (%)")
    ax.set_ylim(-1, 102)  # a fault-free line at 100 % stays visible above the frame's edge
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(campaign_name(folder) + ": mean ± std over trials (dotted: fault-free)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(os.path.join(folder, "accuracy_vs_ber." + ext), dpi=150)
    print(f"plot: {os.path.join(folder, 'accuracy_vs_ber.png')} (.svg)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
