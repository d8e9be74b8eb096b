// The region table: the Region objects of live and cached regions, and the
// pagemap from each granule of the arena's window to the region that owns it
// (one entry per 2 MiB, as in tcmalloc's pagemap), so finding the region of a
// pointer is an index computation.
//
// Metadata grows with use, since mapped metadata counts against RLIMIT_AS
// like any mapping: the pagemap is two-level (a root entry per GiB of the
// window, mapped at init; a 4 KiB leaf per GiB that has held a region), and
// Region slots come in chunks mapped when first needed. Neither is ever
// unmapped, so pointers into them stay valid.
//
// Invariants:
// - A granule's entry names the region whose span holds it, or is empty;
//   a granule without a leaf is empty.
// - New, delete and set require the arena lock. region_table_get() reads
//   without it: a pointer the program passes to free/realloc is live, so the
//   entries of its granules cannot change under it, and a pointer into space
//   no region holds finds an empty entry that stays empty while someone
//   else's mapping is there (the arena cannot take that granule).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/region.h"

namespace hugeshim {

// Maps the pagemap's root for a window of `window_size` bytes. False on
// failure.
bool region_table_init(size_t window_size);

// A zeroed Region from a free slot, or nullptr when the table is full (or
// its next chunk cannot be mapped).
Region* region_table_new();
void region_table_delete(Region* r);

// Points the entries of [addr, addr + len) at r (nullptr clears). Setting a
// region maps the leaves it needs first and returns false, changing nothing,
// when one cannot be mapped; clearing always succeeds.
bool region_table_set(uintptr_t addr, size_t len, Region* r);
// The region owning the granule of addr (inside the window), or nullptr.
Region* region_table_get(uintptr_t addr);

}  // namespace hugeshim
