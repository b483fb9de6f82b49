#!/usr/bin/python3
"""Fashion-MNIST mosaics: a real semantic-segmentation task made on this machine (seed 002's study).

    /usr/bin/python3 datasets/make_fashion_mosaics.py OUT_DIR [--train 10000] [--test 2000] [--size 64]
        [--garments 3] [--seed 2026] [--preview OUT_DIR/preview.png]

Each mosaic is a SIZE×SIZE gray canvas (background 0) on which GARMENTS Fashion-MNIST garments
(28×28) are pasted at uniformly random positions, later ones on top; a garment covers the pixels
where its own value is above 32 (its silhouette), and the mask labels those pixels with the
garment's class + 1, everything else 0 (background): 11 classes. Training mosaics use only
Fashion-MNIST training images, test mosaics only test images, each garment drawn uniformly with
replacement. Everything comes from numpy.random.default_rng(seed) (test mosaics from seed + 1),
so the files are byte-identical on every run.

Writes OUT_DIR/mosaics-train.fswptc and OUT_DIR/mosaics-test.fswptc: flipsweep tensor caches of
version 2 (datasets/FORMATS.md, "Segmentation masks"): 1×SIZE×SIZE uint8 images, then one uint8
mask per image. The per-image label is the class covering most garment pixels (for tools that want
one). Needs the Debian package dataset-fashion-mnist and numpy; Pillow for --preview.
"""
import argparse
import gzip
import os
import struct
import sys

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["background", "t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "ankle boot"]
SILHOUETTE_THRESHOLD = 32


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    dims = struct.unpack(">" + "I" * (magic & 0xFF), data[4:4 + 4 * (magic & 0xFF)])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def make_mosaics(images, labels, count, size, garments, rng):
    canvases = np.zeros((count, size, size), dtype=np.uint8)
    masks = np.zeros((count, size, size), dtype=np.uint8)
    for i in range(count):
        for _ in range(garments):
            k = int(rng.integers(len(images)))
            y, x = (int(v) for v in rng.integers(0, size - 28 + 1, size=2))
            silhouette = images[k] > SILHOUETTE_THRESHOLD
            canvas, mask = canvases[i, y:y + 28, x:x + 28], masks[i, y:y + 28, x:x + 28]
            canvas[silhouette] = images[k][silhouette]
            mask[silhouette] = labels[k] + 1
    return canvases, masks


def write_segmentation_cache(path, canvases, masks, num_classes):
    """Tensor cache version 2: header, per-image labels, pixels (N×1×H×W), masks (N×H×W)."""
    count, height, width = canvases.shape
    labels = []
    for mask in masks:
        garment_counts = np.bincount(mask.ravel(), minlength=num_classes)[1:]
        labels.append(int(garment_counts.argmax()) + 1 if garment_counts.any() else 0)
    temporary = path + ".tmp"
    with open(temporary, "wb") as f:
        f.write(struct.pack("<8sIIIIQII", b"FSWPTC01", 2, 1, height, width, count, num_classes, 0))
        f.write(struct.pack(f"<{count}i", *labels))
        f.write(canvases.tobytes())
        f.write(masks.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)  # never a half-written file under the final name


def preview(path, canvases, masks, columns=8):
    from PIL import Image
    rng = np.random.default_rng(0)
    palette = (rng.integers(64, 256, size=(len(CLASSES), 3))).astype(np.uint8)
    palette[0] = 0
    rows = []
    for i in range(columns):
        gray = np.repeat(canvases[i][..., None], 3, axis=2)
        rows.append(np.concatenate([gray, palette[masks[i]]], axis=0))
    Image.fromarray(np.concatenate(rows, axis=1)).resize((columns * 128, 256), Image.NEAREST).save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--train", type=int, default=10000, help="training mosaics")
    parser.add_argument("--test", type=int, default=2000, help="test mosaics")
    parser.add_argument("--size", type=int, default=64, help="canvas side (at least 28)")
    parser.add_argument("--garments", type=int, default=3, help="garments per mosaic")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--preview", default=None, help="PNG of a few test mosaics and their masks")
    args = parser.parse_args()
    if args.size < 28 or args.garments < 1 or args.train < 1 or args.test < 1:
        parser.error("--size must be at least 28; --garments, --train and --test at least 1")
    if not os.path.exists(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz")):
        sys.exit(f"make_fashion_mosaics.py: {DATA_DIR} not found (apt-get install dataset-fashion-mnist)")
    os.makedirs(args.out_dir, exist_ok=True)
    for split, count, seed in (("train", args.train, args.seed), ("test", args.test, args.seed + 1)):
        prefix = "train" if split == "train" else "t10k"
        images = read_idx(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
        canvases, masks = make_mosaics(images, labels, count, args.size, args.garments, np.random.default_rng(seed))
        path = os.path.join(args.out_dir, f"mosaics-{split}.fswptc")
        write_segmentation_cache(path, canvases, masks, len(CLASSES))
        shares = np.bincount(masks.ravel(), minlength=len(CLASSES)) / masks.size
        print(f"{path}: {count} mosaics of {args.size}x{args.size}, pixel shares "
              + ", ".join(f"{name} {100 * share:.1f}%" for name, share in zip(CLASSES, shares)))
        if args.preview and split == "test":
            preview(args.preview, canvases, masks)
            print(f"preview: {args.preview}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
