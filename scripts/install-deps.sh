#!/usr/bin/env bash
# Installs every Debian package flipsweep needs to build, test, train and benchmark.
# The README's set-up commands and .ci/run both call this script, so the list lives here only.
set -euo pipefail

packages=(
  # build tools
  build-essential cmake ninja-build pkg-config
  # CPU backend and model import
  libdnnl-dev libonnx-dev libprotobuf-dev protobuf-compiler zlib1g-dev
  # configuration, command line, output
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libfmt-dev
  # JPEG decoding for `flipsweep cache` (ImageNet-style folders → tensor cache): libjpeg-turbo
  libjpeg62-turbo-dev
  # and PNG decoding for it
  libpng-dev
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  # fuzzing (scripts/fuzz.sh): clang, its libFuzzer/sanitizer runtimes, and its OpenMP runtime
  clang libclang-rt-14-dev libomp-14-dev
  # ONNX's own operator conformance cases (tests/onnx_conformance)
  libonnx-testdata
  # PyTorch companion: export, golden references, training (system interpreter /usr/bin/python3)
  python3-torch python3-torchvision python3-numpy python3-onnx python3-matplotlib python3-yaml
  # reading the ImageNet devkit's meta.mat (datasets/imagenet_devkit_labels.py)
  python3-scipy
  # real data for the demo campaign
  dataset-fashion-mnist
  # cluster sweeps: Slurm job arrays (`flipsweep slurm`), and the one-node cluster its test starts
  slurm-wlm munge
)

as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
