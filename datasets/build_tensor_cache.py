#!/usr/bin/env python3
"""Build a flipsweep tensor cache (FSWPTC01, see datasets/FORMATS.md) from a folder of images.

The cache holds uint8 pixels exactly as the network should see them before ToTensor/Normalize,
so the expensive, PIL-specific part of an ImageNet pipeline (decode, antialiased Resize,
CenterCrop) runs once here and flipsweep only divides by 255 and normalizes.

    # ImageNet validation set arranged as VAL_DIR/<wnid>/*.JPEG (torchvision ImageFolder layout):
    python3 datasets/build_tensor_cache.py --image-folder VAL_DIR --resize 256 --crop 224 imagenet-val.fswptc
    flipsweep ... --dataset tensor-cache:imagenet-val.fswptc

Class indices follow ImageFolder: sorted folder names, 0-based. Decoding needs torchvision and
Pillow (python3-torchvision); the writer itself (TensorCacheWriter) needs only the standard
library, so other converters can import it.
"""
import argparse
import os
import struct
import sys

MAGIC = b"FSWPTC01"
VERSION = 1
HEADER = struct.Struct("<8sIIIIQII")  # magic, version, channels, height, width, count, num_classes, reserved


class TensorCacheWriter:
    """Streams images into PATH.tmp and renames it to PATH on finish(), like the C++ writer."""

    def __init__(self, path, channels, height, width, count, num_classes):
        if min(channels, height, width, count, num_classes) <= 0:
            raise ValueError(f"{path}: every dimension, the count and num_classes must be positive")
        self.path, self.temp_path = path, path + ".tmp"
        self.image_bytes = channels * height * width
        self.count, self.num_classes = count, num_classes
        self.labels = []
        self.file = open(self.temp_path, "wb")
        self.file.write(HEADER.pack(MAGIC, VERSION, channels, height, width, count, num_classes, 0))
        # Labels precede the pixels in the file but are only known at the end: reserve their slot.
        self.file.seek(HEADER.size + 4 * count)

    def append(self, pixels, label):
        """pixels: bytes-like, one image, uint8 CHW; label: int in 0..num_classes-1."""
        if len(self.labels) >= self.count:
            raise ValueError(f"{self.path}: more than the declared {self.count} images")
        if not 0 <= label < self.num_classes:
            raise ValueError(f"{self.path}: label {label} of image {len(self.labels)} out of range")
        if len(pixels) != self.image_bytes:
            raise ValueError(f"{self.path}: image has {len(pixels)} bytes, expected {self.image_bytes}")
        self.file.write(pixels)
        self.labels.append(label)

    def finish(self):
        if len(self.labels) != self.count:
            raise ValueError(f"{self.path}: {len(self.labels)} images appended but {self.count} declared")
        self.file.seek(HEADER.size)
        self.file.write(struct.pack(f"<{self.count}i", *self.labels))
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temp_path, self.path)

    def abandon(self):
        self.file.close()
        if os.path.exists(self.temp_path):
            os.remove(self.temp_path)


def build_from_image_folder(folder, out_path, resize, crop, limit):
    import torch
    from torchvision import datasets, transforms

    steps = []
    if resize:
        steps.append(transforms.Resize(resize))  # PIL, antialiased, as torchvision's ImageNet recipe
    if crop:
        steps.append(transforms.CenterCrop(crop))
    steps.append(transforms.PILToTensor())  # uint8 CHW, no scaling
    dataset = datasets.ImageFolder(folder, transform=transforms.Compose(steps))
    count = len(dataset) if not limit else min(limit, len(dataset))
    channels, height, width = dataset[0][0].shape
    writer = TensorCacheWriter(out_path, channels, height, width, count, len(dataset.classes))
    try:
        for index in range(count):
            image, label = dataset[index]
            if tuple(image.shape) != (channels, height, width):
                raise ValueError(f"{dataset.samples[index][0]}: shape {tuple(image.shape)} differs from the first "
                                 f"image's {(channels, height, width)}; give --crop so every image has one size")
            writer.append(image.to(torch.uint8).contiguous().numpy().tobytes(), label)
            if index % 1000 == 999:
                print(f"{index + 1}/{count}", file=sys.stderr)
        writer.finish()
    except BaseException:
        writer.abandon()
        raise
    print(f"{out_path}: {count} images of {channels}x{height}x{width}, {len(dataset.classes)} classes", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", help="cache file to write, e.g. imagenet-val.fswptc")
    parser.add_argument("--image-folder", required=True, help="ImageFolder root: one sub-folder per class")
    parser.add_argument("--resize", type=int, default=0, help="shorter side after resizing (0 = keep)")
    parser.add_argument("--crop", type=int, default=0, help="centre crop size (0 = none)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (0 = all)")
    args = parser.parse_args()
    build_from_image_folder(args.image_folder, args.output, args.resize, args.crop, args.limit)


if __name__ == "__main__":
    main()
