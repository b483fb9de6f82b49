#!/usr/bin/python3
"""The CPU engine issue's campaign target: seed 001's Fig.-3 sweep on the CPU, flipsweep against a
plain PyTorch per-trial loop, same machine, same thread count, same run.

  /usr/bin/python3 bench/fig3_sweep_vs_pytorch.py --build build --threads 2 [--images 10000]
      [--trials 10] [--configs none,tanh] [--rounds 1] [--no-shortcuts]

The sweep: the Fashion-MNIST ResNet20 models of models/fashion-mnist (no SAF and tanh), FP32
storage, every stored bit of every conv and linear weight flipped with probability BER, BER 1e-7
... 1e-3 in half decades (9 points), --trials trials per point, on the first --images Fashion-MNIST
test images (all 10,000 by default; the Debian package dataset-fashion-mnist).

flipsweep: `flipsweep run` on that campaign (CPU backend, its defaults), timed from the start of
the process to its end, loading, the clean pass and writing the results included.
--no-shortcuts also times a run with every trial's whole activation pass, to show what the exact
shortcuts save; both runs must write the same rows (checked, except the timing and shortcut
columns).

PyTorch (1.13, Debian's python3-torch): the same models (python/flipsweep_models.resnet20 with its
SAF, weights mapped from the ONNX initializers by name); all conv and linear weights in one flat
fp32 buffer; per trial it copies the clean weights back, draws a per-bit Bernoulli mask (32
torch.rand calls over the buffer, one per bit position) and XORs it into the words, and scores
the images at its best batch (the fastest of --torch-batches in a clean pass, not timed). Its
figure counts only the trial loop: copy, masks and evaluation.

Result: image-trials per second (trials x images / seconds) for both and the ratio (target >= 2),
printed and appended to bench/results/fig3_sweep_vs_pytorch.csv. Rounds are interleaved; the best
of each side is kept.
"""
import argparse
import csv
import datetime
import gzip
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "python"))
sys.path.insert(0, HERE)
import flipsweep_models  # noqa: E402
from pytorch_trial_loop import FlatWeights, load_onnx_weights  # noqa: E402

BERS = [1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3]
FASHION = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530
SEED = 2025


def model_path(config):
    return os.path.join(REPO, "models", "fashion-mnist", f"resnet20_{config}.onnx")


def campaign_yaml(configs, trials):
    models = "\n".join(f"  - {{name: {c}, path: {model_path(c)}, saf: {c}}}" for c in configs)
    return f"""name: fig3-bench
seed: {SEED}
trials: {trials}
ber: [{", ".join(repr(b) for b in BERS)}]
formats: [fp32]
models:
{models}
dataset:
  spec: fashion-mnist-test
  preprocess: {{mean: [{MEAN}], std: [{STD}]}}
targets: {{roles: [conv-weight, linear-weight], bits: all}}
faults: {{model: bit-flip}}
batch_size: 256
"""


def run_flipsweep(binary, config_path, out, images, threads, shortcuts):
    command = [binary, "run", config_path, "--out", out, "--limit", str(images), "--threads", str(threads),
               "--no-progress"]
    if not shortcuts:
        command.append("--no-shortcuts")
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    summary = [line for line in done.stdout.splitlines() if line.startswith(("time:", "shortcuts:"))]
    return seconds, summary


def comparable_rows(trials_csv):
    with open(trials_csv) as f:
        rows = list(csv.DictReader(f))
    return sorted(tuple(v for k, v in r.items() if k not in ("seconds", "shortcut")) for r in rows)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_model(config):
    model = flipsweep_models.resnet20(num_classes=10, in_channels=1, saf=None if config == "none" else config)
    why_not = load_onnx_weights(model, model_path(config))
    if why_not is not None:
        raise SystemExit(f"{model_path(config)}: {why_not}")
    return model.eval()


def pytorch_sweep(configs, trials, images, batches):
    """Returns (seconds of the trial loops, {config: [mean top-1 per BER]})."""
    pixels = read_idx(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"))[:images]
    labels = torch.from_numpy(read_idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz"))[:images].astype(np.int64))
    x_all = ((torch.from_numpy(pixels.copy()).float() / 255.0 - MEAN) / STD).unsqueeze(1)
    total, top1 = 0.0, {}
    generator = torch.Generator().manual_seed(SEED)
    with torch.inference_mode():
        for config in configs:
            model = load_model(config)
            weights = FlatWeights(model, torch.device("cpu"))

            def evaluate(batch):
                correct = 0
                for first in range(0, images, batch):
                    correct += int((model(x_all[first:first + batch]).argmax(1) == labels[first:first + batch]).sum())
                return correct

            speed = {}
            for batch in batches:
                evaluate(batch)  # warm-up
                t0 = time.perf_counter()
                evaluate(batch)
                speed[batch] = images / (time.perf_counter() - t0)
            best = max(speed, key=speed.get)
            top1[config] = []
            t0 = time.perf_counter()
            for ber in BERS:
                correct = 0
                for _ in range(trials):
                    weights.inject(ber, generator)
                    correct += evaluate(best)
                top1[config].append(100.0 * correct / (trials * images))
            total += time.perf_counter() - t0
            weights.restore()
            print(f"  pytorch {config}: best batch {best} ({', '.join(f'{b}: {v:.0f}' for b, v in speed.items())} "
                  f"images/s clean)", flush=True)
    return total, top1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="CMake build directory holding the flipsweep binary")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--configs", default="none,tanh")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the best of each side is kept")
    parser.add_argument("--torch-batches", default="128,256,512")
    parser.add_argument("--no-shortcuts", action="store_true", help="also time flipsweep with --no-shortcuts")
    parser.add_argument("--csv", default=os.path.join(HERE, "results", "fig3_sweep_vs_pytorch.csv"))
    args = parser.parse_args()
    if not 1 <= args.images <= 10000:
        raise SystemExit("--images: 1 to 10000")
    configs = args.configs.split(",")
    for c in configs:
        if not os.path.exists(model_path(c)):
            raise SystemExit(f"--configs: no model {model_path(c)}")
    torch.set_num_threads(args.threads)
    binary = os.path.join(args.build, "flipsweep")
    batches = [int(b) for b in args.torch_batches.split(",")]
    image_trials = len(configs) * len(BERS) * args.trials * args.images

    best = {"flipsweep": None, "no-shortcuts": None, "pytorch": None}
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        config_path = os.path.join(tmp, "fig3.yaml")
        with open(config_path, "w") as f:
            f.write(campaign_yaml(configs, args.trials))
        for round_index in range(args.rounds):
            out = os.path.join(tmp, f"fs{round_index}")
            seconds, summary = run_flipsweep(binary, config_path, out, args.images, args.threads, True)
            print(f"round {round_index + 1}: flipsweep {seconds:.1f} s ({image_trials / seconds:.0f} image-trials/s); "
                  + " ".join(summary), flush=True)
            best["flipsweep"] = min(best["flipsweep"] or seconds, seconds)
            notes = summary
            if args.no_shortcuts:
                out_plain = os.path.join(tmp, f"plain{round_index}")
                plain, _ = run_flipsweep(binary, config_path, out_plain, args.images, args.threads, False)
                if comparable_rows(os.path.join(out, "trials.csv")) != comparable_rows(os.path.join(out_plain, "trials.csv")):
                    raise SystemExit("flipsweep with and without shortcuts wrote different rows")
                print(f"round {round_index + 1}: flipsweep --no-shortcuts {plain:.1f} s "
                      f"({image_trials / plain:.0f} image-trials/s); rows identical", flush=True)
                best["no-shortcuts"] = min(best["no-shortcuts"] or plain, plain)
            torch_seconds, top1 = pytorch_sweep(configs, args.trials, args.images, batches)
            print(f"round {round_index + 1}: pytorch {torch_seconds:.1f} s ({image_trials / torch_seconds:.0f} "
                  f"image-trials/s); mean top-1 per BER " +
                  "; ".join(f"{c}: " + " ".join(f"{v:.1f}" for v in top1[c]) for c in configs), flush=True)
            best["pytorch"] = min(best["pytorch"] or torch_seconds, torch_seconds)

    rate = {k: image_trials / v for k, v in best.items() if v}
    ratio = rate["flipsweep"] / rate["pytorch"]
    print(f"\nFig.-3 sweep ({', '.join(configs)}; {len(BERS)} BERs x {args.trials} trials x {args.images} images, "
          f"{args.threads} threads):")
    print(f"  flipsweep {rate['flipsweep']:.0f} image-trials/s, PyTorch loop {rate['pytorch']:.0f}: "
          f"ratio {ratio:.2f} (target >= 2)")
    if "no-shortcuts" in rate:
        print(f"  flipsweep --no-shortcuts {rate['no-shortcuts']:.0f} image-trials/s "
              f"(ratio {rate['no-shortcuts'] / rate['pytorch']:.2f})")
    new_file = not os.path.exists(args.csv)
    os.makedirs(os.path.dirname(args.csv), exist_ok=True)
    with open(args.csv, "a", newline="") as f:
        w = csv.writer(f)
        if new_file:
            w.writerow(["date", "machine", "threads", "configs", "trials", "images", "flipsweep_image_trials_per_s",
                        "no_shortcuts_image_trials_per_s", "pytorch_image_trials_per_s", "ratio", "torch", "notes"])
        w.writerow([datetime.date.today().isoformat(), platform.node(), args.threads, "+".join(configs), args.trials,
                    args.images, f"{rate['flipsweep']:.0f}",
                    f"{rate['no-shortcuts']:.0f}" if "no-shortcuts" in rate else "",
                    f"{rate['pytorch']:.0f}", f"{ratio:.2f}", torch.__version__, " ".join(notes)])


if __name__ == "__main__":
    main()
