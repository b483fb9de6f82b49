#!/usr/bin/python3
"""Trains the 1x28x28 ResNet20 on Fashion-MNIST and exports it to ONNX.

Usage:
    /usr/bin/python3 python/train_fashion_mnist.py --saf none --epochs 8 \
        --out models/fashion-mnist/resnet20_none.onnx
    /usr/bin/python3 python/train_fashion_mnist.py --epochs 1 --train-limit 5000 \
        --out /tmp/smoke.onnx                                  # smoke test
    /usr/bin/python3 python/train_fashion_mnist.py --saf tanh --epochs 1 \
        --finetune-from models/fashion-mnist/resnet20_none.onnx --out /tmp/tanh_ft.onnx

A scaled-down version of the CIFAR recipe of seed 001 section IV-A: SGD
(momentum 0.9, lr 0.1, weight decay 1e-3), cosine learning-rate schedule over
all training steps, batch 128, random horizontal flip + random crop with 2 px
zero padding.  Fewer epochs than the paper so it runs on one CPU thread.
With --finetune-from, section IV-B instead: start from an exported model's
weights and fine-tune with AdamW (lr 1e-5, weight decay 1e-3, cosine).

Data is read straight from the IDX .gz files (gzip + numpy), so nothing is
downloaded.  Preprocessing is exactly what the C++ evaluator does with
`--mean 0.2860 --std 0.3530`: fp32 pixel / 255, then (x - mean) / std, no
padding, no resize (see datasets/FORMATS.md, "Preprocessing").

Outputs PATH.onnx (via export_onnx.export: opset 13, input "input" with a
dynamic batch axis, output "logits", BatchNorm kept separate, raw parameter
names) and PATH.json with the run's settings and PyTorch's clean top-1 on the
10,000 test images.

Reproducibility: every random draw (weight init, shuffling, augmentation)
comes from seeded generators, and the default of one thread keeps the
floating-point reduction order fixed, so a rerun with the same arguments gives
the same weights.
"""

import argparse
import gzip
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
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flipsweep_models  # noqa: E402  (needs the path above)
from export_onnx import export  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"

# Fashion-MNIST training-set statistics in 0..1 units.  The C++ evaluator is
# run with `--mean 0.2860 --std 0.3530`; these must stay identical.
PIXEL_MEAN = 0.2860
PIXEL_STD = 0.3530

IMAGE_SIZE = 28
NUM_CLASSES = 10
CROP_PADDING = 2           # random-crop padding, in pixels (augmentation only)

BATCH_SIZE = 128
LEARNING_RATE = 0.1
FINETUNE_LEARNING_RATE = 1e-5  # seed 001 section IV-B: AdamW, lr 1e-5, cosine
MOMENTUM = 0.9
DEFAULT_WEIGHT_DECAY = 1e-3
EVAL_BATCH_SIZE = 500

# --saf value -> flipsweep_models SAF name (None = plain weights).
SAF_CHOICES = {
    "none": None,
    "tanh": "tanh",
    "tanh0.5": "tanh0.5",
    "softsign": "softsign",
    "arctan": "arctan",
}

# Magic numbers of the IDX format: 0x00000803 = uint8, 3 dims (images);
# 0x00000801 = uint8, 1 dim (labels).
IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def _read_idx(path, expected_magic):
    """Returns (dims, uint8 payload) of a gzip IDX file, checking its header.

    The size check catches truncated files, which would otherwise silently
    train or evaluate on fewer images than the header promises.
    """
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expected_magic:
        raise ValueError(f"{path}: IDX magic {magic:#010x}, expected {expected_magic:#010x}")
    rank = magic & 0xFF
    dims = struct.unpack(f">{rank}I", data[4:4 + 4 * rank])
    header_size = 4 + 4 * rank
    payload = np.frombuffer(data, dtype=np.uint8, offset=header_size)
    if payload.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} ({int(np.prod(dims))} bytes), "
                         f"payload has {payload.size} bytes")
    return dims, payload


def load_split(split):
    """Returns (images uint8 [N, 1, 28, 28], labels int64 [N]) for "train"/"t10k"."""
    image_dims, images = _read_idx(
        os.path.join(DATA_DIR, f"{split}-images-idx3-ubyte.gz"), IDX_IMAGES_MAGIC)
    label_dims, labels = _read_idx(
        os.path.join(DATA_DIR, f"{split}-labels-idx1-ubyte.gz"), IDX_LABELS_MAGIC)
    if image_dims[1:] != (IMAGE_SIZE, IMAGE_SIZE) or image_dims[0] != label_dims[0]:
        raise ValueError(f"{split}: image dims {image_dims}, label dims {label_dims}")
    if labels.max() >= NUM_CLASSES:
        raise ValueError(f"{split}: label {labels.max()} >= {NUM_CLASSES}")
    images = torch.from_numpy(images.reshape(image_dims[0], 1, IMAGE_SIZE, IMAGE_SIZE).copy())
    return images, torch.from_numpy(labels.astype(np.int64))


def to_unit_range(images_uint8):
    """uint8 -> fp32 in 0..1, as transforms.ToTensor (and the C++ side) do it."""
    return images_uint8.to(torch.float32).div(255.0)


def normalize(images_unit):
    """(x - mean) / std in fp32, as transforms.Normalize (and the C++ side) do it."""
    return images_unit.sub(PIXEL_MEAN).div(PIXEL_STD)


def augment(images_unit, generator):
    """Random crop (2 px zero padding) then random horizontal flip, per image.

    Runs on 0..1 pixels before normalization, so the padding is black (pixel 0),
    like transforms.RandomCrop(28, padding=2) before Normalize.  Vectorised with
    index arithmetic instead of a per-image Python loop to keep the single CPU
    thread on the convolutions.
    """
    count = images_unit.shape[0]
    padded = F.pad(images_unit, (CROP_PADDING,) * 4)
    # Top-left corner of each crop inside the padded image: 0 .. 2*padding.
    offset_y = torch.randint(0, 2 * CROP_PADDING + 1, (count,), generator=generator)
    offset_x = torch.randint(0, 2 * CROP_PADDING + 1, (count,), generator=generator)
    steps = torch.arange(IMAGE_SIZE)
    rows = (offset_y[:, None] + steps)[:, :, None]     # [N, 28, 1]
    cols = (offset_x[:, None] + steps)[:, None, :]     # [N, 1, 28]
    batch_index = torch.arange(count)[:, None, None]
    cropped = padded[batch_index, 0, rows, cols].unsqueeze(1)  # [N, 1, 28, 28]
    flip = torch.rand(count, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


# ---------------------------------------------------------------------------
# Training and evaluation
# ---------------------------------------------------------------------------


@torch.no_grad()
def evaluate_top1(model, images_uint8, labels):
    """Clean top-1 accuracy in percent, model in eval mode (running BN stats)."""
    model.eval()
    correct = 0
    for start in range(0, images_uint8.shape[0], EVAL_BATCH_SIZE):
        batch = normalize(to_unit_range(images_uint8[start:start + EVAL_BATCH_SIZE]))
        predictions = model(batch).argmax(dim=1)
        correct += int((predictions == labels[start:start + EVAL_BATCH_SIZE]).sum())
    return 100.0 * correct / images_uint8.shape[0]


def load_onnx_weights(model, path):
    """Loads every parameter and buffer of `model` from the initializers of an ONNX file
    exported by export_onnx (same architecture; its SAF may differ: seed 001 section IV-B adapts
    plain pre-trained weights to an SAF).  Identity outputs (deduplicated initializers) count."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(path).graph
    tensors = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]
    state = model.state_dict()
    missing = [name for name in state if name not in tensors and not name.endswith("num_batches_tracked")]
    if missing:
        raise SystemExit(f"{path}: no values for {missing[:5]}{'...' if len(missing) > 5 else ''}")
    for name in state:
        if name in tensors:
            value = torch.from_numpy(tensors[name].copy())
            if value.shape != state[name].shape:
                raise SystemExit(f"{path}: {name} has shape {tuple(value.shape)}, the model needs "
                                 f"{tuple(state[name].shape)}")
            state[name] = value
    model.load_state_dict(state)


def make_optimizer(model, finetune, weight_decay, learning_rate):
    """SGD with momentum from scratch (section IV-A); AdamW for fine-tuning (section IV-B)."""
    if finetune:
        return torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    return torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=MOMENTUM,
                           weight_decay=weight_decay)


def train(model, train_images, train_labels, epochs, weight_decay, seed,
          test_images=None, test_labels=None, finetune=False, learning_rate=LEARNING_RATE):
    """Runs the optimizer with a cosine schedule; returns (train_seconds, last epoch's mean loss).

    If test_images is given, also reports test top-1 after each epoch (the
    time for that is excluded from train_seconds).
    """
    optimizer = make_optimizer(model, finetune, weight_decay, learning_rate)
    steps_per_epoch = math.ceil(train_images.shape[0] / BATCH_SIZE)
    # Cosine decay per step rather than per epoch: with only a handful of
    # epochs, per-epoch steps would be a coarse staircase.
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=epochs * steps_per_epoch)
    loss_function = nn.CrossEntropyLoss()
    # Own generator for shuffling and augmentation, separate from the global
    # one used for weight init, so changing one never shifts the other.
    data_generator = torch.Generator().manual_seed(seed + 1)

    train_seconds = 0.0
    mean_loss = float("nan")
    for epoch in range(1, epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        order = torch.randperm(train_images.shape[0], generator=data_generator)
        loss_sum = 0.0
        correct = 0
        for start in range(0, order.shape[0], BATCH_SIZE):
            index = order[start:start + BATCH_SIZE]
            inputs = normalize(augment(to_unit_range(train_images[index]), data_generator))
            targets = train_labels[index]
            logits = model(inputs)
            loss = loss_function(logits, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss) * index.shape[0]
            correct += int((logits.argmax(dim=1) == targets).sum())
        epoch_seconds = time.perf_counter() - epoch_start
        train_seconds += epoch_seconds
        mean_loss = loss_sum / order.shape[0]
        message = (f"epoch {epoch}/{epochs}: loss {mean_loss:.4f}, "
                   f"train acc {100.0 * correct / order.shape[0]:.2f}%, "
                   f"lr {scheduler.get_last_lr()[0]:.5f}, "
                   f"epoch {epoch_seconds:.1f} s, elapsed {train_seconds:.1f} s")
        if test_images is not None:
            message += f", test top-1 {evaluate_top1(model, test_images, test_labels):.2f}%"
        print(message, flush=True)
    return train_seconds, mean_loss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saf", choices=list(SAF_CHOICES), default="none")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-limit", type=int, default=0,
                        help="train on the first N training images only (smoke tests); "
                             "0 = all 60000")
    parser.add_argument("--weight-decay", type=float, default=DEFAULT_WEIGHT_DECAY)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads; 1 keeps runs bit-reproducible")
    parser.add_argument("--eval-each-epoch", action="store_true",
                        help="also print test top-1 after every epoch (not timed)")
    parser.add_argument("--finetune-from", metavar="MODEL.onnx",
                        help="start from this exported model's weights and fine-tune with AdamW "
                             "(seed 001 section IV-B), e.g. a plain model adapted to --saf tanh")
    parser.add_argument("--lr", type=float, default=None,
                        help=f"learning rate (default {LEARNING_RATE} from scratch, "
                             f"{FINETUNE_LEARNING_RATE} when fine-tuning)")
    parser.add_argument("--out", required=True, help="output .onnx path; PATH.json goes beside it")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    if not args.out.endswith(".onnx"):
        parser.error("--out must end in .onnx")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)

    train_images, train_labels = load_split("train")
    test_images, test_labels = load_split("t10k")
    if args.train_limit > 0:
        train_images = train_images[:args.train_limit]
        train_labels = train_labels[:args.train_limit]
    print(f"train {train_images.shape[0]} images, test {test_images.shape[0]} images, "
          f"saf {args.saf}, epochs {args.epochs}, weight decay {args.weight_decay}, "
          f"threads {args.threads}", flush=True)

    model = flipsweep_models.resnet20(num_classes=NUM_CLASSES, in_channels=1,
                                      saf=SAF_CHOICES[args.saf])
    finetune = args.finetune_from is not None
    learning_rate = args.lr if args.lr is not None else (FINETUNE_LEARNING_RATE if finetune else LEARNING_RATE)
    if finetune:
        load_onnx_weights(model, args.finetune_from)
        print(f"fine-tuning from {args.finetune_from}: top-1 before "
              f"{evaluate_top1(model, test_images, test_labels):.2f}% with saf {args.saf}", flush=True)
    train_seconds, final_loss = train(
        model, train_images, train_labels, args.epochs, args.weight_decay, args.seed,
        *((test_images, test_labels) if args.eval_each_epoch else (None, None)),
        finetune=finetune, learning_rate=learning_rate)

    top1 = evaluate_top1(model, test_images, test_labels)
    print(f"clean top-1 on {test_images.shape[0]} test images: {top1:.2f}% "
          f"(train {train_seconds:.1f} s)", flush=True)

    model.eval()
    export(model, torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE), args.out)

    metadata = {
        "saf": args.saf,
        "epochs": args.epochs,
        "seed": args.seed,
        "train_seconds": round(train_seconds, 1),
        "torch_top1_percent": top1,
        "preprocessing": {"mean": PIXEL_MEAN, "std": PIXEL_STD},
        "command": " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv),
        # Further settings, so the JSON alone says how the model was made.
        "train_images": int(train_images.shape[0]),
        "test_images": int(test_images.shape[0]),
        "final_train_loss": round(final_loss, 4),
        "optimizer": ({"type": "AdamW", "lr": learning_rate, "weight_decay": args.weight_decay,
                       "schedule": "cosine per step", "batch_size": BATCH_SIZE,
                       "finetuned_from": args.finetune_from} if finetune else
                      {"type": "SGD", "lr": learning_rate, "momentum": MOMENTUM,
                       "weight_decay": args.weight_decay, "schedule": "cosine per step",
                       "batch_size": BATCH_SIZE}),
        "augmentation": f"random crop 28 with {CROP_PADDING} px zero padding, "
                        "random horizontal flip",
        "threads": args.threads,
        "torch_version": torch.__version__,
    }
    json_path = args.out[:-len(".onnx")] + ".json"
    with open(json_path, "w") as stream:
        json.dump(metadata, stream, indent=2)
        stream.write("\n")
    print(f"wrote {args.out} and {json_path}", flush=True)


if __name__ == "__main__":
    main()
