#!/usr/bin/env bash
# Builds flipsweep with AddressSanitizer + UndefinedBehaviorSanitizer (-DFLIPSWEEP_SANITIZE=ON,
# CPU only: nvcc code is not sanitized) in build-asan/ and runs every test under them.
# Settings and the few suppressions, each explained, live in tests/sanitizers/.
# .ci/run calls this after scripts/test.sh. From scratch on 2 cores: about 4 min to build, 2.5 min
# for ctest (every test; none excluded). FLIPSWEEP_ASAN_BUILD_DIR overrides the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${FLIPSWEEP_ASAN_BUILD_DIR:-build-asan}
jobs=$(nproc)
start=$SECONDS

# RelWithDebInfo: -O2 keeps the suite fast enough, -g gives reports with file:line.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFLIPSWEEP_SANITIZE=ON -DFLIPSWEEP_CUDA=OFF
cmake --build "$build" -j "$jobs"

# Inherited by every sanitized process the tests start (the flipsweep CLI too). Python
# subprocesses are not instrumented and ignore them.
san=$root/tests/sanitizers
export ASAN_OPTIONS="suppressions=$san/asan.supp:detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$san/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="suppressions=$san/ubsan.supp:print_stacktrace=1:halt_on_error=1"

ctest --test-dir "$build" --output-on-failure -j "$jobs"
echo "test-sanitizers.sh: all tests passed under ASan+UBSan in $((SECONDS - start)) s"
