// The mapped-range table: every mapping the shim placed on huge pages for a
// program's mmap (and that is still, at least in part, mapped), so that later
// munmap/mremap/mprotect/madvise calls can keep the kernel's semantics and be
// recorded.
//
// Invariants (under mmap_table_lock()):
// - Entries never overlap; lo < hi, both page aligned.
// - [huge_lo, huge_hi) is 2 MiB aligned and contains every hugetlb page of
//   the range (it may also contain base pages left by a demotion whose
//   syscall then failed: treating a base page as huge only costs a copy).
//   Outside it the range is ordinary anonymous memory.
// - For kinds other than thp, every page of [lo, hi) is mapped with `prot`
//   (the program's view is one uniform mapping); any call that would break
//   that first turns the range into kind thp ("consolidation").
// - A thp entry is plain kernel anonymous memory advised MADV_HUGEPAGE; it is
//   tracked only so that munmap/mremap of it can be recorded.
//
// Fixed capacity, no allocation. The lookups the interposed calls make when
// the table is empty cost one relaxed load.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hugeshim {

enum class MapKind : uint8_t {
  thp,           // kernel anonymous mapping, MADV_HUGEPAGE
  hugetlb,       // anonymous, hugetlb body + base-page tail
  file_private,  // HUGESHIM_FILE_MAP=copy of a MAP_PRIVATE PROT_READ file map
  file_shared,   // ... of a MAP_SHARED PROT_READ file map (never writable)
};

struct MappedRange {
  uintptr_t lo = 0, hi = 0;
  uintptr_t huge_lo = 0, huge_hi = 0;
  int prot = 0;
  MapKind kind = MapKind::thp;
  bool used = false;
  bool rest_thp = true;  // outside the huge interval: THP-advised (else base pages)
  bool shim_locked = false;  // mlocked by the shim for HUGESHIM_PIN=mlock, not by the program
};

constexpr size_t kMaxMappedRanges = 4096;

void mmap_table_lock();
void mmap_table_unlock();
// After fork in the child: a fresh lock (the prepare handler held it).
void mmap_table_reset_lock_in_child();

// Entries in use; relaxed, for the "nothing of ours" fast path.
size_t mmap_table_count();
// False when [lo, hi) surely overlaps no entry (bounding box; no lock).
bool mmap_table_may_overlap(uintptr_t lo, uintptr_t hi);
// True when [lo, hi) overlaps an entry. Caller holds the lock.
bool mmap_table_overlaps(uintptr_t lo, uintptr_t hi);
// Calls f(MappedRange&) for each entry overlapping [lo, hi). Caller holds the lock.
template <typename F>
void mmap_table_each(uintptr_t lo, uintptr_t hi, F f);
// Adds an entry; false when the table is full. Caller holds the lock.
bool mmap_table_insert(const MappedRange& r);
// Removes [lo, hi) from every entry (trims, splits or drops them). A split
// that finds no free slot drops the upper piece from tracking, which is only
// correct for thp entries: callers consolidate other kinds first when
// mmap_table_free() is 0. Caller holds the lock.
void mmap_table_subtract(uintptr_t lo, uintptr_t hi);
size_t mmap_table_free();

// Raw storage for mmap_table_each: the slots and the bound of used ones.
MappedRange* mmap_table_slots();
size_t mmap_table_high();

template <typename F>
void mmap_table_each(uintptr_t lo, uintptr_t hi, F f) {
  MappedRange* slots = mmap_table_slots();
  size_t high = mmap_table_high();  // entries inserted by f lie in [lo, hi)'s complement
  for (size_t i = 0; i < high; ++i)
    if (slots[i].used && slots[i].lo < hi && lo < slots[i].hi) f(slots[i]);
}

}  // namespace hugeshim
