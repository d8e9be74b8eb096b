// The arena: reserved address space (PROT_NONE, MAP_NORESERVE) that holds
// every redirected region, so "is p ours?" is a range check and "which
// region?" is an index lookup (region_table.h).
//
// Invariants:
// - g_arena_base/g_arena_size are set once at load and never change; before
//   that (or when the reservation failed) size is 0 and nothing is ours.
// - Every granule is either free (in the extent set) or taken by exactly one
//   live or cached region.
// - All mutation happens under arena_lock().
#pragma once

#include <cstddef>
#include <cstdint>

#include "os/os.h"

namespace hugeshim {

// The unit of arena address space and of the region table's index.
constexpr size_t kGranule = kPage2M;

// The arena's bounds, fixed at load (size 0: nothing is ours).
extern uintptr_t g_arena_base;
extern size_t g_arena_size;

// One compare: is p inside the arena? (No lock, no atomics.)
inline bool arena_contains(const void* p) {
  return reinterpret_cast<uintptr_t>(p) - g_arena_base < g_arena_size;
}

// Reserves the arena and the region table. Returns false (the shim passes
// through) when the address space cannot be had.
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

}  // namespace hugeshim
