#!/usr/bin/env bash
# gpu-check: native vs hugeshim for CUDA pinned host memory on one GPU.
#
#   tools/gpu-check.sh [--only SECTION[,SECTION...]] [OUTDIR]
#   (OUTDIR default: $OUT, else ./gpu-check-out)
#
# SECTIONS, run in this order (default: alloc,neighbour,copies,registration,dma;
# legacy only when named):
#   alloc         cudaHostAlloc + cudaFreeHost alone (`pinned_bench pin`) of
#                 GPU_CHECK_ALLOC_SIZES GiB (default "16 4"), native and shim
#                 INTERLEAVED, GPU_CHECK_ALLOC_PAIRS pairs (default 3; round r:
#                 native first for even r, shim first for odd r), first COLD:
#                 before EACH run (either side) the page cache is dropped,
#                 memory compacted and the 2 MiB pool emptied and refilled
#                 (make_cold; "first" instead of "cold" where not root), every
#                 run a new process; then the pool warm-up, timed on its own
#                 (`hugeshim doctor --apply --pool 2M:N --warm`: what
#                 provisioning pays once per machine); then the same pairs WARM
#                 (nothing reset). Nothing else runs before the cold pairs but
#                 the machine record and the pool sizing, so the first cold
#                 pair meets memory the machine has not touched since it started.
#   neighbour     tools/gpu/decode_neighbour.py (process B: a transformers
#                 Llama decode loop, random weights, torch.cuda.mem_get_info
#                 every step) while process A (`pinned_bench pin`) pins
#                 GPU_CHECK_NEIGHBOUR_SIZES GiB (default "16"; "16 64" needs a
#                 pool and memory for 64 GiB) natively and under the shim,
#                 GPU_CHECK_NEIGHBOUR_PAIRS pairs (default 2: native, shim |
#                 shim, native), warm pool. B never runs under the shim. A's
#                 pin lines say phase=neighbour (not pairs of the alloc goals).
#   copies        `pinned_bench copies` H2D/D2H bandwidth, 64 KiB to
#                 GPU_CHECK_COPY_MAX (1 GiB) by 4x, every byte checked, from
#                 native cudaHostAlloc, shim-substituted cudaHostAlloc, native
#                 cudaHostRegister of an anonymous mmap and the same prepared by
#                 the shim (HUGESHIM_PREPARE=auto); GPU_CHECK_COPY_ROUNDS rounds
#                 (default 2), the order reversed in odd rounds.
#   registration  the program's own registrations (issue 12), below.
#   dma           copies measured by CUPTI (issue 16): `pinned_bench copies
#                 GPU_CHECK_DMA_MAX` (1 GiB) under `hugeshim run` with
#                 HUGESHIM_CUPTI=1, once each from native pinned memory
#                 (cudaHostAlloc with the shim loaded but HUGESHIM_MIN_SIZE above
#                 the buffer: not substituted), shim hugepage pinned memory
#                 (cudaHostAlloc substituted, HUGESHIM_PAGES=2M,thp) and pageable
#                 memory (an anonymous mmap, not registered); each recording
#                 (dma-LABEL.db) reported as dma-LABEL.json and .txt, the
#                 program's cudaEvent lines (phase dma) in results.jsonl; then
#                 `hugeshim run --kernel` of one GPU_CHECK_DMA_REGISTER_BYTES
#                 (16 GiB) cudaHostRegister (`pinned_bench register`; prepared
#                 by the shim), reported as dma-kernel.{json,txt}. Runs after
#                 registration, so it is the first to lose steps to the budget.
#   legacy        the issue-4 steps of the first H200 runs, each once, native
#                 first: cudaHostAlloc 1/4/16 GiB with copies, the stall loop,
#                 64 MiB windows of a 3 GiB allocation with the API answers, a
#                 4 GiB allocation above HUGESHIM_REGISTER_MAX=1GiB, PyTorch
#                 pin_memory 1-16 GiB (default allocator and host_register).
# Always: the environment and the machine record (tools/gpu/machine_record.py:
# GPU, driver, PCIe generation/width from `nvidia-smi -q`, NUMA, IOMMU, THP,
# kernel; nvidia-smi-q.txt keeps the whole output), the 2 MiB pool sized on
# the GPU's NUMA node (root; restored at exit), the shim's telemetry report and
# the Markdown tables with the issue-17 goals (tools/gpu/summarize.py).
#
# Builds libhugeshim.so (cmake; g++ directly if cmake cannot configure) and
# tools/gpu/pinned_bench.cu and tools/gpu/register_bench.cu (nvcc, shared
# cudart), unless a current build is in GPU_CHECK_BUILD (carry it: minutes of
# device time saved).
#
# REGISTRATION SCENARIOS (issue 12: the program's own registration, prepared
# by the shim with HUGESHIM_PREPARE=auto), each run native and shim
# INTERLEAVED over GPU_CHECK_REG_ROUNDS rounds (default 3; round r runs native
# then shim for even r, shim then native for odd r). Round 0 is "cold" (make_cold
# before each of its two runs, as above), later rounds "warm".
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
#
# Output in OUTDIR: results.jsonl (every measurement, one JSON line), table.md,
# gpu-check.log (everything printed), env.txt, nvidia-smi-q.txt, notes.txt,
# neighbour-steps.jsonl (every decode step), hugeshim-report.{text,json},
# doctor.txt, pool-warmup.txt, build logs. GPU_CHECK_PACK=FILE.tgz: OUTDIR
# (less the rings and the database) is packed into FILE after every section,
# so a run cut short still leaves what it measured in one file.
#
# Knobs: GPU_CHECK_BUDGET_S (default 540: steps that no longer fit are skipped
# with a note), GPU_CHECK_POOL_PAGES (default 9216 = 18 GiB), HUGESHIM_LIB (use
# this prebuilt shim instead of building), GPU_CHECK_BUILD (build dir, default
# <repo>/build-gpu-check), GPU_CHECK_ALLOC_SIZES, GPU_CHECK_ALLOC_PAIRS,
# GPU_CHECK_NEIGHBOUR_SIZES, GPU_CHECK_NEIGHBOUR_PAIRS, GPU_CHECK_COPY_MAX,
# GPU_CHECK_COPY_ROUNDS, GPU_CHECK_REG_ROUNDS, GPU_CHECK_VLLM_BYTES,
# GPU_CHECK_VLLM_ALLOC, GPU_CHECK_TRT_BYTES, GPU_CHECK_TORCH_BYTES,
# GPU_CHECK_TORCH_THREADS, GPU_CHECK_REG_SCENARIOS (default "vllm trt torch"),
# GPU_CHECK_DMA_MAX, GPU_CHECK_DMA_REGISTER_BYTES,
# GPU_CHECK_PACK, GPU_CHECK_NEIGHBOUR_ARGS (more decode_neighbour.py options,
# word-split: e.g. "--layers 4"; "--model fake-sleep" for a CPU dry run of the
# section, whose lines then count towards no goal).
set -euo pipefail

START=$(date +%s)
ALL_SECTIONS="alloc neighbour copies registration dma legacy"
SECTIONS="alloc neighbour copies registration dma"
while [[ $# -gt 0 ]]; do
  case $1 in
    --only) SECTIONS=${2:?--only needs a value: one or more of $ALL_SECTIONS, comma-separated}; shift 2 ;;
    --only=*) SECTIONS=${1#--only=}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
    --) shift; break ;;
    -*) echo "gpu-check: unknown option $1" >&2; exit 64 ;;
    *) break ;;
  esac
done
SECTIONS=${SECTIONS//,/ }
for sec in $SECTIONS; do
  [[ " $ALL_SECTIONS " == *" $sec "* ]] || { echo "gpu-check: --only takes some of: ${ALL_SECTIONS// /,} (got $sec)" >&2; exit 64; }
done
[[ -n "${SECTIONS// /}" ]] || { echo "gpu-check: --only needs at least one section" >&2; exit 64; }
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
BUDGET=${GPU_CHECK_BUDGET_S:-540}
[[ "$BUDGET" =~ ^[0-9]+$ ]] || { echo "gpu-check: GPU_CHECK_BUDGET_S must be a number of seconds (got $BUDGET)" >&2; exit 64; }
for knob in GPU_CHECK_POOL_PAGES GPU_CHECK_ALLOC_PAIRS GPU_CHECK_NEIGHBOUR_PAIRS GPU_CHECK_COPY_MAX \
  GPU_CHECK_COPY_ROUNDS GPU_CHECK_REG_ROUNDS GPU_CHECK_VLLM_BYTES GPU_CHECK_TRT_BYTES GPU_CHECK_TORCH_BYTES \
  GPU_CHECK_TORCH_THREADS GPU_CHECK_DMA_MAX GPU_CHECK_DMA_REGISTER_BYTES; do
  [[ -z "${!knob:-}" || "${!knob}" =~ ^[0-9]+$ ]] || { echo "gpu-check: $knob must be a whole number (got ${!knob})" >&2; exit 64; }
done
for knob in GPU_CHECK_ALLOC_SIZES GPU_CHECK_NEIGHBOUR_SIZES; do
  [[ -z "${!knob:-}" || "${!knob}" =~ ^[0-9\ ]+$ ]] || { echo "gpu-check: $knob must be sizes in GiB, e.g. \"16 4\" (got ${!knob})" >&2; exit 64; }
done
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

# pack: OUTDIR into GPU_CHECK_PACK (a .tgz), less the rings and the database,
# written aside and renamed so the file is always a whole archive.
PACK=${GPU_CHECK_PACK:-}
pack() {
  [[ -n "$PACK" ]] || return 0
  tar -czf "$PACK.part" -C "$(dirname "$OUTDIR")" --exclude=rings --exclude='*.db' --exclude='*.db-*' --exclude='step.*' \
    "$(basename "$OUTDIR")" 2>/dev/null && mv -f "$PACK.part" "$PACK" || echo "gpu-check: packing into $PACK failed"
}

# json_line KEY=VALUE...: one JSON object (numbers stay numbers) into RESULTS.
json_line() {
  python3 -c '
import json, sys
out = {}
for a in sys.argv[1:]:
    k, v = a.split("=", 1)
    try:
        out[k] = int(v)
    except ValueError:
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
print(json.dumps(out))' "$@" | tee -a "$RESULTS"
}

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
# The machine record: one JSON line (GPU, driver, PCIe generation and width,
# NUMA, IOMMU, THP, kernel) and the whole `nvidia-smi -q`.
if command -v python3 >/dev/null; then
  timeout 60 python3 "$ROOT/tools/gpu/machine_record.py" --smi-q "$OUTDIR/nvidia-smi-q.txt" >>"$RESULTS" ||
    note "machine record failed"
  tail -1 "$RESULTS"
else
  note "no python3: no machine record"
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
if [[ -x "$BUILD/bin/hugeshim-doctor" ]] && ! "$BUILD/bin/hugeshim-doctor" --help >/dev/null 2>&1; then
  note "prebuilt doctor does not run here: $("$BUILD/bin/hugeshim-doctor" --help 2>&1 | head -c 200)"
  rm -f "$BUILD/bin/hugeshim-doctor"
fi
gen="Unix Makefiles"
command -v ninja >/dev/null && gen=Ninja
if [[ -z "$SHIM" ]]; then
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
if [[ -n "$SHIM" ]] && [[ ! -x "$BUILD/bin/hugeshim" || ! -x "$BUILD/bin/hugeshim-doctor" ]]; then
  # The collector and the doctor are optional here (their libraries may be missing).
  # A carried lib/ and bin/ come without a configured build folder.
  [[ -f "$BUILD/CMakeCache.txt" ]] || timeout 120 cmake -S "$ROOT" -B "$BUILD" -G "$gen" -DCMAKE_BUILD_TYPE=Release \
    -DHUGESHIM_BUILD_TESTS=OFF >"$OUTDIR/cmake-configure.log" 2>&1 || true
  timeout 150 cmake --build "$BUILD" --target hugeshim_cli hugeshim-doctor hugeshim-bench-malloc -j "$(nproc)" \
    >"$OUTDIR/cmake-build-all.log" 2>&1 ||
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
if want alloc || want neighbour || want copies || want legacy || want dma; then
  build_cu pinned_bench "$ROOT/tools/gpu/pinned_bench.cu" "register BYTES"
fi
want registration && build_cu register_bench "$ROOT/tools/gpu/register_bench.cu" "alloc=ftruncate|fallocate"
echo "build done at t=$(elapsed)s"
# No GPU (or no driver): say so once, instead of resetting memory for and
# failing every step of the sections that need pinned_bench.
if [[ -x "$BENCH" ]] && ! timeout 60 "$BENCH" pin 4096 >"$OUTDIR/pinned-probe.out" 2>&1 &&
  grep -q 'no CUDA device' "$OUTDIR/pinned-probe.out"; then
  note "pinned_bench finds no usable GPU: alloc, neighbour, copies, dma and legacy skipped ($(head -c 300 "$OUTDIR/pinned-probe.out" | tr '\n' ' '))"
  BENCH=$BENCH.unusable
fi

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
RECORDER_PID=""
if [[ -n "$SHIM" && -x "$BUILD/bin/hugeshim" ]]; then
  "$BUILD/bin/hugeshim" record --dir "$RING_DIR" -o "$OUTDIR/hugeshim.db" \
    >"$OUTDIR/hugeshim-record.log" 2>&1 &
  RECORDER_PID=$!
fi
pack

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

# Warm the pool: on a VM the host backs guest memory lazily, so the very first
# touch of each pool page costs far more than a fault (run 1: 2.1 s to populate
# 4 GiB of never-used pool pages against 0.13 s per GiB for used ones). A
# server's pool is sized once at boot and pays this once per machine, not per
# allocation: the doctor's --warm, timed here on its own, is that price.
POOL_WARMED=0
pool_warmup() {
  ((POOL_WARMED)) && return 0
  POOL_WARMED=1
  [[ -n "$SHIM" ]] || return 0
  local pages target cmd rc=0 t0 secs
  pages=$(cat "$POOL_FILE")
  ((pages > 0)) || { note "pool warm-up skipped: the pool is empty"; return 0; }
  target="2M:$pages"
  [[ "$POOL_FILE" == /sys/devices/system/node/* ]] && target="2M:$pages@$GPU_NODE"
  t0=$(date +%s.%N)
  if [[ -x "$BUILD/bin/hugeshim-doctor" ]]; then
    cmd="hugeshim doctor --apply --pool $target --warm"
    timeout 180 "$BUILD/bin/hugeshim-doctor" --apply --pool "$target" --warm >"$OUTDIR/pool-warmup.txt" 2>&1 || rc=$?
  fi
  if ((rc != 0)) || [[ ! -x "$BUILD/bin/hugeshim-doctor" ]]; then
    ((rc == 0)) || note "$cmd exit $rc: $(tail -c 300 "$OUTDIR/pool-warmup.txt" | tr '\n' ' '); warming through the shim instead"
    rc=0
    t0=$(date +%s.%N)
    # Without the doctor: fault the pool through the shim (what it did before the doctor could).
    local warm_mib=$((pages * 2 - 64))
    cmd="hugeshim-bench-malloc large 1 $warm_mib (HUGESHIM_PAGES=2M, eager)"
    timeout 180 env LD_PRELOAD="$SHIM" HUGESHIM_PAGES=2M HUGESHIM_RING=off HUGESHIM_CACHE=0 \
      HUGESHIM_POPULATE=eager "$BUILD/bin/hugeshim-bench-malloc" large 1 "$warm_mib" >"$OUTDIR/pool-warmup.txt" 2>&1 || rc=$?
  fi
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}')
  POOL_CHANGED=1  # the doctor may have set it: restored at exit either way
  ((rc == 0)) || note "pool warm-up ($cmd) exit $rc: $(tail -c 300 "$OUTDIR/pool-warmup.txt" | tr '\n' ' ')"
  tail -3 "$OUTDIR/pool-warmup.txt" || true
  json_line test=pool_warmup "command=$cmd" "seconds=$secs" "pages=$pages" "rc=$rc" >/dev/null
  echo "pool warm-up ($cmd, once per machine): ${secs} s" | tee -a "$OUTDIR/env.txt"
}

# pin_pair SIZE_GIB ROUND PHASE: native and shim `pinned_bench pin` (native
# first for even rounds), cold ones each after make_cold.
pin_pair() {
  local gib=$1 round=$2 phase=$3 sides side label
  if ((round % 2 == 0)); then sides=(native shim); else sides=(shim native); fi
  for side in "${sides[@]}"; do
    [[ $side == shim && -z "$SHIM" ]] && continue
    label=$phase
    [[ $phase == cold ]] && label=$(make_cold)
    local envs=("${native_env[@]}")
    [[ $side == shim ]] && envs=("${shim_env[@]}")
    run_step $((gib * 3 / 2 + 4)) $((gib * 6 + 30)) "pin ${gib} GiB $label r$round $side" "${envs[@]}" \
      "$BENCH" pin $((gib * GiB)) "round=$round" "phase=$label"
  done
}

# ------------------------------------------------------------ alloc section
ALLOC_SIZES=${GPU_CHECK_ALLOC_SIZES:-16 4}
ALLOC_PAIRS=${GPU_CHECK_ALLOC_PAIRS:-3}
if want alloc && [[ -x "$BENCH" ]]; then
  for phase in cold warm; do
    [[ $phase == warm ]] && { section "pool warm-up (timed on its own)"; pool_warmup; }
    for gib in $ALLOC_SIZES; do
      section "cudaHostAlloc $gib GiB alone, $phase, $ALLOC_PAIRS pairs, native and shim interleaved"
      for ((round = 0; round < ALLOC_PAIRS; ++round)); do pin_pair "$gib" "$round" "$phase"; done
    done
    pack
  done
elif want alloc; then
  note "no pinned_bench: alloc section skipped"
fi

# -------------------------------------------------------- neighbour section
NEIGHBOUR_SIZES=${GPU_CHECK_NEIGHBOUR_SIZES:-16}
NEIGHBOUR_PAIRS=${GPU_CHECK_NEIGHBOUR_PAIRS:-2}
if want neighbour; then
  section "decode loop next to a pin: $NEIGHBOUR_SIZES GiB, $NEIGHBOUR_PAIRS pairs"
  if [[ -z "$PY" ]] || ! timeout 120 "$PY" -c "import transformers" 2>"$OUTDIR/transformers-probe.err"; then
    note "neighbour section skipped: no python with torch and transformers ($(tail -c 200 "$OUTDIR/transformers-probe.err" 2>/dev/null | tr '\n' ' '))"
  elif [[ ! -x "$BENCH" ]]; then
    note "neighbour section skipped: no pinned_bench"
  else
    pool_warmup  # a warm pool, as after the alloc section (no-op when done)
    pins=()
    estimate=25
    for gib in $NEIGHBOUR_SIZES; do
      for ((round = 0; round < NEIGHBOUR_PAIRS; ++round)); do
        if ((round % 2 == 0)); then sides=(native shim); else sides=(shim native); fi
        for side in "${sides[@]}"; do
          [[ $side == shim && -z "$SHIM" ]] && continue
          if [[ $side == shim ]]; then cmd=("${shim_env[@]}"); else cmd=(env PINNED_BENCH_RUN=native); fi
          # phase=neighbour: these pins (with a decode loop beside them) stay out of the warm pairs
          cmd+=("$BENCH" pin $((gib * GiB)) "round=$round" phase=neighbour)
          pins+=(--pin "$(printf '%q ' "${cmd[@]}")")
          # native blocks about 0.5 s per GiB (Runs 1-3), the shim a fifth of that
          if [[ $side == native ]]; then estimate=$((estimate + gib / 2 + 4)); else estimate=$((estimate + gib / 8 + 4)); fi
        done
      done
    done
    # B (this python) runs natively; only A's command carries the shim.
    run_step "$estimate" $((estimate * 3)) "decode neighbour" env PYTHONUNBUFFERED=1 "$PY" \
      "$ROOT/tools/gpu/decode_neighbour.py" --steps-out "$OUTDIR/neighbour-steps.jsonl" \
      --timeout-s 150 ${GPU_CHECK_NEIGHBOUR_ARGS:-} "${pins[@]}"
  fi
  pack
fi

# ----------------------------------------------------------- copies section
COPY_MAX=${GPU_CHECK_COPY_MAX:-$GiB}
COPY_ROUNDS=${GPU_CHECK_COPY_ROUNDS:-2}
if want copies && [[ -x "$BENCH" ]]; then
  section "copies 64 KiB .. $((COPY_MAX >> 10)) KiB, every byte checked, $COPY_ROUNDS rounds"
  kinds=("native hostalloc" "shim hostalloc" "native register" "shim register")
  for ((round = 0; round < COPY_ROUNDS; ++round)); do
    order=(0 1 2 3)
    ((round % 2)) && order=(3 2 1 0)
    for i in "${order[@]}"; do
      read -r side memory <<<"${kinds[$i]}"
      [[ $side == shim && -z "$SHIM" ]] && continue
      envs=(env PINNED_BENCH_RUN=native)
      [[ $side == shim ]] && envs=("${shim_env[@]}" HUGESHIM_PREPARE=auto)
      run_step 8 90 "copies $side $memory r$round" "${envs[@]}" "$BENCH" copies "$COPY_MAX" "memory=$memory" \
        "round=$round" phase=warm
    done
  done
  pack
elif want copies; then
  note "no pinned_bench: copies section skipped"
fi

# ----------------------------------------------------------- legacy section
if want legacy && [[ -x "$BENCH" ]]; then
  pool_warmup
  section "legacy: cudaHostAlloc 1, 4, 16 GiB"
  both "alloc 1 GiB" 10 60 "$BENCH" alloc $((1 * GiB))
  both "alloc 4 GiB" 15 90 "$BENCH" alloc $((4 * GiB))
  both "alloc 16 GiB" 30 150 "$BENCH" alloc $((16 * GiB))

  section "legacy: small-copy loop during a concurrent 16 GiB pin"
  both "stall 16 GiB" 25 120 "$BENCH" stall $((16 * GiB))

  section "legacy: copies and zero-copy reads of windows across 1 GiB offsets of one 3 GiB allocation"
  both "windows 3 GiB" 10 60 "$BENCH" windows $((3 * GiB)) $GiB

  if [[ -n "$SHIM" ]]; then
    section "legacy: cudaHostAlloc 4 GiB above HUGESHIM_REGISTER_MAX=1GiB (pinned natively)"
    run_step 15 90 "alloc 4 GiB shim, register limit 1 GiB" "${shim_env[@]}" HUGESHIM_REGISTER_MAX=1GiB \
      PINNED_BENCH_RUN=shim-register-limit "$BENCH" alloc $((4 * GiB))
  fi
  if [[ -n "$PY" ]]; then
    sizes=()
    for k in 30 31 32 33 34; do sizes+=($((1 << k))); done
    reg_conf="pinned_use_cuda_host_register:True,pinned_num_register_threads:8"
    section "legacy: PyTorch pin_memory=True, default allocator"
    run_step 40 150 "torch default native" "${native_env[@]}" "$PY" "$ROOT/tools/gpu/torch_pinned.py" native "${sizes[@]}"
    [[ -n "$SHIM" ]] && run_step 30 150 "torch default shim" "${shim_env[@]}" "$PY" "$ROOT/tools/gpu/torch_pinned.py" shim "${sizes[@]}"
    section "legacy: PyTorch pin_memory=True, $reg_conf"
    run_step 40 150 "torch register native" "${native_env[@]}" PYTORCH_CUDA_ALLOC_CONF=$reg_conf "$PY" "$ROOT/tools/gpu/torch_pinned.py" native "${sizes[@]}"
    [[ -n "$SHIM" ]] && run_step 30 150 "torch register shim" "${shim_env[@]}" PYTORCH_CUDA_ALLOC_CONF=$reg_conf "$PY" "$ROOT/tools/gpu/torch_pinned.py" shim "${sizes[@]}"
  fi
  pack
elif want legacy; then
  note "no pinned_bench: legacy section skipped"
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

if ! want registration; then
  :
elif [[ -x "$REG_BENCH" ]] && ! timeout 60 "$REG_BENCH" neighbour </dev/null >"$OUTDIR/register-probe.out" 2>&1 &&
  grep -q 'no CUDA device' "$OUTDIR/register-probe.out"; then
  # No GPU (or no driver): say so once instead of failing every step.
  note "register_bench finds no usable GPU: registration scenarios skipped ($(head -c 300 "$OUTDIR/register-probe.out" | tr '\n' ' '))"
  REG_BENCH_OK=0
else
  REG_BENCH_OK=1
fi
if ! want registration; then
  :
elif [[ ! -x "$REG_BENCH" ]]; then
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
    pack
  done
fi

# -------------------------------------------------------------- dma section
# Issue 16: copy bandwidth as CUPTI measures it, recorded by the shim
# (HUGESHIM_CUPTI=1) in one `hugeshim run` recording per memory kind, next to
# the program's own cudaEvent timings; and the kernel's view of one large
# registration (`hugeshim run --kernel`: tracefs, root).
DMA_MAX=${GPU_CHECK_DMA_MAX:-$GiB}
DMA_REGISTER_BYTES=${GPU_CHECK_DMA_REGISTER_BYTES:-$((16 * GiB))}
HUGESHIM_CLI=$BUILD/bin/hugeshim

# dma_report LABEL: dma-LABEL.db reported as dma-LABEL.json and dma-LABEL.txt.
dma_report() {
  local label=$1 db=$OUTDIR/dma-$1.db fmt
  if [[ ! -s "$db" ]]; then
    note "dma $label: no recording ($db missing or empty)"
    return 0
  fi
  for fmt in json text; do
    timeout 60 "$HUGESHIM_CLI" report "$db" --format "$fmt" >"$OUTDIR/dma-$label.${fmt/text/txt}" \
      2>"$OUTDIR/dma-$label.$fmt.err" ||
      note "dma $label: hugeshim report --format $fmt failed: $(tail -c 300 "$OUTDIR/dma-$label.$fmt.err" | tr '\n' ' ')"
  done
}

if want dma; then
  section "dma: copies 64 KiB .. $((DMA_MAX >> 10)) KiB measured by CUPTI (HUGESHIM_CUPTI=1) under hugeshim run"
  if [[ ! -x "$HUGESHIM_CLI" ]]; then
    note "dma section skipped: no collector ($HUGESHIM_CLI) to record and report the copies"
  elif [[ ! -x "$BENCH" ]]; then
    note "dma section skipped: no usable pinned_bench (see the build and GPU probe notes)"
  else
    for kind in "native hostalloc" "shim hostalloc" "native pageable"; do
      read -r side memory <<<"$kind"
      label=$side-$memory
      envs=(env HUGESHIM_CUPTI=1 HUGESHIM_LOG=warn "PINNED_BENCH_RUN=$side")
      # Native: the shim is loaded for CUPTI but substitutes nothing.
      if [[ $side == shim ]]; then envs+=("HUGESHIM_PAGES=2M,thp"); else envs+=("HUGESHIM_MIN_SIZE=$((DMA_MAX * 2))"); fi
      rm -f "$OUTDIR/dma-$label.db" "$OUTDIR/dma-$label.db-"*
      run_step 15 120 "dma $label" "${envs[@]}" "$HUGESHIM_CLI" run -o "$OUTDIR/dma-$label.db" --format none -- \
        "$BENCH" copies "$DMA_MAX" "memory=$memory" phase=dma
      grep -h 'HUGESHIM_CUPTI' "$OUTDIR/step.err" | head -3 | sed 's/^/   /' || true
      dma_report "$label"
      grep -A12 'copies (CUPTI)' "$OUTDIR/dma-$label.txt" 2>/dev/null ||
        note "dma $label: no copy records in the recording (HUGESHIM_CUPTI=1 recorded nothing; stderr: $(grep -h 'CUPTI' "$OUTDIR/step.err" | head -1))"
    done
    section "dma: hugeshim run --kernel of one $((DMA_REGISTER_BYTES >> 30)) GiB cudaHostRegister"
    run_help=$("$HUGESHIM_CLI" run --help 2>&1 || true)  # (not piped: grep -q may stop reading early)
    if ! grep -q -- '--kernel' <<<"$run_help"; then
      note "dma kernel recording skipped: this hugeshim has no run --kernel"
    else
      rm -f "$OUTDIR/dma-kernel.db" "$OUTDIR/dma-kernel.db-"*
      run_step 40 150 "dma register $((DMA_REGISTER_BYTES >> 30)) GiB --kernel" env HUGESHIM_LOG=warn \
        "HUGESHIM_PAGES=2M,thp" HUGESHIM_PREPARE=auto PINNED_BENCH_RUN=shim "$HUGESHIM_CLI" run --kernel \
        -o "$OUTDIR/dma-kernel.db" --format none -- "$BENCH" register "$DMA_REGISTER_BYTES" phase=dma
      grep -hi 'kernel\|tracefs' "$OUTDIR/step.err" | head -5 | sed 's/^/   /' || true
      dma_report kernel
      grep -i -B2 -A10 'kernel' "$OUTDIR/dma-kernel.txt" 2>/dev/null | head -30 || true
    fi
  fi
  pack
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
pack
[[ -z "$PACK" ]] || echo "gpu-check: packed into $PACK ($(du -h "$PACK" 2>/dev/null | cut -f1))"
