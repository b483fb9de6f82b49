#!/usr/bin/env bash
# GPU campaign benchmark: image-trials per second of flipsweep's CUDA backend (strict FP32 and
# --tf32) against a plain PyTorch trial loop (bench/pytorch_trial_loop.py) on the same GPU, same
# run, same random images, same weights, same BER:
#   (i)  ResNet20 3x32x32 (tests/golden/resnet20_cifar/model.onnx, random weights),
#   (ii) ResNet18 3x224x224 (torchvision, torch.manual_seed(0), exported here as in scripts/gpu_parity.py).
# Sizes: quick (default) ResNet20 100 trials x 2,000 images, ResNet18 3 trials x 1,000 images;
# --full ResNet20 1,000 trials x 10,000 images, ResNet18 10 trials x 10,000 images.
#
#   bash bench/gpu_campaign.sh [--full] [--flipsweep PATH] [--backend cuda|host-plan] [--torch-device cuda|cpu]
#        [--out DIR] [--work DIR] [--python PY] [--ber 1e-6] [--models resnet20,resnet18]
#        [--r20-trials N] [--r20-images N] [--r18-trials N] [--r18-images N] [--budget-s S]
#
# Defaults: flipsweep from $FLIPSWEEP_BUILD_DIR (else build-gpu), work folder <build>/gpu-bench,
# CSV appended to $OUT/gpu_campaign.csv when $OUT is set, else bench/results/gpu_campaign.csv.
# Time: every run is bounded by the budget (--budget-s, default 200 s quick / none full) and by
# $GPU_CHECK_DEADLINE (epoch seconds, set by scripts/gpu-check.sh); what does not fit is skipped
# and the table says "(incomplete)". Exit status 0 when every row is complete.
# Without a GPU: --backend host-plan --torch-device cpu at tiny sizes checks that everything runs.
set -u
cd "$(dirname "$0")/.."
repo=$PWD
build=${FLIPSWEEP_BUILD_DIR:-$repo/build-gpu}
flipsweep=$build/flipsweep
backend=cuda
torch_device=cuda
work=
out=${OUT:-}
py=${PYTHON:-python3}
ber=1e-6
models=resnet20,resnet18
full=0
r20_trials= r20_images= r18_trials= r18_images= budget=
while [ $# -gt 0 ]; do
  case $1 in
    --full) full=1 ;;
    --quick) full=0 ;;
    --flipsweep) flipsweep=$2; shift ;;
    --backend) backend=$2; shift ;;
    --torch-device) torch_device=$2; shift ;;
    --out) out=$2; shift ;;
    --work) work=$2; shift ;;
    --python) py=$2; shift ;;
    --ber) ber=$2; shift ;;
    --models) models=$2; shift ;;
    --r20-trials) r20_trials=$2; shift ;;
    --r20-images) r20_images=$2; shift ;;
    --r18-trials) r18_trials=$2; shift ;;
    --r18-images) r18_images=$2; shift ;;
    --budget-s) budget=$2; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "gpu_campaign.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$full" = 1 ]; then
  : "${r20_trials:=1000}" "${r20_images:=10000}" "${r18_trials:=10}" "${r18_images:=10000}" "${budget:=0}"
else
  : "${r20_trials:=100}" "${r20_images:=2000}" "${r18_trials:=3}" "${r18_images:=1000}" "${budget:=200}"
fi
work=${work:-$build/gpu-bench}
mkdir -p "$work"
work=$(cd "$work" && pwd)
case $flipsweep in /*) ;; *) flipsweep=$repo/$flipsweep ;; esac
if [ -n "$out" ]; then mkdir -p "$out"; csv=$out/gpu_campaign.csv; else csv=$repo/bench/results/gpu_campaign.csv; fi
[ -x "$flipsweep" ] || { echo "gpu_campaign.sh: no flipsweep binary at $flipsweep" >&2; exit 2; }

start=$(date +%s)
deadline=0
[ "$budget" -gt 0 ] 2>/dev/null && deadline=$((start + budget))
if [ -n "${GPU_CHECK_DEADLINE:-}" ]; then
  d=$((GPU_CHECK_DEADLINE - 15))   # leave gpu-check.sh time for its report
  if [ "$deadline" = 0 ] || [ "$d" -lt "$deadline" ]; then deadline=$d; fi
fi
# left: seconds to the deadline (a large number without one)
left() { if [ "$deadline" = 0 ]; then echo 100000; else echo $((deadline - $(date +%s))); fi; }
# bounded NAME MIN_S CMD...: runs CMD when at least MIN_S seconds are left, killed at the deadline.
bounded() {
  local name=$1 min=$2; shift 2
  local l; l=$(left)
  if [ "$l" -lt "$min" ]; then echo "skipped $name: ${l}s left of the time budget"; return 124; fi
  timeout --kill-after=5 "$l" "$@"
  local rc=$?
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "$name: stopped at the time budget"
  return "$rc"
}

want() { case ",$models," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
n20=0 n18=0
want resnet20 && n20=$r20_images
want resnet18 && n18=$r18_images
echo "gpu_campaign: flipsweep --backend $backend vs PyTorch on $torch_device, BER $ber, $([ "$full" = 1 ] && echo full || echo quick):" \
     "ResNet20 ${r20_trials}x${n20}, ResNet18 ${r18_trials}x${n18}; work $work"
bounded prepare 20 "$py" bench/pytorch_trial_loop.py prepare --work "$work" --flipsweep "$flipsweep" \
  --r20-images "$n20" --r18-images "$n18" || echo "prepare failed (rc=$?)"

cache_of() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ''))" "$work/prepare.json" "$1" 2>/dev/null; }

# fs_run MODEL MODE ONNX CACHE TRIALS MEAN STD: one flipsweep campaign (fp32, conv+linear weights,
# one BER) and one plain eval of the same images; writes $work/fs-MODEL-MODE{/,.meta,.log,-eval.log}.
fs_run() {
  local model=$1 mode=$2 onnx=$3 cache=$4 trials=$5 mean=$6 std=$7
  local cfg=$work/$model.yaml outdir=$work/fs-$model-$mode
  local tf=(); [ "$mode" = tf32 ] && tf=(--tf32)
  cat > "$cfg" <<EOF
name: bench-$model
seed: 1
trials: $trials
ber: [$ber]
formats: [fp32]
models:
  - {name: $model, path: $onnx, saf: none}
dataset:
  format: tensor-cache
  paths: [$cache]
  preprocess: {mean: [$mean], std: [$std]}
targets: {roles: [conv-weight, linear-weight], bits: all}
faults: {model: bit-flip}
batch_size: 256
EOF
  rm -rf "$outdir"
  local t0 t1 rc
  t0=$(date +%s.%N)
  bounded "flipsweep $model $mode" 10 "$flipsweep" run "$cfg" --backend "$backend" "${tf[@]}" --out "$outdir" \
    --no-progress > "$outdir.log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  printf 'wall_s=%s\nrc=%s\nexpected_trials=%s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
    "$rc" "$trials" > "$outdir.meta"
  grep -E '^backend|error|Error' "$outdir.log" | head -3
  echo "flipsweep $model $mode: rc=$rc, $(sed -n 1p "$outdir.meta")"
  bounded "flipsweep eval $model $mode" 10 "$flipsweep" eval --model "$onnx" --dataset "tensor-cache:$cache" \
    --mean ${mean//,/ } --std ${std//,/ } --batch-size 256 --backend "$backend" "${tf[@]}" --no-progress \
    > "$outdir-eval.log" 2>&1
  grep -E '^speed' "$outdir-eval.log" | sed "s/^/flipsweep eval $model $mode: /"
}

torch_run() {
  local model=$1 onnx=$2 cache=$3 trials=$4
  bounded "pytorch $model" 15 "$py" bench/pytorch_trial_loop.py loop --model "$model" --onnx "$onnx" --cache "$cache" \
    --trials "$trials" --ber "$ber" --modes strict,tf32 --device "$torch_device" --json "$work/torch-$model.json" ||
    echo "pytorch $model: rc=$?"
}

rm -rf "$work"/torch-*.json "$work"/fs-*
if want resnet20; then
  c=$(cache_of r20_cache)
  if [ -n "$c" ]; then
    r20=$repo/tests/golden/resnet20_cifar/model.onnx
    fs_run resnet20 strict "$r20" "$c" "$r20_trials" 0.4914,0.4822,0.4465 0.2470,0.2435,0.2616
    torch_run resnet20 "$r20" "$c" "$r20_trials"
    fs_run resnet20 tf32 "$r20" "$c" "$r20_trials" 0.4914,0.4822,0.4465 0.2470,0.2435,0.2616
  else echo "resnet20: no data (prepare failed)"; fi
fi
if want resnet18; then
  c=$(cache_of r18_cache); m=$(cache_of r18_onnx)
  if [ -n "$c" ] && [ -n "$m" ]; then
    fs_run resnet18 strict "$m" "$c" "$r18_trials" 0.485,0.456,0.406 0.229,0.224,0.225
    torch_run resnet18 "$m" "$c" "$r18_trials"
    fs_run resnet18 tf32 "$m" "$c" "$r18_trials" 0.485,0.456,0.406 0.229,0.224,0.225
  else echo "resnet18: no data or export (prepare failed)"; fi
fi

"$py" bench/pytorch_trial_loop.py report --work "$work" --csv "$csv" --backend "$backend" --ber "$ber" --models "$models"
rc=$?
echo "gpu_campaign: $([ "$rc" = 0 ] && echo complete || echo INCOMPLETE), $(( $(date +%s) - start ))s"
exit "$rc"
