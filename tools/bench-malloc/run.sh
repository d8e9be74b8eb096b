#!/usr/bin/env bash
# Side-by-side malloc benchmarks, one run, interleaved repetitions, medians and ratios.
#   tools/bench-malloc/run.sh [BUILD_DIR]
# 1. small malloc/free pairs (the shim's fast path: one compare), 1 and 2 threads
# 2. 16 x malloc(64 MiB) + memset + free, fresh memory every time (HUGESHIM_CACHE=0):
#    glibc, glibc tunables hugetlb=1 (THP) and =2 (hugetlb), the shim with a 2 MiB pool
#    and with an empty pool; and the shim with its default cache (reuse).
set -euo pipefail
build=${1:-build}
bench="$build/bin/hugeshim-bench-malloc"
lib="$(realpath "$build/lib/libhugeshim.so")"
reps=${REPS:-5}
pool_before=$(cat /proc/sys/vm/nr_hugepages)
trap 'echo "$pool_before" > /proc/sys/vm/nr_hugepages' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A results
run_case() {  # name, env..., -- command...
  local name=$1; shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  results[$name]+="$(env "${envs[@]}" "$@") "
}

echo "# small malloc/free pairs, ns per pair (median of $reps)"
for r in $(seq "$reps"); do
  for t in 1 2; do
    run_case "native-$t" X=1 -- "$bench" small "$t" 20000000
    run_case "shim-$t" LD_PRELOAD="$lib" HUGESHIM_RING=off -- "$bench" small "$t" 20000000
    run_case "shimring-$t" LD_PRELOAD="$lib" -- "$bench" small "$t" 20000000
  done
done
printf "%-8s %10s %10s %8s %14s %8s\n" threads glibc shim ratio "shim+ring" ratio
for t in 1 2; do
  n=$(echo ${results[native-$t]} | tr ' ' '\n' | median)
  s=$(echo ${results[shim-$t]} | tr ' ' '\n' | median)
  sr=$(echo ${results[shimring-$t]} | tr ' ' '\n' | median)
  printf "%-8s %10s %10s %8.3f %14s %8.3f\n" "$t" "$n" "$s" "$(echo "$s / $n" | bc -l)" "$sr" "$(echo "$sr / $n" | bc -l)"
done

echo
echo "# 16 x malloc(64 MiB) + memset + free, seconds (median of $reps)"
pool=$(( 64 / 2 + 8 ))
cases=(glibc glibc-thp glibc-hugetlb shim-2M shim-thp shim-2M-cache)
for r in $(seq "$reps"); do
  echo 0 > /proc/sys/vm/nr_hugepages
  run_case glibc X=1 -- "$bench" large 16 64
  run_case glibc-thp GLIBC_TUNABLES=glibc.malloc.hugetlb=1 -- "$bench" large 16 64
  run_case shim-thp LD_PRELOAD="$lib" HUGESHIM_CACHE=0 HUGESHIM_RING=off -- "$bench" large 16 64
  echo "$pool" > /proc/sys/vm/nr_hugepages
  # warm the fresh pool pages once (a VM's host backs them lazily)
  LD_PRELOAD="$lib" HUGESHIM_RING=off "$bench" large 1 64 >/dev/null
  run_case glibc-hugetlb GLIBC_TUNABLES=glibc.malloc.hugetlb=2 -- "$bench" large 16 64
  run_case shim-2M LD_PRELOAD="$lib" HUGESHIM_CACHE=0 HUGESHIM_RING=off -- "$bench" large 16 64
  run_case shim-2M-cache LD_PRELOAD="$lib" HUGESHIM_RING=off -- "$bench" large 16 64
done
base=$(echo ${results[glibc]} | tr ' ' '\n' | median)
printf "%-16s %10s %12s\n" case seconds "vs glibc"
for c in "${cases[@]}"; do
  m=$(echo ${results[$c]} | tr ' ' '\n' | median)
  printf "%-16s %10s %12.2fx\n" "$c" "$m" "$(echo "$base / $m" | bc -l)"
done
