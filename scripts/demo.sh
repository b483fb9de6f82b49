#!/usr/bin/env bash
# The main job: builds flipsweep and evaluates the committed CIFAR-style ResNet20 golden model
# and Fashion-MNIST test set. Replaced by the fault campaign (configs/demo.yaml) once it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$(nproc)" --target flipsweep
./build/flipsweep eval --config configs/demo_eval.yaml
