// Ring records of the driver's pinned-memory calls, one per call of at
// least HUGESHIM_MIN_SIZE: api, size, flags, latency (phase register: the
// whole driver call, which allocates, faults and pins in one; for a
// registration the shim's preparation before it is phase populate), result, the
// page sizes backing the range and the pages they make (translations),
// REDIRECTED/FOREIGN, caller. Smaller calls are counted, not recorded.
// Frees and unregistrations find their size and page facts in the ledgers
// the runtime path uses (cuda_ledger.h); unknown ones count as small.
//
// Each helper takes the forwarding call as a callable, runs it exactly once
// and returns its answer. errno is what the driver call left. Each first
// lets HUGESHIM_CUPTI's session start (cupti/cupti_session.h).
#pragma once

#include <cerrno>
#include <cstddef>

#include "cuda/driver_abi.h"
#include "cuda/ledger.h"
#include "cupti/cupti_session.h"
#include "telemetry/telemetry.h"

namespace hugeshim {

bool driver_observed(size_t size);
void driver_count_small(uint32_t api);
Event driver_event(uint32_t api, const void* address, size_t size, unsigned flags,
                   const void* caller);
// After an allocation (pp: where the driver wrote the pointer) or a
// registration: result, latency, pages, ledger entry; emits.
void driver_allocated(Event* ev, cu_result r, void* const* pp);
// Before a registration is forwarded: prepares the range (cuda/prepare.h;
// the time goes to phase populate) and returns when the driver is called.
uint64_t driver_prepare(Event* ev, const void* p, size_t size, unsigned flags);
// called: driver_prepare's answer; phase register is the driver call alone.
void driver_registered(Event* ev, cu_result r, const void* p, uint64_t called);
// Before a free / unregistration: false (nothing known, count it small)
// unless the ledger of `kind` holds p; then ev describes it.
bool driver_releasing(uint32_t api, LedgerKind kind, const void* p, const void* caller,
                      Event* ev, LedgerEntry* known);
void driver_released(Event* ev, LedgerKind kind, const LedgerEntry& known, cu_result r);

template <typename Call>
cu_result record_alloc(uint32_t api, void** pp, size_t size, unsigned flags, const void* caller,
                       Call call) {
  cupti_start_from_cuda_call();
  if (!driver_observed(size)) {
    driver_count_small(api);
    return call();
  }
  Event ev = driver_event(api, nullptr, size, flags, caller);
  cu_result r = call();
  int saved = errno;
  driver_allocated(&ev, r, pp);
  errno = saved;
  return r;
}

template <typename Call>
cu_result record_register(void* p, size_t size, unsigned flags, const void* caller, Call call) {
  cupti_start_from_cuda_call();
  if (!driver_observed(size)) {
    driver_count_small(HUGESHIM_API_CU_MEM_HOST_REGISTER);
    return call();
  }
  Event ev = driver_event(HUGESHIM_API_CU_MEM_HOST_REGISTER, p, size, flags, caller);
  uint64_t called = driver_prepare(&ev, p, size, flags);
  cu_result r = call();
  int saved = errno;
  driver_registered(&ev, r, p, called);
  errno = saved;
  return r;
}

template <typename Call>
cu_result record_release(uint32_t api, LedgerKind kind, void* p, const void* caller, Call call) {
  cupti_start_from_cuda_call();
  Event ev;
  LedgerEntry known;
  if (!driver_releasing(api, kind, p, caller, &ev, &known)) {
    driver_count_small(api);
    return call();
  }
  cu_result r = call();
  int saved = errno;
  driver_released(&ev, kind, known, r);
  errno = saved;
  return r;
}

}  // namespace hugeshim
