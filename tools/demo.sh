#!/usr/bin/env bash
# The demo: installs, builds, then runs a workload of large allocations
# (16 x 64 MiB, every byte written) three ways and shows what changed:
#   1. without the shim (glibc: base pages, ~20 us per 4 KiB first touch here)
#   2. under the shim with an empty hugetlb pool (THP fallback, explained)
#   3. under the shim with a 2 MiB hugetlb pool sized for it
# The pool is restored afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh >/dev/null
bin=build/bin
lib=build/lib/libhugeshim.so
count=${DEMO_COUNT:-16}
mib=${DEMO_MIB:-64}
pool_before=$(cat /proc/sys/vm/nr_hugepages)
restore() { echo "$pool_before" > /proc/sys/vm/nr_hugepages 2>/dev/null || true; }
trap restore EXIT

echo "workload: $count x malloc(${mib} MiB), write every byte, read back, free"
echo
echo "== without the shim"
"$bin/hugeshim-demo-workload" "$count" "$mib"
echo
echo "== with the shim, hugetlb pool empty (falls back to THP and says why)"
echo 0 > /proc/sys/vm/nr_hugepages 2>/dev/null || echo "(not root: pool left as is)"
HUGESHIM_LOG=info HUGESHIM_RING=off LD_PRELOAD="$PWD/$lib" "$bin/hugeshim-demo-workload" "$count" "$mib"
echo
pages=$(( count * mib / 2 + 8 ))
echo "== with the shim, hugetlb pool of $pages x 2 MiB"
if echo "$pages" > /proc/sys/vm/nr_hugepages 2>/dev/null; then
  # A fresh pool's pages have never been touched; on a VM the host backs them
  # lazily, so the first use is slow for reasons outside the guest. Warm once.
  HUGESHIM_RING=off LD_PRELOAD="$PWD/$lib" "$bin/hugeshim-demo-workload" "$count" "$mib" >/dev/null
  if [[ -x "$bin/hugeshim" ]]; then
    "$bin/hugeshim" run --force -o build/demo.db -- "$bin/hugeshim-demo-workload" "$count" "$mib"
  else
    HUGESHIM_RING=off LD_PRELOAD="$PWD/$lib" "$bin/hugeshim-demo-workload" "$count" "$mib"
  fi
else
  echo "(not root: cannot size the pool; skipped)"
fi
