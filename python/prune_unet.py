#!/usr/bin/python3
"""Channel-prunes a trained mosaic U-Net by filter norm, fine-tunes it and exports it (seed 002).

    /usr/bin/python3 python/prune_unet.py --model models/mosaics/unet_relu.onnx --data data/mosaics \\
        --sparsity 0.5 --out models/mosaics/unet_relu_pruned50.onnx [--epochs 2] [--lr 1e-4]

The model is an ONNX file written by python/train_mosaic_unet.py, with its PATH.json beside it
(activation, up, base_channels, depth); its weights are read back by their state_dict names. In
every conv block the fraction --sparsity of the first conv's filters with the smallest L1 norm is
removed, with their BatchNorm channels and the second conv's matching inputs
(flipsweep_models.prune_unet_channels: structured pruning, the exported network is smaller); then
--epochs of fine-tuning on the training mosaics (train_mosaic_unet.train: Adam at --lr, cosine,
flips, seeded). Writes OUT.onnx (export_onnx.export) and OUT.json: the command, the source model,
the sparsity, each block's kept channels, the settings, and PyTorch's test metrics after pruning
and after fine-tuning. A failed run leaves no OUT.onnx (export writes .tmp and renames).
"""
import argparse
import json
import os
import shlex
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flipsweep_models  # noqa: E402
import train_mosaic_unet as training  # noqa: E402
from export_onnx import export  # noqa: E402


def load_trained_unet(path):
    """The U-Net of a train_mosaic_unet.py export, rebuilt from PATH.json and its ONNX weights."""
    import onnx
    from onnx import numpy_helper

    settings_path = os.path.splitext(path)[0] + ".json"
    try:
        with open(settings_path) as f:
            settings = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"prune_unet.py: {settings_path}: cannot read the model's settings: {e}")
    for key in ("activation", "up", "base_channels", "depth"):
        if key not in settings:
            raise SystemExit(f"prune_unet.py: {settings_path}: no '{key}' (is it a train_mosaic_unet.py model?)")
    try:
        graph = onnx.load(path).graph
    except Exception as e:  # onnx raises several types for a damaged file
        raise SystemExit(f"prune_unet.py: {path}: not a readable ONNX model: {e}")
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    if "head.weight" not in weights or "encoders.0.conv1.weight" not in weights:
        raise SystemExit(f"prune_unet.py: {path}: no head.weight / encoders.0.conv1.weight initializers "
                         "(export with export_onnx.export, as train_mosaic_unet.py does)")
    mids = [weights[f"{prefix}.conv1.weight"].shape[0] for prefix in
            [f"encoders.{i}" for i in range(settings["depth"])] + ["bottleneck"] +
            [f"decoders.{i}" for i in range(settings["depth"])]]
    model = flipsweep_models.unet(in_channels=weights["encoders.0.conv1.weight"].shape[1],
                                  num_classes=weights["head.weight"].shape[0],
                                  base_channels=settings["base_channels"], depth=settings["depth"],
                                  activation=settings["activation"], up=settings["up"], mid_channels=mids)
    state = model.state_dict()
    missing = [name for name in state if name not in weights and not name.endswith("num_batches_tracked")]
    if missing:
        raise SystemExit(f"prune_unet.py: {path}: no initializer for {missing[:3]}")
    model.load_state_dict({name: weights.get(name, value) for name, value in state.items()})
    return model.eval(), settings


def rounded(result):
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a train_mosaic_unet.py ONNX export (PATH.json beside it)")
    parser.add_argument("--data", required=True, help="folder with mosaics-train.fswptc and mosaics-test.fswptc")
    parser.add_argument("--sparsity", type=float, required=True, help="share of each block's inner filters removed")
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs after pruning (0: none)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-limit", type=int, default=0, help="first N training mosaics only (0 = all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output .onnx path (PATH.json beside it)")
    args = parser.parse_args()
    if not 0.0 <= args.sparsity < 1.0:
        parser.error(f"--sparsity must be in [0, 1), got {args.sparsity}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model, settings = load_trained_unet(args.model)
    train_images, train_masks, classes = training.read_segmentation_cache(os.path.join(args.data, "mosaics-train.fswptc"))
    test_images, test_masks, _ = training.read_segmentation_cache(os.path.join(args.data, "mosaics-test.fswptc"))
    if args.train_limit:
        train_images, train_masks = train_images[:args.train_limit], train_masks[:args.train_limit]
    start = time.time()
    before = training.metrics(model, test_images, test_masks, classes)
    pruned = flipsweep_models.prune_unet_channels(model, args.sparsity)
    after_pruning = training.metrics(pruned, test_images, test_masks, classes)
    training.train(pruned, train_images, train_masks, args.epochs, args.batch_size, args.lr, args.seed)
    result = training.metrics(pruned, test_images, test_masks, classes)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    channels, height, width = train_images.shape[1:]
    export(pruned.eval(), torch.zeros(1, channels, height, width), args.out, verbose=False)
    record = {"command": " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv),
              "source_model": args.model, "activation": settings["activation"], "up": settings["up"],
              "base_channels": settings["base_channels"], "depth": settings["depth"], "sparsity": args.sparsity,
              "mid_channels": [b.conv1.out_channels for b in flipsweep_models.unet_conv_blocks(pruned)],
              "parameters": sum(p.numel() for p in pruned.parameters()),
              "source_parameters": sum(p.numel() for p in model.parameters()),
              "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
              "train_mosaics": len(train_images), "seed": args.seed, "mean": training.PIXEL_MEAN,
              "std": training.PIXEL_STD, "torch": torch.__version__, "seconds": round(time.time() - start, 1),
              "test_before_pruning": rounded(before), "test_after_pruning": rounded(after_pruning),
              "test": rounded(result)}
    settings_out = os.path.splitext(args.out)[0] + ".json"
    with open(settings_out + ".tmp", "w") as f:
        json.dump(record, f, indent=2)
    os.replace(settings_out + ".tmp", settings_out)
    print(f"{args.out}: {record['parameters']} of {record['source_parameters']} parameters; test mean IoU "
          f"{before['mean_iou']:.2f} % before, {after_pruning['mean_iou']:.2f} % pruned, {result['mean_iou']:.2f} % "
          f"after {args.epochs} fine-tuning epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
