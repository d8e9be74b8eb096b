#!/usr/bin/env bash
# The test command (README.md, .ci/run): installs everything on a fresh
# Debian 12 machine, builds, and runs the whole suite. Tests that need a
# hugetlb pool size it themselves and restore it; this script only checks
# that it may (root) and restores the pool whatever happens.
#
# Then the in-process tests run again under AddressSanitizer and
# UndefinedBehaviorSanitizer (CMakePresets.json, preset asan: labels unit
# and stress without preload), building only those tests' targets.
# HUGESHIM_TEST_SANITIZERS=0 skips that part.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "tools/test.sh: run as root (tests resize /proc/sys/vm/nr_hugepages)" >&2
  exit 1
fi
pool_before=$(cat /proc/sys/vm/nr_hugepages)
trap 'echo "$pool_before" > /proc/sys/vm/nr_hugepages' EXIT
tools/build.sh
ctest --preset release -j 2 "$@"

if [[ ${HUGESHIM_TEST_SANITIZERS:-1} != 0 ]]; then
  cmake --preset asan >/dev/null
  # The tests the preset selects; each is its own target (hugeshim_test()).
  mapfile -t targets < <(ctest --preset asan --show-only=json-v1 |
    python3 -c 'import json, sys; print("\n".join(t["name"] for t in json.load(sys.stdin)["tests"]))')
  cmake --build --preset asan -j "$(nproc)" --target "${targets[@]}"
  ctest --preset asan -j 2
fi
