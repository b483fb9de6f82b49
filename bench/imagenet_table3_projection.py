#!/usr/bin/python3
"""Projected time of seed 001's Table III on this machine, from a measured run.

    /usr/bin/python3 bench/imagenet_table3_projection.py [--images 1000] [--build build] [--trials 2]

Table III is 2 models (ResNet18 without SAF and with Tanh) × 3 formats (FP32, FP16, Q2.5) × 10
trials × 50,000 ImageNet validation images at 224×224, plus one clean pass per configuration:
2 × 3 × 11 × 50,000 = 3.3 M image passes. This measures, in one run on generated data:

1. `flipsweep cache` on IMAGES generated ImageNet-like JPEGs (bench/make_jpegs.py): images/s,
   projected to 50,000;
2. a `flipsweep run` campaign on that cache (ResNet18, random weights exported by
   python/export_onnx.py, FP32, BER 1e-5, --trials trials): image-trials/s of its activation
   passes, from run's `time:` line;
3. PyTorch 1.13's ResNet18 on the same images (batch 64, the same thread count, eval mode,
   no_grad): images/s — the throughput of a plain PyTorch trial loop's activation passes;

and prints the projected hours of Table III for flipsweep and for PyTorch, and the ratio. The GPU
projection is added when bench/results/gpu_campaign.csv has a ResNet18 row (measured on a GPU by
bench/gpu_campaign.sh). Appends to bench/results/imagenet_table3_projection.csv.
"""
import argparse
import csv
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE3_IMAGE_PASSES = 2 * 3 * (10 + 1) * 50000
PYTHON = "/usr/bin/python3"


def run(command, **kwargs):
    return subprocess.run(command, check=True, text=True, capture_output=True, cwd=REPO, **kwargs)


def pytorch_images_per_second(cache, threads, batch=64):
    import numpy as np
    import torch
    import torchvision
    torch.set_num_threads(threads)
    with open(cache, "rb") as f:
        data = f.read()
    count = int.from_bytes(data[24:32], "little")
    pixels = np.frombuffer(data, dtype=np.uint8, offset=40 + 4 * count).reshape(count, 3, 224, 224)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():
        model((torch.from_numpy(pixels[:batch].copy()).float() / 255 - mean) / std)  # warm-up
        start = time.perf_counter()
        for first in range(0, count, batch):
            x = (torch.from_numpy(pixels[first:first + batch].copy()).float() / 255 - mean) / std
            model(x).argmax(1)
        return count / (time.perf_counter() - start)


def gpu_rate():
    path = os.path.join(REPO, "bench", "results", "gpu_campaign.csv")
    if not os.path.exists(path):
        return None
    rows = [r for r in csv.DictReader(open(path)) if r.get("model", "").startswith("resnet18") and r.get("mode") == "strict"
            and r.get("flipsweep_image_trials_per_s") and r.get("flipsweep_backend") == "cuda"]
    return (float(rows[-1]["flipsweep_image_trials_per_s"]), rows[-1]["gpu"]) if rows else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--build", default="build")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    flipsweep = os.path.join(REPO, args.build, "flipsweep")
    with tempfile.TemporaryDirectory(prefix="flipsweep-table3-") as work:
        run([PYTHON, "bench/make_jpegs.py", f"{work}/jpegs", str(args.images), "--classes", "10"])
        cache = f"{work}/val.fswptc"
        start = time.perf_counter()
        run([flipsweep, "cache", cache, "--images", f"{work}/jpegs", "--threads", str(args.threads), "--no-progress"])
        cache_rate = args.images / (time.perf_counter() - start)
        run([PYTHON, "python/export_onnx.py", "--model", "resnet18", "--out", f"{work}/resnet18.onnx"])
        with open(f"{work}/table3.yaml", "w") as f:
            f.write(f"name: table3-probe\nseed: 2025\ntrials: {args.trials}\nber: 1.0e-5\nformats: [fp32]\n"
                    f"models:\n  - {{name: none, path: {work}/resnet18.onnx, saf: none}}\n"
                    f"dataset:\n  format: tensor-cache\n  paths: [{cache}]\n"
                    "  preprocess: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}\n"
                    f"batch_size: 64\nthreads: {args.threads}\n")
        start = time.perf_counter()
        out = run([flipsweep, "run", f"{work}/table3.yaml", "--out", f"{work}/out", "--no-progress"]).stdout
        wall = time.perf_counter() - start
        match = re.search(r"time: ([\d.]+) s in activation passes \((\d+) image-trials/s\)", out)
        if not match:
            sys.exit(f"no time: line in flipsweep run's output:\n{out}")
        ours = float(match.group(2))
        # The whole run, clean pass and fault work included, per image pass.
        wall_rate = args.images * (args.trials + 1) / wall
        torch_rate = pytorch_images_per_second(cache, args.threads)
    hours = lambda rate: TABLE3_IMAGE_PASSES / rate / 3600  # noqa: E731
    print(f"flipsweep cache: {cache_rate:.1f} images/s → 50,000 images in {50000 / cache_rate / 60:.1f} min")
    print(f"ResNet18 224×224, {args.threads} threads: flipsweep campaign {ours:.1f} image-trials/s "
          f"({wall_rate:.1f} per image pass over the whole run), PyTorch {torch_rate:.1f} images/s "
          f"(ratio {ours / torch_rate:.2f})")
    print(f"Table III (3.3 M image passes) on this CPU: flipsweep {hours(wall_rate):.1f} h, a PyTorch trial loop "
          f"≥ {hours(torch_rate):.1f} h")
    gpu = gpu_rate()
    if gpu:
        print(f"on {gpu[1]}: flipsweep {gpu[0]:.0f} image-trials/s → {hours(gpu[0]) * 60:.1f} min")
    else:
        print("GPU: no ResNet18 row in bench/results/gpu_campaign.csv yet (bench/gpu_campaign.sh on a GPU adds one)")
    path = os.path.join(REPO, "bench", "results", "imagenet_table3_projection.csv")
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["date", "machine", "threads", "images", "trials", "cache_images_per_s", "flipsweep_image_trials_per_s",
                        "flipsweep_wall_image_passes_per_s", "torch_images_per_s", "ratio", "table3_hours_flipsweep",
                        "table3_hours_torch", "gpu_image_trials_per_s", "table3_minutes_gpu"])
        w.writerow([datetime.datetime.now().isoformat(timespec="seconds"), platform.node(), args.threads, args.images,
                    args.trials, f"{cache_rate:.2f}", f"{ours:.2f}", f"{wall_rate:.2f}", f"{torch_rate:.2f}",
                    f"{ours / torch_rate:.3f}", f"{hours(wall_rate):.2f}", f"{hours(torch_rate):.2f}",
                    f"{gpu[0]:.1f}" if gpu else "", f"{hours(gpu[0]) * 60:.1f}" if gpu else ""])
    return 0


if __name__ == "__main__":
    sys.exit(main())
