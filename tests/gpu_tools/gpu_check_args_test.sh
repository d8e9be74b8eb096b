#!/usr/bin/env bash
# tools/gpu-check.sh refuses bad options and knobs with one line and exit 64,
# before it touches anything (no output folder, no pool); --help lists the
# sections. Runs no measurement.
set -uo pipefail
script=$(dirname "$0")/../../tools/gpu-check.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

bash -n "$script" || fail "syntax"
help=$(bash "$script" --help) || fail "--help exit $?"
for word in alloc neighbour copies registration dma legacy GPU_CHECK_PACK GPU_CHECK_DMA_MAX; do
  grep -q -- "$word" <<<"$help" || fail "--help does not mention $word"
done

expect64() {  # expect64 MESSAGE_PART ENV... -- ARGS...
  local part=$1 envs=()
  shift
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  local err rc=0
  err=$(env "${envs[@]}" bash "$script" "$@" "$out/o" 2>&1 >/dev/null) || rc=$?
  ((rc == 64)) || fail "$* ${envs[*]}: exit $rc, want 64 ($err)"
  [[ $(wc -l <<<"$err") -eq 1 ]] || fail "$*: more than one line: $err"
  grep -qF -- "$part" <<<"$err" || fail "$*: '$err' does not say '$part'"
  [[ ! -e $out/o ]] || fail "$*: created the output folder"
}
expect64 "got bogus" -- --only bogus
expect64 "got bogus" -- --only alloc,bogus
expect64 "at least one section" -- --only ,
expect64 "unknown option --fast" -- --fast
expect64 "GPU_CHECK_BUDGET_S" GPU_CHECK_BUDGET_S=soon -- --only copies
expect64 "GPU_CHECK_ALLOC_PAIRS" GPU_CHECK_ALLOC_PAIRS=-1 --
expect64 "GPU_CHECK_ALLOC_SIZES" GPU_CHECK_ALLOC_SIZES=16,4 --
expect64 "GPU_CHECK_NEIGHBOUR_SIZES" GPU_CHECK_NEIGHBOUR_SIZES=16G --
expect64 "GPU_CHECK_DMA_MAX" GPU_CHECK_DMA_MAX=1G -- --only dma
echo "ok"
