// The region table: the Region objects of live and cached regions, and the
// pagemap from each arena granule to the region that owns it (one entry per
// 2 MiB, as in tcmalloc's pagemap), so finding the region of a pointer is an
// index computation.
//
// Invariants:
// - A granule's entry names the region whose span holds it, or is empty.
// - New and delete require the arena lock. region_table_get() reads without
//   it: a pointer the program passes to free/realloc is live, so the entries
//   of its granules cannot change under it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/region.h"

namespace hugeshim {

// Maps the table and a pagemap covering `arena_size` bytes. False on failure.
bool region_table_init(size_t arena_size);

// A zeroed Region from a free slot, or nullptr when the table is full.
Region* region_table_new();
void region_table_delete(Region* r);

// Points the entries of [addr, addr + len) at r (nullptr clears).
void region_table_set(uintptr_t addr, size_t len, Region* r);
// The region owning the granule of addr (inside the arena), or nullptr.
Region* region_table_get(uintptr_t addr);

}  // namespace hugeshim
