#!/usr/bin/env bash
# The README's set-up commands, read from its first ```sh block, so that CI runs exactly what a new
# user types (issue 12, §1: a command that only works with sudo, or in a non-root shell, fails CI).
#
#   bash scripts/readme-commands.sh check        the block has the expected shape (below)
#   bash scripts/readme-commands.sh print demo   prints the demo line (print test: the test line)
#   bash scripts/readme-commands.sh run test     runs the test line verbatim with bash, from the
#                                                repository root (.ci/run does this)
#
# The expected shape: exactly two command lines, the demo line first, naming scripts/demo.sh, then
# the test line, naming scripts/test.sh. When the README changes shape, this fails saying so;
# change the README, this script and .ci/run together. FLIPSWEEP_README names another file to
# read (this script's own checks use it).
set -euo pipefail
cd "$(dirname "$0")/.."
readme=${FLIPSWEEP_README:-README.md}
[ -f "$readme" ] || { echo "readme-commands.sh: $readme: no such file" >&2; exit 1; }

usage() {
  echo "usage: bash scripts/readme-commands.sh check | print demo|test | run demo|test" >&2
  exit 2
}

# The lines of README.md's first ```sh block (blank lines dropped).
block_lines() {
  awk '
    !inside && /^```sh[[:space:]]*$/ { inside = 1; found = 1; next }
    inside && /^```[[:space:]]*$/ { exit }
    inside && NF > 0 { print }
    END { if (!found) exit 3 }
  ' "$readme"
}

fail() {
  echo "readme-commands.sh: $readme: $1" >&2
  echo "readme-commands.sh: the first \`\`\`sh block must hold exactly two command lines: the demo line" \
       "(bash scripts/install-deps.sh && bash scripts/demo.sh ...) then the test line" \
       "(bash scripts/install-deps.sh && bash scripts/test.sh ...). CI runs the test line verbatim;" \
       "if the README's set-up section changed on purpose, update scripts/readme-commands.sh and .ci/run with it." >&2
  exit 1
}

check() {
  local lines rc=0
  lines=$(block_lines) || rc=$?
  if [ $rc -eq 3 ]; then fail "no \`\`\`sh block"; fi
  mapfile -t commands <<< "$lines"
  if [ -z "$lines" ]; then commands=(); fi
  if [ ${#commands[@]} -ne 2 ]; then
    fail "the first \`\`\`sh block has ${#commands[@]} command line(s), expected 2:$(printf '\n    %s' "${commands[@]}")"
  fi
  demo=${commands[0]}
  test=${commands[1]}
  if ! [[ $demo =~ (^|[[:space:]])bash\ scripts/demo\.sh([[:space:]]|$) ]]; then
    fail "the first command line does not run scripts/demo.sh: $demo"
  fi
  if ! [[ $test =~ (^|[[:space:]])bash\ scripts/test\.sh([[:space:]]|$) ]]; then
    fail "the second command line does not run scripts/test.sh: $test"
  fi
}

[ $# -ge 1 ] || usage
case $1 in
  check)
    [ $# -eq 1 ] || usage
    check
    echo "readme-commands.sh: $readme's set-up block has the demo line and the test line"
    ;;
  print | run)
    [ $# -eq 2 ] || usage
    check
    case $2 in
      demo) line=$demo ;;
      test) line=$test ;;
      *) usage ;;
    esac
    if [ "$1" = print ]; then
      printf '%s\n' "$line"
    else
      echo "readme-commands.sh: running $readme's $2 line: $line"
      bash -c "$line"
    fi
    ;;
  *) usage ;;
esac
