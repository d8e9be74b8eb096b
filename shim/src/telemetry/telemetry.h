// The seam between the shim's allocation paths and the telemetry producer.
// Every large event (allocation, free, resize, registration) is described by
// one Event and handed to telemetry_emit(); the producer turns it into a ring
// record and updates the exact counters and histograms in the ring header.
//
// Invariants for callers: emit() never allocates through the interposed
// malloc, never blocks on the collector, never throws, and is safe to call
// from any thread at any time after telemetry_init() (before it, a no-op).
#pragma once

#include <cstdint>

#include "hugeshim/clock.h"
#include "hugeshim/events.h"

namespace hugeshim {

struct Event {
  uint32_t api = 0;          // hugeshim_api
  uint32_t flags = 0;        // hugeshim_event_flag bits
  uint64_t start_ns = 0;     // CLOCK_MONOTONIC at entry
  uint64_t address = 0;      // user address (result of an allocation, argument of a free)
  uint64_t requested = 0;    // bytes the program asked for
  uint64_t mapped = 0;       // bytes the shim mapped for it (0 when passed through)
  uint64_t page_bytes[HUGESHIM_PAGE_COUNT] = {};  // bytes obtained per page class
  int32_t numa_asked = -1;   // node requested (-1: none)
  int32_t numa_got = -1;     // node the first page landed on (-1: unknown)
  uint64_t phase_ns[HUGESHIM_PHASE_COUNT] = {};  // reserve, populate, lock, register
  int32_t result = 0;        // 0 success; else an API error code (cudaError_t, -1 for NULL)
  int32_t err = 0;           // errno behind a failure or fallback
  uint32_t fallback = HUGESHIM_FALLBACK_NONE;
  uint32_t cuda_flags = 0;   // flags the program passed (CUDA events)
  uint64_t translations = 0; // pages (IOMMU translations) a registration covered
  int32_t gpu = -1;          // index into the ring header's GPU table (-1: none)
  uint64_t caller = 0;       // return address of the interposed call
  // Copy events (HUGESHIM_API_CUDA_MEMCPY, cupti/copy_join.h): the copy's own
  // times, the thread that issued it, and the copy fields of the record.
  uint64_t end_ns = 0;       // 0: now, when emitted
  int64_t tid = -1;          // -1: the emitting thread
  uint64_t stream = 0;
  uint64_t correlation = 0;
  uint32_t copy_kind = HUGESHIM_COPY_UNKNOWN;
  uint32_t host_memory = HUGESHIM_COPY_MEMORY_UNKNOWN;
};

// An event of `api` starting now, for `requested` bytes, on behalf of the
// program code at `caller` (the interposed call's return address).
inline Event event_start(uint32_t api, uint64_t requested, const void* caller) {
  Event ev;
  ev.api = api;
  ev.start_ns = now_ns();
  ev.requested = requested;
  ev.caller = reinterpret_cast<uint64_t>(caller);
  return ev;
}

// Called once from the shim constructor after options_load().
void telemetry_init();
// Records one large event. The producer fills tid itself.
void telemetry_emit(const Event& event);
// Counts a CUDA pinned-memory call below the threshold (not recorded one by
// one): a relaxed load and store on a per-stack stripe, so concurrent calls
// may lose a count (ring.h, small_calls). The malloc and mmap families never
// call it: their fast path is one compare.
void telemetry_count_small(uint32_t api);
// The process is exiting (exit, _exit, quick_exit): the segment is marked,
// and removed when nothing needs it (ring_segment.h). Events after this one
// are not recorded.
void telemetry_at_exit();
// In the child after fork(): a fresh ring for the new process.
void telemetry_after_fork_child();
// Adds/updates a GPU in the ring header's table; returns its index or -1.
int telemetry_register_gpu(const char* pci_bus_id, int numa_node, uint32_t iommu_type);

}  // namespace hugeshim
