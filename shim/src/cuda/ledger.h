// The large pinned ranges the shim saw but does not own: native
// cudaHostAlloc results that passed through, and the program's own
// cudaHostRegister ranges. Only there so the matching cudaFreeHost /
// cudaHostUnregister event can carry the size and page facts; a full ledger
// loses that detail (the call is then counted as small), never a call.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hugeshim/events.h"
#include "telemetry/telemetry.h"

namespace hugeshim {

struct LedgerEntry {
  uintptr_t address = 0;  // 0: free slot
  uint64_t bytes = 0;
  uint64_t translations = 0;
  uint64_t page_bytes[HUGESHIM_PAGE_COUNT] = {};
  uint32_t cuda_flags = 0;
};

enum class LedgerKind : uint8_t { native_alloc, app_registration };

// Records a range (replacing a stale entry at the same address).
void ledger_add(LedgerKind kind, const LedgerEntry& entry);
// Removes and returns the entry starting at address; false if unknown.
bool ledger_take(LedgerKind kind, uintptr_t address, LedgerEntry* out);

// The entry for a large event's range (address, requested bytes, pages, flags).
LedgerEntry ledger_entry_of(const Event& ev);
// Copies what the ledger knew of a range into the event that releases it.
void ledger_fill(Event* ev, const LedgerEntry& known);

}  // namespace hugeshim
