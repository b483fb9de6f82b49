#!/usr/bin/env bash
# The one-command GPU check, for a lent GPU machine (no network, none of our Debian packages):
# prints the GPU, builds with CUDA ON against the offline folder (scripts/fetch-offline-deps.sh)
# on every core with ninja, runs the CUDA tests, then the GPU parity check and the GPU benchmark
# when they exist, and writes ONE report:
#   $OUT/gpu-check-report.txt when $OUT is set, else build-gpu/gpu-check-report.txt
# Run from anywhere: bash scripts/gpu-check.sh. Each step has a timeout; a failing step is
# recorded and the next one runs; the whole script stays under 8 minutes. The exit status is 0
# only when every step that ran passed. Environment: DEPS (offline folder, default .offline-deps),
# BUILD (default build-gpu), CUDNN_ROOT (optional, passed to CMake), GPU_CHECK_BUDGET_S (470),
# GPU_CHECK_BUILD_S (300, the build step's limit).
set -u
cd "$(dirname "$0")/.."
start=$(date +%s)
deps=${DEPS:-.offline-deps}
case $deps in /*) ;; *) deps=$PWD/$deps ;; esac
build=${BUILD:-build-gpu}
case $build in /*) ;; *) build=$PWD/$build ;; esac
mkdir -p "$build"
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; report=$OUT/gpu-check-report.txt; logs=$OUT/gpu-check-logs
else report=$build/gpu-check-report.txt; logs=$build/gpu-check-logs; fi
mkdir -p "$logs"
: > "$report"
failed=0
steps=()

say() { echo "$*" | tee -a "$report"; }
# step NAME SECONDS CMD...: runs CMD with a timeout, output to $logs/NAME.log (tail shown), records status.
budget=${GPU_CHECK_BUDGET_S:-470}   # whole script, seconds (8 minutes less a margin)
remaining() { echo $(( budget - ($(date +%s) - start) )); }
step() {
  local name=$1 limit=$2; shift 2
  local left; left=$(remaining)
  if [ "$left" -lt 10 ]; then skip "$name" "no time left in the ${budget}s budget"; failed=1; return 1; fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0; t0=$(date +%s)
  echo "==== $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" > "$logs/$name.log" 2>&1
  local rc=$?
  local secs=$(( $(date +%s) - t0 ))
  tail -n 25 "$logs/$name.log"
  local what="rc=$rc"
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && what="rc=$rc (timed out after ${limit}s)"
  steps+=("$(printf '%-14s %-34s %4ss' "$name" "$what" "$secs")")
  [ "$rc" = 0 ] || failed=1
  return "$rc"
}
skip() { steps+=("$(printf '%-14s %-34s' "$1" "not present ($2)")"); say "$1: not present ($2)"; }

say "flipsweep GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
say "host: $(hostname), $(nproc) cores, $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
if command -v nvidia-smi >/dev/null; then
  gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader 2>&1 | head -4)
  say "GPU: ${gpu:-none (nvidia-smi gave nothing)}"
  nvidia-smi 2>&1 | head -20
else
  say "GPU: none (no nvidia-smi on this machine)"
fi

# 1. offline dependencies: unpack the carried .deb files when only they came along.
if [ ! -d "$deps/root/usr/include" ] && ls "$deps"/debs/*.deb >/dev/null 2>&1; then
  step unpack-deps 120 bash scripts/fetch-offline-deps.sh --unpack-only "$deps"
fi
deps_args=()
if [ -d "$deps/root/usr/include" ]; then deps_args=(-DFLIPSWEEP_DEPS_ROOT="$deps/root")
else say "no offline folder at $deps (root/ or debs/): using the system's packages"; fi
[ -n "${CUDNN_ROOT:-}" ] && deps_args+=(-DCUDNN_ROOT="$CUDNN_ROOT")
export PATH=$PATH:/usr/local/cuda/bin

# 2. configure + build, CUDA ON, every core.
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
step configure 120 cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DFLIPSWEEP_CUDA=ON \
  -DFLIPSWEEP_BUILD_BENCH=ON "${deps_args[@]}"
configure_rc=$?
cudnn=$(grep -o 'cuDNN [0-9.]* from .*' "$logs/configure.log" | head -1)
say "cuDNN: ${cudnn:-not reported (see $logs/configure.log)}"
say "CUDA: $(grep -o 'CUDA [0-9.]*, architectures .*' "$logs/configure.log" | head -1)"
build_secs=-
if [ "$configure_rc" = 0 ]; then
  t0=$(date +%s)
  step build "${GPU_CHECK_BUILD_S:-300}" cmake --build "$build" -j "$(nproc)"
  build_rc=$?
  build_secs=$(( $(date +%s) - t0 ))
else
  build_rc=1; skip build "configure failed"
fi
say "build time: ${build_secs}s"

# 3. CUDA tests: suites with Cuda in their names, and tests with Device in theirs
#    (KernelBodies.DeviceMatchesHostLaunchBitForBit, SafNumerics.DeviceGivesTheSameBitsAsTheHost).
tests_bin=$build/tests/flipsweep_tests
if [ "$build_rc" = 0 ] && [ -x "$tests_bin" ]; then
  step cuda-tests 180 "$tests_bin" --gtest_filter='Cuda*:*Cuda*:*Device*' --gtest_color=no
  summary=$(grep -E '^\[==========\] .* ran|^\[ +(PASSED|FAILED|SKIPPED) +\] [0-9]+ tests?' "$logs/cuda-tests.log")
  say "tests:"; say "$(echo "${summary:-no gtest summary (crash? see $logs/cuda-tests.log)}" | sed 's/^/  /')"
  grep -E '^\[  FAILED  \] [A-Za-z]' "$logs/cuda-tests.log" | sed -E 's/ \([0-9]+ ms\)$//' | sort -u |
    sed 's/^/  /' | tee -a "$report"
else
  skip cuda-tests "no test binary"
fi

# 4. GPU parity check and benchmark (quick sizes), run only when they exist, inside the budget
#    (parity gets at most 150 s and stops itself at 140 s, so the benchmark keeps some; the
#    benchmark stops its runs 15 s before GPU_CHECK_DEADLINE). Both get FLIPSWEEP_BUILD_DIR; the
#    parity summary (build-gpu/gpu-parity/gpu-parity-summary.txt) goes into the report whole.
export FLIPSWEEP_BUILD_DIR=$build GPU_CHECK_DEADLINE=$((start + budget))
rm -f "$build/gpu-parity/gpu-parity-summary.txt"
if [ -f scripts/gpu_parity.py ]; then step gpu-parity 150 python3 scripts/gpu_parity.py --work "$build/gpu-parity"
else skip gpu-parity "scripts/gpu_parity.py"; fi
if [ -f bench/gpu_campaign.sh ]; then step gpu-bench 600 bash bench/gpu_campaign.sh --work "$build/gpu-bench"
else skip gpu-bench "bench/gpu_campaign.sh"; fi
if [ -f "$build/gpu-parity/gpu-parity-summary.txt" ]; then
  say "gpu-parity summary:"; sed 's/^/  /' "$build/gpu-parity/gpu-parity-summary.txt" >> "$report"
elif [ -f "$logs/gpu-parity.log" ]; then
  say "gpu-parity (last lines):"; tail -n 15 "$logs/gpu-parity.log" | sed 's/^/  /' >> "$report"
fi
if [ -f "$logs/gpu-bench.log" ]; then
  say "gpu-bench (last lines):"; tail -n 15 "$logs/gpu-bench.log" | sed 's/^/  /' >> "$report"
fi

say "steps:"
for s in "${steps[@]}"; do say "  $s"; done
say "total: $(( $(date +%s) - start ))s; logs in $logs; result: $([ "$failed" = 0 ] && echo PASS || echo FAIL)"
echo "report: $report"
exit "$failed"
