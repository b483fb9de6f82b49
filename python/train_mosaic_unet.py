#!/usr/bin/python3
"""Trains a U-Net on the Fashion-MNIST mosaics (datasets/make_fashion_mosaics.py) and exports it.

    /usr/bin/python3 datasets/make_fashion_mosaics.py data/mosaics
    /usr/bin/python3 python/train_mosaic_unet.py --data data/mosaics --activation relu \\
        --out models/mosaics/unet_relu.onnx [--epochs 6] [--base-channels 16] [--up transpose]
    /usr/bin/python3 python/train_mosaic_unet.py --data data/mosaics --activation sigmoid --epochs 1 \\
        --train-limit 500 --out /tmp/smoke.onnx                                   # smoke test

Seed 002's model family: a small U-Net (python/flipsweep_models.py) whose every conv block uses
one activation — relu, sigmoid, hardsigmoid (seed 002's bounded ones) or relu6 — for per-pixel
classification into 11 classes (background + 10 garments). Adam (lr 1e-3, cosine over all steps),
batch 64, per-pixel cross-entropy, random horizontal flips. Inputs are pixel / 255 then
(x − MEAN) / STD with the constants below, which `flipsweep eval` / campaign configs must use.

Outputs PATH.onnx (export_onnx.export: opset 13, BatchNorm kept, state_dict names) and PATH.json
with the command, the settings and PyTorch's test metrics (pixel accuracy, mean IoU,
frequency-weighted IoU, per-class IoU; FCN definitions as in flipsweep's
eval/segmentation_metrics.h). Seeded generators and one thread by default: a rerun with the same
arguments gives the same weights.
"""
import argparse
import json
import math
import os
import shlex
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flipsweep_models  # noqa: E402
from export_onnx import export  # noqa: E402

# Mean and std of the training mosaics' pixels in 0..1 units (measured over the 10,000 default
# training mosaics; fixed so that the C++ side can be given the same numbers).
PIXEL_MEAN = 0.1373
PIXEL_STD = 0.2844
NUM_CLASSES = 11
IGNORE = 255


def read_segmentation_cache(path):
    """(images uint8 [N, C, H, W], masks uint8 [N, H, W]) of a tensor cache of version 2."""
    with open(path, "rb") as f:
        data = f.read()
    magic, version, channels, height, width, count, classes, _ = struct.unpack_from("<8sIIIIQII", data, 0)
    if magic != b"FSWPTC01" or version != 2:
        raise ValueError(f"{path}: not a tensor cache of version 2 (segmentation masks)")
    pixels_at = 40 + 4 * count
    masks_at = pixels_at + count * channels * height * width
    if len(data) != masks_at + count * height * width:
        raise ValueError(f"{path}: {len(data)} bytes, the header says {masks_at + count * height * width}")
    images = np.frombuffer(data, np.uint8, count * channels * height * width, pixels_at).reshape(count, channels, height, width)
    masks = np.frombuffer(data, np.uint8, count * height * width, masks_at).reshape(count, height, width)
    return images, masks, classes


def inputs(images_uint8):
    return (torch.from_numpy(images_uint8.copy()).to(torch.float32).div(255.0) - PIXEL_MEAN) / PIXEL_STD


def metrics(model, images, masks, classes, batch=200):
    """Pixel accuracy, mean IoU, frequency-weighted IoU (percent) and per-class IoU."""
    confusion = np.zeros((classes, classes), dtype=np.int64)
    model.eval()
    with torch.no_grad():
        for first in range(0, len(images), batch):
            predicted = model(inputs(images[first:first + batch])).argmax(1).numpy().ravel()
            truth = masks[first:first + batch].ravel().astype(np.int64)
            keep = truth != IGNORE
            confusion += np.bincount(truth[keep] * classes + predicted[keep], minlength=classes * classes).reshape(
                classes, classes)
    truth_counts, predicted_counts, correct = confusion.sum(1), confusion.sum(0), np.diag(confusion)
    union = truth_counts + predicted_counts - correct
    defined = union > 0
    iou = np.where(defined, correct / np.maximum(union, 1), np.nan)
    total = confusion.sum()
    return {"pixel_accuracy": 100.0 * correct.sum() / total, "mean_iou": 100.0 * np.nanmean(iou),
            "frequency_weighted_iou": 100.0 * np.nansum(truth_counts * iou) / total,
            "class_iou": [None if math.isnan(v) else round(100.0 * v, 4) for v in iou]}


def train(model, images, masks, epochs, batch_size, lr, seed):
    """Adam at `lr`, cosine over all steps, per-pixel cross-entropy, random horizontal flips; seeded."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = math.ceil(len(images) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs * steps_per_epoch))
    loss_function = nn.CrossEntropyLoss(ignore_index=IGNORE)
    generator = torch.Generator().manual_seed(seed)
    start = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator).numpy()
        total = 0.0
        for step in range(steps_per_epoch):
            index = np.sort(order[step * batch_size:(step + 1) * batch_size])
            x = inputs(images[index])
            y = torch.from_numpy(masks[index].astype(np.int64))
            flip = torch.rand(len(index), generator=generator) < 0.5
            x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
            optimizer.zero_grad()
            loss = loss_function(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item()
        print(f"epoch {epoch + 1}/{epochs}: loss {total / steps_per_epoch:.4f} ({time.time() - start:.0f} s)",
              file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder with mosaics-train.fswptc and mosaics-test.fswptc")
    parser.add_argument("--activation", choices=sorted(flipsweep_models.UNET_ACTIVATIONS), default="relu")
    parser.add_argument("--up", choices=flipsweep_models.UNET_UPSAMPLING, default="transpose")
    parser.add_argument("--base-channels", type=int, default=16)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--train-limit", type=int, default=0, help="first N training mosaics only (0 = all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output .onnx path (PATH.json beside it)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train_images, train_masks, classes = read_segmentation_cache(os.path.join(args.data, "mosaics-train.fswptc"))
    test_images, test_masks, _ = read_segmentation_cache(os.path.join(args.data, "mosaics-test.fswptc"))
    if args.train_limit:
        train_images, train_masks = train_images[:args.train_limit], train_masks[:args.train_limit]
    model = flipsweep_models.unet(in_channels=train_images.shape[1], num_classes=classes,
                                  base_channels=args.base_channels, depth=args.depth, activation=args.activation,
                                  up=args.up)
    start = time.time()
    train(model, train_images, train_masks, args.epochs, args.batch_size, args.lr, args.seed)
    result = metrics(model, test_images, test_masks, classes)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    channels, height, width = train_images.shape[1:]
    export(model, torch.zeros(1, channels, height, width), args.out, verbose=False)
    record = {"command": " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv), "activation": args.activation,
              "up": args.up, "base_channels": args.base_channels, "depth": args.depth, "epochs": args.epochs,
              "batch_size": args.batch_size, "lr": args.lr, "train_mosaics": len(train_images), "seed": args.seed,
              "mean": PIXEL_MEAN, "std": PIXEL_STD, "torch": torch.__version__,
              "seconds": round(time.time() - start, 1), "test": {k: (round(v, 4) if isinstance(v, float) else v)
                                                               for k, v in result.items()}}
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(record, f, indent=2)
    print(f"{args.out}: test pixel accuracy {result['pixel_accuracy']:.2f} %, mean IoU {result['mean_iou']:.2f} %, "
          f"frequency-weighted IoU {result['frequency_weighted_iou']:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
