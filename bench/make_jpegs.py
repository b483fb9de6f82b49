#!/usr/bin/python3
"""Generated ImageNet-like JPEGs for the benchmarks (nothing is downloaded).

    /usr/bin/python3 bench/make_jpegs.py FOLDER COUNT [--classes 10]

ImageNet's common shapes (500×375, 375×500, 500×333, 640×480, 500×500, 333×500), quality 90,
smooth structure plus noise (so they compress like photographs, not like flat colour), in an
ImageFolder tree FOLDER/n0000000k/<index>.JPEG. Seeded: the same files every time.
"""
import argparse
import os

import numpy as np
from PIL import Image

SIZES = [(500, 375), (375, 500), (500, 333), (640, 480), (500, 500), (333, 500)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("count", type=int)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for i in range(args.count):
        w, h = SIZES[i % len(SIZES)]
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([127 + 100 * np.sin(x * rng.uniform(0.01, 0.05) + c) * np.cos(y * rng.uniform(0.01, 0.05))
                         for c in range(3)], axis=-1)
        noisy = np.clip(base + rng.normal(0, 20, size=base.shape), 0, 255).astype(np.uint8)
        folder = os.path.join(args.folder, f"n{i % args.classes:08d}")
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(noisy, "RGB").save(os.path.join(folder, f"{i:06d}.JPEG"), quality=90)


if __name__ == "__main__":
    main()
