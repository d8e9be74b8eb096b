// The arena: one reserved range of address space (PROT_NONE, MAP_NORESERVE)
// that holds every redirected region, so "is p ours?" is a range check and
// "which region?" is an index lookup (a pagemap, one entry per 2 MiB granule).
//
// Invariants:
// - g_arena_base/g_arena_size are set once at load and never change; before
//   that (or when the reservation failed) size is 0 and nothing is ours.
// - Every granule is either free (in the extent set) or owned by exactly one
//   live or cached region, whose index is in the pagemap for all its granules.
// - All mutation happens under arena_lock(); region_find() reads the pagemap
//   without the lock, which is safe because a pointer the program passes to
//   free/realloc is live, so its entries cannot change under it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "region.h"

namespace hugeshim {

constexpr size_t kGranule = size_t{2} << 20;  // 2 MiB
constexpr size_t kGiB = size_t{1} << 30;

// Reserves the arena and its metadata. Returns false (shim passes through)
// when the address space cannot be had.
bool arena_init();

void arena_lock();
void arena_unlock();
// In the child after fork: the lock may have been held by a thread that does
// not exist there; the prepare handler took it, so re-initialise it.
void arena_reset_lock_in_child();

// Finds `span` bytes (a multiple of kGranule) aligned to `align` (a power of
// two >= kGranule). Returns 0 if the arena is full. Caller holds the lock.
uintptr_t arena_take(size_t span, size_t align);
// Takes [addr, addr + len) if it is free; false otherwise. Caller holds the lock.
bool arena_take_at(uintptr_t addr, size_t len);
// Returns [addr, addr + len) to the free set. Caller holds the lock.
void arena_give(uintptr_t addr, size_t len);

// Region table. Caller holds the lock for new/delete.
Region* region_table_new();
void region_table_delete(Region* r);
// Points the pagemap entries of [addr, addr + len) at r (nullptr clears).
void pagemap_set(uintptr_t addr, size_t len, Region* r);
Region* pagemap_get(uintptr_t addr);

}  // namespace hugeshim
