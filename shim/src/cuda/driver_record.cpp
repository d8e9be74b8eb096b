#include "cuda/driver_record.h"

#include "core/bootstrap.h"
#include "core/region.h"
#include "cuda/placement.h"
#include "cuda/prepare.h"
#include "cuda/range_pages.h"
#include "os/backing.h"
#include "core/policy.h"

namespace hugeshim {
namespace {

void finish(Event* ev, cu_result r) {
  ev->phase_ns[HUGESHIM_PHASE_REGISTER] = now_ns() - ev->start_ns;
  ev->result = r;
  if (r != kCuSuccess) ev->flags |= HUGESHIM_EVENT_FAILED;
}

// The driver path has no runtime to ask for the device (cuda/placement.h).
int32_t known_node(const void*) { return cuda_known_device_node(); }

}  // namespace

// t_in_shim: a driver call made underneath the shim's own work is not the
// program's (wrappers never reach cudart, so this is a second guard).
bool driver_observed(size_t size) { return !t_in_shim && policy_is_large(size); }

void driver_count_small(uint32_t api) {
  if (!t_in_shim) telemetry_count_small(api);
}

Event driver_event(uint32_t api, const void* address, size_t size, unsigned flags,
                   const void* caller) {
  Event ev = event_start(api, size, caller);
  ev.address = reinterpret_cast<uintptr_t>(address);
  ev.cuda_flags = flags;
  return ev;
}

void driver_allocated(Event* ev, cu_result r, void* const* pp) {
  finish(ev, r);
  if (r == kCuSuccess && pp && *pp) {
    ev->address = reinterpret_cast<uintptr_t>(*pp);
    range_page_facts(*pp, ev->requested, ev);  // after the call: the driver faulted the pages in
    ledger_add(LedgerKind::native_alloc, ledger_entry_of(*ev));
  }
  telemetry_emit(*ev);
}

uint64_t driver_prepare(Event* ev, const void* p, size_t size, unsigned flags) {
  Preparation prep;
  {
    ShimScope scope;
    cuda_prepare_registration(p, size, flags, known_node, nullptr, &prep);
  }
  uint64_t called = now_ns();
  if (prep.outcome != PrepareOutcome::off) ev->phase_ns[HUGESHIM_PHASE_POPULATE] = called - ev->start_ns;
  ev->numa_asked = prep.node;
  return called;
}

void driver_registered(Event* ev, cu_result r, const void* p, uint64_t called) {
  ev->phase_ns[HUGESHIM_PHASE_REGISTER] = now_ns() - called;
  ev->result = r;
  if (r != kCuSuccess) ev->flags |= HUGESHIM_EVENT_FAILED;
  if (ev->numa_asked != -1) ev->numa_got = backing_node_of(reinterpret_cast<uintptr_t>(p));
  range_page_facts(p, ev->requested, ev);  // pinning faulted the pages in
  if (r == kCuSuccess) ledger_add(LedgerKind::app_registration, ledger_entry_of(*ev));
  telemetry_emit(*ev);
}

bool driver_releasing(uint32_t api, LedgerKind kind, const void* p, const void* caller,
                      Event* ev, LedgerEntry* known) {
  if (t_in_shim || !ledger_take(kind, reinterpret_cast<uintptr_t>(p), known)) return false;
  *ev = driver_event(api, p, known->bytes, known->cuda_flags, caller);
  ledger_fill(ev, *known);
  ev->flags |= region_owns(p) ? HUGESHIM_EVENT_REDIRECTED : HUGESHIM_EVENT_FOREIGN;
  return true;
}

void driver_released(Event* ev, LedgerKind kind, const LedgerEntry& known, cu_result r) {
  finish(ev, r);
  if (r != kCuSuccess) ledger_add(kind, known);  // still allocated / registered
  telemetry_emit(*ev);
}

}  // namespace hugeshim
