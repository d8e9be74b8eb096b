#!/usr/bin/env bash
# gpu-check: native vs hugeshim for CUDA pinned host memory on one GPU.
#
#   tools/gpu-check.sh [OUTDIR]                      everything below
#   tools/gpu-check.sh --only registration [OUTDIR]  only the registration
#                                                    scenarios (issue 12)
#   (OUTDIR default: $OUT, else ./gpu-check-out)
#
# Builds libhugeshim.so (cmake; g++ directly if cmake cannot configure) and
# tools/gpu/pinned_bench.cu and tools/gpu/register_bench.cu (nvcc, shared
# cudart), sizes the 2 MiB hugetlb
# pool on the GPU's NUMA node (root; restored at exit), then measures, each
# case once natively and once with LD_PRELOAD=libhugeshim.so:
#   - cudaHostAlloc of 1, 4, 16 GiB: allocation and free time, H2D and D2H
#     bandwidth, data round trip checked word by word (host and device)
#   - copies and zero-copy reads of 64 MiB windows across the 1 GiB offsets
#     of one 3 GiB allocation, and what cudaHostGetFlags,
#     cudaHostGetDevicePointer, cudaPointerGetAttributes and
#     cudaHostRegister/Unregister (with the last error each leaves) say about it
#   - a 4 GiB cudaHostAlloc under the shim with HUGESHIM_REGISTER_MAX=1GiB:
#     above the registration limit, so pinned natively (fallback register_limit)
#   - p50/p99/max of a small H2D copy + kernel launch loop on another thread
#     while a 16 GiB cudaHostAlloc runs
#   - PyTorch torch.empty(2**k, dtype=torch.uint8, pin_memory=True), k = 30..34,
#     copied GPU -> pinned -> GPU and compared, with the default pinned
#     allocator and with pinned_use_cuda_host_register:True
# and then the REGISTRATION SCENARIOS (issue 12: the program's own
# registration, prepared by the shim with HUGESHIM_PREPARE=auto), each run
# native and shim INTERLEAVED over GPU_CHECK_REG_ROUNDS rounds (default 3;
# round r runs native then shim for even r, shim then native for odd r).
# Round 0 is "cold": before each of its two runs the page cache is dropped,
# memory compacted and the 2 MiB pool emptied and refilled (root; the round is
# labelled "first" when that cannot be done); later rounds are "warm" (nothing
# reset, both sides have run before). No pool warm-up step in --only mode.
#   - vllm:  one /dev/shm file (ftruncate; GPU_CHECK_VLLM_ALLOC=fallocate),
#            GPU_CHECK_VLLM_BYTES (16 GiB), registered with cudaHostRegister by
#            two processes at once, copies checked, each reads the other's share
#   - trt:   anonymous mmap + MADV_HUGEPAGE, GPU_CHECK_TRT_BYTES (16 GiB),
#            registered with the driver's cuMemHostRegister from cuGetProcAddress
#   - torch: PYTORCH_CUDA_ALLOC_CONF=pinned_use_cuda_host_register:True,
#            pinned_num_register_threads:GPU_CHECK_TORCH_THREADS (8), one
#            pin_memory tensor of GPU_CHECK_TORCH_BYTES (16 GiB), round trip checked
#   each with a neighbour process on the same GPU looping cudaMemGetInfo + a
#   64 KiB copy + a kernel during the registration (longest stall, p99).
#   The program times the whole registration call (the shim's preparation
#   included); the time inside the forwarded call comes from the shim's
#   telemetry (hugeshim-report.json, joined on the tag= argument).
# and prints Markdown tables (plus the issue-7 PyTorch table, the issue-4
# goals and the registration rounds with medians). Raw JSON lines
# (results.jsonl), the environment, the log and the shim's
# telemetry report (when the collector could be built) go to OUTDIR.
#
# Knobs: GPU_CHECK_BUDGET_S (default 420, 540 with --only registration: steps
# that no longer fit are skipped with a note), GPU_CHECK_POOL_PAGES (default
# 9216 = 18 GiB), HUGESHIM_LIB (use this prebuilt shim instead of
# building), GPU_CHECK_BUILD (build dir, default <repo>/build-gpu-check),
# GPU_CHECK_REG_ROUNDS, GPU_CHECK_VLLM_BYTES, GPU_CHECK_VLLM_ALLOC,
# GPU_CHECK_TRT_BYTES, GPU_CHECK_TORCH_BYTES, GPU_CHECK_TORCH_THREADS,
# GPU_CHECK_REG_SCENARIOS (default "vllm trt torch").
set -euo pipefail

START=$(date +%s)
ONLY=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --only) ONLY=${2:?--only needs a value (registration)}; shift 2 ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
    --) shift; break ;;
    -*) echo "gpu-check: unknown option $1" >&2; exit 64 ;;
    *) break ;;
  esac
done
[[ -z "$ONLY" || "$ONLY" == registration ]] || { echo "gpu-check: --only takes: registration" >&2; exit 64; }
if [[ "$ONLY" == registration ]]; then BUDGET=${GPU_CHECK_BUDGET_S:-540}; else BUDGET=${GPU_CHECK_BUDGET_S:-420}; fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUTDIR=${1:-${OUT:-$PWD/gpu-check-out}}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
BUILD=${GPU_CHECK_BUILD:-$ROOT/build-gpu-check}
RESULTS=$OUTDIR/results.jsonl
NOTES=$OUTDIR/notes.txt
: >"$RESULTS"
: >"$NOTES"
exec > >(tee -a "$OUTDIR/gpu-check.log") 2>&1

GiB=$((1 << 30))
POOL_PAGES=${GPU_CHECK_POOL_PAGES:-9216}  # 18 GiB of 2 MiB pages: one 16 GiB region + slack

elapsed() { echo $(($(date +%s) - START)); }
left() { echo $((BUDGET - $(elapsed))); }
note() {
  echo "gpu-check: NOTE: $*"
  echo "$*" >>"$NOTES"
}
section() { echo; echo "== $* (t=$(elapsed)s)"; }

# run_step ESTIMATE_S TIMEOUT_S LABEL CMD...: runs CMD with a timeout when the
# budget still has ESTIMATE_S seconds; JSON lines on stdout go to RESULTS.
run_step() {
  local estimate=$1 limit=$2 label=$3
  shift 3
  local remaining
  remaining=$(left)
  if ((remaining < estimate)); then
    note "skipped $label: ${remaining}s of budget left, needs ~${estimate}s"
    return 0
  fi
  ((limit > remaining - 5)) && limit=$((remaining - 5))
  local t0 rc=0
  t0=$(date +%s)
  timeout -k 5 "$limit" "$@" >"$OUTDIR/step.out" 2>"$OUTDIR/step.err" || rc=$?
  grep '^{' "$OUTDIR/step.out" >>"$RESULTS" || true
  cat "$OUTDIR/step.out"
  if ((rc != 0)); then
    note "$label failed (exit $rc after $(($(date +%s) - t0))s): $(grep -h '"error"' "$OUTDIR/step.out" | head -1) $(tail -c 600 "$OUTDIR/step.err" | tr '\n' ' ')"
  else
    echo "   $label: $(($(date +%s) - t0))s"
    [[ -s "$OUTDIR/step.err" ]] && sed 's/^/   stderr: /' "$OUTDIR/step.err" | tail -5
  fi
  return 0
}

# ---------------------------------------------------------------- environment
section environment
GPU_BDF=""
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -n)  kernel: $(uname -r)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')  cores: $(nproc)"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  if command -v nvidia-smi >/dev/null; then
    timeout 20 nvidia-smi --query-gpu=index,name,driver_version,memory.total,pci.bus_id \
      --format=csv,noheader | sed 's/^/gpu: /' || echo "gpu: nvidia-smi failed"
  else
    echo "gpu: nvidia-smi not found"
  fi
  echo "nvcc: $(timeout 10 nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo missing)"
  echo "cmake: $(cmake --version 2>/dev/null | head -1 || echo missing)  ninja: $(command -v ninja || echo missing)"
  echo "nr_hugepages: $(cat /proc/sys/vm/nr_hugepages)  THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
  grep -E 'HugePages_(Total|Free)|Hugepagesize' /proc/meminfo | tr -s ' ' | paste -sd' '
  echo "memlock: $(ulimit -l)"
} | tee "$OUTDIR/env.txt"
if command -v nvidia-smi >/dev/null; then
  raw=$(timeout 20 nvidia-smi -i 0 --query-gpu=pci.bus_id --format=csv,noheader 2>/dev/null | head -1 || true)
  # nvidia-smi prints 00000000:1B:00.0; sysfs spells it 0000:1b:00.0
  [[ -n "$raw" ]] && GPU_BDF=$(echo "${raw: -12}" | tr 'A-F' 'a-f')
fi
GPU_NODE=-1
if [[ -n "$GPU_BDF" && -d /sys/bus/pci/devices/$GPU_BDF ]]; then
  GPU_NODE=$(cat "/sys/bus/pci/devices/$GPU_BDF/numa_node" 2>/dev/null || echo -1)
  iommu=none
  if [[ -e /sys/bus/pci/devices/$GPU_BDF/iommu_group ]]; then
    iommu=$(cat "$(readlink -f "/sys/bus/pci/devices/$GPU_BDF/iommu_group")/type" 2>/dev/null || echo unknown)
  fi
  echo "gpu0 pci: $GPU_BDF  numa_node: $GPU_NODE  iommu: $iommu" | tee -a "$OUTDIR/env.txt"
fi
# The host audit as the doctor sees it (topology, IOMMU, pools) when it runs here.
if [[ -x "$BUILD/bin/hugeshim-doctor" ]]; then
  timeout 20 "$BUILD/bin/hugeshim-doctor" >"$OUTDIR/doctor.txt" 2>&1 || true
  timeout 20 "$BUILD/bin/hugeshim-doctor" --json >"$OUTDIR/doctor.json" 2>/dev/null || true
  grep -E '^\s+(kernel|THP|hugetlb|GPUs|IOMMU|  )' "$OUTDIR/doctor.txt" | head -12 || true
fi
PY=""
for cand in python3 /usr/bin/python3 python; do
  if command -v "$cand" >/dev/null && timeout 60 "$cand" -c "import torch" 2>/dev/null; then
    PY=$cand
    break
  fi
done
if [[ -n "$PY" ]]; then
  timeout 60 "$PY" -c "import torch; print('torch:', torch.__version__, 'cuda:', torch.version.cuda, 'gpu:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'unavailable')" \
    2>&1 | tee -a "$OUTDIR/env.txt" || note "torch could not query the GPU"
else
  note "no python with torch found: PyTorch rows skipped"
fi
SUMMARY_PY=$(command -v python3 || command -v "$PY" || true)

# ------------------------------------------------------------- hugetlb pool
section "hugetlb pool"
POOL_FILE=/proc/sys/vm/nr_hugepages
if ((GPU_NODE >= 0)) && [[ -w /sys/devices/system/node/node$GPU_NODE/hugepages/hugepages-2048kB/nr_hugepages ]]; then
  POOL_FILE=/sys/devices/system/node/node$GPU_NODE/hugepages/hugepages-2048kB/nr_hugepages
fi
POOL_PREV=$(cat "$POOL_FILE")
POOL_CHANGED=0
restore_pool() {
  if ((POOL_CHANGED)); then
    echo "$POOL_PREV" >"$POOL_FILE" 2>/dev/null || true
    echo "gpu-check: restored $POOL_FILE to $POOL_PREV (now $(cat "$POOL_FILE"))"
  fi
}
trap restore_pool EXIT
if [[ -w "$POOL_FILE" ]]; then
  if ((POOL_PREV < POOL_PAGES)); then
    POOL_CHANGED=1
    echo "$POOL_PAGES" >"$POOL_FILE" || true
    if (($(cat "$POOL_FILE") < POOL_PAGES)); then
      sync
      echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
      echo 1 >/proc/sys/vm/compact_memory 2>/dev/null || true
      echo "$POOL_PAGES" >"$POOL_FILE" || true
    fi
  fi
  echo "pool: $POOL_FILE = $(cat "$POOL_FILE") (was $POOL_PREV, want >= $POOL_PAGES)"
  (($(cat "$POOL_FILE") >= POOL_PAGES)) || note "hugetlb pool short: $(cat "$POOL_FILE") of $POOL_PAGES pages; the shim falls back partly"
else
  note "cannot write $POOL_FILE (not root?): shim runs use whatever pool exists ($POOL_PREV pages)"
fi

# -------------------------------------------------------------------- build
section build
mkdir -p "$BUILD/lib" "$BUILD/bin"
SHIM=${HUGESHIM_LIB:-}
# A build carried to this machine (same BUILD dir, built elsewhere with
# static libstdc++) is used when it loads here: it saves minutes of device time.
if [[ -z "$SHIM" && -f "$BUILD/lib/libhugeshim.so" ]]; then
  if [[ -z "$(LD_PRELOAD=$BUILD/lib/libhugeshim.so HUGESHIM_RING=off /bin/true 2>&1)" ]]; then
    SHIM=$BUILD/lib/libhugeshim.so
    echo "using prebuilt shim $SHIM"
  else
    note "prebuilt shim does not load here; rebuilding"
    rm -f "$BUILD/lib/libhugeshim.so"
  fi
fi
if [[ -x "$BUILD/bin/hugeshim" ]] && ! "$BUILD/bin/hugeshim" config >/dev/null 2>&1; then
  note "prebuilt collector does not run here: $("$BUILD/bin/hugeshim" config 2>&1 | head -c 200)"
  rm -f "$BUILD/bin/hugeshim"
fi
if [[ -z "$SHIM" ]]; then
  gen="Unix Makefiles"
  command -v ninja >/dev/null && gen=Ninja
  if timeout 120 cmake -S "$ROOT" -B "$BUILD" -G "$gen" -DCMAKE_BUILD_TYPE=Release \
    -DHUGESHIM_BUILD_TESTS=OFF >"$OUTDIR/cmake-configure.log" 2>&1 &&
    timeout 240 cmake --build "$BUILD" --target hugeshim -j "$(nproc)" >"$OUTDIR/cmake-build.log" 2>&1; then
    SHIM=$BUILD/lib/libhugeshim.so
  else
    note "cmake build failed (see cmake-*.log); compiling the shim with g++ directly"
    if timeout 240 g++ -std=c++20 -O2 -g -fPIC -shared -fno-exceptions -fno-rtti \
      -fvisibility=hidden -ftls-model=initial-exec -I"$ROOT/common/include" -I"$ROOT/shim/src" \
      "$ROOT"/common/src/*.cpp "$ROOT"/shim/src/*/*.cpp "$ROOT"/shim/src/entry/*.S -o "$BUILD/lib/libhugeshim.so" -static-libstdc++ -static-libgcc \
      -Wl,-z,nodelete -Wl,-z,now -ldl -lpthread >"$OUTDIR/gxx-build.log" 2>&1; then
      SHIM=$BUILD/lib/libhugeshim.so
    else
      note "g++ build of the shim failed: $(tail -c 400 "$OUTDIR/gxx-build.log" | tr '\n' ' ')"
    fi
  fi
fi
if [[ -n "$SHIM" && ! -x "$BUILD/bin/hugeshim" ]]; then
  # The collector is optional here (its libraries may be missing).
  timeout 150 cmake --build "$BUILD" --target hugeshim_cli -j "$(nproc)" >"$OUTDIR/cmake-build-all.log" 2>&1 ||
    timeout 150 cmake --build "$BUILD" -j "$(nproc)" >>"$OUTDIR/cmake-build-all.log" 2>&1 ||
    note "collector build failed; see cmake-build-all.log (rings are kept in OUTDIR/rings)"
fi
[[ -n "$SHIM" && -f "$SHIM" ]] && echo "shim: $SHIM" || { note "no shim library: shim rows are skipped"; SHIM=""; }

# build_cu NAME SOURCE PROBE: nvcc with the shared runtime (so the shim can
# interpose), unless a current build is there (PROBE: a word of its usage).
build_cu() {
  local name=$1 src=$2 probe=$3 bin=$BUILD/bin/$1
  # (The usage exits non-zero: under pipefail only grep's answer may count.)
  if [[ -x "$bin" ]] && { "$bin" 2>&1 || true; } | grep -qF -- "$probe"; then  # a current build
    echo "using prebuilt $bin"
  elif ! command -v nvcc >/dev/null; then
    note "nvcc not found: $name not built"
  else
    local arch=(-arch=native)
    local cuda_rpath=(-Xlinker "-rpath=$(dirname "$(dirname "$(command -v nvcc)")")/lib64")
    if ! timeout 180 nvcc -O2 -std=c++17 -cudart shared "${arch[@]}" "${cuda_rpath[@]}" -o "$bin" \
      "$src" -ldl >"$OUTDIR/nvcc-$name.log" 2>&1; then
      arch=(-gencode "arch=compute_90,code=sm_90" -gencode "arch=compute_80,code=sm_80")
      timeout 180 nvcc -O2 -std=c++17 -cudart shared "${arch[@]}" "${cuda_rpath[@]}" -o "$bin" \
        "$src" -ldl >>"$OUTDIR/nvcc-$name.log" 2>&1 ||
        note "nvcc failed for $name: $(tail -c 400 "$OUTDIR/nvcc-$name.log" | tr '\n' ' ')"
    fi
  fi
  [[ -x "$bin" ]] && echo "$name: $bin ($(objdump -p "$bin" 2>/dev/null | grep -o 'libcudart[^ ]*' | head -1))"
  return 0
}
BENCH=$BUILD/bin/pinned_bench
REG_BENCH=$BUILD/bin/register_bench
[[ "$ONLY" == registration ]] || build_cu pinned_bench "$ROOT/tools/gpu/pinned_bench.cu" "windows BYTES STEP"
build_cu register_bench "$ROOT/tools/gpu/register_bench.cu" "alloc=ftruncate|fallocate"
echo "build done at t=$(elapsed)s"

RING_DIR=$OUTDIR/rings
((${#RING_DIR} < 190)) || RING_DIR=/tmp/gpu-check-rings-$$
mkdir -p "$RING_DIR"
# The shim runs use the default HUGESHIM_REGISTER_MAX: every allocation here
# is substituted and registered with one cudaHostRegister.
shim_env=(env LD_PRELOAD="$SHIM" "HUGESHIM_PAGES=2M,thp" HUGESHIM_RING_DIR="$RING_DIR" HUGESHIM_LOG=warn)
native_env=(env)

# both LABEL ESTIMATE TIMEOUT CMD...: native, then shim.
both() {
  local label=$1 estimate=$2 limit=$3
  shift 3
  run_step "$estimate" "$limit" "$label native" "${native_env[@]}" "$@"
  if [[ -n "$SHIM" ]]; then
    run_step "$estimate" "$limit" "$label shim" "${shim_env[@]}" "$@"
    echo "   hugetlb after shim run: $(grep -E 'HugePages_(Free|Rsvd)' /proc/meminfo | tr -s ' ' | paste -sd' ')"
  fi
}

# The collector drains the shim runs' rings while they run (when it built).
# Warm the pool: on a VM the host backs guest memory lazily, so the very first
# touch of each pool page costs far more than a fault (run 1: 2.1 s to populate
# 4 GiB of never-used pool pages against 0.13 s per GiB for used ones). A
# server's pool is sized once at boot and pays this once per machine, not per
# allocation; the script times it and reports it, then measures warm.
if [[ -z "$ONLY" && -n "$SHIM" && -x "$BUILD/bin/hugeshim-bench-malloc" ]]; then
  warm_mib=$(( $(cat "$POOL_FILE") * 2 - 64 ))
  if ((warm_mib > 0)); then
    t0=$(date +%s.%N)
    timeout 120 env LD_PRELOAD="$SHIM" HUGESHIM_PAGES=2M HUGESHIM_RING=off HUGESHIM_CACHE=0 \
      HUGESHIM_POPULATE=eager "$BUILD/bin/hugeshim-bench-malloc" large 1 "$warm_mib" >/dev/null ||
      note "pool warm-up failed"
    echo "pool warm-up (first touch of ${warm_mib} MiB of pool pages, once per machine): $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}') s" | tee -a "$OUTDIR/env.txt"
  fi
fi

RECORDER_PID=""
if [[ -n "$SHIM" && -x "$BUILD/bin/hugeshim" ]]; then
  "$BUILD/bin/hugeshim" record --dir "$RING_DIR" -o "$OUTDIR/hugeshim.db" \
    >"$OUTDIR/hugeshim-record.log" 2>&1 &
  RECORDER_PID=$!
fi

# ---------------------------------------------------------------- measurements
if [[ "$ONLY" == registration ]]; then
  :
elif [[ -x "$BENCH" ]]; then
  section "cudaHostAlloc 1, 4, 16 GiB"
  both "alloc 1 GiB" 10 60 "$BENCH" alloc $((1 * GiB))
  both "alloc 4 GiB" 15 90 "$BENCH" alloc $((4 * GiB))
  both "alloc 16 GiB" 30 150 "$BENCH" alloc $((16 * GiB))

  section "small-copy loop during a concurrent 16 GiB pin"
  both "stall 16 GiB" 25 120 "$BENCH" stall $((16 * GiB))

  section "copies and zero-copy reads of windows across 1 GiB offsets of one 3 GiB allocation"
  both "windows 3 GiB" 10 60 "$BENCH" windows $((3 * GiB)) $GiB

  if [[ -n "$SHIM" ]]; then
    section "cudaHostAlloc 4 GiB above HUGESHIM_REGISTER_MAX=1GiB (pinned natively)"
    run_step 15 90 "alloc 4 GiB shim, register limit 1 GiB" "${shim_env[@]}" HUGESHIM_REGISTER_MAX=1GiB \
      PINNED_BENCH_RUN=shim-register-limit "$BENCH" alloc $((4 * GiB))
  fi
else
  note "no pinned_bench: cudaHostAlloc, stall and windows rows skipped"
fi

if [[ -z "$ONLY" && -n "$PY" ]]; then
  sizes=()
  for k in 30 31 32 33 34; do sizes+=($((1 << k))); done
  reg_conf="pinned_use_cuda_host_register:True,pinned_num_register_threads:8"
  section "PyTorch pin_memory=True, default allocator"
  run_step 40 150 "torch default native" "${native_env[@]}" "$PY" "$ROOT/tools/gpu/torch_pinned.py" native "${sizes[@]}"
  [[ -n "$SHIM" ]] && run_step 30 150 "torch default shim" "${shim_env[@]}" "$PY" "$ROOT/tools/gpu/torch_pinned.py" shim "${sizes[@]}"
  section "PyTorch pin_memory=True, $reg_conf"
  run_step 40 150 "torch register native" "${native_env[@]}" PYTORCH_CUDA_ALLOC_CONF=$reg_conf "$PY" "$ROOT/tools/gpu/torch_pinned.py" native "${sizes[@]}"
  [[ -n "$SHIM" ]] && run_step 30 150 "torch register shim" "${shim_env[@]}" PYTORCH_CUDA_ALLOC_CONF=$reg_conf "$PY" "$ROOT/tools/gpu/torch_pinned.py" shim "${sizes[@]}"
fi

# ------------------------------------------------- registration scenarios
# Issue 12: the program's own registration of a large range, native and shim
# (HUGESHIM_PREPARE=auto) interleaved and repeated; round 0 cold for both.
REG_ROUNDS=${GPU_CHECK_REG_ROUNDS:-3}
REG_SCENARIOS=${GPU_CHECK_REG_SCENARIOS:-vllm trt torch}
VLLM_BYTES=${GPU_CHECK_VLLM_BYTES:-$((16 * GiB))}
VLLM_ALLOC=${GPU_CHECK_VLLM_ALLOC:-ftruncate}
TRT_BYTES=${GPU_CHECK_TRT_BYTES:-$((16 * GiB))}
TORCH_BYTES=${GPU_CHECK_TORCH_BYTES:-$((16 * GiB))}
TORCH_THREADS=${GPU_CHECK_TORCH_THREADS:-8}

# make_cold: the same start for both sides of the cold round. Prints the phase
# label: "cold" when caches were dropped (and the pool refilled where we own
# it), "first" when this host does not let us (not root).
make_cold() {
  local ok=1
  sync
  echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || ok=0
  echo 1 >/proc/sys/vm/compact_memory 2>/dev/null || true
  if [[ -w "$POOL_FILE" ]]; then
    local want
    want=$(cat "$POOL_FILE")
    { echo 0 >"$POOL_FILE" && echo "$want" >"$POOL_FILE"; } 2>/dev/null || ok=0
    (($(cat "$POOL_FILE") >= want)) || note "pool refill in the cold round got $(cat "$POOL_FILE") of $want pages" >&2
  fi
  ((ok)) && echo cold || echo first
}

# reg_run SCENARIO ROUND PHASE SIDE: one measurement process.
reg_run() {
  local scen=$1 round=$2 phase=$3 side=$4 envs=()
  local tag="$scen.r$round.$side"
  if [[ $side == shim ]]; then envs=("${shim_env[@]}" HUGESHIM_PREPARE=auto); else envs=("${native_env[@]}"); fi
  local keys=("round=$round" "phase=$phase" "tag=$tag")
  case $scen in
    vllm)
      run_step 25 120 "register vllm r$round $side" "${envs[@]}" "$REG_BENCH" vllm "$VLLM_BYTES" \
        "alloc=$VLLM_ALLOC" workers=2 "${keys[@]}"
      rm -f /dev/shm/register-bench-* 2>/dev/null || true  # left by a killed run
      ;;
    trt)
      run_step 20 90 "register trt r$round $side" "${envs[@]}" "$REG_BENCH" trt "$TRT_BYTES" via=procaddress "${keys[@]}"
      ;;
    torch)
      run_step 30 120 "register torch r$round $side" "${envs[@]}" \
        "PYTORCH_CUDA_ALLOC_CONF=pinned_use_cuda_host_register:True,pinned_num_register_threads:$TORCH_THREADS" \
        "$PY" "$ROOT/tools/gpu/torch_pinned.py" register "$side" "$TORCH_BYTES" "neighbour=$REG_BENCH" "${keys[@]}"
      ;;
  esac
}

if [[ -x "$REG_BENCH" ]] && ! timeout 60 "$REG_BENCH" neighbour </dev/null >"$OUTDIR/register-probe.out" 2>&1 &&
  grep -q 'no CUDA device' "$OUTDIR/register-probe.out"; then
  # No GPU (or no driver): say so once instead of failing every step.
  note "register_bench finds no usable GPU: registration scenarios skipped ($(head -c 300 "$OUTDIR/register-probe.out" | tr '\n' ' '))"
  REG_BENCH_OK=0
else
  REG_BENCH_OK=1
fi
if [[ ! -x "$REG_BENCH" ]]; then
  note "no register_bench: registration scenarios skipped"
elif ((REG_BENCH_OK)); then
  [[ -n "$SHIM" ]] || note "no shim: registration scenarios run natively only"
  for scen in $REG_SCENARIOS; do
    if [[ $scen == torch && -z "$PY" ]]; then
      note "no python with torch: registration scenario torch skipped"
      continue
    fi
    section "registration: $scen, $REG_ROUNDS rounds, native and shim interleaved"
    for ((round = 0; round < REG_ROUNDS; ++round)); do
      if ((round % 2 == 0)); then sides=(native shim); else sides=(shim native); fi
      for side in "${sides[@]}"; do
        [[ $side == shim && -z "$SHIM" ]] && continue
        phase=warm
        ((round == 0)) && phase=$(make_cold)
        reg_run "$scen" "$round" "$phase" "$side"
      done
    done
  done
fi

# ------------------------------------------------------------------ report
section "telemetry report of the shim runs"
if [[ -n "$RECORDER_PID" ]]; then
  sleep 1
  kill -TERM "$RECORDER_PID" 2>/dev/null || true
  timeout 20 tail --pid="$RECORDER_PID" -f /dev/null || kill -KILL "$RECORDER_PID" 2>/dev/null || true
  for fmt in text json; do
    timeout 30 "$BUILD/bin/hugeshim" report "$OUTDIR/hugeshim.db" --format "$fmt" \
      >"$OUTDIR/hugeshim-report.$fmt" 2>"$OUTDIR/hugeshim-report.$fmt.err" ||
      note "hugeshim report --format $fmt failed: $(tail -c 300 "$OUTDIR/hugeshim-report.$fmt.err" | tr '\n' ' ')"
  done
  head -60 "$OUTDIR/hugeshim-report.text" 2>/dev/null || true
else
  note "collector not built: no hugeshim report (rings kept in $RING_DIR)"
fi
[[ "$RING_DIR" == "$OUTDIR/rings" ]] || cp -r "$RING_DIR" "$OUTDIR/rings" 2>/dev/null || true

section "result"
if [[ -n "$SUMMARY_PY" ]]; then
  timeout 30 "$SUMMARY_PY" "$ROOT/tools/gpu/summarize.py" "$RESULTS" "$OUTDIR/hugeshim-report.json" | tee "$OUTDIR/table.md" || note "summarize failed"
else
  note "no python for the table; raw results in $RESULTS"
  cat "$RESULTS"
fi
if [[ -s "$NOTES" ]]; then
  echo
  echo "notes:"
  sed 's/^/- /' "$NOTES"
fi
echo "gpu-check: done in $(elapsed)s; files in $OUTDIR"
