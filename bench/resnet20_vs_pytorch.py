#!/usr/bin/python3
"""ResNet20 (CIFAR, 3x32x32) over 10,000 inputs: flipsweep's CPU backend against PyTorch, same
thread count, same run. PyTorch is measured at each batch size in --torch-batches and its best
figure is the baseline; flipsweep runs interleaved with it so both see the same machine load.

  /usr/bin/python3 bench/resnet20_vs_pytorch.py --build build --threads 2

Prints images/s for both and the ratio, and appends a row to bench/results/resnet20_vs_pytorch.csv
with the machine's name.
"""
import argparse
import csv
import datetime
import os
import platform
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import flipsweep_models  # noqa: E402
from export_onnx import export  # noqa: E402
from throughput import flipsweep_images_per_second, torch_images_per_second  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="CMake build directory holding bench/flipsweep_bench_eval")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each side is reported")
    parser.add_argument("--torch-batches", default="32,64,128")
    parser.add_argument("--batch", type=int, default=256, help="flipsweep images per run() call")
    parser.add_argument("--tile", type=int, default=0, help="flipsweep images per thread pass (0 = automatic)")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = flipsweep_models.resnet20(num_classes=10, in_channels=3).eval()
    binary = os.path.join(args.build, "bench", "flipsweep_bench_eval")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = os.path.join(tmp, "resnet20.onnx")
        export(model, torch.randn(1, 3, 32, 32), onnx_path, verbose=False)
        best_torch, best_torch_batch, best_flip = 0.0, 0, 0.0
        for round_index in range(args.rounds):
            for batch in [int(b) for b in args.torch_batches.split(",")]:
                ips = torch_images_per_second(model, (3, 32, 32), args.count, batch, args.threads)
                print(f"round {round_index}: pytorch   batch {batch:4d}: {ips:8.1f} images/s", flush=True)
                if ips > best_torch:
                    best_torch, best_torch_batch = ips, batch
            ips = flipsweep_images_per_second(binary, onnx_path, args.count, args.batch, args.threads, args.tile)
            print(f"round {round_index}: flipsweep batch {args.batch:4d}: {ips:8.1f} images/s", flush=True)
            best_flip = max(best_flip, ips)

    ratio = best_flip / best_torch
    print(f"\nResNet20 3x32x32, {args.count} images, {args.threads} threads")
    print(f"  PyTorch {torch.__version__} (best batch {best_torch_batch}): {best_torch:.1f} images/s")
    print(f"  flipsweep CPU:                      {best_flip:.1f} images/s")
    print(f"  ratio flipsweep / PyTorch: {ratio:.2f}  (target >= 1.0)")

    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "resnet20_vs_pytorch.csv")
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["date", "machine", "cpu", "threads", "count", "torch_version", "torch_best_batch",
                        "torch_images_per_s", "flipsweep_images_per_s", "ratio"])
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        w.writerow([datetime.datetime.now().isoformat(timespec="seconds"), platform.node(), cpu, args.threads,
                    args.count, torch.__version__, best_torch_batch, f"{best_torch:.1f}", f"{best_flip:.1f}",
                    f"{ratio:.3f}"])


if __name__ == "__main__":
    main()
