#!/usr/bin/python3
"""The CPU engine issue's speed table: whole-forward throughput of flipsweep's CPU backend against
PyTorch 1.13 on torchvision's classification models (3x224x224) and the project's segmentation
U-Nets (1x64x64, the Fashion-MNIST mosaics' size), same thread count, same run.

  /usr/bin/python3 bench/zoo_vs_pytorch.py --build build --threads 2 [--models resnet18,unet_relu]
      [--count 64] [--rounds 2] [--reference]

Each model gets random weights (BatchNorm statistics measured on a calibration batch, as in the
parity goldens: python/make_golden.py calibrate_batchnorm) and is exported with
python/export_onnx.py's export(). PyTorch is timed at every batch in --torch-batches and its best
figure is the baseline; flipsweep's bench/flipsweep_bench_eval (default fast kernels, automatic
tile) runs interleaved with it, so both see the same machine load; the best round of each is
kept. --reference also times the reference kernels (the whole-model form of "no layer slower on
the default path": fast must not lose to reference). Prints a Markdown table and appends one row
per model to bench/results/zoo_vs_pytorch.csv.

--layers instead runs flipsweep_bench_eval --layers on each model: every layer (step) of the fast
CPU plan timed against the reference kernels' time for the same ONNX nodes, on one tile and one
thread; a layer counts as slower past 1.1x and 20 us. The guard for "no layer is slower on the
default path than on the reference path"; appends to bench/results/layers_vs_reference.csv.
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

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import flipsweep_models  # noqa: E402
from export_onnx import export  # noqa: E402
from make_golden import calibrate_batchnorm  # noqa: E402
from throughput import flipsweep_images_per_second, torch_images_per_second  # noqa: E402

TORCHVISION_MODELS = ["resnet18", "resnet50", "vgg11_bn", "mobilenet_v2", "mobilenet_v3_small", "densenet121",
                      "squeezenet1_1", "shufflenet_v2_x0_5", "efficientnet_b0"]
# name -> (activation, upsampling); the mosaic U-Net's size (python/train_mosaic_unet.py defaults).
UNETS = {"unet_relu_transpose": ("relu", "transpose"), "unet_hardsigmoid_nearest": ("hardsigmoid", "nearest")}
TARGETS = {"resnet18": 1.0, "unet_relu_transpose": 1.0, "unet_hardsigmoid_nearest": 1.0}  # others: 0.8


def build(name):
    """(model in eval mode, input shape of one image)."""
    torch.manual_seed(0)
    if name in UNETS:
        activation, up = UNETS[name]
        model = flipsweep_models.unet(in_channels=1, num_classes=11, base_channels=16, depth=2,
                                      activation=activation, up=up)
        shape = (1, 64, 64)
    else:
        import torchvision
        model = getattr(torchvision.models, name)(weights=None)
        shape = (3, 224, 224)
    calibration = torch.randn(8, *shape, generator=torch.Generator().manual_seed(3))
    calibrate_batchnorm(model, calibration, torch.Generator().manual_seed(2))
    return model, shape


def layers_against_reference(binary, name, onnx_path, batch):
    """flipsweep_bench_eval --layers: (name, layers, slower layers [(nodes, fast us, reference us)], fast us,
    reference us) per tile on one thread, the best of 3 runs per step."""
    out = subprocess.run([binary, "--model", onnx_path, "--layers", "--batch", str(batch), "--repeat", "3"],
                         check=True, capture_output=True, text=True).stdout
    summary = re.search(r"layers=(\d+) slower_layers=(\d+) fast_us=([0-9.]+) reference_us=([0-9.]+)", out)
    slower = []
    for line in out.splitlines():
        if line.endswith("<-- slower than reference"):
            kind, fast, reference, ratio, nodes = line.split()[:5]
            slower.append((nodes, float(fast), float(reference)))
    print(f"{name}: {summary.group(1)} layers, {summary.group(2)} slower on the fast path than on the reference "
          f"kernels; whole tile fast {float(summary.group(3)):.0f} us, reference {float(summary.group(4)):.0f} us"
          + "".join(f"\n  slower: {n} fast {f:.0f} us, reference {r:.0f} us" for n, f, r in slower), flush=True)
    return (name, int(summary.group(1)), slower, float(summary.group(3)), float(summary.group(4)))


def report_layers(rows):
    print("\n| model | layers | slower than reference | fast us/tile | reference us/tile |")
    print("|---|---|---|---|---|")
    for name, layers, slower, fast, reference in rows:
        print(f"| {name} | {layers} | {len(slower)} | {fast:.0f} | {reference:.0f} |")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "layers_vs_reference.csv")
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["date", "machine", "model", "layers", "slower_layers", "fast_us_per_tile",
                        "reference_us_per_tile", "slower"])
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        for name, layers, slower, fast, reference in rows:
            w.writerow([stamp, platform.node(), name, layers, len(slower), f"{fast:.0f}", f"{reference:.0f}",
                        "; ".join(f"{n} {f:.0f}/{r:.0f}" for n, f, r in slower)])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="CMake build directory holding bench/flipsweep_bench_eval")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--models", default=",".join(TORCHVISION_MODELS + list(UNETS)))
    parser.add_argument("--count", type=int, default=64, help="images per timing (224x224 models; U-Nets x16)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best of each side is kept")
    parser.add_argument("--torch-batches", default="1,8,32")
    parser.add_argument("--batch", type=int, default=32, help="flipsweep images per run() call")
    parser.add_argument("--reference", action="store_true", help="also time flipsweep's reference kernels")
    parser.add_argument("--layers", action="store_true",
                        help="instead: every layer of the fast CPU plan against the reference kernels (no PyTorch)")
    args = parser.parse_args()

    binary = os.path.join(args.build, "bench", "flipsweep_bench_eval")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            model, shape = build(name)
            onnx_path = os.path.join(tmp, name + ".onnx")
            export(model, torch.randn(1, *shape), onnx_path, verbose=False)
            if args.layers:
                rows.append(layers_against_reference(binary, name, onnx_path, args.batch))
                continue
            count = args.count * (16 if name in UNETS else 1)
            best_torch, best_batch, best_fast, best_reference = 0.0, 0, 0.0, 0.0
            for round_index in range(args.rounds):
                for batch in [int(b) for b in args.torch_batches.split(",")]:
                    ips = torch_images_per_second(model, shape, count, batch, args.threads)
                    if ips > best_torch:
                        best_torch, best_batch = ips, batch
                best_fast = max(best_fast, flipsweep_images_per_second(binary, onnx_path, count, args.batch,
                                                                       args.threads))
                if args.reference and round_index == 0:  # slow; one round, a quarter of the images
                    best_reference = flipsweep_images_per_second(binary, onnx_path, max(1, count // 4), args.batch,
                                                                 args.threads, kernels="reference")
            ratio = best_fast / best_torch
            target = TARGETS.get(name, 0.8)
            print(f"{name}: PyTorch {best_torch:.1f} images/s (batch {best_batch}), flipsweep {best_fast:.1f}"
                  + (f", reference kernels {best_reference:.1f}" if args.reference else "")
                  + f": {ratio:.2f}x (target {target})", flush=True)
            rows.append((name, "x".join(map(str, shape)), best_batch, best_torch, best_fast, best_reference, ratio,
                         target))

    if args.layers:
        report_layers(rows)
        return
    print(f"\n{args.threads} threads, PyTorch {torch.__version__} at its best batch of {args.torch_batches}\n")
    print("| model | input | PyTorch images/s | flipsweep images/s | ratio | target |"
          + (" reference kernels images/s |" if args.reference else ""))
    print("|---|---|---|---|---|---|" + ("---|" if args.reference else ""))
    for name, shape, batch, torch_ips, fast, reference, ratio, target in rows:
        print(f"| {name} | {shape} | {torch_ips:.1f} | {fast:.1f} | {ratio:.2f} | {'met' if ratio >= target else 'not met'} "
              f"(≥ {target}) |" + (f" {reference:.1f} |" if args.reference else ""))

    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "zoo_vs_pytorch.csv")
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["date", "machine", "cpu", "threads", "model", "input", "torch_version", "torch_best_batch",
                        "torch_images_per_s", "flipsweep_images_per_s", "reference_images_per_s", "ratio", "target"])
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        for name, shape, batch, torch_ips, fast, reference, ratio, target in rows:
            w.writerow([stamp, platform.node(), cpu, args.threads, name, shape, torch.__version__, batch,
                        f"{torch_ips:.1f}", f"{fast:.1f}", f"{reference:.1f}" if args.reference else "",
                        f"{ratio:.3f}", target])


if __name__ == "__main__":
    main()
