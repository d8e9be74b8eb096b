// The free-region cache: regions the program freed, kept mapped (and, for
// CUDA memory, registered) up to HUGESHIM_CACHE bytes, so the next request of
// a similar size gets memory without new page faults or registrations.
// Oldest out first. All functions require the arena lock.
#pragma once

#include <cstddef>

#include "core/region.h"

namespace hugeshim {

// A cached region that fits `request` (same origin and placement, mapped
// between the need and need + 1/4 + 2 MiB, aligned), removed from the cache.
Region* cache_take(const RegionRequest& request, size_t mapped_need);

// Puts r into the cache, evicting the oldest entries to stay within the
// budget; evicted regions are written to evicted[] (at most max_evicted) for
// the caller to tear down after dropping the lock, whatever the result.
// Returns false (r not cached) when r alone is over the budget or room could
// not be made.
bool cache_put(Region* r, Region** evicted, int max_evicted, int* evicted_count);

}  // namespace hugeshim
