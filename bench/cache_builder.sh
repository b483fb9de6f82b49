#!/usr/bin/env bash
# `flipsweep cache` vs the Python builder (datasets/build_tensor_cache.py: torchvision + Pillow)
# on the same generated ImageNet-like JPEGs (500×375 and 375×500 and other common sizes,
# quality 90), Resize(256) + CenterCrop(224), both with all cores they use (the Python builder
# decodes in one process). Each tool runs on all IMAGES and on the first quarter of them
# (--limit), interleaved, three times each, the best time of each kept. Two figures:
#   whole run   IMAGES / time: what a user waits for at this size, start-up included (the Python
#               builder spends 1-3 s importing torch; flipsweep about 0.01 s);
#   steady      (IMAGES - IMAGES/4) / (time(IMAGES) - time(IMAGES/4)): images/s once started,
#               what 50,000 ImageNet validation images see.
# Prints both with their ratios and appends them to bench/results/cache_builder.csv.
# Usage: bash bench/cache_builder.sh [IMAGES (default 2000)]
set -euo pipefail
cd "$(dirname "$0")/.."
images=${1:-2000}
[ "$images" -ge 8 ] || { echo "IMAGES must be 8 or more"; exit 1; }
[ -x build/flipsweep ] || { echo "build flipsweep first (bash scripts/test.sh)"; exit 1; }
work=$(mktemp -d /tmp/flipsweep-cache-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 bench/make_jpegs.py "$work/images" "$images"

/usr/bin/python3 - "$work" "$images" << 'EOF'
import datetime, filecmp, os, socket, subprocess, sys, time
work, images = sys.argv[1], int(sys.argv[2])
quarter = images // 4


def command(tool, limit):
    output = f"{work}/{tool}-{limit}.fswptc"
    if tool == "python":
        return output, ["/usr/bin/python3", "datasets/build_tensor_cache.py", "--image-folder", f"{work}/images",
                        "--resize", "256", "--crop", "224", "--limit", str(limit), output]
    return output, ["build/flipsweep", "cache", output, "--images", f"{work}/images", "--resize", "256",
                    "--crop", "224", "--limit", str(limit), "--no-progress"]


best = {}
for _ in range(3):  # interleaved, the best of three each
    for limit in (images, quarter):
        for tool in ("python", "flipsweep"):
            _, argv = command(tool, limit)
            start = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            best[tool, limit] = min(best.get((tool, limit), float("inf")), time.perf_counter() - start)
same = all(filecmp.cmp(command("python", n)[0], command("flipsweep", n)[0], shallow=False) for n in (images, quarter))
caches = "identical" if same else "DIFFERENT"
whole = {tool: images / best[tool, images] for tool in ("python", "flipsweep")}
steady = {tool: (images - quarter) / max(1e-9, best[tool, images] - best[tool, quarter]) for tool in ("python", "flipsweep")}
print(f"images {images}: whole run: python builder {whole['python']:.1f} images/s, flipsweep cache "
      f"{whole['flipsweep']:.1f} images/s, ratio {whole['flipsweep'] / whole['python']:.2f}x")
print(f"images {quarter} -> {images}, steady: python builder {steady['python']:.1f} images/s, flipsweep cache "
      f"{steady['flipsweep']:.1f} images/s, ratio {steady['flipsweep'] / steady['python']:.2f}x; caches {caches}")

csv = "bench/results/cache_builder.csv"
header = ("date,machine,cores,images,python_images_per_s,flipsweep_images_per_s,ratio,caches,"
          "python_steady_images_per_s,flipsweep_steady_images_per_s,steady_ratio")
rows = []
if os.path.exists(csv):
    with open(csv) as f:
        old_header, *rows = f.read().splitlines()
    # Rows from before the steady figures get empty cells for them.
    missing = header.count(",") - old_header.count(",")
    rows = [row + "," * missing for row in rows]
rows.append(f"{datetime.datetime.utcnow():%Y-%m-%dT%H:%M:%SZ},{socket.gethostname()},{os.cpu_count()},{images},"
            f"{whole['python']:.2f},{whole['flipsweep']:.2f},{whole['flipsweep'] / whole['python']:.3f},{caches},"
            f"{steady['python']:.2f},{steady['flipsweep']:.2f},{steady['flipsweep'] / steady['python']:.3f}")
with open(csv + ".tmp", "w") as f:
    f.write("\n".join([header] + rows) + "\n")
os.replace(csv + ".tmp", csv)
EOF
