#!/usr/bin/env bash
# Downloads the Debian 12 packages flipsweep needs to *build* (headers, CMake configs, shared
# libraries) and unpacks them into a folder, for a machine with a compiler, CMake and ninja but
# none of our -dev packages and no network (the lent GPU machine):
#   bash scripts/fetch-offline-deps.sh [DIR]          # on a Debian 12 machine with network; DIR=.offline-deps
#   bash scripts/fetch-offline-deps.sh --unpack-only [DIR]   # (re)make DIR/root from DIR/debs, offline
#   cmake -S . -B build -G Ninja -DFLIPSWEEP_DEPS_ROOT=DIR/root ...   # on the machine without
# DIR/debs holds the .deb files (13 MB: this is what to copy to the other machine),
# DIR/root the unpacked tree (~65 MB, 40 of them oneDNN), DIR/MANIFEST the package versions,
# DIR/data/fashion-mnist the Fashion-MNIST test files (4.4 MB, copied from Debian's
# dataset-fashion-mnist when installed; for scripts/gpu_parity.py; carry it with DIR/debs).
# Needs apt-get (download) and dpkg-deb, or ar + tar (unpack); no root rights. Tools (compiler, cmake, ninja, OpenMP's libgomp from gcc) and the Python
# side (PyTorch etc.) are not included; scripts/install-deps.sh is the list for a full machine.
set -euo pipefail
cd "$(dirname "$0")/.."
unpack_only=0
if [ "${1:-}" = "--unpack-only" ]; then unpack_only=1; shift; fi
dir=${1:-.offline-deps}

# What the build links or includes, checked with apt-cache depends and dpkg -L:
packages=(
  # oneDNN (CPU backend); libdnnl.so.2 needs libOpenCL.so.1 at load time although the CPU path never uses it
  libdnnl-dev libdnnl2 ocl-icd-libopencl1
  # ONNX model import; ONNXTargets.cmake checks that the onnxifi libraries exist
  libonnx-dev libonnx1 libonnxifi
  # protobuf (ONNX's TensorProto); protoc is not needed, the ONNX package ships onnx.pb.h
  libprotobuf-dev libprotobuf32 libprotobuf-lite32
  # config, command line, output, gzip datasets
  libyaml-cpp-dev libyaml-cpp0.7 libcli11-dev nlohmann-json3-dev libfmt-dev libfmt9
  # zlib1g-dev's libz.so is an absolute link to zlib1g's file, so both (made relative below)
  zlib1g-dev zlib1g
  # image decoding for `flipsweep cache`: libjpeg-turbo's libjpeg API and libpng
  libjpeg62-turbo-dev libjpeg62-turbo libpng-dev libpng16-16
  # GoogleTest: libgtest-dev has the headers, libgtest*.a/libgmock*.a and GTestConfig.cmake
  # (the googletest source package it depends on is not needed to build)
  libgtest-dev
)

if [ "$unpack_only" = 0 ]; then
  if [ -r /etc/os-release ] && ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then
    echo "warning: not Debian 12 (bookworm); the packages must suit the target machine's glibc/libstdc++" >&2
  fi
  mkdir -p "$dir/debs"
  rm -f "$dir"/debs/*.deb
  (cd "$dir/debs" && apt-get download "${packages[@]}") || {
    echo "apt-get download failed: run 'apt-get update' (as root) and check the network" >&2
    exit 1
  }
fi
ls "$dir"/debs/*.deb >/dev/null 2>&1 || { echo "no .deb files in $dir/debs" >&2; exit 1; }

# The Fashion-MNIST test files (Debian's dataset-fashion-mnist, 4.4 MB), for the GPU parity check
# (scripts/gpu_parity.py reads DIR/data/fashion-mnist/). Carry DIR/debs and DIR/data together.
if [ "$unpack_only" = 0 ]; then
  fmnist=/usr/share/datasets/fashion-mnist
  if [ -r "$fmnist/t10k-images-idx3-ubyte.gz" ] && [ -r "$fmnist/t10k-labels-idx1-ubyte.gz" ]; then
    mkdir -p "$dir/data/fashion-mnist"
    cp "$fmnist/t10k-images-idx3-ubyte.gz" "$fmnist/t10k-labels-idx1-ubyte.gz" "$dir/data/fashion-mnist/"
  else
    echo "warning: no $fmnist/t10k-*-ubyte.gz (apt-get install dataset-fashion-mnist): $dir/data not made" >&2
  fi
fi

rm -rf "$dir/root"
mkdir -p "$dir/root"
for deb in "$dir"/debs/*.deb; do
  if command -v dpkg-deb >/dev/null; then
    dpkg-deb -x "$deb" "$dir/root"
  else  # a .deb is an ar archive holding data.tar.{xz,zst,gz}
    member=$(ar t "$deb" | grep '^data\.tar')
    ar p "$deb" "$member" | tar -x -a -f - -C "$dir/root" 2>/dev/null ||
      ar p "$deb" "$member" | tar -x -J -f - -C "$dir/root"
  fi
done
# Absolute links (libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13) would point into the host:
# make them relative when the target was unpacked too.
while IFS= read -r link; do
  target=$(readlink "$link")
  if [ -e "$dir/root$target" ]; then
    ln -sfn "$(realpath --relative-to="$(dirname "$link")" "$dir/root$target")" "$link"
  fi
done < <(find "$dir/root" -type l -lname '/*')
# Documentation, man pages and lintian overrides are of no use to a build.
rm -rf "$dir/root/usr/share/doc" "$dir/root/usr/share/man" "$dir/root/usr/share/lintian"

{
  echo "# flipsweep offline build dependencies (scripts/fetch-offline-deps.sh), $(date -u +%Y-%m-%dT%H:%MZ)"
  for deb in "$dir"/debs/*.deb; do basename "$deb"; done
} > "$dir/MANIFEST"

echo "packages: ${#packages[@]}, .deb total $(du -ch "$dir"/debs/*.deb | tail -1 | cut -f1), unpacked $(du -sh "$dir/root" | cut -f1)"
[ -d "$dir/data" ] && echo "data: $(du -sh "$dir/data" | cut -f1) in $dir/data (carry it with $dir/debs)"
echo "build with: cmake -S . -B build -G Ninja -DFLIPSWEEP_DEPS_ROOT=$dir/root"
