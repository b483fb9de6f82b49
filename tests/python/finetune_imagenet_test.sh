#!/usr/bin/env bash
# Seed 001 §IV-B's fine-tuning path end to end on a few generated images: a "pretrained" ResNet18
# state_dict (random, seeded: nothing is downloaded), python/finetune_imagenet.py for 2 AdamW
# steps with Tanh on the weights, export_onnx.py --checkpoint, then flipsweep: the export declares
# its SAF in the graph (inspect), a tensor cache from `flipsweep cache` evaluates, and the ONNX
# parameters are the fine-tuned raw weights (changed from the start, as the optimizer moved them).
# Usage: finetune_imagenet_test.sh BUILD_DIR SOURCE_DIR. Exit 77: skipped (no torchvision).
set -euo pipefail
build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
python=/usr/bin/python3
$python -c 'import torch, torchvision, PIL, onnx' 2> /dev/null || { echo "SKIPPED: python3-torchvision/onnx missing"; exit 77; }
work=$(mktemp -d /tmp/flipsweep-finetune.XXXXXX)
trap 'rm -rf "$work"' EXIT

$python - "$work" << 'PY'
import os, sys
import numpy as np, torch, torchvision
from PIL import Image
work = sys.argv[1]
rng = np.random.default_rng(1)
for c in range(4):
    os.makedirs(f"{work}/images/class{c}", exist_ok=True)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, size=(80, 96, 3), dtype=np.uint8)).save(f"{work}/images/class{c}/{i}.jpg")
torch.manual_seed(3)
torch.save(torchvision.models.resnet18(weights=None).state_dict(), f"{work}/pretrained.pth")
PY

$python "$source/python/finetune_imagenet.py" --train "$work/images" --val "$work/images" --weights "$work/pretrained.pth" \
  --saf tanh --out "$work/tanh.pt" --batch-size 4 --crop 64 --val-resize 72 --val-crop 64 --workers 0 --threads 2 \
  --max-steps 2
[ -f "$work/tanh.json" ] || { echo "FAILED: no tanh.json"; exit 1; }
grep -q '"steps": 2' "$work/tanh.json" || { cat "$work/tanh.json"; echo "FAILED: expected 2 steps"; exit 1; }
$python "$source/python/export_onnx.py" --model resnet18 --saf tanh --checkpoint "$work/tanh.pt" --out "$work/tanh.onnx" > /dev/null

$python - "$work" << 'PY'
import sys, numpy as np, onnx, torch
from onnx import numpy_helper
work = sys.argv[1]
initializers = {t.name: numpy_helper.to_array(t) for t in onnx.load(f"{work}/tanh.onnx").graph.initializer}
tuned, start = torch.load(f"{work}/tanh.pt"), torch.load(f"{work}/pretrained.pth")
for name in ("conv1.weight", "layer4.1.conv2.weight", "fc.weight"):
    assert name in initializers, f"{name} is not an ONNX parameter (names must survive the export)"
    assert np.array_equal(initializers[name], tuned[name].numpy()), f"{name}: ONNX differs from the checkpoint"
    assert not np.array_equal(tuned[name].numpy(), start[name].numpy()), f"{name}: fine-tuning did not change it"
print("ONNX parameters = fine-tuned raw weights (conv1, layer4.1.conv2, fc), moved from the pretrained ones")
PY

"$build/flipsweep" inspect "$work/tanh.onnx" > "$work/inspect.txt"
grep -q "Tanh" "$work/inspect.txt" || { head -20 "$work/inspect.txt"; echo "FAILED: no Tanh in the graph"; exit 1; }
"$build/flipsweep" cache "$work/val.fswptc" --images "$work/images" --no-progress  # Resize(256), CenterCrop(224)
"$build/flipsweep" eval --model "$work/tanh.onnx" --dataset "tensor-cache:$work/val.fswptc" \
  --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --no-progress | tee "$work/eval.txt"
grep -q "top-1" "$work/eval.txt" || { echo "FAILED: eval printed no top-1"; exit 1; }
echo "PASSED"
