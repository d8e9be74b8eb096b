// Publishing records into a mapped segment: the producer half of the bounded
// queue described in hugeshim/ring.h. Lock-free, never blocks, never waits
// for the collector, and never touches a slot whose page is not yet real.
#pragma once

#include "hugeshim/ring.h"
#include "telemetry/ring_segment.h"

namespace hugeshim {

// Claims the next slot, lets fill(record) write it, and publishes it.
// Returns false without calling fill when the ring is full, or when the
// slot's page cannot be made real (full file system); the caller counts the
// drop.
template <typename Fill>
bool ring_publish(hugeshim_ring_header* header, Fill fill) {
  auto* slots = reinterpret_cast<hugeshim_ring_slot*>(reinterpret_cast<char*>(header) +
                                                      header->slots_offset);
  const uint64_t mask = header->capacity - 1;
  uint64_t pos = __atomic_load_n(&header->enqueue_pos, __ATOMIC_RELAXED);
  hugeshim_ring_slot* slot;
  uint64_t index;
  for (;;) {
    index = pos & mask;
    if (!ring_segment_reserve_slot(header, index)) return false;
    slot = &slots[index];
    // Stored relative to the index: free for pos when seq == pos - index.
    uint64_t seq = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);
    int64_t lag = static_cast<int64_t>(seq - (pos - index));
    if (lag == 0) {
      // Free for this lap: claim it. On failure pos holds the current value.
      if (__atomic_compare_exchange_n(&header->enqueue_pos, &pos, pos + 1, true,
                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        break;
    } else if (lag < 0) {
      return false;  // the consumer has not released the previous lap: full
    } else {
      pos = __atomic_load_n(&header->enqueue_pos, __ATOMIC_RELAXED);
    }
  }
  fill(slot->record);
  __atomic_store_n(&slot->seq, pos - index + 1, __ATOMIC_RELEASE);
  return true;
}

}  // namespace hugeshim
