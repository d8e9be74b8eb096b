// The arena: a fixed window of address space that holds every redirected
// region, so "could p be ours?" is a range check and "which region?" is an
// index lookup (region_table.h).
//
// The window is chosen at load but not reserved: it stays the program's
// address space (DESIGN.md, "The reservation is the program's address space
// too"). The arena reserves (PROT_NONE, MAP_NORESERVE, MAP_FIXED_NOREPLACE)
// only the span a region takes, when it takes it, and unmaps it when the
// region gives it back. So a program's MAP_FIXED, MAP_FIXED_NOREPLACE or
// hint at window space no region holds gets what the kernel gives for free
// space, and RLIMIT_AS sees only what regions hold. See docs/ARENA.md.
//
// Invariants:
// - g_arena_base/g_arena_size are set once at load and never change; before
//   that (or when init failed) size is 0 and nothing is ours. The base is
//   1 GiB aligned.
// - Every granule of the window is in exactly one state:
//   free:    in the extent set; the shim maps nothing there (the program or
//            the kernel may: a reservation there can still fail);
//   taken:   reserved or mapped by the shim for exactly one live or cached
//            region, from arena_take/arena_take_at until arena_give;
//   dropped: found occupied by a mapping that is not the shim's (or lost,
//            region.h lost_len); never handed out again.
// - The shim maps MAP_FIXED only over granules it has taken.
// - All mutation happens under arena_lock(). The lock is held across the
//   reservation system calls (the kernel serialises mmap on its own lock
//   anyway) but never across unmapping populated memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "os/os.h"

namespace hugeshim {

// The unit of arena address space and of the region table's index.
constexpr size_t kGranule = kPage2M;

// The window's bounds, fixed at load (size 0: nothing is ours). Hidden: the
// free/realloc fast path reads them straight, not through the GOT.
extern uintptr_t g_arena_base __attribute__((visibility("hidden")));
extern size_t g_arena_size __attribute__((visibility("hidden")));

// Two compares: is p inside the window? (No lock, no atomics.) Inside, p is
// the shim's only if a region holds it (region.h region_holding).
inline bool arena_contains(const void* p) {
  return reinterpret_cast<uintptr_t>(p) - g_arena_base < g_arena_size;
}

// Chooses the window and maps the region table's root. Reserves no window
// address space. Returns false (the shim passes through) on failure.
bool arena_init();

void arena_lock();
void arena_unlock();
// In the child after fork: the lock may have been held by a thread that does
// not exist there; the prepare handler took it, so re-initialise it.
void arena_reset_lock_in_child();

// Takes and reserves `span` bytes (a multiple of kGranule) aligned to `align`
// (a power of two >= kGranule), first fit. Granules found occupied by others
// are dropped and the search goes on. Returns 0 when no span could be had
// (window full, or the kernel refused the reservation: RLIMIT_AS, map count).
// Caller holds the lock.
uintptr_t arena_take(size_t span, size_t align);
// Takes and reserves [addr, addr + len) if all of it is free and nobody else
// maps there; false otherwise (granules found occupied are dropped). Caller
// holds the lock.
bool arena_take_at(uintptr_t addr, size_t len);
// Unmaps [addr, addr + len), which the shim has taken, and returns it to the
// free set. Callers unmap populated memory first (backing_unmap), outside
// the lock, so this only removes a reservation. Caller holds the lock.
void arena_give(uintptr_t addr, size_t len);
// Returns [addr, addr + len), which the shim had taken and has unmapped
// since (backing_release, outside the lock), to the free set. Someone may
// have mapped there in between: the next reservation finds out. Caller
// holds the lock.
void arena_give_unmapped(uintptr_t addr, size_t len);

}  // namespace hugeshim
