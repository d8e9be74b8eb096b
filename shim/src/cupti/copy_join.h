// Joining CUPTI's two views of one host<->device copy into one ring event.
// The API callback (on the program's thread, at entry of cudaMemcpy* or
// cuMemcpy{HtoD,DtoH}*) knows the host pointer and the thread; the MEMCPY
// activity record (later, on CUPTI's own thread) knows direction, bytes,
// GPU start/end, stream and whether the host side was pageable or pinned,
// but no address. Both carry the correlation id of the API call.
//
// Pure logic: no CUPTI call, no allocation; the session (cupti_session.h)
// feeds it what CUPTI delivers, the unit tests feed it recorded records.
//
// Invariants:
// - The table is bounded: a call is stored in one of kProbe slots after its
//   key's hash; when all of them are taken, the oldest (smallest correlation
//   id) is evicted. Activity records that find no call still become events,
//   with address 0 and tid 0.
// - Every slot has its own try-lock; nobody waits on a slot for long: a
//   slot found busy is skipped (put) or the lookup fails (take).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "cupti/cupti_abi.h"
#include "hugeshim/events.h"
#include "telemetry/telemetry.h"

namespace hugeshim {

// The host-side facts of one copy call, read from its parameters.
struct CopyCallArgs {
  uint64_t key = 0;         // copy_call_key(domain, correlation id)
  uintptr_t dst = 0, src = 0;
  uint64_t dst_span = 0, src_span = 0;  // bytes each side's range covers (2D: pitch * (h-1) + width)
  uint64_t bytes = 0;       // bytes the call copies
  uint32_t direction = HUGESHIM_COPY_UNKNOWN;  // from the call's kind; unknown for cudaMemcpyDefault
};

// What the join keeps per call until its activity record arrives.
struct CopyCall {
  uint64_t key = 0;  // 0: free slot
  uintptr_t dst = 0, src = 0;
  uint32_t tid = 0;
  // Which pointer lies in a shim region (page_bytes are its range's):
  // 0 none, 1 src, 2 dst.
  uint8_t region_side = 0;
  uint64_t page_bytes[HUGESHIM_PAGE_COUNT] = {};
};

// Keys: runtime and driver correlation ids are separate sequences.
inline uint64_t copy_call_key(uint32_t domain, uint32_t correlation_id) {
  return (static_cast<uint64_t>(domain) << 32) | correlation_id;
}

// Reads the parameters of a runtime (domain kCuptiDomainRuntime) or driver
// copy call. False for calls that are not copies with a host side, and for
// runtime calls whose kind says device-to-device or host-to-host.
bool copy_call_args(uint32_t domain, uint32_t cbid, const void* params, uint32_t correlation_id,
                    CopyCallArgs* out);

// Answers whether [p, p + len) starts in a shim region and, when it does,
// fills its bytes per page class (core/region.h in the shim; a fake in tests).
using RegionPageFacts = bool (*)(uintptr_t p, uint64_t len, uint64_t out[HUGESHIM_PAGE_COUNT]);

// The call as the table keeps it: page facts of whichever side lies in a
// shim region (src first).
CopyCall copy_call_of(const CopyCallArgs& args, uint32_t tid, RegionPageFacts facts);

class CopyCallTable {
 public:
  struct Slot {
    std::atomic<uint32_t> busy{0};
    CopyCall call;
  };
  static constexpr size_t kProbe = 16;

  enum class Put : uint8_t { stored, evicted, busy };

  // slots: capacity zeroed Slot objects (a power of two >= kProbe), owned by
  // the caller for the table's lifetime.
  CopyCallTable(Slot* slots, size_t capacity) : slots_(slots), mask_(capacity - 1) {}

  Put put(const CopyCall& call);
  // Removes and returns the call stored under key.
  bool take(uint64_t key, CopyCall* out);

 private:
  size_t home(uint64_t key) const;
  Slot* slots_;
  size_t mask_;
};

// Counts of what the join did, for the end-of-run line. Relaxed atomics.
struct CopyJoinCounts {
  std::atomic<uint64_t> joined{0};     // events with a host address
  std::atomic<uint64_t> unjoined{0};   // events without one (no call seen, evicted, busy)
  std::atomic<uint64_t> below_min{0};  // HtoD/DtoH records under the size threshold
  std::atomic<uint64_t> other_kind{0}; // DtoD, HtoH, peer, array copies: not recorded
  std::atomic<uint64_t> evicted{0};    // calls pushed out of a full neighbourhood
  std::atomic<uint64_t> busy{0};       // calls not stored: slot contended
};

enum class JoinOutcome : uint8_t { joined, unjoined, below_min, other_kind };

// Builds the copy event of one MEMCPY activity record: direction, bytes,
// start/end, stream, correlation, host memory kind; and, when the call is
// found in the table, host address, issuing thread, page bytes and
// REDIRECTED. Takes the call out of the table in any case (also for records
// it does not turn into events). `event` is written only for joined and
// unjoined. A record CUPTI could not time keeps start and end 0.
JoinOutcome copy_event_of(const CuptiMemcpyRecord& record, CopyCallTable& table, uint64_t min_bytes,
                          Event* event);

// Counts the outcome into counts.
void count_outcome(CopyJoinCounts& counts, JoinOutcome outcome);

}  // namespace hugeshim
