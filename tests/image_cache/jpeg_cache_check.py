#!/usr/bin/python3
"""`flipsweep cache` against torchvision 0.14 + Pillow, on JPEGs made here (nothing downloaded).

    jpeg_cache_check.py make DIR          # DIR/folder/<class>/*.jpg, DIR/flat/*.JPEG + labels.csv + truth.txt
    jpeg_cache_check.py compare CACHE FOLDER --resize 256 --crop 224

`make` writes images of several sizes and aspect ratios (odd dimensions, smaller than the crop,
larger than 1000 pixels), as baseline 4:2:0, 4:4:4, 4:2:2 and progressive RGB JPEGs, grayscale
and CMYK JPEGs (Pillow writes CMYK with the Adobe marker, as Photoshop does), and a flat
ImageNet-style folder with a `filename,label` CSV and a devkit-style ground-truth list.
`compare` runs torchvision's ImageFolder with Resize(resize) + CenterCrop(crop) + PILToTensor
over FOLDER and requires the cache to hold the same labels and pixels: at least 99.9 % of all
values equal and none off by more than 1. It prints the exact figures.
"""
import os
import struct
import sys

import numpy as np
from PIL import Image

# (width, height, mode, save options)
IMAGES = [
    (500, 375, "RGB", {"quality": 90}),                       # ImageNet's most common shape, 4:2:0
    (375, 500, "RGB", {"quality": 85, "subsampling": 0}),     # portrait, 4:4:4
    (640, 427, "RGB", {"quality": 75, "progressive": True}),  # progressive
    (333, 251, "RGB", {"quality": 95, "subsampling": 1}),     # odd dimensions, 4:2:2
    (1203, 901, "RGB", {"quality": 80}),                      # large, strong downscale
    (257, 256, "RGB", {"quality": 92}),                       # almost the target size
    (200, 150, "RGB", {"quality": 90}),                       # upscaled by Resize(256)
    (120, 90, "RGB", {"quality": 90}),                        # smaller than the crop without resize
    (97, 301, "RGB", {"quality": 88}),                        # very tall
    (480, 360, "L", {"quality": 90}),                         # grayscale JPEG
    (299, 401, "L", {"quality": 70, "progressive": True}),
    (400, 300, "CMYK", {"quality": 90}),                      # CMYK (Adobe)
    (255, 383, "CMYK", {"quality": 80}),
]


def synthetic(width, height, mode, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = {"RGB": 3, "L": 1, "CMYK": 4}[mode]
    planes = []
    for c in range(channels):
        fx, fy, phase = rng.uniform(0.005, 0.08), rng.uniform(0.005, 0.08), rng.uniform(0, 6.3)
        smooth = 127 + 90 * np.sin(fx * x + phase) * np.cos(fy * y - phase)
        edges = 60 * ((x // rng.integers(8, 40) + y // rng.integers(8, 40)) % 2)
        planes.append(smooth + edges + rng.normal(0, 12, size=x.shape))
    array = np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)
    return Image.fromarray(array[..., 0] if channels == 1 else array, mode)


def make(root):
    folder = os.path.join(root, "folder")
    flat = os.path.join(root, "flat")
    os.makedirs(flat, exist_ok=True)
    rows, truth = [], []
    for index, (width, height, mode, options) in enumerate(IMAGES):
        image = synthetic(width, height, mode, index)
        class_name = f"n{index % 3:08d}"
        os.makedirs(os.path.join(folder, class_name), exist_ok=True)
        image.save(os.path.join(folder, class_name, f"img{index:02d}.jpg"), "JPEG", **options)
        name = f"ILSVRC2012_val_{index + 1:08d}.JPEG"
        image.save(os.path.join(flat, name), "JPEG", **options)
        rows.append(f"{name[:-5]},{class_name} 1 2 3 4")  # LOC_val_solution.csv style: WNID first
        truth.append(str(index % 3 + 1))
    with open(os.path.join(root, "labels.csv"), "w") as f:
        f.write("ImageId,PredictionString\n" + "\n".join(rows) + "\n")
    with open(os.path.join(root, "truth.txt"), "w") as f:
        f.write("\n".join(truth) + "\n")
    make_devkit(root)
    print(f"{len(IMAGES)} JPEGs in {folder} (3 classes) and {flat}")


# A devkit whose ILSVRC2012_IDs number the three classes out of WNID order (id 1 = n00000002,
# 2 = n00000000, 3 = n00000001), plus a synset with children (no class), as folder and .tar.gz.
DEVKIT_IDS = {"n00000002": 1, "n00000000": 2, "n00000001": 3}


def make_devkit(root):
    import tarfile

    import scipy.io

    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
              "num_train_images"]
    entries = [(class_id, wnid, "thing", "a thing", 0, np.zeros(0), 0, 1300) for wnid, class_id in DEVKIT_IDS.items()]
    entries.append((4, "n09999999", "group", "a group", 2, np.array([1, 2]), 1, 0))
    synsets = np.zeros((len(entries), 1), dtype=[(f, "O") for f in fields])
    for i, entry in enumerate(entries):
        for field, value in zip(fields, entry):
            synsets[i, 0][field] = value
    data = os.path.join(root, "devkit", "ILSVRC2012_devkit_t12", "data")
    os.makedirs(data, exist_ok=True)
    scipy.io.savemat(os.path.join(data, "meta.mat"), {"synsets": synsets})
    with open(os.path.join(data, "ILSVRC2012_validation_ground_truth.txt"), "w") as f:
        f.write("".join(f"{DEVKIT_IDS[f'n{index % 3:08d}']}\n" for index in range(len(IMAGES))))
    with tarfile.open(os.path.join(root, "devkit.tar.gz"), "w:gz") as archive:
        archive.add(os.path.join(root, "devkit", "ILSVRC2012_devkit_t12"), arcname="ILSVRC2012_devkit_t12")


def read_cache(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, version, channels, height, width, count, classes, _ = struct.unpack_from("<8sIIIIQII", data, 0)
    assert magic == b"FSWPTC01" and version == 1, f"{path}: not a tensor cache"
    labels = np.frombuffer(data, dtype="<i4", count=count, offset=40)
    pixels = np.frombuffer(data, dtype=np.uint8, offset=40 + 4 * count).reshape(count, channels, height, width)
    return labels, pixels, classes


def compare(cache, folder, resize, crop):
    import torch
    from torchvision import datasets, transforms
    steps = []
    if resize:
        steps.append(transforms.Resize(resize))
    if crop:
        steps.append(transforms.CenterCrop(crop))
    steps.append(transforms.PILToTensor())
    reference = datasets.ImageFolder(folder, transform=transforms.Compose(steps))
    labels, pixels, classes = read_cache(cache)
    if len(labels) != len(reference) or classes != len(reference.classes):
        print(f"FAIL: the cache holds {len(labels)} images of {classes} classes, torchvision {len(reference)} of "
              f"{len(reference.classes)}")
        return 1
    total = equal = 0
    worst = 0
    for index in range(len(reference)):
        image, label = reference[index]
        ours = torch.from_numpy(pixels[index].astype(np.int16))
        if int(labels[index]) != label or tuple(image.shape) != tuple(pixels[index].shape):
            print(f"FAIL: {reference.samples[index][0]}: label {labels[index]} vs {label}, "
                  f"shape {pixels[index].shape} vs {tuple(image.shape)}")
            return 1
        difference = (ours - image.to(torch.int16)).abs()
        total += difference.numel()
        equal += int((difference == 0).sum())
        worst = max(worst, int(difference.max()))
    share = 100.0 * equal / total
    print(f"{len(reference)} images, {total} values: {share:.4f} % equal, largest difference {worst}")
    return 0 if share >= 99.9 and worst <= 1 else 1


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(sys.argv[2])
        return 0
    if len(sys.argv) == 8 and sys.argv[1] == "compare" and sys.argv[4] == "--resize" and sys.argv[6] == "--crop":
        return compare(sys.argv[2], sys.argv[3], int(sys.argv[5]), int(sys.argv[7]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
