#!/usr/bin/env bash
# scripts/readme-commands.sh, the guard that makes CI run the README's own test command line:
# it reads both lines from README.md's first ```sh block, and fails, saying why, when the block
# changes shape (a third line, the lines swapped, a line gone, no block, another script).
# Usage: readme_commands_test.sh SOURCE_DIR
set -euo pipefail
source_dir=$1
script=$source_dir/scripts/readme-commands.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

demo='bash scripts/install-deps.sh && bash scripts/demo.sh    # build and run the main job'
test_line='bash scripts/install-deps.sh && bash scripts/test.sh    # build and run every test (ctest)'

# The real README: the test line comes back exactly as written there.
got=$(bash "$script" print test)
[ "$got" = "$test_line" ] || { echo "print test gave: $got" >&2; exit 1; }
bash "$script" print demo | grep -q 'bash scripts/demo.sh' || { echo "print demo lacks scripts/demo.sh" >&2; exit 1; }

# `run` executes the line verbatim with bash from the repository root.
printf '# x\n\n```sh\necho demo: bash scripts/demo.sh\necho ran from "$PWD" && echo bash scripts/test.sh\n```\n' > "$work/ok.md"
out=$(FLIPSWEEP_README=$work/ok.md bash "$script" run test)
grep -qx "ran from $source_dir" <<< "$out" || { echo "run test printed: $out" >&2; exit 1; }

# Each change of shape fails with a message saying what is wrong.
expect_failure() {  # NAME FRAGMENT README-TEXT
  printf '%b' "$3" > "$work/$1.md"
  if out=$(FLIPSWEEP_README=$work/$1.md bash "$script" check 2>&1); then
    echo "$1: accepted, expected a failure" >&2
    exit 1
  fi
  grep -qF "$2" <<< "$out" || { echo "$1: message lacks '$2': $out" >&2; exit 1; }
}
block() { printf '# flipsweep\n\n```sh\n%s\n```\n' "$1"; }
expect_failure three "has 3 command line(s), expected 2" "$(block "$demo\n$test_line\nmake install")"
expect_failure swapped "the first command line does not run scripts/demo.sh" "$(block "$test_line\n$demo")"
expect_failure one "has 1 command line(s), expected 2" "$(block "$test_line")"
expect_failure other_script "the second command line does not run scripts/test.sh" "$(block "$demo\nbash scripts/test-all.sh")"
expect_failure no_block 'no ```sh block' '# flipsweep\n\n```bash\nbash scripts/test.sh\n```\n'
echo "readme_commands_test.sh: ok"
