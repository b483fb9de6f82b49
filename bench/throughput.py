"""Throughput helpers shared by the CPU benchmarks (resnet20_vs_pytorch.py, zoo_vs_pytorch.py):
PyTorch's images/s at one batch size, and flipsweep's through bench/flipsweep_bench_eval."""
import re
import subprocess
import time

import torch


def torch_images_per_second(model, image_shape, count, batch, threads):
    """Forward passes over `count` random images in batches of `batch`, after one warm-up batch
    (oneDNN primitive creation)."""
    torch.set_num_threads(threads)
    x = torch.randn(batch, *image_shape)
    with torch.no_grad():
        model(x)
        start = time.perf_counter()
        done = 0
        while done < count:
            n = min(batch, count - done)
            model(x[:n])
            done += n
        return count / (time.perf_counter() - start)


def flipsweep_images_per_second(binary, onnx_path, count, batch, threads, tile=0, kernels="fast"):
    out = subprocess.run([binary, "--model", onnx_path, "--count", str(count), "--batch", str(batch),
                          "--threads", str(threads), "--tile", str(tile), "--repeat", "1", "--kernels", kernels],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"images_per_second=([0-9.]+)", out).group(1))
