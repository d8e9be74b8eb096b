// Backing: the OS primitives that reserve, map, advise, bind, populate and
// lock memory for the shim: region memory in the arena and the mmap engine's
// ranges alike. Only backing_reserve and backing_mapped look at address space
// the caller does not own; every other function works on ranges the caller
// owns. All return 0 or an errno value and leave the program's errno as it
// was.
#pragma once

#include <cstddef>
#include <cstdint>

#include "os/os.h"

namespace hugeshim {

// Returned by the map functions when a failed MAP_FIXED left a hole in the
// reservation and the reservation could not be put back with certainty
// (another thread's mapping may now live there). The range must never be
// mapped over or handed out again.
constexpr int kRangeLost = -1;

// Reserves [addr, addr + len) as inaccessible address space (PROT_NONE,
// MAP_NORESERVE) without replacing anything (MAP_FIXED_NOREPLACE): 0, EEXIST
// when any page of it is mapped already, or the kernel's refusal (ENOMEM for
// RLIMIT_AS or the map count, EINVAL past the end of user space).
int backing_reserve(uintptr_t addr, size_t len);

// Gives [addr, addr + len), which the shim reserved or mapped, back to the
// kernel (munmap): the address space is the program's again.
void backing_release(uintptr_t addr, size_t len);

// Whether every page of [addr, addr + len) is mapped, by anyone (mincore).
bool backing_mapped(uintptr_t addr, size_t len);

// Replaces the reservation over [addr, addr + len) with private hugetlb pages
// of page_size (2 MiB or 1 GiB). Without MAP_NORESERVE, so the pool must cover
// the range now: ENOMEM is a clean "pool empty" and a later touch cannot SIGBUS.
// The pool is checked first, so a short pool does not even reach the kernel
// (a failed MAP_FIXED unmaps the reservation: measured on 6.18).
int backing_map_hugetlb(uintptr_t addr, size_t len, size_t page_size);

// Replaces the reservation with private anonymous memory; with thp it is
// advised MADV_HUGEPAGE and *advise_err says whether the advice was refused.
int backing_map_anon(uintptr_t addr, size_t len, bool thp, int* advise_err);

// Puts the reservation back over [addr, addr + len), which must be mapped by
// the shim: its pages (hugetlb ones included) return to the system at once,
// the address space stays the shim's.
void backing_unmap(uintptr_t addr, size_t len);

// Applies a NUMA policy (node >= 0: preferred node; -2: interleave over all
// allowed nodes) before the range is touched.
int backing_bind(uintptr_t addr, size_t len, int32_t node);

// Faults every page of the range in, split over up to `threads` threads.
int backing_populate(uintptr_t addr, size_t len, unsigned threads);

int backing_lock(uintptr_t addr, size_t len);

// NUMA node of the page at addr (must be faulted in), -1 if unknown.
int32_t backing_node_of(uintptr_t addr);

// Hugetlb pages of page_size that a new mapping could reserve now
// (free - reserved), from sysfs; 0 when that size does not exist.
size_t backing_hugetlb_available(size_t page_size);

// Bytes of [addr, addr + len) backed by transparent huge pages: the
// AnonHugePages of the VMAs overlapping it in /proc/self/smaps, prorated by
// overlap. 0 when smaps cannot be read. Never allocates.
uint64_t backing_thp_bytes(uintptr_t addr, size_t len);

// The host's THP fault and direct compaction counters from /proc/vmstat;
// false when they cannot be read.
bool backing_thp_vmstat(uint64_t* thp_fault_alloc, uint64_t* thp_fault_fallback, uint64_t* compact_stall,
                        uint64_t* compact_fail);

// Whether THP can serve madvised memory ("always" or "madvise"); read at load.
bool backing_thp_usable();
void backing_init();

}  // namespace hugeshim
