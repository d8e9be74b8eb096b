// How the shim lays out huge page memory for a program's mmap, and how it
// turns hugetlb pages back into ordinary anonymous memory when the program
// asks for something hugetlb cannot do (cut a 2 MiB page, grow, move).
// Raw syscalls only (os/os.h); every function returns 0 or an errno value
// and leaves the program's errno alone.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mmap/table.h"

namespace hugeshim {

// Maps len bytes (a multiple of 4 KiB) of private anonymous memory with the
// program's prot and flags (MAP_PRIVATE|MAP_ANONYMOUS|extra), starting at an
// address congruent to `phase` modulo 2 MiB, advised MADV_HUGEPAGE: over-maps
// by 2 MiB and unmaps the head and tail. *advise_err: the advice's errno.
int layout_map_thp(size_t len, int prot, int flags, uintptr_t phase, uintptr_t* out, int* advise_err);

// Maps len bytes read/write: base pages for len mod 2 MiB, then a 2 MiB aligned
// hugetlb body of floor(len / 2 MiB) pages, reserved from the pool now (no
// MAP_NORESERVE: a short pool is a clean ENOMEM, never a later SIGBUS).
// *out: the start; the body is [*huge_lo, *huge_lo + *huge_bytes). EEXIST when
// the base-page head has no room below the body.
int layout_map_hugetlb(size_t len, uintptr_t* out, uintptr_t* huge_lo, size_t* huge_bytes);

// Replaces the 2 MiB hugetlb page at `page` by base pages with the same
// contents and protection (copy into a fresh mapping, which is then moved
// over the page by mremap in one step).
int layout_demote_page(uintptr_t page, int prot);

// Replaces the whole of r by one fresh anonymous mapping (MADV_HUGEPAGE) with
// the same contents and protection, i.e. exactly what the kernel would hold
// for the program had it mapped [r.lo, r.hi) itself; r becomes kind thp.
int layout_consolidate(MappedRange& r);

// Demotes the hugetlb page of r containing address `cut`, unless cut is on a
// 2 MiB boundary or outside r's huge interval, so that the kernel can split
// the mapping there. The huge interval is left as it is (a superset of the
// hugetlb pages); mmap_table_subtract() clips it once the cut is made.
int layout_prepare_cut(MappedRange& r, uintptr_t cut);

}  // namespace hugeshim
