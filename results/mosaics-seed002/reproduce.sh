#!/usr/bin/env bash
# Seed 002's study on the Fashion-MNIST mosaics, end to end (results/mosaics-seed002/README.md).
#
#   bash results/mosaics-seed002/reproduce.sh            # campaigns + tables from the committed models
#   bash results/mosaics-seed002/reproduce.sh --train    # first retrain and prune the 12 U-Nets (~2 h on 2 cores)
#
# Needs ./build/flipsweep (bash scripts/test.sh or the README's build) and the Debian packages of
# scripts/install-deps.sh. Writes data/mosaics/ (the data set, deterministic) and, under
# results/mosaics-seed002/, single-flip/, layer-bit/, ber-sweep/, ranges/, tables.md, per_bit.png
# and the heat maps. A campaign folder that exists is resumed (--resume), so an interrupted run
# continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=/usr/bin/python3
flipsweep=./build/flipsweep
out=results/mosaics-seed002
[ -x "$flipsweep" ] || { echo "reproduce.sh: $flipsweep missing; build first (bash scripts/test.sh)" >&2; exit 1; }

[ -f data/mosaics/mosaics-test.fswptc ] || $python datasets/make_fashion_mosaics.py data/mosaics

# Training settings: ReLU and ReLU6 learn at Adam's 1e-3 in 8 epochs; Sigmoid and Hard Sigmoid stay
# at the all-background solution there (3 epochs: 7.1 % mean IoU) and are trained at 5e-3 for 10.
declare -A lr=([relu]=1e-3 [relu6]=1e-3 [sigmoid]=5e-3 [hardsigmoid]=5e-3)
declare -A epochs=([relu]=8 [relu6]=8 [sigmoid]=10 [hardsigmoid]=10)
if [ "${1:-}" = --train ]; then
  for a in relu relu6 sigmoid hardsigmoid; do
    $python python/train_mosaic_unet.py --data data/mosaics --activation $a --epochs ${epochs[$a]} --lr ${lr[$a]} \
      --out models/mosaics/unet_$a.onnx
    for s in 25 50; do
      $python python/prune_unet.py --model models/mosaics/unet_$a.onnx --data data/mosaics --sparsity 0.$s \
        --epochs 1 --lr ${lr[$a]} --out models/mosaics/unet_${a}_pruned$s.onnx
    done
  done
fi

resume() { [ -f "$1/config.yaml" ] && echo --resume || true; }
$flipsweep run configs/seed002_single_flip.yaml --save-faults --out $out/single-flip $(resume $out/single-flip)
$flipsweep run configs/seed002_layer_bit.yaml --save-faults --out $out/layer-bit $(resume $out/layer-bit)
$flipsweep run configs/seed002_ber_sweep.yaml --out $out/ber-sweep $(resume $out/ber-sweep)

mkdir -p $out/ranges
for a in relu relu6 sigmoid hardsigmoid; do
  for variant in "" _pruned25 _pruned50; do
    name=$a${variant/_pruned/-p}
    $flipsweep inspect models/mosaics/unet_$a$variant.onnx --ranges-csv $out/ranges/$name.csv > /dev/null
  done
done
for a in relu hardsigmoid; do  # heat maps of exponents before and after pruning (the table has all)
  $python python/plot_ranges.py $out/ranges/$a.csv $out/ranges/$a.png --title "$a U-Net"
  $python python/plot_ranges.py $out/ranges/$a-p50.csv $out/ranges/$a-p50.png --title "$a U-Net, 50 % of the inner channels pruned"
done
$python python/plot_profile.py $out/layer-bit
$python python/seed002_report.py $out
