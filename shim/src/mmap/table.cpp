#include "mmap/table.h"

#include <pthread.h>

#include "os/os.h"

namespace hugeshim {
namespace {

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
MappedRange g_slots[kMaxMappedRanges];
size_t g_count = 0;
size_t g_high = 0;  // slots at and above g_high are unused: scans stop there
// Every entry lies inside [g_box_lo, g_box_hi); grows on insert, resets when
// the table empties. Read without the lock for the fast "not ours" answer.
uintptr_t g_box_lo = ~uintptr_t{0}, g_box_hi = 0;

// Clips an entry's huge interval to its (shrunk) range, keeping 2 MiB alignment.
void clip_huge(MappedRange& r) {
  uintptr_t lo = round_up(r.lo, kPage2M);
  uintptr_t hi = round_down(r.hi, kPage2M);
  if (r.huge_lo < lo) r.huge_lo = lo;
  if (r.huge_hi > hi) r.huge_hi = hi;
  if (r.huge_lo >= r.huge_hi) r.huge_lo = r.huge_hi = 0;
}

}  // namespace

void mmap_table_lock() { pthread_mutex_lock(&g_lock); }
void mmap_table_unlock() { pthread_mutex_unlock(&g_lock); }
void mmap_table_reset_lock_in_child() { pthread_mutex_init(&g_lock, nullptr); }

size_t mmap_table_count() { return __atomic_load_n(&g_count, __ATOMIC_RELAXED); }
size_t mmap_table_free() { return kMaxMappedRanges - g_count; }
MappedRange* mmap_table_slots() { return g_slots; }
size_t mmap_table_high() { return g_high; }

bool mmap_table_may_overlap(uintptr_t lo, uintptr_t hi) {
  return lo < __atomic_load_n(&g_box_hi, __ATOMIC_RELAXED) && __atomic_load_n(&g_box_lo, __ATOMIC_RELAXED) < hi;
}

bool mmap_table_overlaps(uintptr_t lo, uintptr_t hi) {
  bool any = false;
  mmap_table_each(lo, hi, [&](MappedRange&) { any = true; });
  return any;
}

bool mmap_table_insert(const MappedRange& r) {
  for (size_t i = 0; i < kMaxMappedRanges; ++i) {
    MappedRange& s = g_slots[i];
    if (s.used) continue;
    s = r;
    s.used = true;
    clip_huge(s);
    if (i >= g_high) g_high = i + 1;
    if (r.lo < g_box_lo) __atomic_store_n(&g_box_lo, r.lo, __ATOMIC_RELAXED);
    if (r.hi > g_box_hi) __atomic_store_n(&g_box_hi, r.hi, __ATOMIC_RELAXED);
    __atomic_store_n(&g_count, g_count + 1, __ATOMIC_RELAXED);
    return true;
  }
  return false;
}

void mmap_table_subtract(uintptr_t lo, uintptr_t hi) {
  mmap_table_each(lo, hi, [&](MappedRange& r) {
    MappedRange upper = r;
    bool has_lower = r.lo < lo, has_upper = hi < r.hi;
    if (!has_lower && !has_upper) {
      r.used = false;
      __atomic_store_n(&g_count, g_count - 1, __ATOMIC_RELAXED);
      while (g_high > 0 && !g_slots[g_high - 1].used) --g_high;
      if (g_count == 0) {
        __atomic_store_n(&g_box_lo, ~uintptr_t{0}, __ATOMIC_RELAXED);
        __atomic_store_n(&g_box_hi, uintptr_t{0}, __ATOMIC_RELAXED);
      }
      return;
    }
    if (has_lower) {
      r.hi = lo;
      clip_huge(r);
    } else {
      r.lo = hi;
      clip_huge(r);
      return;
    }
    if (has_upper) {
      upper.lo = hi;
      upper.used = false;
      mmap_table_insert(upper);  // full table: the upper piece goes untracked (see header)
    }
  });
}

}  // namespace hugeshim
