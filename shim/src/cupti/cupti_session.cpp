#include "cupti/cupti_session.h"

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <dlfcn.h>
#include <link.h>
#include <new>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/bootstrap.h"
#include "core/region.h"
#include "cuda/range_pages.h"
#include "cupti/copy_join.h"
#include "hugeshim/clock.h"
#include "hugeshim/log.h"
#include "hugeshim/options.h"
#include "os/elf.h"
#include "os/os.h"
#include "telemetry/telemetry.h"

namespace hugeshim {
namespace {

// Life of the session. untried -> starting -> running | off; off is final.
enum State : uint32_t { kUntried, kStarting, kRunning, kOff };
std::atomic<uint32_t> g_state{kUntried};
int32_t g_pid = 0;  // the process that started it (a fork child has none)

// The table of calls waiting for their activity record (~1.2 MiB, mapped
// at start): 16384 slots hold the calls of far more copies than are in
// flight between two deliveries (CUPTI_FLUSH_PERIOD_MS).
constexpr size_t kTableSlots = 16384;
CopyCallTable::Slot* g_slots = nullptr;
alignas(CopyCallTable) unsigned char g_table_storage[sizeof(CopyCallTable)];
CopyCallTable* g_table = nullptr;
CopyJoinCounts g_counts;

// Activity buffers: 1 MiB each (about 11000 memcpy records), at most 32
// held by CUPTI at once; past that CUPTI drops records and counts them.
constexpr size_t kBufferBytes = 1u << 20;
constexpr int kMaxBuffers = 32;
std::atomic<int> g_buffers{0};
std::atomic<uint64_t> g_buffers_refused{0};
std::atomic<uint64_t> g_cupti_dropped{0};
constexpr uint32_t kFlushPeriodMs = 100;  // deliveries at least this often
constexpr int kExitFlushSeconds = 2;

// Added to CUPTI timestamps when the timestamp callback could not be
// registered (CUPTI's own clock, offset measured once at start).
int64_t g_clock_offset = 0;

struct Api {
  CuptiSubscribeFn subscribe;
  CuptiSubscribeV2Fn subscribe_v2;  // CUDA 13; names the subscriber holding CUPTI
  CuptiUnsubscribeFn unsubscribe;
  CuptiEnableCallbackFn enable_callback;
  CuptiActivityEnableFn activity_enable;
  CuptiActivityRegisterCallbacksFn register_callbacks;
  CuptiActivityRegisterTimestampCallbackFn register_timestamp;
  CuptiActivityGetNextRecordFn next_record;
  CuptiActivityGetNumDroppedRecordsFn dropped_records;
  CuptiActivityFlushAllFn flush_all;
  CuptiGetTimestampFn get_timestamp;
  CuptiGetResultStringFn result_string;
  using FlushPeriodFn = cupti_result (*)(uint32_t ms);
  FlushPeriodFn flush_period;
};
Api g_api;
void* g_subscriber = nullptr;

__thread uint32_t t_tid __attribute__((tls_model("initial-exec"))) = 0;

constexpr uint32_t kRuntimeCbids[] = {kCbidCudaMemcpy,      kCbidCudaMemcpy2D,        kCbidCudaMemcpyAsync,
                                      kCbidCudaMemcpy2DAsync, kCbidCudaMemcpyPtds,    kCbidCudaMemcpy2DPtds,
                                      kCbidCudaMemcpyAsyncPtsz, kCbidCudaMemcpy2DAsyncPtsz};
constexpr uint32_t kDriverCbids[] = {kCbidCuMemcpyHtoD,     kCbidCuMemcpyHtoDAsync,   kCbidCuMemcpyDtoH,
                                     kCbidCuMemcpyDtoHAsync, kCbidCuMemcpyHtoDPtds,   kCbidCuMemcpyDtoHPtds,
                                     kCbidCuMemcpyHtoDAsyncPtsz, kCbidCuMemcpyDtoHAsyncPtsz};

// The one line of a failed start; the session is off for good after it.
void give_up(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void give_up(const char* fmt, ...) {
  char why[384];
  va_list args;
  va_start(args, fmt);
  vsnprintf(why, sizeof why, fmt, args);
  va_end(args);
  log_at(LogLevel::warn, "HUGESHIM_CUPTI=1: %s; copies are not recorded", why);
  g_state.store(kOff, std::memory_order_release);
}

const char* result_text(cupti_result r) {
  const char* text = nullptr;
  if (!g_api.result_string || g_api.result_string(r, &text) != kCuptiSuccess || !text) return "CUPTI error";
  return text;
}

// ---- Finding libcupti -------------------------------------------------

struct LoadedCuda {
  char cudart_path[512] = {};  // the first libcudart in load order, "" if none
  int cudart_major = 0;
  bool libcuda = false;
};

int scan_object(dl_phdr_info* info, size_t, void* data) {
  auto* found = static_cast<LoadedCuda*>(data);
  if (!info->dlpi_name || !info->dlpi_name[0]) return 0;
  const ElfW(Dyn)* dyn = elf_dynamic_section(info);
  const char* soname = dyn ? elf_soname(info->dlpi_addr, dyn) : nullptr;
  if (!soname) return 0;
  if (!strncmp(soname, "libcuda.so", 10)) found->libcuda = true;
  if (!found->cudart_path[0] && !strncmp(soname, "libcudart.so.", 13) &&
      strlen(info->dlpi_name) < sizeof found->cudart_path) {
    strcpy(found->cudart_path, info->dlpi_name);
    found->cudart_major = atoi(soname + 13);
  }
  return 0;
}

LoadedCuda loaded_cuda() {
  LoadedCuda found;
  dl_iterate_phdr(scan_object, &found);
  return found;
}

// dlopens the first existing candidate; `tried` lists what was looked at.
void* open_cupti(const LoadedCuda& cuda, char* tried, size_t tried_len) {
  if (g_options.cupti_library[0]) {
    void* h = dlopen(g_options.cupti_library, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      snprintf(tried, tried_len, "%s", e ? e : g_options.cupti_library);
    }
    return h;
  }
  const int major = cuda.cudart_major > 0 ? cuda.cudart_major : 13;
  char dir[512] = {};
  if (const char* slash = strrchr(cuda.cudart_path, '/'))
    snprintf(dir, sizeof dir, "%.*s", static_cast<int>(slash - cuda.cudart_path), cuda.cudart_path);
  char candidates[5][600];
  int n = 0;
  if (dir[0]) {
    snprintf(candidates[n++], sizeof candidates[0], "%s/libcupti.so.%d", dir, major);
    snprintf(candidates[n++], sizeof candidates[0], "%s/../extras/CUPTI/lib64/libcupti.so.%d", dir, major);
    // pip wheels: nvidia/cuda_runtime/lib beside nvidia/cuda_cupti/lib.
    snprintf(candidates[n++], sizeof candidates[0], "%s/../../cuda_cupti/lib/libcupti.so.%d", dir, major);
  }
  snprintf(candidates[n++], sizeof candidates[0], "/usr/local/cuda/extras/CUPTI/lib64/libcupti.so.%d", major);
  snprintf(candidates[n++], sizeof candidates[0], "/usr/local/cuda/lib64/libcupti.so.%d", major);
  for (int i = 0; i < n; ++i) {
    if (access(candidates[i], R_OK) != 0) continue;
    if (void* h = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL)) return h;
  }
  // Last, the loader's own search (LD_LIBRARY_PATH, ld.so.cache).
  char soname[32];
  snprintf(soname, sizeof soname, "libcupti.so.%d", major);
  if (void* h = dlopen(soname, RTLD_NOW | RTLD_LOCAL)) return h;
  snprintf(tried, tried_len, "no %s next to %s, in /usr/local/cuda or on the library path "
           "(HUGESHIM_CUPTI_LIBRARY names it)", soname, dir[0] ? dir : "libcudart");
  return nullptr;
}

template <typename Fn>
bool bind(void* handle, const char* name, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(handle, name));
  return *out != nullptr;
}

// ---- Callbacks ----------------------------------------------------------

bool region_facts(uintptr_t p, uint64_t len, uint64_t out[HUGESHIM_PAGE_COUNT]) {
  const void* ptr = reinterpret_cast<const void*>(p);
  if (!region_owns(ptr)) return false;
  range_page_bytes(ptr, len, out);
  return true;
}

// On the program's thread, inside its copy call: remember the call.
void api_callback(void*, uint32_t domain, uint32_t cbid, const void* data) {
  if (g_state.load(std::memory_order_acquire) != kRunning || !data) return;
  auto* cb = static_cast<const CuptiCallbackData*>(data);
  if (cb->callback_site != kCuptiApiEnter) return;
  CopyCallArgs args;
  if (!copy_call_args(domain, cbid, cb->function_params, cb->correlation_id, &args)) return;
  if (args.bytes < g_options.cupti_min_bytes) return;
  if (t_tid == 0) t_tid = os_gettid();
  switch (g_table->put(copy_call_of(args, t_tid, region_facts))) {
    case CopyCallTable::Put::stored: break;
    case CopyCallTable::Put::evicted: g_counts.evicted.fetch_add(1, std::memory_order_relaxed); break;
    case CopyCallTable::Put::busy: g_counts.busy.fetch_add(1, std::memory_order_relaxed); break;
  }
}

uint64_t monotonic_clock() { return now_ns(); }

void buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = nullptr;
  *size = 0;
  *max_records = 0;  // as many as fit
  if (g_buffers.fetch_add(1, std::memory_order_relaxed) >= kMaxBuffers) {
    g_buffers.fetch_sub(1, std::memory_order_relaxed);
    g_buffers_refused.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  void* p = os_mmap(nullptr, kBufferBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    g_buffers.fetch_sub(1, std::memory_order_relaxed);
    g_buffers_refused.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  *buffer = static_cast<uint8_t*>(p);
  *size = kBufferBytes;
}

// On CUPTI's thread (or the exit flush's): join each copy and record it.
void buffer_completed(void* context, uint32_t stream_id, uint8_t* buffer, size_t size, size_t valid) {
  if (!buffer) return;
  if (g_state.load(std::memory_order_acquire) == kRunning) {
    void* record = nullptr;
    while (g_api.next_record(buffer, valid, &record) == kCuptiSuccess) {
      auto* r = static_cast<const CuptiMemcpyRecord*>(record);
      if (r->kind != kCuptiActivityMemcpy) continue;
      CuptiMemcpyRecord copy = *r;
      if (g_clock_offset && copy.start) {
        copy.start = static_cast<uint64_t>(static_cast<int64_t>(copy.start) + g_clock_offset);
        copy.end = static_cast<uint64_t>(static_cast<int64_t>(copy.end) + g_clock_offset);
      }
      Event ev;
      JoinOutcome outcome = copy_event_of(copy, *g_table, g_options.cupti_min_bytes, &ev);
      count_outcome(g_counts, outcome);
      if (outcome != JoinOutcome::joined && outcome != JoinOutcome::unjoined) continue;
      // A record without timestamps (CUPTI could not time the copy): a copy
      // of no duration at the time it was processed, never start 0.
      if (!ev.start_ns && !ev.end_ns) ev.start_ns = ev.end_ns = now_ns();
      telemetry_emit(ev);
    }
    size_t dropped = 0;
    if (g_api.dropped_records(context, stream_id, &dropped) == kCuptiSuccess && dropped)
      g_cupti_dropped.fetch_add(dropped, std::memory_order_relaxed);
  }
  os_munmap(buffer, size ? size : kBufferBytes);
  g_buffers.fetch_sub(1, std::memory_order_relaxed);
}

// ---- Start --------------------------------------------------------------

void start(const LoadedCuda& cuda) {
  ShimScope scope;  // dlopen and CUPTI allocate: straight to the real allocator
  // Nsight Systems and Nsight Compute inject a library through this variable
  // and subscribe when CUDA initialises, which may be after this point:
  // taking CUPTI first would blind the profiler the user started.
  if (const char* injection = getenv("CUDA_INJECTION64_PATH"); injection && injection[0])
    return give_up("CUDA_INJECTION64_PATH=%s: a profiler injects itself and needs CUPTI", injection);
  char why[700] = {};
  void* h = open_cupti(cuda, why, sizeof why);
  if (!h) return give_up("cannot load libcupti: %s", why);
  Api& a = g_api;
  bind(h, "cuptiGetResultString", &a.result_string);
  bind(h, "cuptiSubscribe_v2", &a.subscribe_v2);
  bind(h, "cuptiActivityRegisterTimestampCallback", &a.register_timestamp);
  bind(h, "cuptiActivityFlushPeriod", &a.flush_period);
  const char* missing = nullptr;
  if (!bind(h, "cuptiSubscribe", &a.subscribe)) missing = "cuptiSubscribe";
  else if (!bind(h, "cuptiUnsubscribe", &a.unsubscribe)) missing = "cuptiUnsubscribe";
  else if (!bind(h, "cuptiEnableCallback", &a.enable_callback)) missing = "cuptiEnableCallback";
  else if (!bind(h, "cuptiActivityEnable", &a.activity_enable)) missing = "cuptiActivityEnable";
  else if (!bind(h, "cuptiActivityRegisterCallbacks", &a.register_callbacks)) missing = "cuptiActivityRegisterCallbacks";
  else if (!bind(h, "cuptiActivityGetNextRecord", &a.next_record)) missing = "cuptiActivityGetNextRecord";
  else if (!bind(h, "cuptiActivityGetNumDroppedRecords", &a.dropped_records)) missing = "cuptiActivityGetNumDroppedRecords";
  else if (!bind(h, "cuptiActivityFlushAll", &a.flush_all)) missing = "cuptiActivityFlushAll";
  else if (!bind(h, "cuptiGetTimestamp", &a.get_timestamp)) missing = "cuptiGetTimestamp";
  if (missing) return give_up("the loaded libcupti lacks %s", missing);

  // Subscribe first: it is what fails when another tool holds CUPTI or
  // there is no driver, before anything else is changed.
  cupti_result r;
  char holder[128] = {};
  if (a.subscribe_v2) {
    CuptiSubscriberParams params{sizeof(CuptiSubscriberParams), "hugeshim", holder, sizeof holder};
    r = a.subscribe_v2(&g_subscriber, api_callback, nullptr, &params);
  } else {
    r = a.subscribe(&g_subscriber, api_callback, nullptr);
  }
  if (r == kCuptiErrorMultipleSubscribers)
    return give_up("CUPTI is held by another subscriber (%s), and it allows one per process "
                   "(Nsight Systems, Nsight Compute and torch.profiler take it)",
                   holder[0] ? holder : "not named");
  if (r != kCuptiSuccess)
    return give_up("cuptiSubscribe failed: %s (%d; no CUDA driver or device?)", result_text(r), r);

  void* slots = os_mmap(nullptr, kTableSlots * sizeof(CopyCallTable::Slot), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (slots == MAP_FAILED) {
    a.unsubscribe(g_subscriber);
    return give_up("no memory for the copy table (errno %d)", errno);
  }
  g_slots = static_cast<CopyCallTable::Slot*>(slots);  // zero pages: every slot free, unlocked
  g_table = new (g_table_storage) CopyCallTable(g_slots, kTableSlots);

  // Copy times on CLOCK_MONOTONIC, the clock of every other event; CUPTI
  // wants this before any activity kind is enabled.
  if (!a.register_timestamp || a.register_timestamp(monotonic_clock) != kCuptiSuccess) {
    uint64_t cupti_now = 0;
    if (a.get_timestamp(&cupti_now) == kCuptiSuccess && cupti_now)
      g_clock_offset = static_cast<int64_t>(now_ns()) - static_cast<int64_t>(cupti_now);
    log_at(LogLevel::info, "HUGESHIM_CUPTI=1: no timestamp callback; copy times converted by an offset of %lld ns",
           static_cast<long long>(g_clock_offset));
  }
  const char* step = nullptr;
  r = kCuptiSuccess;
  for (uint32_t cbid : kRuntimeCbids)
    if (r == kCuptiSuccess && (r = a.enable_callback(1, g_subscriber, kCuptiDomainRuntime, cbid)) != kCuptiSuccess)
      step = "cuptiEnableCallback (runtime)";
  for (uint32_t cbid : kDriverCbids)
    if (r == kCuptiSuccess && (r = a.enable_callback(1, g_subscriber, kCuptiDomainDriver, cbid)) != kCuptiSuccess)
      step = "cuptiEnableCallback (driver)";
  if (r == kCuptiSuccess && (r = a.register_callbacks(buffer_requested, buffer_completed)) != kCuptiSuccess)
    step = "cuptiActivityRegisterCallbacks";
  g_pid = os_getpid();
  g_state.store(kRunning, std::memory_order_release);  // callbacks may come from here on
  if (r == kCuptiSuccess && (r = a.activity_enable(kCuptiActivityMemcpy)) != kCuptiSuccess)
    step = "cuptiActivityEnable(MEMCPY)";
  if (step) {
    g_state.store(kOff, std::memory_order_release);
    a.unsubscribe(g_subscriber);
    return give_up("%s failed: %s (%d)", step, result_text(r), r);
  }
  if (a.flush_period) a.flush_period(kFlushPeriodMs);  // optional: bounds the table's load
  log_at(LogLevel::info, "HUGESHIM_CUPTI=1: recording host<->device copies of at least %zu bytes",
         g_options.cupti_min_bytes);
}

bool wanted() { return g_options.cupti && !g_options.disable && g_options.ring; }

void try_start(const LoadedCuda& cuda) {
  uint32_t expected = kUntried;
  if (!g_state.compare_exchange_strong(expected, kStarting, std::memory_order_acq_rel)) return;
  int saved = errno;
  start(cuda);
  if (g_state.load(std::memory_order_acquire) == kStarting) g_state.store(kOff, std::memory_order_release);
  errno = saved;
}

void* flush_thread(void*) {
  g_api.flush_all(kCuptiFlushForced);
  return nullptr;
}

// After the default-priority destructors, before telemetry's (101): the
// flushed copies still reach the ring.
__attribute__((destructor(102))) void at_normal_exit() { cupti_at_exit(); }

}  // namespace

void cupti_start_at_load() {
  if (!wanted()) {
    g_state.store(kOff, std::memory_order_release);
    return;
  }
  LoadedCuda cuda = loaded_cuda();
  if (cuda.cudart_path[0] || cuda.libcuda) try_start(cuda);
}

void cupti_start_from_cuda_call() {
  if (g_state.load(std::memory_order_relaxed) != kUntried || !wanted()) return;
  try_start(loaded_cuda());
}

void cupti_at_exit() {
  if (g_state.load(std::memory_order_acquire) != kRunning || g_pid != os_getpid()) return;
  ShimScope scope;
  // The flush runs on its own thread so that a CUPTI that hangs at exit
  // costs this process at most kExitFlushSeconds, never its exit.
  bool finished = false;
  pthread_t t;
  if (pthread_create(&t, nullptr, flush_thread, nullptr) == 0) {
    timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += kExitFlushSeconds;
    finished = pthread_timedjoin_np(t, nullptr, &deadline) == 0;
  }
  g_state.store(kOff, std::memory_order_release);  // later deliveries: not recorded
  const uint64_t joined = g_counts.joined.load(), unjoined = g_counts.unjoined.load();
  const uint64_t dropped = g_cupti_dropped.load(), refused = g_buffers_refused.load();
  log_at(LogLevel::info,
         "HUGESHIM_CUPTI=1: %llu copies recorded (%llu joined to their call, %llu without a host address), "
         "%llu below HUGESHIM_CUPTI_MIN_BYTES",
         static_cast<unsigned long long>(joined + unjoined), static_cast<unsigned long long>(joined),
         static_cast<unsigned long long>(unjoined), static_cast<unsigned long long>(g_counts.below_min.load()));
  if (dropped || refused || !finished)
    log_at(LogLevel::warn,
           "HUGESHIM_CUPTI=1: copies lost: %llu activity records dropped by CUPTI, %llu buffers refused%s",
           static_cast<unsigned long long>(dropped), static_cast<unsigned long long>(refused),
           finished ? "" : "; the exit flush did not finish in time (copies still in CUPTI are not recorded)");
}

void cupti_after_fork_child() {
  // CUPTI's state (threads, subscription) does not survive fork: the child
  // neither records copies nor flushes at exit.
  g_state.store(kOff, std::memory_order_release);
}

}  // namespace hugeshim
