#!/usr/bin/env bash
# The main job: builds flipsweep and runs the demo fault campaign (configs/demo.yaml) on the
# committed Fashion-MNIST ResNet20 models and the real Fashion-MNIST test images. Results go to
# results/demo/; running it again finishes or re-summarises that campaign (--resume).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$(nproc)" --target flipsweep
./build/flipsweep run configs/demo.yaml --resume "$@"
