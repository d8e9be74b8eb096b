#!/usr/bin/env bash
# Two builds of the shim side by side, interleaved in one run: did a change
# move the large-allocation times or the fast path?
#   tools/bench-malloc/compare.sh OLD_BUILD_DIR NEW_BUILD_DIR   (root: sizes the pool)
# Large: 16 x malloc(64 MiB) + memset + free, fresh memory (HUGESHIM_CACHE=0)
# on THP and on a warmed 2 MiB pool, and with the default cache; REPS rounds
# (default 9), OLD and NEW alternating within each round; median and range.
# Fast path: instructions per malloc/free pair under callgrind, as in
# docs/BENCHMARKS.md ((3M pairs - 1M pairs) / 2M), which does not depend on load.
set -euo pipefail
old=$1 new=$2
reps=${REPS:-9}
pool_before=$(cat /proc/sys/vm/nr_hugepages)
trap 'echo "$pool_before" > /proc/sys/vm/nr_hugepages' EXIT

stats() {  # numbers on stdin -> "median (min-max)"
  sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.4f (%.4f-%.4f)", m, a[1], a[NR]}'
}

declare -A t
echo 40 > /proc/sys/vm/nr_hugepages
for b in "$old" "$new"; do  # warm the fresh pool pages once (a VM's host backs them lazily)
  LD_PRELOAD="$(realpath "$b/lib/libhugeshim.so")" HUGESHIM_RING=off "$b/bin/hugeshim-bench-malloc" large 1 64 >/dev/null
done
for r in $(seq "$reps"); do
  for side in old new; do
    b=${!side}
    lib=$(realpath "$b/lib/libhugeshim.so")
    bench="$b/bin/hugeshim-bench-malloc"
    t[$side-thp]+="$(LD_PRELOAD=$lib HUGESHIM_PAGES=thp HUGESHIM_CACHE=0 HUGESHIM_RING=off "$bench" large 16 64) "
    t[$side-2M]+="$(LD_PRELOAD=$lib HUGESHIM_PAGES=2M HUGESHIM_CACHE=0 HUGESHIM_RING=off "$bench" large 16 64) "
    t[$side-cache]+="$(LD_PRELOAD=$lib HUGESHIM_PAGES=2M HUGESHIM_RING=off "$bench" large 16 64) "
  done
done
echo "# 16 x malloc(64 MiB) + memset + free, seconds: median (range) of $reps, interleaved"
printf "%-22s %-28s %-28s %s\n" case old new new/old
for c in thp 2M cache; do
  o=$(echo ${t[old-$c]} | tr ' ' '\n' | stats)
  n=$(echo ${t[new-$c]} | tr ' ' '\n' | stats)
  printf "%-22s %-28s %-28s %.3f\n" "$c" "$o" "$n" "$(echo "${n%% *} / ${o%% *}" | bc -l)"
done

echo
echo "# instructions per malloc/free pair (callgrind)"
pairs() {  # build -> instructions per pair
  local lib refs1 refs3
  lib=$(realpath "$1/lib/libhugeshim.so")
  refs1=$(LD_PRELOAD=$lib HUGESHIM_RING=off valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$1/bin/hugeshim-bench-malloc" small 1 1000000 2>&1 | awk '/Collected/ {print $4}')
  refs3=$(LD_PRELOAD=$lib HUGESHIM_RING=off valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$1/bin/hugeshim-bench-malloc" small 1 3000000 2>&1 | awk '/Collected/ {print $4}')
  echo "($refs3 - $refs1) / 2000000" | bc -l
}
printf "old %.2f  new %.2f\n" "$(pairs "$old")" "$(pairs "$new")"
