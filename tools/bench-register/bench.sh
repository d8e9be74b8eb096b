#!/bin/bash
# The program's own cudaHostRegister with and without the shim's preparation
# (issue 12). The runtime is the test double (tests/cuda/cudart_double.cpp):
# inside its cudaHostRegister, mlock faults every missing 4 KiB page on the
# calling thread and pins it, standing in for the driver's single-threaded
# fault-and-pin. Each run is a fresh process that maps SIZE bytes (a /dev/shm
# MAP_SHARED file, or an anonymous private map), registers it once and prints
# the whole call's time and the time spent inside the double. Native (no
# shim) and shim runs alternate; REPS pairs per kind; medians and ranges.
#
#   tools/bench-register/bench.sh BUILD_DIR [SIZE_BYTES] [REPS]
set -euo pipefail
build=${1:?build dir}
size=${2:-1073741824}
reps=${3:-5}
app=$build/bin/cuda_app_double
shim=$build/lib/libhugeshim.so
shm=/dev/shm/hugeshim-bench-register-$$
trap 'rm -f "$shm"' EXIT

one() {  # kind mode -> "call_ns inside_ns"
  local kind=$1 mode=$2 script
  rm -f "$shm"
  if [ "$kind" = shm ]; then script="shm $size 0"; else script="mmap $size"; fi
  script="$script
tregister $size 0"
  local env=(CUDA_APP_SHM="$shm" HUGESHIM_INTERCEPT=malloc,cuda HUGESHIM_PAGES=thp HUGESHIM_RING=off)
  if [ "$mode" = shim ]; then env+=(LD_PRELOAD="$shim"); fi
  printf '%s\n' "$script" | env "${env[@]}" "$app" | awk -F'[ =]' '/call_ns/ {print $4, $6}'
}

stats() {  # values (ms) on stdin -> "median [min-max]"
  sort -n | awk '{v[NR]=$1} END {m = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2;
    printf "%.1f [%.1f-%.1f]", m, v[1], v[NR]}'
}

echo "size $size bytes, $reps runs per row, $(nproc) CPUs, THP $(cat /sys/kernel/mm/transparent_hugepage/enabled)," \
     "shmem_enabled $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled)"
printf '| region | mode | inside the register call, ms | whole call, ms |\n| --- | --- | ---: | ---: |\n'
for kind in shm anon; do
  declare -A call=() inside=()
  for ((i = 0; i < reps; ++i)); do
    for mode in native shim; do
      read -r c n < <(one "$kind" "$mode")
      call[$mode]+="$(awk -v x="$c" 'BEGIN{print x/1e6}') "
      inside[$mode]+="$(awk -v x="$n" 'BEGIN{print x/1e6}') "
    done
  done
  for mode in native shim; do
    printf '| %s | %s | %s | %s |\n' "$kind" "$mode" \
      "$(tr ' ' '\n' <<<"${inside[$mode]}" | grep . | stats)" "$(tr ' ' '\n' <<<"${call[$mode]}" | grep . | stats)"
  done
  unset call inside
done
