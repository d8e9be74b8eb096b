#include "cuda/substitute.h"

#include "core/arena.h"
#include "core/bootstrap.h"
#include "core/policy.h"
#include "core/region.h"
#include "os/os.h"
#include "cuda/ledger.h"
#include "cuda/placement.h"
#include "cuda/range_pages.h"
#include "cuda/registration.h"
#include "hugeshim/log.h"
#include "hugeshim/options.h"
#include "telemetry/telemetry.h"

namespace hugeshim {
namespace {


// Substituted memory is registered Portable|Mapped whatever the program
// asked: on 64-bit Linux (unified addressing) native cudaHostAlloc memory is
// portable and mapped anyway, so this keeps cudaHostGetDevicePointer,
// cudaPointerGetAttributes and other devices working exactly as natively.
constexpr unsigned kRegisterFlags = kHostRegisterPortable | kHostRegisterMapped;

// Unregister time spent by teardowns on this thread (read by cudaFreeHost).
thread_local uint64_t t_unregister_ns = 0;

const CudaRuntime* runtime_of(const Region* r) {
  return static_cast<const CudaRuntime*>(r->cuda_runtime);
}

// Region teardown: runs when the region's memory is unmapped for good
// (release without caching, cache eviction), outside the arena lock.
// registered is true while the region holds its one registration.
void unregister_region(Region* r) {
  const CudaRuntime* rt = runtime_of(r);
  if (!rt || !r->registered) return;
  uint64_t t0 = now_ns();
  // At exit the CUDA context may be gone already; the pages go away anyway.
  cuda_unregister_region(*rt, reinterpret_cast<void*>(r->base));
  t_unregister_ns += now_ns() - t0;
  r->cuda_runtime = nullptr;
  r->registered = false;
}

// Set when the runtime answered cudaErrorNotSupported to our registration
// (a Confidential Computing guest refuses every cudaHostRegister while
// cudaHostAlloc works): from then on every pinned allocation is native, without
// populating a region first. Said once per process.
bool g_register_refused = false;

void note_refused() {
  if (__atomic_exchange_n(&g_register_refused, true, __ATOMIC_RELAXED)) return;
  log_at(LogLevel::warn,
         "cudaHostRegister is refused here (error 801, cudaErrorNotSupported: a Confidential "
         "Computing guest?): pinned allocations use the native cudaHostAlloc (fallback register_refused)");
}

// The substituted region containing p, or nullptr.
Region* substituted_region(const void* p) {
  if (!p || !arena_contains(p)) return nullptr;
  Region* r = region_find(p);
  if (!r || r->origin != Origin::cuda || !r->cuda_runtime) return nullptr;
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  return a < r->base + r->mapped ? r : nullptr;
}

cuda_error call_real(const CudaRuntime& rt, uint32_t api, void** ptr, size_t size,
                     unsigned flags) {
  return api == HUGESHIM_API_CUDA_MALLOC_HOST ? rt.malloc_host(ptr, size)
                                              : rt.host_alloc(ptr, size, flags);
}

// The real call, recorded as a large event (whole call timed as register:
// native pinned allocation is allocate + fault + pin in one).
cuda_error forward_recorded(const CudaRuntime& rt, uint32_t api, void** ptr, size_t size,
                            unsigned flags, Event* ev) {
  uint64_t t0 = now_ns();
  cuda_error e = call_real(rt, api, ptr, size, flags);
  ev->phase_ns[HUGESHIM_PHASE_REGISTER] += now_ns() - t0;
  ev->result = e;
  ev->mapped = 0;
  for (uint64_t& b : ev->page_bytes) b = 0;
  if (e != kCudaSuccess) {
    ev->flags |= HUGESHIM_EVENT_FAILED;
  } else {
    ev->address = reinterpret_cast<uintptr_t>(*ptr);
    range_page_bytes(*ptr, size, ev->page_bytes);
    ev->translations = page_count(ev->page_bytes);
    ledger_add(LedgerKind::native_alloc, ledger_entry_of(*ev));
  }
  telemetry_emit(*ev);
  return e;
}

// Tries to serve the request from a registered region. nullptr (with
// ev->fallback set, nothing left behind) when it cannot.
Region* substitute(const CudaRuntime& rt, size_t size, unsigned flags, Event* ev) {
  ShimScope scope;
  // A pending error would be cleared by our own error handling: leave such a
  // program alone. Without a driver this is where we stop, before touching
  // any memory.
  if (rt.peek_at_last_error() != kCudaSuccess) {
    ev->fallback = HUGESHIM_FALLBACK_REGISTER_FAILED;
    return nullptr;
  }
  DevicePlacement place;
  if (!cuda_current_placement(rt, &place)) {
    rt.get_last_error();
    ev->fallback = HUGESHIM_FALLBACK_REGISTER_FAILED;
    return nullptr;
  }
  ev->gpu = place.gpu;

  RegionRequest req;
  req.size = size;
  req.align = kPage2M;
  req.origin = Origin::cuda;
  req.numa_node = place.numa_node;
  req.populate = true;  // registration faults every page anyway; in parallel it is faster
  Region* r = region_allocate(req, ev);
  if (!r) return nullptr;  // region_allocate set the fallback reason

  if (r->cuda_runtime && runtime_of(r) != &rt)
    unregister_region(r);  // cached under another runtime: register afresh
  if (!r->cuda_runtime) {
    // One registration over the whole region (mapped <= the 2 MiB-rounded
    // request <= HUGESHIM_REGISTER_MAX, checked by the caller).
    uint64_t t0 = now_ns();
    cuda_error e = cuda_register_region(rt, reinterpret_cast<void*>(r->base), r->mapped,
                                        kRegisterFlags);
    ev->phase_ns[HUGESHIM_PHASE_REGISTER] = now_ns() - t0;
    if (e != kCudaSuccess) {
      if (e == kCudaErrorNotSupported) {
        note_refused();
        ev->fallback = HUGESHIM_FALLBACK_REGISTER_REFUSED;
      } else {
        log_at(LogLevel::info, "cudaHostRegister of %zu bytes failed (error %d); native pinning",
               static_cast<size_t>(r->mapped), e);
        ev->fallback = HUGESHIM_FALLBACK_REGISTER_FAILED;
      }
      ev->err = e;
      Event scratch;
      r->teardown = nullptr;
      region_release(r, &scratch);
      return nullptr;
    }
    r->cuda_runtime = &rt;
    r->registered = true;
    ev->translations = page_count(r->page_bytes);
  }
  r->teardown = unregister_region;
  return r;
}

}  // namespace

cuda_error cuda_pinned_alloc(const CudaRuntime& rt, void** ptr, size_t size, unsigned flags,
                             uint32_t api, const void* caller) {
  if (!ptr || !policy_is_large(size)) {
    if (!g_options.disable) telemetry_count_small(api);
    return call_real(rt, api, ptr, size, flags);
  }
  Event ev = event_start(api, size, caller);
  ev.cuda_flags = flags;
  if (!g_options.intercept_cuda) return forward_recorded(rt, api, ptr, size, flags, &ev);
  if (flags & ~(kHostAllocPortable | kHostAllocMapped)) {
    ev.fallback = HUGESHIM_FALLBACK_CUDA_FLAGS;  // WriteCombined (or unknown bits)
    return forward_recorded(rt, api, ptr, size, flags, &ev);
  }
  // One cudaHostRegister per substituted allocation (cuda/registration.h); above the
  // largest one we make, native pinning. register_max is a multiple of
  // 2 MiB, so this is "the 2 MiB-rounded size exceeds it" without overflow.
  if (size > g_options.register_max) {
    ev.fallback = HUGESHIM_FALLBACK_REGISTER_LIMIT;
    return forward_recorded(rt, api, ptr, size, flags, &ev);
  }
  if (__atomic_load_n(&g_register_refused, __ATOMIC_RELAXED)) {
    ev.fallback = HUGESHIM_FALLBACK_REGISTER_REFUSED;
    return forward_recorded(rt, api, ptr, size, flags, &ev);
  }
  Region* r = substitute(rt, size, flags, &ev);
  if (!r) return forward_recorded(rt, api, ptr, size, flags, &ev);
  r->cuda_flags = flags;
  *ptr = reinterpret_cast<void*>(r->base);
  ev.address = r->base;
  ev.flags |= HUGESHIM_EVENT_REDIRECTED;
  ev.result = kCudaSuccess;
  telemetry_emit(ev);
  return kCudaSuccess;
}

cuda_error cuda_pinned_free(const CudaRuntime& rt, void* ptr, const void* caller) {
  Region* r = substituted_region(ptr);
  if (!r || r->base != reinterpret_cast<uintptr_t>(ptr)) {
    LedgerEntry native;
    if (g_options.disable || !ledger_take(LedgerKind::native_alloc, reinterpret_cast<uintptr_t>(ptr), &native)) {
      if (!g_options.disable) telemetry_count_small(HUGESHIM_API_CUDA_FREE_HOST);
      return rt.free_host(ptr);
    }
    Event ev = event_start(HUGESHIM_API_CUDA_FREE_HOST, native.bytes, caller);
    ledger_fill(&ev, native);
    cuda_error e = rt.free_host(ptr);
    ev.phase_ns[HUGESHIM_PHASE_REGISTER] = now_ns() - ev.start_ns;
    ev.result = e;
    if (e != kCudaSuccess) ev.flags |= HUGESHIM_EVENT_FAILED;
    telemetry_emit(ev);
    return e;
  }
  Event ev = event_start(HUGESHIM_API_CUDA_FREE_HOST, r->size, caller);
  ev.address = r->base;
  ev.cuda_flags = r->cuda_flags;
  ev.flags = HUGESHIM_EVENT_REDIRECTED;
  {
    ShimScope scope;
    t_unregister_ns = 0;
    region_release(r, &ev);  // the teardown unregisters unless the cache keeps it
    ev.phase_ns[HUGESHIM_PHASE_REGISTER] = t_unregister_ns;
  }
  telemetry_emit(ev);
  return kCudaSuccess;
}

bool cuda_substituted_flags(const void* p, unsigned* flags) {
  const Region* r = substituted_region(p);
  if (!r) return false;
  // Under unified addressing every pinned allocation is mapped: native
  // cudaHostGetFlags answers 2 (Mapped) for memory allocated with flags 0
  // (H200, driver 580.159.04).
  *flags = r->cuda_flags | kHostAllocMapped;
  return true;
}

bool cuda_is_substituted(const void* p) { return substituted_region(p) != nullptr; }

}  // namespace hugeshim
