// The exported mmap family. Each entry's fast path is a compare and the raw
// system call (what glibc's wrapper does): mmap below the threshold or of a
// kind the shim leaves alone, and munmap/mremap/mprotect/madvise while the
// shim tracks nothing (or nothing in the range).
//
// Large anonymous private mappings become huge page memory (mmap_layout.h);
// read-only file mappings may become copies (mmap_file_copy.h). Later calls
// on them keep the kernel's answers, errno and contents: THP memory is the
// kernel's own mapping, so only hugetlb pages need care (cuts on a 2 MiB page
// demote that page first; mprotect, mremap and most advice consolidate the
// range into one ordinary mapping first). See docs/MMAP.md.
#include <pthread.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "core/arena.h"
#include "core/bootstrap.h"
#include "core/fallback.h"
#include "core/policy.h"
#include "core/region.h"
#include "entry/entry.h"
#include "entry/export.h"
#include "hugeshim/events.h"
#include "hugeshim/log.h"
#include "hugeshim/options.h"
#include "mmap/file_copy.h"
#include "mmap/layout.h"
#include "mmap/table.h"
#include "os/backing.h"
#include "os/os.h"
#include "telemetry/telemetry.h"

namespace hugeshim {
namespace {

// Smallest anonymous mapping redirected; SIZE_MAX until mmap_entry_init() has run
// (after the options are loaded), so early calls pass through.
size_t g_mmap_min = ~size_t{0};
// Smallest anonymous mapping served (SIZE_MAX: none, only file copies).
size_t g_anon_min = ~size_t{0};
// The operator named 2M in HUGESHIM_PAGES: anonymous maps may use hugetlb.
bool g_mmap_hugetlb = false;
bool g_mmap_thp = false;
bool g_file_copy = false;

constexpr int kProtRWX = PROT_READ | PROT_WRITE | PROT_EXEC;

// Adds the part of r inside [a, e) to an unmap/remap event.
void account(const MappedRange& r, uintptr_t a, uintptr_t e, Event* ev) {
  uintptr_t lo = a > r.lo ? a : r.lo, hi = e < r.hi ? e : r.hi;
  if (lo >= hi) return;
  uintptr_t hl = lo > r.huge_lo ? lo : r.huge_lo, hh = hi < r.huge_hi ? hi : r.huge_hi;
  uint64_t huge = hh > hl ? hh - hl : 0;
  ev->flags |= HUGESHIM_EVENT_REDIRECTED;
  ev->mapped += hi - lo;
  ev->page_bytes[HUGESHIM_PAGE_2M] += huge;
  ev->page_bytes[r.rest_thp ? HUGESHIM_PAGE_THP : HUGESHIM_PAGE_BASE] += hi - lo - huge;
}

// Whether an anonymous mmap is one the shim serves.
bool anon_eligible(void* addr, size_t len, int prot, int flags, off_t off) {
  return (flags & MAP_TYPE) == MAP_PRIVATE && len >= g_anon_min && !(prot & ~kProtRWX) && off == 0 &&
         !(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_STACK | MAP_GROWSDOWN | MAP_HUGETLB | MAP_32BIT)) &&
         !(addr && (flags & MAP_LOCKED)) && round_up(len, kBasePage) >= len && len + kPage2M > len;
}

// Applies what the program's MAP_POPULATE / MAP_LOCKED asked for (after the
// huge page advice, so the pages fault in huge) and the operator's
// HUGESHIM_POPULATE / HUGESHIM_PIN. False when MAP_LOCKED cannot be honoured:
// the caller then gives the program the kernel's own answer. *shim_locked:
// whether the shim (not the program) locked the range.
bool finish_mapping(uintptr_t base, size_t len, int prot, int flags, Event* ev, bool* shim_locked) {
  uint64_t t0 = now_ns();
  int32_t node = policy_host_node();
  if (node != -1) backing_bind(base, len, node);
  // Operator-wide eager populate and mlock skip MAP_NORESERVE maps: those are
  // address-space reservations, often far larger than what gets used.
  bool reservation = flags & MAP_NORESERVE;
  bool populate = (flags & MAP_POPULATE) || (g_options.populate == Populate::eager && !reservation);
  if (populate && (prot & PROT_WRITE)) backing_populate(base, len, g_options.prefault_threads);
  else if (populate && (prot & PROT_READ)) os_madvise(as_ptr(base), len, MADV_POPULATE_READ);
  uint64_t t1 = now_ns();
  ev->phase_ns[HUGESHIM_PHASE_POPULATE] = t1 - t0;
  if (flags & MAP_LOCKED) {
    if (backing_lock(base, len) != 0) return false;
  } else if (g_options.pin == PinMode::mlock && prot != PROT_NONE && !reservation) {
    int err = backing_lock(base, len);
    if (err) fallback_note(HUGESHIM_FALLBACK_LOCK_FAILED, err, len);
    *shim_locked = err == 0;
  }
  ev->phase_ns[HUGESHIM_PHASE_LOCK] = now_ns() - t1;
  return true;
}

void* map_anon(void* addr, size_t len, int prot, int flags, int fd, off_t off, void* caller) {
  ShimScope scope;
  int saved = errno;
  Event ev = event_start(HUGESHIM_API_MMAP, len, caller);
  size_t mapped = round_up(len, kBasePage);
  int inner_flags = flags & ~(MAP_POPULATE | MAP_LOCKED);
  uintptr_t base = 0;
  MappedRange range{0, 0, 0, 0, prot, MapKind::thp, true, true};

  if (g_mmap_hugetlb && !addr && prot == (PROT_READ | PROT_WRITE) && !(flags & MAP_NORESERVE)) {
    size_t huge = 0;
    uintptr_t huge_lo = 0;
    mmap_table_lock();
    bool room = mmap_table_free() > 0;  // hugetlb ranges must be tracked
    mmap_table_unlock();
    int err = room ? layout_map_hugetlb(mapped, &base, &huge_lo, &huge) : ENOSPC;
    if (!err) {
      range.kind = MapKind::hugetlb;
      range.rest_thp = false;
      range.huge_lo = huge_lo;
      range.huge_hi = huge_lo + huge;
      ev.page_bytes[HUGESHIM_PAGE_2M] = huge;
      ev.page_bytes[HUGESHIM_PAGE_BASE] = mapped - huge;
    } else {
      base = 0;
      ev.fallback = err == ENOMEM ? HUGESHIM_FALLBACK_POOL_EMPTY : HUGESHIM_FALLBACK_MMAP_ERROR;
      ev.err = err;
      fallback_note(ev.fallback, err, len);
    }
  }
  if (!base && g_mmap_thp) {
    int advise_err = 0;
    if (addr) {
      // A hint is honoured as the kernel would: same address or elsewhere,
      // no alignment games that could move a mapping the hint would place.
      void* p = os_mmap(addr, mapped, prot, inner_flags, fd, off);
      if (p != MAP_FAILED) {
        base = as_addr(p);
        advise_err = os_madvise(p, mapped, MADV_HUGEPAGE) == 0 ? 0 : errno;
      }
    } else if (layout_map_thp(mapped, prot, inner_flags, 0, &base, &advise_err) != 0) {
      base = 0;
    }
    if (base) {
      ev.page_bytes[HUGESHIM_PAGE_THP] = mapped;
      if (advise_err && ev.fallback == HUGESHIM_FALLBACK_NONE) {
        ev.fallback = HUGESHIM_FALLBACK_THP_DISABLED;
        ev.err = advise_err;
        fallback_note(ev.fallback, advise_err, len);
      }
    }
  }
  if (base) ev.phase_ns[HUGESHIM_PHASE_RESERVE] = now_ns() - ev.start_ns;
  if (base && !finish_mapping(base, mapped, prot, flags, &ev, &range.shim_locked)) {
    os_munmap(as_ptr(base), mapped);
    base = 0;
    ev.fallback = HUGESHIM_FALLBACK_LOCK_FAILED;
  }
  if (!base && ev.fallback == HUGESHIM_FALLBACK_NONE) ev.fallback = HUGESHIM_FALLBACK_MMAP_ERROR;
  // HUGESHIM_ON_FALLBACK=fail: the first rung or nothing, as for malloc. A
  // call the kernel itself must answer (MAP_LOCKED refused, the shim's own
  // mapping refused) still gets the kernel's answer.
  if (g_options.on_fallback == OnFallback::fail && ev.fallback != HUGESHIM_FALLBACK_NONE &&
      ev.fallback != HUGESHIM_FALLBACK_MMAP_ERROR && ev.fallback != HUGESHIM_FALLBACK_LOCK_FAILED) {
    if (base) os_munmap(as_ptr(base), mapped);
    ev.flags |= HUGESHIM_EVENT_FAILED;
    ev.result = -1;
    ev.err = ENOMEM;
    memset(ev.page_bytes, 0, sizeof ev.page_bytes);
    telemetry_emit(ev);
    errno = ENOMEM;
    return MAP_FAILED;
  }
  if (!base) {
    // Whatever the shim could not do, the kernel answers as it would have.
    errno = saved;
    void* p = os_mmap(addr, len, prot, flags, fd, off);
    ev.address = as_addr(p);
    ev.page_bytes[HUGESHIM_PAGE_2M] = ev.page_bytes[HUGESHIM_PAGE_THP] = 0;
    ev.page_bytes[HUGESHIM_PAGE_BASE] = p == MAP_FAILED ? 0 : mapped;
    if (p == MAP_FAILED) {
      ev.flags |= HUGESHIM_EVENT_FAILED;
      ev.result = -1;
      ev.err = errno;
    }
    int err = errno;
    telemetry_emit(ev);
    errno = err;
    return p;
  }
  range.lo = base;
  range.hi = base + mapped;
  mmap_table_lock();
  mmap_table_insert(range);  // a full table leaves a thp range untracked (kernel semantics regardless)
  mmap_table_unlock();
  ev.flags |= HUGESHIM_EVENT_REDIRECTED;
  ev.address = base;
  ev.mapped = mapped;
  telemetry_emit(ev);
  errno = saved;
  return as_ptr(base);
}

// Validated page range of a munmap/mprotect/madvise call: false when the
// kernel would reject the arguments anyway (it then answers on its own).
bool page_range(void* addr, size_t len, uintptr_t* a, uintptr_t* e) {
  *a = as_addr(addr);
  if (*a % kBasePage || len == 0) return false;
  uintptr_t rounded = round_up(len, kBasePage);
  if (rounded < len || *a + rounded < *a) return false;
  *e = *a + rounded;
  return true;
}

// Makes [a, e) cuttable at its ends in every tracked range: hugetlb pages
// holding a or e are demoted. A split needing a slot the table lacks turns
// the range into an ordinary mapping first.
void prepare_cuts(uintptr_t a, uintptr_t e) {
  mmap_table_each(a, e, [&](MappedRange& r) {
    if (r.kind == MapKind::thp) return;
    if (a > r.lo && e < r.hi && mmap_table_free() == 0 && layout_consolidate(r) == 0) return;
    layout_prepare_cut(r, a);
    layout_prepare_cut(r, e);
  });
}

void consolidate_all(uintptr_t a, uintptr_t e) {
  mmap_table_each(a, e, [&](MappedRange& r) { layout_consolidate(r); });
}

// munmap, or the implicit unmap of a MAP_FIXED mmap, over tracked ranges.
template <typename Call>
auto unmap_tracked(uintptr_t a, uintptr_t e, void* caller, Call call) {
  ShimScope scope;
  Event ev = event_start(HUGESHIM_API_MUNMAP, e - a, caller);
  ev.address = a;
  mmap_table_lock();
  mmap_table_each(a, e, [&](MappedRange& r) { account(r, a, e, &ev); });
  prepare_cuts(a, e);
  auto result = call();
  int err = errno;
  bool ok = result != decltype(result)(-1);
  if (ok) mmap_table_subtract(a, e);
  mmap_table_unlock();
  if (!ok) {
    ev.flags |= HUGESHIM_EVENT_FAILED;
    ev.result = -1;
    ev.err = err;
  }
  if (ev.flags & HUGESHIM_EVENT_REDIRECTED) telemetry_emit(ev);
  errno = err;
  return result;
}

bool tracking(uintptr_t a, uintptr_t e) {
  if (t_in_shim || mmap_table_count() == 0 || !mmap_table_may_overlap(a, e)) return false;
  mmap_table_lock();
  bool any = mmap_table_overlaps(a, e);
  mmap_table_unlock();
  return any;
}

void* mmap_impl(void* addr, size_t len, int prot, int flags, int fd, off_t off, void* caller) {
  if (__builtin_expect(len >= g_mmap_min && !t_in_shim, 0)) {
    if (flags & MAP_ANONYMOUS) {
      if (anon_eligible(addr, len, prot, flags, off)) return map_anon(addr, len, prot, flags, fd, off, caller);
    } else if (g_file_copy && file_copy_shape(addr, len, prot, flags, off)) {
      ShimScope scope;
      void* out;
      if (file_copy_map(len, flags, fd, off, caller, &out)) return out;
    }
  }
  // MAP_FIXED over a range of ours unmaps part of it: prepare it like munmap.
  uintptr_t a, e;
  if ((flags & MAP_FIXED) && mmap_table_count() && page_range(addr, len, &a, &e) && tracking(a, e))
    return unmap_tracked(a, e, caller, [&] { return os_mmap(addr, len, prot, flags, fd, off); });
  return os_mmap(addr, len, prot, flags, fd, off);
}

int mprotect_tracked(uintptr_t a, uintptr_t e, int prot) {
  ShimScope scope;
  int saved = errno;
  mmap_table_lock();
  bool refuse = false;
  mmap_table_each(a, e, [&](MappedRange& r) {
    // A shared mapping of a file opened read-only can never become writable.
    if (r.kind == MapKind::file_shared && (prot & PROT_WRITE)) refuse = true;
  });
  if (refuse) {
    mmap_table_unlock();
    errno = EACCES;
    return -1;
  }
  // A range wholly inside [a, e) stays uniform: it only changes protection.
  // One cut by a or e would no longer be: make it one ordinary mapping.
  mmap_table_each(a, e, [&](MappedRange& r) {
    if (r.kind != MapKind::thp && (r.lo < a || r.hi > e)) layout_consolidate(r);
  });
  errno = saved;
  int rc = os_mprotect(as_ptr(a), e - a, prot);
  int err = errno;
  if (rc == 0) {
    mmap_table_each(a, e, [&](MappedRange& r) {
      r.prot = prot;
      // Written private pages no longer equal the file: anonymous semantics.
      if (r.kind == MapKind::file_private && (prot & PROT_WRITE)) r.kind = MapKind::hugetlb;
    });
  }
  mmap_table_unlock();
  errno = err;
  return rc;
}

// Advice that leaves hugetlb pages as they are and behaves as on base pages
// once no page is cut: populating.
bool advice_keeps_hugetlb(int advice) { return advice == MADV_POPULATE_READ || advice == MADV_POPULATE_WRITE; }

// Advice whose effect on an unchanged read-only file copy is nil: the kernel
// would drop or prefetch page cache pages holding the same bytes.
bool advice_is_cache_only(int advice) {
  return advice == MADV_DONTNEED || advice == MADV_WILLNEED || advice == MADV_COLD || advice == MADV_PAGEOUT;
}

// Advice the kernel refuses (EINVAL) on locked memory. Memory the shim
// locked for HUGESHIM_PIN=mlock is unlocked memory as far as the program
// knows, so it gets the answer (and the zeroes) it would get there: unlock,
// advise, lock again.
bool advice_refused_when_locked(int advice) { return advice == MADV_DONTNEED || advice == MADV_FREE; }

int advise_unlocked(uintptr_t a, uintptr_t e, int advice) {
  os_munlock(as_ptr(a), e - a);
  int rc = os_madvise(as_ptr(a), e - a, advice);
  int err = errno;
  os_mlock(as_ptr(a), e - a);
  errno = err;
  return rc;
}

// madvise inside the arena's window on a malloc region the shim locked:
// true, with the answer in *rc. Anything else in the window (other regions,
// the program's own mappings there) takes the ordinary path.
bool madvise_region(void* addr, size_t len, int advice, int* rc) {
  uintptr_t a, e;
  const Region* r = advice_refused_when_locked(advice) && page_range(addr, len, &a, &e) ? region_find(addr) : nullptr;
  if (!r || !r->locked || a < r->base || e > r->base + r->mapped) return false;
  ShimScope scope;
  *rc = advise_unlocked(a, e, advice);
  return true;
}

int madvise_tracked(uintptr_t a, uintptr_t e, int advice) {
  ShimScope scope;
  int saved = errno;
  mmap_table_lock();
  bool file_only = true, any_file = false;
  uintptr_t shim_locked_bytes = 0;  // entries never overlap: the covered part of [a, e)
  mmap_table_each(a, e, [&](MappedRange& r) {
    bool file = r.kind == MapKind::file_private || r.kind == MapKind::file_shared;
    any_file |= file;
    file_only &= file;
    if (r.shim_locked) shim_locked_bytes += (e < r.hi ? e : r.hi) - (a > r.lo ? a : r.lo);
  });
  file_only &= any_file;  // (no entry at all: a racing munmap emptied the range)
  int rc;
  if (file_only && (advice == MADV_FREE || advice == MADV_WIPEONFORK)) {
    // Refused by the kernel for file mappings.
    mmap_table_unlock();
    errno = EINVAL;
    return -1;
  }
  if (file_only && advice_is_cache_only(advice)) {
    // Same bytes before and after: only the kernel's check that the range is
    // mapped remains, which populating (a no-op on the filled copy) makes.
    errno = saved;
    rc = os_madvise(as_ptr(a), e - a, MADV_POPULATE_READ);
  } else {
    if (advice_keeps_hugetlb(advice) && !any_file) prepare_cuts(a, e);
    else consolidate_all(a, e);
    errno = saved;
    bool all_shim_locked = shim_locked_bytes == e - a;
    rc = all_shim_locked && advice_refused_when_locked(advice) ? advise_unlocked(a, e, advice)
                                                               : os_madvise(as_ptr(a), e - a, advice);
  }
  int err = errno;
  mmap_table_unlock();
  errno = err;
  return rc;
}

void* mremap_impl(void* old, size_t old_len, size_t new_len, int flags, void* new_addr, void* caller) {
  uintptr_t a = as_addr(old), e = a + round_up(old_len, kBasePage);
  uintptr_t na = as_addr(new_addr), ne = na + round_up(new_len, kBasePage);
  bool fixed = flags & MREMAP_FIXED;
  if (t_in_shim || mmap_table_count() == 0 || a % kBasePage || old_len == 0 || e < a || ne < na ||
      !(tracking(a, e) || (fixed && tracking(na, ne))))
    return os_mremap(old, old_len, new_len, flags, new_addr);
  ShimScope scope;
  int saved = errno;
  Event ev = event_start(HUGESHIM_API_MREMAP, new_len, caller);
  mmap_table_lock();
  int prot = PROT_READ | PROT_WRITE;
  mmap_table_each(a, e, [&](MappedRange& r) {
    account(r, a, e, &ev);
    prot = r.prot;
  });
  // The kernel moves or resizes one ordinary mapping: give it one.
  consolidate_all(a, e);
  if (fixed) consolidate_all(na, ne);
  errno = saved;
  void* p = os_mremap(old, old_len, new_len, flags, new_addr);
  int err = errno;
  if (p != MAP_FAILED) {
    if (!(flags & MREMAP_DONTUNMAP)) mmap_table_subtract(a, e);
    uintptr_t r = as_addr(p), re = r + round_up(new_len, kBasePage);
    mmap_table_subtract(r, re);
    mmap_table_insert(MappedRange{r, re, 0, 0, prot, MapKind::thp, true, true});
    if (r == a) ev.flags |= HUGESHIM_EVENT_IN_PLACE;
    ev.address = r;
    ev.mapped = re - r;
    for (uint64_t& b : ev.page_bytes) b = 0;
    ev.page_bytes[HUGESHIM_PAGE_THP] = re - r;  // a remapped range is advised THP memory
  } else {
    ev.flags |= HUGESHIM_EVENT_FAILED;
    ev.result = -1;
    ev.err = err;
  }
  mmap_table_unlock();
  ev.flags |= HUGESHIM_EVENT_REDIRECTED;
  telemetry_emit(ev);
  errno = err;
  return p;
}

}  // namespace

void mmap_entry_before_fork() { mmap_table_lock(); }
void mmap_entry_after_fork_parent() { mmap_table_unlock(); }
void mmap_entry_after_fork_child() { mmap_table_reset_lock_in_child(); }

void mmap_entry_init() {
  if (!g_options.intercept_mmap) return;
  // hugetlb breaks the sub-range semantics programs rely on for mmap, which
  // the shim then has to repair with copies: only when the operator named
  // 2 MiB pages explicitly, not through the default ladder.
  g_mmap_hugetlb = g_options.pages_explicit && g_options.ladder_has(Rung::hugetlb_2m);
  g_mmap_thp = g_options.ladder_has(Rung::thp) && backing_thp_usable();
  g_file_copy = g_options.file_map_copy;
  // Below 2 MiB no huge page fits.
  size_t anon_min = g_options.min_size > kPage2M ? g_options.min_size : kPage2M;
  if (g_mmap_hugetlb || g_mmap_thp) g_anon_min = anon_min;
  size_t min = g_anon_min;
  if (g_file_copy && g_options.file_min < min) min = g_options.file_min;
  __atomic_store_n(&g_mmap_min, min, __ATOMIC_RELEASE);
}

}  // namespace hugeshim

using namespace hugeshim;

HUGESHIM_EXPORT void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap_impl(addr, len, prot, flags, fd, off, __builtin_return_address(0));
}

HUGESHIM_EXPORT void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap_impl(addr, len, prot, flags, fd, off, __builtin_return_address(0));
}

HUGESHIM_EXPORT int munmap(void* addr, size_t len) {
  uintptr_t a, e;
  if (__builtin_expect(mmap_table_count() == 0 || t_in_shim, 1) || !page_range(addr, len, &a, &e) ||
      !tracking(a, e))
    return os_munmap(addr, len);
  return unmap_tracked(a, e, __builtin_return_address(0), [&] { return os_munmap(addr, len); });
}

HUGESHIM_EXPORT void* mremap(void* old, size_t old_len, size_t new_len, int flags, ...) {
  void* new_addr = nullptr;
  if (flags & MREMAP_FIXED) {
    va_list args;
    va_start(args, flags);
    new_addr = va_arg(args, void*);
    va_end(args);
  }
  return mremap_impl(old, old_len, new_len, flags, new_addr, __builtin_return_address(0));
}

HUGESHIM_EXPORT int mprotect(void* addr, size_t len, int prot) {
  uintptr_t a, e;
  if (__builtin_expect(mmap_table_count() == 0 || t_in_shim, 1) || (prot & ~kProtRWX) ||
      !page_range(addr, len, &a, &e) || !tracking(a, e))
    return os_mprotect(addr, len, prot);
  return mprotect_tracked(a, e, prot);
}

HUGESHIM_EXPORT int madvise(void* addr, size_t len, int advice) {
  int rc;
  if (__builtin_expect(arena_contains(addr), 0) && !t_in_shim && madvise_region(addr, len, advice, &rc)) return rc;
  uintptr_t a, e;
  if (__builtin_expect(mmap_table_count() == 0 || t_in_shim, 1) || !page_range(addr, len, &a, &e) ||
      !tracking(a, e))
    return os_madvise(addr, len, advice);
  return madvise_tracked(a, e, advice);
}
