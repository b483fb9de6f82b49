#!/usr/bin/python3
"""`flipsweep cache` against torchvision 0.14 + Pillow, on JPEGs made here (nothing downloaded).

    jpeg_cache_check.py make DIR          # DIR/folder/<class>/*.jpg, DIR/flat/*.JPEG + labels.csv + truth.txt
    jpeg_cache_check.py make-png DIR      # DIR/<class>/*.png: every PNG colour type and bit depth
    jpeg_cache_check.py compare CACHE FOLDER --resize 256 --crop 224

`make` writes images of several sizes and aspect ratios (odd dimensions, smaller than the crop,
larger than 1000 pixels), as baseline 4:2:0, 4:4:4, 4:2:2 and progressive RGB JPEGs, grayscale
and CMYK JPEGs (Pillow writes CMYK with the Adobe marker, as Photoshop does), and a flat
ImageNet-style folder with a `filename,label` CSV and a devkit-style ground-truth list.
`make-png` writes PNGs of every colour type and bit depth (gray 1/2/4/8/16, RGB 8/16, palette
1..8 bits with and without tRNS and with indices past a short PLTE, gray+alpha and RGBA 8/16),
some Adam7-interlaced, through Pillow
where it can write them and through the small PNG writer below where it cannot (16-bit colour,
2/4-bit gray, interlacing), plus a PNG named .JPEG (Pillow picks the decoder by content).
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


# PNG writer for the kinds Pillow does not write: (color type, channels) per the PNG spec.
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_scanlines(samples, bit_depth):
    """Rows of integer samples (H x W*channels) → filter byte 0 + packed row, for every row."""
    out = bytearray()
    for row in samples:
        if bit_depth == 16:
            packed = row.astype(">u2").tobytes()
        elif bit_depth == 8:
            packed = row.astype(np.uint8).tobytes()
        else:
            per_byte = 8 // bit_depth
            padded = np.zeros(-(-len(row) // per_byte) * per_byte, dtype=np.uint8)
            padded[:len(row)] = row
            groups = padded.reshape(-1, per_byte)
            packed = bytes(int(sum(int(v) << (8 - bit_depth * (i + 1)) for i, v in enumerate(g))) for g in groups)
        out += b"\x00" + packed
    return bytes(out)


def write_png(path, samples, color_type, bit_depth, palette=None, transparency=None, interlace=False):
    """samples: H x W x channels integers below 2**bit_depth (palette indices for color type 3)."""
    import zlib
    height, width = samples.shape[:2]
    flat = samples.reshape(height, width * PNG_CHANNELS[color_type])
    if interlace:
        raw = b"".join(png_scanlines(samples[y0::dy, x0::dx].reshape(len(range(y0, height, dy)), -1), bit_depth)
                       for x0, y0, dx, dy in ADAM7 if x0 < width and y0 < height)
    else:
        raw = png_scanlines(flat, bit_depth)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0,
                                                              1 if interlace else 0))
    if palette is not None:
        data += chunk(b"PLTE", bytes(palette))
    if transparency is not None:
        data += chunk(b"tRNS", transparency)
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def make_png(root):
    rng = np.random.default_rng(5)

    def samples(width, height, channels, bits, seed):
        image = synthetic(width, height, "RGB", seed)  # smooth + edges + noise, then to the bit depth
        array = np.asarray(image).astype(np.int64)
        planes = [array[..., c % 3] for c in range(channels)]
        if bits == 16:
            planes = [p * 257 + rng.integers(0, 257, size=p.shape) for p in planes]
        else:
            planes = [p >> (8 - bits) for p in planes]
        return np.stack(planes, axis=-1)

    files = []

    def target(index, name):
        folder = os.path.join(root, f"n{index % 3:08d}")
        os.makedirs(folder, exist_ok=True)
        files.append(os.path.join(folder, name))
        return files[-1]

    base = synthetic(300, 200, "RGB", 100)
    base.save(target(0, "rgb8.png"))
    base.save(target(1, "png_named.JPEG"), "PNG")  # a PNG under a JPEG name
    Image.fromarray(samples(257, 311, 4, 8, 101).astype(np.uint8), "RGBA").save(target(2, "rgba8.png"))
    synthetic(200, 150, "L", 102).save(target(3, "gray8.png"))
    Image.fromarray(samples(150, 220, 2, 8, 103).astype(np.uint8), "LA").save(target(4, "la8.png"))
    indexed = Image.fromarray(samples(180, 120, 1, 8, 104)[..., 0].astype(np.uint8), "L").quantize(50)
    indexed.save(target(5, "palette8_trns.png"), transparency=7)
    synthetic(123, 77, "L", 105).convert("1").save(target(6, "gray1.png"))
    write_png(target(7, "gray2.png"), samples(99, 64, 1, 2, 106), 0, 2)
    write_png(target(8, "gray4_interlaced.png"), samples(101, 57, 1, 4, 107), 0, 4, interlace=True)
    # 16-bit gray: Pillow's mode "I", clipped at 255 on the way to RGB; values near 0 keep detail.
    gray16 = samples(120, 90, 1, 16, 108)
    gray16[:45] //= 200
    write_png(target(9, "gray16.png"), gray16, 0, 16)
    write_png(target(10, "rgb16.png"), samples(140, 100, 3, 16, 109), 2, 16)
    write_png(target(11, "rgba16_interlaced.png"), samples(77, 133, 4, 16, 110), 6, 16, interlace=True)
    write_png(target(12, "la16.png"), samples(64, 64, 2, 16, 111), 4, 16)
    palette = rng.integers(0, 256, size=10 * 3).tolist()
    write_png(target(13, "palette4_interlaced.png"), samples(90, 70, 1, 8, 112) % 10, 3, 4, palette=palette,
              transparency=bytes([0, 128, 255]), interlace=True)
    write_png(target(14, "rgb8_trns_interlaced.png"), samples(233, 171, 3, 8, 113), 2, 8,
              transparency=struct.pack(">HHH", 10, 20, 30), interlace=True)
    write_png(target(15, "palette1.png"), samples(50, 40, 1, 8, 114) % 2, 3, 1, palette=[0, 0, 255, 255, 128, 0])
    # A PLTE shorter than the indices reach: Pillow's palette is the gray ramp past its end.
    write_png(target(16, "palette4_short_plte.png"), samples(60, 45, 1, 8, 115) % 16, 3, 4,
              palette=[255, 0, 0, 0, 255, 0, 0, 0, 255])
    print(f"{len(files)} PNGs in {root} (3 classes)")


def read_cache(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, version, channels, height, width, count, classes, _ = struct.unpack_from("<8sIIIIQII", data, 0)
    assert magic == b"FSWPTC01" and version == 1, f"{path}: not a tensor cache"
    labels = np.frombuffer(data, dtype="<i4", count=count, offset=40)
    pixels = np.frombuffer(data, dtype=np.uint8, offset=40 + 4 * count).reshape(count, channels, height, width)
    return labels, pixels, classes


def compare(cache, folder, resize, crop):
    import warnings

    import torch
    # Pillow warns on every palette PNG with tRNS bytes that it converts to RGB (the alpha is dropped, as wanted).
    warnings.filterwarnings("ignore", message="Palette images with Transparency")
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
    if len(sys.argv) >= 3 and sys.argv[1] == "make-png":
        make_png(sys.argv[2])
        return 0
    if len(sys.argv) == 8 and sys.argv[1] == "compare" and sys.argv[4] == "--resize" and sys.argv[6] == "--crop":
        return compare(sys.argv[2], sys.argv[3], int(sys.argv[5]), int(sys.argv[7]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
