// The exported malloc family. On its fast path each entry compares the size
// with the threshold or checks the pointer against the arena's window and the
// bootstrap buffer, then tail-calls the real allocator: requests below the
// threshold (and every pointer outside both) go to it untouched, with no
// frame and no errno handling. Large requests become regions.
// A pointer inside the window is the shim's only if a region holds it: the
// window is not reserved, so the kernel may have put another allocator's
// mapping there (core/arena.h).
#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "core/arena.h"
#include "core/bootstrap.h"
#include "core/deferred_release.h"
#include "core/policy.h"
#include "core/region.h"
#include "entry/entry.h"
#include "entry/export.h"
#include "hugeshim/events.h"
#include "hugeshim/log.h"
#include "hugeshim/options.h"
#include "os/backing.h"
#include "telemetry/telemetry.h"

namespace hugeshim {

// SIZE_MAX until the constructor has decided the shim is active.
size_t g_malloc_threshold = ~size_t{0};

namespace {

bool is_pow2(size_t n) { return n && !(n & (n - 1)); }

size_t next_pow2(size_t n) {
  size_t p = 1;
  while (p < n && p) p <<= 1;
  return p;
}

RegionRequest malloc_request(size_t size, size_t align, bool zero) {
  const Options& o = g_options;
  RegionRequest req;
  req.size = size;
  req.align = align;
  req.origin = Origin::malloc;
  req.zero = zero;
  req.numa_node = policy_host_node();
  req.populate = o.populate == Populate::eager;
  req.lock = o.pin == PinMode::mlock;
  return req;
}

// HUGESHIM_ON_FALLBACK=fail: the operator asked for huge pages or nothing,
// and this request did not get its first page size. (A full arena or an
// alignment the shim cannot honour are not page-size answers: those requests
// go to the real allocator as they would without the shim.)
bool refused_by_operator(const Event& ev) {
  return g_options.on_fallback == OnFallback::fail && ev.fallback != HUGESHIM_FALLBACK_ARENA_FULL &&
         ev.fallback != HUGESHIM_FALLBACK_ALIGNMENT;
}

void fail_event(Event* ev, int err) {
  ev->flags |= HUGESHIM_EVENT_FAILED;
  ev->result = -1;
  ev->err = err;
}

// Large allocation: a region, or (on any shim-side failure) the real
// allocator through `fallback`. Preserves errno on success.
template <typename Fallback>
__attribute__((noinline, cold)) void* allocate_large(uint32_t api, size_t size, size_t align, bool zero, void* caller, Fallback fallback) {
  if (t_in_shim) return fallback();
  ShimScope scope;
  int saved = errno;
  if (deferred_release_pending()) deferred_release_drain();
  Event ev = event_start(api, size, caller);
  Region* r = region_allocate(malloc_request(size, align, zero), &ev);
  void* out;
  if (r) {
    ev.flags |= HUGESHIM_EVENT_REDIRECTED;
    out = reinterpret_cast<void*>(r->base);
    errno = saved;
  } else if (refused_by_operator(ev)) {
    fail_event(&ev, ENOMEM);
    telemetry_emit(ev);
    errno = ENOMEM;
    return nullptr;
  } else {
    errno = saved;
    out = fallback();
    ev.address = reinterpret_cast<uint64_t>(out);
    if (!out) fail_event(&ev, errno);
  }
  telemetry_emit(ev);
  return out;
}

// The start of a live malloc region that no one has freed yet, or nullptr.
Region* owned_malloc_region(void* p) {
  Region* r = region_find(p);
  if (!r || r->base != reinterpret_cast<uintptr_t>(p) || r->origin != Origin::malloc ||
      __atomic_load_n(&r->release_pending, __ATOMIC_RELAXED))
    return nullptr;
  return r;
}

void refuse_free(void* p) {
  // glibc would abort on such a pointer; we refuse it and keep running.
  log_at(LogLevel::warn, "free(%p): not the start of a live malloc region (double free?); ignored", p);
}

// A pointer inside the window that no region holds is not the shim's. If the
// chunk header glibc keeps before each block is mapped, it may be a block of
// glibc's (its mmap landed in the window) and goes to glibc as without the
// shim. If not, glibc would crash reading that header: it is a stale pointer
// (say a double free of a block whose space was given back), and the shim
// reports it as it does for stale pointers into its own regions.
bool foreign_block(void* p) {
  constexpr size_t kChunkHeader = 2 * sizeof(size_t);
  return !region_holding(p) && backing_mapped(reinterpret_cast<uintptr_t>(p) - kChunkHeader, kChunkHeader);
}

// free() of a pointer the real allocator (or the bootstrap buffer) handed out.
__attribute__((always_inline)) inline void free_heap(void* p) {
  if (__builtin_expect(bootstrap_owns(p), 0)) return;
  g_real.free(p);
}

__attribute__((noinline, cold)) void release_large(void* p, void* caller) {
  int saved = errno;
  Region* r = owned_malloc_region(p);
  if (!r) {
    if (foreign_block(p)) free_heap(p);
    else refuse_free(p);
    errno = saved;
    return;
  }
  if (t_in_shim) {
    // A signal handler interrupted this thread inside the shim, which may
    // hold the arena lock: queue the release rather than wait for ourselves.
    if (__atomic_exchange_n(&r->release_pending, true, __ATOMIC_RELAXED)) refuse_free(p);
    else if (!deferred_release_push(r, reinterpret_cast<uint64_t>(caller)))
      log_at(LogLevel::warn, "free(%p) from a signal handler: release queue full; the block stays mapped", p);
    errno = saved;
    return;
  }
  ShimScope scope;
  if (deferred_release_pending()) deferred_release_drain();
  Event ev = event_start(HUGESHIM_API_FREE, r->size, caller);
  ev.flags |= HUGESHIM_EVENT_REDIRECTED;
  region_release(r, &ev);
  telemetry_emit(ev);
  errno = saved;
}

__attribute__((noinline, cold)) void* realloc_ours(void* p, size_t n, void* caller) {
  Region* r = owned_malloc_region(p);
  if (!r) {
    log_at(LogLevel::warn, "realloc(%p): not the start of a live malloc region; refused", p);
    errno = EINVAL;
    return nullptr;
  }
  if (n == 0) {  // glibc: realloc(p, 0) frees p and returns NULL
    release_large(p, caller);
    return nullptr;
  }
  ShimScope scope;
  int saved = errno;
  if (deferred_release_pending()) deferred_release_drain();
  Event ev = event_start(HUGESHIM_API_REALLOC, n, caller);
  ev.flags |= HUGESHIM_EVENT_REDIRECTED;
  if (n >= g_malloc_threshold && region_resize_in_place(r, n, &ev)) {
    telemetry_emit(ev);
    errno = saved;
    return p;
  }
  // Move: to a new region when still large, else back to the real heap.
  void* out = nullptr;
  if (n >= g_malloc_threshold) {
    Region* moved = region_allocate(malloc_request(n, 0, false), &ev);
    if (moved) out = reinterpret_cast<void*>(moved->base);
    else if (refused_by_operator(ev)) {
      fail_event(&ev, ENOMEM);
      telemetry_emit(ev);
      errno = ENOMEM;
      return nullptr;  // the old block stays valid, as glibc documents
    }
  }
  if (!out) {
    ev.flags &= ~HUGESHIM_EVENT_REDIRECTED;
    out = g_real.malloc(n);
    ev.address = reinterpret_cast<uint64_t>(out);
    ev.mapped = 0;
    memset(ev.page_bytes, 0, sizeof ev.page_bytes);
  }
  if (!out) {
    fail_event(&ev, ENOMEM);
    telemetry_emit(ev);
    errno = ENOMEM;
    return nullptr;  // the old block stays valid, as glibc documents
  }
  memcpy(out, p, n < r->mapped ? n : r->mapped);
  Event free_ev = event_start(HUGESHIM_API_FREE, r->size, caller);
  free_ev.flags |= HUGESHIM_EVENT_REDIRECTED;
  region_release(r, &free_ev);
  telemetry_emit(ev);
  telemetry_emit(free_ev);
  errno = saved;
  return out;
}

// Alignment rules of glibc's memalign family (2.36): a non-power-of-two
// alignment is rounded up; one above SIZE_MAX/2+1 is EINVAL.
bool normalise_alignment(size_t* align) {
  if (*align > (~size_t{0} >> 1) + 1) return false;
  if (!is_pow2(*align)) *align = next_pow2(*align);
  return true;
}

__attribute__((noinline, cold)) void* aligned_large(uint32_t api, size_t align, size_t n, void* caller) {
  size_t a = align;
  if (!normalise_alignment(&a) || a > kPage1G) return g_real.memalign(align, n);
  return allocate_large(api, n, a, false, caller, [&] { return g_real.memalign(align, n); });
}

// malloc's body, for callers inside the shim: they must not call the
// exported malloc (the loader would bind that call back to the shim).
__attribute__((noinline, cold)) void* malloc_for(size_t n, void* caller) {
  if (n < g_malloc_threshold) return g_real.malloc(n);
  return allocate_large(HUGESHIM_API_MALLOC, n, 0, false, caller, [n] { return g_real.malloc(n); });
}

// realloc of a pointer the real allocator (or the bootstrap buffer) handed
// out, or NULL, that the fast path (realloc_is_plain) did not take.
void* realloc_heap(void* p, size_t n, void* caller) {
  if (bootstrap_owns(p)) {
    void* out = malloc_for(n, caller);
    size_t old = bootstrap_usable_size(p);
    if (out) memcpy(out, p, n < old ? n : old);
    return out;
  }
  if (n < g_malloc_threshold) return g_real.realloc(p, n);
  if (!p) return allocate_large(HUGESHIM_API_REALLOC, n, 0, false, caller, [n] { return g_real.malloc(n); });
  // A heap block grows past the threshold: move it into a region, or let
  // the real realloc do it when the shim passes the request on (then p is
  // its business); under ON_FALLBACK=fail a refused request returns NULL
  // with p untouched.
  size_t old = g_real.malloc_usable_size(p);
  bool real_moved = false;
  void* out = allocate_large(HUGESHIM_API_REALLOC, n, 0, false, caller, [&] {
    real_moved = true;
    return g_real.realloc(p, n);
  });
  if (!out || real_moved) return out;
  memcpy(out, p, old < n ? old : n);
  g_real.free(p);
  return out;
}

__attribute__((noinline, cold)) void* realloc_in_window(void* p, size_t n, void* caller) {
  if (foreign_block(p)) return realloc_heap(p, n, caller);
  return realloc_ours(p, n, caller);
}

// Whether realloc(p, n) is the real allocator's business alone: p is not in
// the window nor a bootstrap block (NULL is neither), and n stays below the
// threshold. Then realloc is a tail call into the real realloc.
__attribute__((always_inline)) inline bool realloc_is_plain(void* p, size_t n) {
  return !arena_contains(p) && !bootstrap_owns(p) && n < g_malloc_threshold;
}

// Every other realloc: out of line, so that the fast path keeps no frame.
__attribute__((noinline, cold)) void* realloc_slow(void* p, size_t n, void* caller) {
  if (arena_contains(p)) return realloc_in_window(p, n, caller);
  return realloc_heap(p, n, caller);
}

// calloc whose product overflows or reaches the threshold.
__attribute__((noinline, cold)) void* calloc_slow(size_t n, size_t m, void* caller) {
  size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return allocate_large(HUGESHIM_API_CALLOC, total, 0, true, caller, [n, m] { return g_real.calloc(n, m); });
}

// malloc_usable_size of a pointer inside the window: the region's, or the
// real allocator's for a block that is not the shim's.
__attribute__((noinline, cold)) size_t usable_in_window(void* p) {
  if (foreign_block(p))
    return bootstrap_owns(p) ? bootstrap_usable_size(p) : g_real.malloc_usable_size(p);
  Region* r = region_find(p);
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  return r && a < r->base + r->mapped ? r->base + r->mapped - a : 0;
}

}  // namespace
}  // namespace hugeshim

using namespace hugeshim;

HUGESHIM_EXPORT void* malloc(size_t n) {
  if (__builtin_expect(n < g_malloc_threshold, 1)) return g_real.malloc(n);
  return allocate_large(HUGESHIM_API_MALLOC, n, 0, false, __builtin_return_address(0),
                        [n] { return g_real.malloc(n); });
}

HUGESHIM_EXPORT void free(void* p) {
  if (__builtin_expect(!arena_contains(p), 1)) {
    free_heap(p);
    return;
  }
  release_large(p, __builtin_return_address(0));
}

HUGESHIM_EXPORT void* calloc(size_t n, size_t m) {
  size_t total;
  bool overflow = __builtin_mul_overflow(n, m, &total);
  if (__builtin_expect(!overflow && total < g_malloc_threshold, 1)) return g_real.calloc(n, m);
  return calloc_slow(n, m, __builtin_return_address(0));
}

HUGESHIM_EXPORT void* realloc(void* p, size_t n) {
  if (__builtin_expect(realloc_is_plain(p, n), 1)) return g_real.realloc(p, n);
  return realloc_slow(p, n, __builtin_return_address(0));
}

HUGESHIM_EXPORT void* reallocarray(void* p, size_t n, size_t m) {
  size_t total;
  if (__builtin_mul_overflow(n, m, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (__builtin_expect(realloc_is_plain(p, total), 1)) return g_real.realloc(p, total);
  return realloc_slow(p, total, __builtin_return_address(0));
}

HUGESHIM_EXPORT int posix_memalign(void** out, size_t align, size_t n) {
  if (__builtin_expect(n < g_malloc_threshold, 1)) return g_real.posix_memalign(out, align, n);
  if (!is_pow2(align) || align % sizeof(void*) || align > kPage1G)
    return g_real.posix_memalign(out, align, n);
  int rc = 0;
  void* p = allocate_large(HUGESHIM_API_POSIX_MEMALIGN, n, align, false, __builtin_return_address(0),
                           [&] {
                             void* q = nullptr;
                             rc = g_real.posix_memalign(&q, align, n);
                             return q;
                           });
  if (!p) return rc ? rc : ENOMEM;
  *out = p;
  return 0;
}

HUGESHIM_EXPORT void* aligned_alloc(size_t align, size_t n) {
  if (__builtin_expect(n < g_malloc_threshold, 1)) return g_real.aligned_alloc(align, n);
  return aligned_large(HUGESHIM_API_ALIGNED_ALLOC, align, n, __builtin_return_address(0));
}

HUGESHIM_EXPORT void* memalign(size_t align, size_t n) {
  if (__builtin_expect(n < g_malloc_threshold, 1)) return g_real.memalign(align, n);
  return aligned_large(HUGESHIM_API_MEMALIGN, align, n, __builtin_return_address(0));
}

HUGESHIM_EXPORT void* valloc(size_t n) {
  if (__builtin_expect(n < g_malloc_threshold, 1)) return g_real.valloc(n);
  return allocate_large(HUGESHIM_API_VALLOC, n, 0, false, __builtin_return_address(0),
                        [n] { return g_real.valloc(n); });
}

HUGESHIM_EXPORT void* pvalloc(size_t n) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t rounded = (n + page - 1) & ~(page - 1);
  if (__builtin_expect(rounded < g_malloc_threshold || rounded < n, 1)) return g_real.pvalloc(n);
  return allocate_large(HUGESHIM_API_PVALLOC, rounded, 0, false, __builtin_return_address(0),
                        [n] { return g_real.pvalloc(n); });
}

HUGESHIM_EXPORT size_t malloc_usable_size(void* p) {
  if (__builtin_expect(!arena_contains(p), 1)) {
    if (__builtin_expect(bootstrap_owns(p), 0)) return bootstrap_usable_size(p);
    return g_real.malloc_usable_size(p);
  }
  return usable_in_window(p);
}
