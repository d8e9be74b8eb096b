// Bringing in the pages of memory the PROGRAM owns (a range it is about to
// register with CUDA), as opposed to backing.h, which works on the shim's own
// fresh ranges. Nothing here ever writes to the memory itself: pages come in
// through the kernel (MADV_POPULATE_WRITE / MADV_POPULATE_READ), which keeps
// every byte as it was. A kernel without those advices (before 5.14) gets
// nothing done: writing the program's pages to fault them is not an option.
// All functions keep the program's errno.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hugeshim {

// Faults [addr, addr + len) (page-aligned) in with MADV_POPULATE_WRITE, or
// MADV_POPULATE_READ when `write` is false, split over up to `threads`
// threads (at least 64 MiB each). 0 or the first errno.
int populate_existing(uintptr_t addr, size_t len, unsigned threads, bool write);

// Whether every page of [addr, addr + len) (page-aligned) is resident
// (mincore, 16 MiB per call, stops at the first missing page). For shared
// memory this is residency in the page cache, not in this process's tables.
bool range_resident(uintptr_t addr, size_t len);

// madvise(MADV_HUGEPAGE) on [addr, addr + len) (2 MiB-aligned): 0 or errno.
int advise_hugepage(uintptr_t addr, size_t len);

// The memory policy of the task (addr 0) or of the VMA at addr: the mode
// (MPOL_DEFAULT = 0 when none), or -1 when it cannot be read.
int memory_policy_mode(uintptr_t addr);

}  // namespace hugeshim
