#include "cuda/ledger.h"

#include <pthread.h>

namespace hugeshim {
namespace {

constexpr int kSlots = 1024;  // per kind; programs hold few large pinned ranges

struct Ledger {
  LedgerEntry slots[kSlots];
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
};

Ledger g_ledgers[2];

Ledger& of(LedgerKind kind) { return g_ledgers[static_cast<int>(kind)]; }

}  // namespace

void ledger_add(LedgerKind kind, const LedgerEntry& entry) {
  Ledger& l = of(kind);
  pthread_mutex_lock(&l.lock);
  int free_slot = -1;
  for (int i = 0; i < kSlots; ++i) {
    if (l.slots[i].address == entry.address) {
      free_slot = i;
      break;
    }
    if (free_slot < 0 && l.slots[i].address == 0) free_slot = i;
  }
  if (free_slot >= 0) l.slots[free_slot] = entry;
  pthread_mutex_unlock(&l.lock);
}

bool ledger_take(LedgerKind kind, uintptr_t address, LedgerEntry* out) {
  if (address == 0) return false;
  Ledger& l = of(kind);
  pthread_mutex_lock(&l.lock);
  bool found = false;
  for (int i = 0; i < kSlots; ++i)
    if (l.slots[i].address == address) {
      *out = l.slots[i];
      l.slots[i] = LedgerEntry{};
      found = true;
      break;
    }
  pthread_mutex_unlock(&l.lock);
  return found;
}

LedgerEntry ledger_entry_of(const Event& ev) {
  LedgerEntry e;
  e.address = ev.address;
  e.bytes = ev.requested;
  e.translations = ev.translations;
  e.cuda_flags = ev.cuda_flags;
  for (int i = 0; i < HUGESHIM_PAGE_COUNT; ++i) e.page_bytes[i] = ev.page_bytes[i];
  return e;
}

void ledger_fill(Event* ev, const LedgerEntry& known) {
  ev->address = known.address;
  ev->requested = known.bytes;
  ev->cuda_flags = known.cuda_flags;
  ev->translations = known.translations;
  for (int i = 0; i < HUGESHIM_PAGE_COUNT; ++i) ev->page_bytes[i] = known.page_bytes[i];
}

}  // namespace hugeshim
