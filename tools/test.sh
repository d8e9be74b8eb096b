#!/usr/bin/env bash
# The test command (README.md, .ci/run): installs everything on a fresh
# Debian 12 machine, builds, and runs the whole suite. Tests that need a
# hugetlb pool size it themselves and restore it; this script only checks
# that it may (root) and restores the pool whatever happens.
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
