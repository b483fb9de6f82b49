#!/usr/bin/python3
"""Fine-tunes torchvision's pretrained ResNet18 with an SAF on its weights (seed 001, section IV-B).

    /usr/bin/python3 python/finetune_imagenet.py --train IMAGENET/train --weights resnet18-f37072fd.pth \\
        --saf tanh --out resnet18_tanh.pt [--val IMAGENET/val] [--epochs 5] [--batch-size 128] [--workers 8]
    /usr/bin/python3 python/export_onnx.py --model resnet18 --saf tanh --checkpoint resnet18_tanh.pt \\
        --out resnet18_tanh.onnx

The recipe of the paper: start from the ImageNet weights, wrap every conv and linear weight in the
SAF (python/flipsweep_models.py: the parameters stay the raw stored weights, tau is applied on
read), then 5 epochs of AdamW (lr 1e-5, weight decay 1e-3) with a cosine schedule over all steps,
batch 128, torchvision's training augmentation (RandomResizedCrop(224), horizontal flip) and
ImageNet normalization. --train and --val are ImageFolder trees (one sub-folder per class, sorted
WNIDs = torchvision's class order). --weights is a state_dict file the user already has (nothing
is downloaded), e.g. torchvision's resnet18-f37072fd.pth. The output is a state_dict with the
standard parameter names, which export_onnx.py --checkpoint loads; PATH.json beside it records the
settings, the steps run and (with --val) the top-1 before and after.

--max-steps N stops after N optimizer steps and --crop sets the training crop (a smoke test on a
few small images: tests/finetune_test.sh).
"""
import argparse
import json
import math
import os
import shlex
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flipsweep_models  # noqa: E402

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def loaders(args):
    from torchvision import datasets, transforms
    normalize = transforms.Normalize(MEAN, STD)
    train = datasets.ImageFolder(args.train, transforms.Compose([
        transforms.RandomResizedCrop(args.crop), transforms.RandomHorizontalFlip(), transforms.ToTensor(), normalize]))
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=False,
                                               num_workers=args.workers, generator=generator)
    val_loader = None
    if args.val:
        val = datasets.ImageFolder(args.val, transforms.Compose([
            transforms.Resize(args.val_resize), transforms.CenterCrop(args.val_crop), transforms.ToTensor(), normalize]))
        val_loader = torch.utils.data.DataLoader(val, batch_size=args.batch_size, shuffle=False, num_workers=args.workers)
    return train, train_loader, val_loader


def top1(model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += int((model(images).argmax(1) == labels).sum())
            total += len(labels)
    return 100.0 * correct / max(total, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, help="ImageFolder tree of training images")
    parser.add_argument("--val", default=None, help="ImageFolder tree of validation images (top-1 before and after)")
    parser.add_argument("--weights", required=True, help="pretrained ResNet18 state_dict (e.g. resnet18-f37072fd.pth)")
    parser.add_argument("--saf", choices=sorted(flipsweep_models.SAF_FUNCTIONS), default="tanh")
    parser.add_argument("--out", required=True, help="state_dict to write (.pt)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--weight-decay", type=float, default=1e-3)
    parser.add_argument("--crop", type=int, default=224, help="training crop (RandomResizedCrop)")
    parser.add_argument("--val-resize", type=int, default=256)
    parser.add_argument("--val-crop", type=int, default=224)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--max-steps", type=int, default=0, help="stop after N optimizer steps (0 = all epochs)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path, what in ((args.train, "--train"), (args.weights, "--weights")):
        if not os.path.exists(path):
            parser.error(f"{what} {path}: no such file or folder")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train, train_loader, val_loader = loaders(args)
    if len(train.classes) != 1000:
        print(f"finetune_imagenet.py: note: {args.train} has {len(train.classes)} classes, the pretrained head 1000",
              file=sys.stderr)
    model = flipsweep_models.resnet18(num_classes=1000, saf=args.saf)
    state = torch.load(args.weights, map_location="cpu")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    model.load_state_dict({k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()})
    before = top1(model, val_loader) if val_loader else None

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    total_steps = args.epochs * math.ceil(len(train) / args.batch_size)
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    loss_function = nn.CrossEntropyLoss()
    steps = 0
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = loss_function(model(images), labels)
            if not torch.isfinite(loss):
                raise SystemExit(f"finetune_imagenet.py: the loss became {loss.item()} at step {steps}; lower --lr")
            loss.backward()
            optimizer.step()
            scheduler.step()
            steps += 1
            if steps % 100 == 0 or steps == total_steps:
                print(f"epoch {epoch + 1} step {steps}/{total_steps} loss {loss.item():.4f} "
                      f"({time.time() - start:.0f} s)", file=sys.stderr)
            if steps >= total_steps:
                break
        if steps >= total_steps:
            break
    after = top1(model, val_loader) if val_loader else None

    temporary = args.out + ".tmp"
    torch.save(model.state_dict(), temporary)
    os.replace(temporary, args.out)  # a killed run leaves no half-written checkpoint under the name
    record = {"command": " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv), "saf": args.saf,
              "epochs": args.epochs, "steps": steps, "batch_size": args.batch_size, "lr": args.lr,
              "weight_decay": args.weight_decay, "torch": torch.__version__, "seconds": round(time.time() - start, 1),
              "val_top1_before": before, "val_top1_after": after}
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(record, f, indent=2)
    print(f"{args.out}: {steps} steps; val top-1 {before} -> {after}" if val_loader else f"{args.out}: {steps} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
