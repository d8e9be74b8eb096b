#!/bin/bash
# The program's own cudaHostRegister with and without the shim's preparation
# (issue 12). The runtime is the test double (tests/cuda/cudart_double.cpp):
# inside its cudaHostRegister, mlock faults every missing 4 KiB page on the
# calling thread and pins it, standing in for the driver's single-threaded
# fault-and-pin. Each run is a fresh process that maps SIZE bytes (a /dev/shm
# MAP_SHARED file, or an anonymous private map), registers it once and prints
# the whole call's time and the time spent inside the double. Native (no
# shim) and shim runs alternate, and which goes first alternates too; REPS
# pairs per kind; medians and ranges.
#
# Both sides get the same start (STATE):
#   warm  just before each measured run, a separate process faults SIZE bytes
#         of THP memory and exits: the free memory the run gets was backed by
#         the host a moment ago.
#   cold  each measured run waits 6 s first: a VM whose balloon reports free
#         pages (virtio free page reporting, 2 s delay) has handed its free
#         2 MiB blocks back to the host, so both sides pay the host's first
#         touch. On bare metal the two states are the same.
#
#   tools/bench-register/bench.sh BUILD_DIR [SIZE_BYTES] [REPS] [warm|cold]
#
# POOL=1 adds a third mode to the anonymous rows: the shim with its default
# mmap interception and HUGESHIM_PAGES=2M,thp over a hugetlb pool of SIZE
# that one unmeasured run has faulted once (what `hugeshim doctor --apply
# --pool 2M:N --warm` does at provisioning). The script holds the pool lock
# of the test suite (/tmp/hugeshim-pool.lock) and restores the pool on exit.
#
# KINDS="shm anon" (default) chooses the rows; "thp" adds an anonymous map
# the program itself advises MADV_HUGEPAGE (as TensorRT-LLM's host pool does).
# RAW=FILE appends one line per measured run: kind mode state size call_ns
# inside_ns. SHM_DIR (default /dev/shm)
# holds the shared file: a tmpfs mounted at /dev/shm/NAME with huge=advise
# shows what /dev/shm remounted huge=advise (the doctor's recommendation for
# hosts that register shared memory) would give, without touching /dev/shm.
set -euo pipefail
build=${1:?build dir}
size=${2:-1073741824}
reps=${3:-5}
state=${4:-warm}
case $state in warm|cold) ;; *) echo "bench.sh: STATE must be warm or cold, not '$state'" >&2; exit 2;; esac
app=$build/bin/cuda_app_double
shim=$build/lib/libhugeshim.so
kinds=${KINDS:-shm anon}
shm=${SHM_DIR:-/dev/shm}/hugeshim-bench-register-$$
pool_before=
restore() {
  rm -f "$shm"
  if [ -n "$pool_before" ]; then echo "$pool_before" >/proc/sys/vm/nr_hugepages; fi
}
trap restore EXIT
if [ "${POOL:-0}" = 1 ]; then
  exec 9>/tmp/hugeshim-pool.lock
  flock 9
  pool_before=$(cat /proc/sys/vm/nr_hugepages)
  want=$((pool_before + size / 2097152))
  echo "$want" >/proc/sys/vm/nr_hugepages
  if [ "$(cat /proc/sys/vm/nr_hugepages)" -lt "$want" ]; then
    echo "bench.sh: the 2 MiB pool reached only $(cat /proc/sys/vm/nr_hugepages) of $want pages" >&2
    exit 1
  fi
fi

one() {  # kind mode -> "call_ns inside_ns"
  local kind=$1 mode=$2 script
  rm -f "$shm"
  case $kind in
    shm) script="shm $size 0" ;;
    anon) script="mmap $size" ;;
    thp) script="thp $size" ;;
    *) echo "bench.sh: unknown kind '$kind' (shm, anon, thp)" >&2; exit 2 ;;
  esac
  script="$script
tregister $size 0"
  local env=(CUDA_APP_SHM="$shm" HUGESHIM_RING=off)
  case $mode in
    native) env+=(HUGESHIM_INTERCEPT=malloc,cuda HUGESHIM_PAGES=thp) ;;
    shim) env+=(LD_PRELOAD="$shim" HUGESHIM_INTERCEPT=malloc,cuda HUGESHIM_PAGES=thp) ;;
    pool) env+=(LD_PRELOAD="$shim" HUGESHIM_INTERCEPT=malloc,mmap,cuda HUGESHIM_PAGES=2M,thp) ;;
  esac
  settle
  printf '%s\n' "$script" | env "${env[@]}" "$app" | awk -F'[ =]' '/call_ns/ {print $4, $6}'
}

settle() {  # gives the next run the start STATE names
  if [ "$state" = warm ]; then
    printf 'thp %s\nwrite %s\n' "$size" "$size" | "$app" >/dev/null
  else
    sleep 6
  fi
}

stats() {  # values (ms) on stdin -> "median [min-max]"
  sort -n | awk '{v[NR]=$1} END {m = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2;
    printf "%.1f [%.1f-%.1f]", m, v[1], v[NR]}'
}

echo "size $size bytes, $reps runs per row, $state start, $(nproc) CPUs, THP $(cat /sys/kernel/mm/transparent_hugepage/enabled)," \
     "shmem_enabled $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled)," \
     "shared file on $(findmnt -no OPTIONS -T "$(dirname "$shm")" | head -1)"
printf '| region | mode | inside the register call, ms | whole call, ms |\n| --- | --- | ---: | ---: |\n'
for kind in $kinds; do
  declare -A call=() inside=()
  modes=(native shim)
  if [ "$kind" != shm ] && [ -n "$pool_before" ]; then
    modes+=(pool)
    one anon pool >/dev/null  # faults the pool's pages once, unmeasured
  fi
  for ((i = 0; i < reps; ++i)); do
    # Rotate which mode goes first.
    order=()
    for ((k = 0; k < ${#modes[@]}; ++k)); do order+=("${modes[(i + k) % ${#modes[@]}]}"); done
    for mode in "${order[@]}"; do
      read -r c n < <(one "$kind" "$mode")
      if [ -n "${RAW:-}" ]; then echo "$kind $mode $state $size $c $n" >>"$RAW"; fi
      call[$mode]+="$(awk -v x="$c" 'BEGIN{print x/1e6}') "
      inside[$mode]+="$(awk -v x="$n" 'BEGIN{print x/1e6}') "
    done
  done
  for mode in "${modes[@]}"; do
    printf '| %s | %s | %s | %s |\n' "$kind" "$mode" \
      "$(tr ' ' '\n' <<<"${inside[$mode]}" | grep . | stats)" "$(tr ' ' '\n' <<<"${call[$mode]}" | grep . | stats)"
  done
  unset call inside
done
