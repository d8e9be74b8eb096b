// A region: one redirected malloc-family or CUDA allocation living in the
// arena, and its life cycle: allocate (cache or page-size ladder), find,
// resize in place, release. (The mmap engine does not use regions: a
// program's mmap keeps the kernel's semantics, see mmap/table.h.)
//
// Invariants:
// - base is aligned to at least 2 MiB (the arena granule) and to the
//   requested alignment; [base, base + span) is taken from the arena for this
//   region alone and mapped by the shim (reserved or backed), except a lost
//   range (lost_len) after a failed map.
// - [base, base + mapped) is backed (readable and writable); the rest of the
//   span stays PROT_NONE. mapped >= size, and mapped - size < one base page
//   plus the rounding of the largest page size used (never more than 2 MiB).
// - page_bytes[] sums to mapped.
// - A Region object is owned by the arena's region table; pointers stay valid
//   until region_release() returns it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/arena.h"
#include "hugeshim/events.h"
#include "telemetry/telemetry.h"

namespace hugeshim {

enum class Origin : uint8_t { malloc, cuda };

struct Region;

// Called before a region's memory is unmapped for good (cache eviction or
// release without caching), e.g. to cudaHostUnregister it. Must not call
// region_* functions.
using RegionTeardown = void (*)(Region* region);

// A run of one page class inside a region, at an offset from base.
struct Segment {
  uint64_t offset;
  uint64_t len;
  uint32_t page_class;  // hugeshim_page_class
};
constexpr int kMaxSegments = 8;

struct Region {
  uintptr_t base = 0;
  size_t span = 0;    // reserved address space
  size_t size = 0;    // bytes the program asked for (malloc_usable_size reports mapped)
  size_t mapped = 0;  // backed bytes
  uint64_t page_bytes[HUGESHIM_PAGE_COUNT] = {};  // per class, summed over segments
  // The backing in address order; segments tile [0, mapped). Allocation gives
  // 1G, 2M, then anonymous (THP, base tail); in-place growth appends more.
  Segment segments[kMaxSegments] = {};
  uint8_t segment_count = 0;
  bool cached = false;      // in the free-region cache, not owned by the program
  bool release_pending = false;  // freed, queued for release (deferred_release.h); atomic
  // [base + lost_offset, + lost_len) could not be re-reserved after a failed
  // map (backing.h kRangeLost): someone else's mapping may live there now.
  // The shim never maps over it: the region no longer grows or gives back
  // span, and on release everything else in the span is unmapped and the
  // span's granules are dropped from the arena. lost_len 0: nothing lost.
  uint64_t lost_offset = 0;
  uint64_t lost_len = 0;
  Origin origin = Origin::malloc;
  int32_t numa_node = -1;   // node asked (-1 none, -2 interleave)
  bool populated = false;   // every page faulted in
  bool locked = false;      // mlock()ed
  // Owner data for the CUDA path: which runtime registered it and how.
  uint32_t cuda_flags = 0;       // flags the program asked for (cudaHostGetFlags)
  const void* cuda_runtime = nullptr;  // opaque handle of the cudart used (nullptr: unregistered)
  bool registered = false;       // holds its one cudaHostRegister (cuda/registration.h)
  RegionTeardown teardown = nullptr;
  uint32_t index = 0;  // slot in the region table (internal)
};

// What a caller wants.
struct RegionRequest {
  size_t size = 0;
  size_t align = 0;          // 0 or a power of two; up to 1 GiB honoured
  Origin origin = Origin::malloc;
  bool zero = false;         // memory must read as zero (calloc, CUDA); fresh maps are
  int32_t numa_node = -1;    // -1: no policy, -2: interleave, >= 0: that node
  bool populate = false;     // pre-fault now (in parallel)
  bool lock = false;         // mlock after populate
};

// The region, live or cached, whose span holds p as the shim's address
// space (a lost range is not), or nullptr: then p is not the shim's, even
// inside the window. p must be arena_contains().
Region* region_holding(const void* p);

// The live region whose span holds p, or nullptr. p must be arena_contains().
Region* region_find(const void* p);

// Whether p lies in a live region: memory the shim handed out. Any p.
inline bool region_owns(const void* p) { return arena_contains(p) && region_find(p); }

// Allocates a region, from the cache when a matching one is there, else by
// walking the page-size ladder. Fills the backing facts of `event` (mapped,
// page_bytes, phase_ns, fallback, err, numa_got, FROM_CACHE flag). Returns
// nullptr when no memory could be had, or when HUGESHIM_ON_FALLBACK=fail and
// the first rung was not obtained (errno = ENOMEM in both cases).
Region* region_allocate(const RegionRequest& request, Event* event);

// Releases a region: into the cache when it fits HUGESHIM_CACHE, else its
// teardown runs and its pages go back to the system. Fills event->mapped.
void region_release(Region* region, Event* event);

// Resizes without moving: shrinks, or grows when the address space after the
// span is free (mapping more pages of the same ladder). Returns false, region
// unchanged, when it cannot be done in place.
bool region_resize_in_place(Region* region, size_t new_size, Event* event);

}  // namespace hugeshim
