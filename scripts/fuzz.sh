#!/usr/bin/env bash
# Builds the libFuzzer targets under fuzz/ (docs/FUZZING.md) with clang in build-fuzz/ and runs
# each on a copy of its committed corpus (fuzz/corpus/<target>/, with its dictionary from
# fuzz/dict/) for a bounded time; the repository's files are never modified. Fails when any target
# finds a crash, an ASan/UBSan report, a leak, a timeout or an out-of-memory: the input is kept in
# <build>/findings/<target>/ and the report printed.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to $FLIPSWEEP_FUZZ_SECONDS, else 60; TARGETs default to all eight
# (onnx_import_fuzzer, idx_fuzzer, ...). FLIPSWEEP_FUZZ_BUILD_DIR overrides build-fuzz/.
# .ci/run calls it after scripts/test-sanitizers.sh. On 2 cores: about 3 min to build from
# scratch, then the runs (8 x 60 s); 11 min in all.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${FLIPSWEEP_FUZZ_BUILD_DIR:-build-fuzz}
case $build in
  /*) binaries=$build/fuzz ;;
  *) binaries=$root/$build/fuzz ;;
esac
seconds=${1:-${FLIPSWEEP_FUZZ_SECONDS:-60}}
if [ $# -gt 0 ]; then shift; fi
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: seconds per target must be a positive integer, got '$seconds'" >&2
  exit 2
fi
all_targets=(onnx_import_fuzzer idx_fuzzer cifar_fuzzer tensor_cache_fuzzer campaign_config_fuzzer
             eval_config_fuzzer results_csv_fuzzer image_decode_fuzzer)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=("${all_targets[@]}"); fi

dictionary_of() {
  case $1 in
    onnx_import_fuzzer) echo onnx ;;
    idx_fuzzer) echo idx ;;
    cifar_fuzzer) echo cifar ;;
    tensor_cache_fuzzer) echo tensor_cache ;;
    campaign_config_fuzzer | eval_config_fuzzer) echo yaml ;;
    results_csv_fuzzer) echo results_csv ;;
    image_decode_fuzzer) echo image ;;
    *) echo "fuzz.sh: unknown target '$1' (known: ${all_targets[*]})" >&2; return 1 ;;
  esac
}
for target in "${targets[@]}"; do dictionary_of "$target" > /dev/null; done

start=$SECONDS
# RelWithDebInfo: -O2 -g, so reports have file:line. The library the targets link is built with
# coverage instrumentation, ASan and UBSan (FLIPSWEEP_FUZZ in CMakeLists.txt).
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DFLIPSWEEP_FUZZ=ON -DFLIPSWEEP_CUDA=OFF -DFLIPSWEEP_BUILD_TESTS=OFF -DFLIPSWEEP_BUILD_BENCH=OFF
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
build_seconds=$((SECONDS - start))

work=$(mktemp -d "${TMPDIR:-/tmp}/flipsweep-fuzz-run.XXXXXX")
# The targets write each input to scratch files under $TMPDIR (fuzz/fuzz_support.h): memory
# (/dev/shm) when there is some, and one folder for the whole run, so that the scratch folders of a
# target that crashed are removed too.
scratch=$(mktemp -d /dev/shm/flipsweep-fuzz-run.XXXXXX 2>/dev/null || mktemp -d "$work/scratch.XXXXXX")
trap 'rm -rf "$work" "$scratch"' EXIT
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=()
summary=()
for target in "${targets[@]}"; do
  corpus=$work/corpus-$target
  artifacts=$work/artifacts-$target
  mkdir -p "$artifacts"
  cp -r "fuzz/corpus/$target" "$corpus"  # new inputs go to the copy, not the repository
  log=$work/$target.log
  echo "fuzz.sh: $target for ${seconds} s on $(ls "$corpus" | wc -l) corpus files"
  rc=0
  (cd "$work" && TMPDIR=$scratch "$binaries/$target" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
     -timeout=10 -print_final_stats=1 -dict="$root/fuzz/dict/$(dictionary_of "$target").dict" \
     -artifact_prefix="$artifacts/" "$corpus") > "$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ $rc -ne 0 ] || [ -n "$(ls -A "$artifacts")" ]; then
    mkdir -p "$build/findings/$target"
    cp "$artifacts"/* "$build/findings/$target/" 2>/dev/null || true
    echo "fuzz.sh: $target FAILED (exit $rc); last lines of its log:" >&2
    tail -n 60 "$log" >&2
    echo "fuzz.sh: the input is in $build/findings/$target/: $(ls "$build/findings/$target" 2>/dev/null | tr '\n' ' ')" >&2
    echo "fuzz.sh: reproduce with $build/fuzz/$target <that file>" >&2
    failed+=("$target")
    summary+=("$(printf '%-24s %12s executions  FAILED' "$target" "${runs:-?}")")
  else
    summary+=("$(printf '%-24s %12s executions  ok' "$target" "${runs:-?}")")
  fi
done

echo "fuzz.sh: ${seconds} s per target, build ${build_seconds} s, total $((SECONDS - start)) s"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]} (see docs/FUZZING.md, 'When a target fails')" >&2
  exit 1
fi
