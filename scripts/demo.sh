#!/usr/bin/env bash
# The main job: builds flipsweep and evaluates the committed Fashion-MNIST ResNet20 on the real
# Fashion-MNIST test set (configs/demo_eval.yaml). The fault campaign (configs/demo.yaml)
# replaces it once it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$(nproc)" --target flipsweep
./build/flipsweep eval --config configs/demo_eval.yaml
