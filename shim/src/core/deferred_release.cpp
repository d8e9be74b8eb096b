#include "core/deferred_release.h"

#include "telemetry/telemetry.h"

namespace hugeshim {
namespace {

// A slot moves free -> writing -> ready (push) -> taking -> free (drain).
enum SlotState : uint32_t { kFree = 0, kWriting = 1, kReady = 2, kTaking = 3 };

struct Slot {
  uint32_t state;
  Region* region;
  uint64_t caller;
};

// Handlers that free inside handlers are rare; 64 pending releases at once
// would need 64 nested interruptions before one slow path finished.
constexpr int kSlots = 64;
Slot g_slots[kSlots];
uint32_t g_pending = 0;  // ready or being written; a hint for the fast check

}  // namespace

bool deferred_release_push(Region* r, uint64_t caller) {
  for (Slot& s : g_slots) {
    uint32_t expected = kFree;
    if (!__atomic_compare_exchange_n(&s.state, &expected, kWriting, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
      continue;
    s.region = r;
    s.caller = caller;
    __atomic_fetch_add(&g_pending, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s.state, kReady, __ATOMIC_RELEASE);
    return true;
  }
  return false;
}

bool deferred_release_pending() { return __atomic_load_n(&g_pending, __ATOMIC_RELAXED) != 0; }

void deferred_release_drain() {
  for (Slot& s : g_slots) {
    uint32_t expected = kReady;
    if (!__atomic_compare_exchange_n(&s.state, &expected, kTaking, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
      continue;
    Region* r = s.region;
    uint64_t caller = s.caller;
    __atomic_store_n(&s.state, kFree, __ATOMIC_RELEASE);
    __atomic_fetch_sub(&g_pending, 1, __ATOMIC_RELAXED);
    Event ev = event_start(HUGESHIM_API_FREE, r->size, reinterpret_cast<const void*>(caller));
    ev.flags |= HUGESHIM_EVENT_REDIRECTED;
    __atomic_store_n(&r->release_pending, false, __ATOMIC_RELAXED);
    region_release(r, &ev);
    telemetry_emit(ev);
  }
}

}  // namespace hugeshim
