#!/usr/bin/env bash
# `flipsweep cache` vs the Python builder (datasets/build_tensor_cache.py: torchvision + Pillow)
# on the same generated ImageNet-like JPEGs (500×375 and 375×500 and other common sizes,
# quality 90), Resize(256) + CenterCrop(224), both with all cores; interleaved, twice each, the
# better time of each kept. Prints images/s and the ratio and appends them to
# bench/results/cache_builder.csv. Usage: bash bench/cache_builder.sh [IMAGES (default 400)]
set -euo pipefail
cd "$(dirname "$0")/.."
images=${1:-400}
[ -x build/flipsweep ] || { echo "build flipsweep first (bash scripts/test.sh)"; exit 1; }
work=$(mktemp -d /tmp/flipsweep-cache-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 bench/make_jpegs.py "$work/images" "$images"

/usr/bin/python3 - "$work" "$images" << 'EOF'
import datetime, filecmp, os, socket, subprocess, sys, time
work, images = sys.argv[1], int(sys.argv[2])
runs = {
    "python": ["/usr/bin/python3", "datasets/build_tensor_cache.py", "--image-folder", f"{work}/images",
               "--resize", "256", "--crop", "224", f"{work}/python.fswptc"],
    "flipsweep": ["build/flipsweep", "cache", f"{work}/ours.fswptc", "--images", f"{work}/images",
                  "--resize", "256", "--crop", "224", "--no-progress"],
}
best = {name: float("inf") for name in runs}
for _ in range(2):  # interleaved, the better of two each
    for name, command in runs.items():
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best[name] = min(best[name], time.perf_counter() - start)
same = "identical" if filecmp.cmp(f"{work}/python.fswptc", f"{work}/ours.fswptc", shallow=False) else "DIFFERENT"
python_rate, our_rate = images / best["python"], images / best["flipsweep"]
print(f"images {images}: python builder {python_rate:.1f} images/s, flipsweep cache {our_rate:.1f} images/s, "
      f"ratio {our_rate / python_rate:.2f}x; caches {same}")
csv = "bench/results/cache_builder.csv"
new = not os.path.exists(csv)
with open(csv, "a") as f:
    if new:
        f.write("date,machine,cores,images,python_images_per_s,flipsweep_images_per_s,ratio,caches\n")
    f.write(f"{datetime.datetime.utcnow():%Y-%m-%dT%H:%M:%SZ},{socket.gethostname()},{os.cpu_count()},{images},"
            f"{python_rate:.2f},{our_rate:.2f},{our_rate / python_rate:.3f},{same}\n")
EOF
