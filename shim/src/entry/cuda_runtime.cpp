// The exported CUDA runtime pinned-memory API. Each entry finds the cudart
// its caller links against and either serves the call (substituted memory)
// or forwards it, recording large events. The program's own registrations
// are prepared (cuda/prepare.h: pages faulted in parallel before the call),
// forwarded (except on substituted memory, where the native answer is given)
// and recorded with size, page sizes, preparation and registration times.
#include <cstddef>

#include "core/bootstrap.h"
#include "core/policy.h"
#include "core/region.h"
#include "cuda/ledger.h"
#include "cuda/placement.h"
#include "cuda/prepare.h"
#include "cuda/range_pages.h"
#include "cuda/runtime_lookup.h"
#include "cuda/substitute.h"
#include "cupti/cupti_session.h"
#include "entry/export.h"
#include "hugeshim/options.h"
#include "os/backing.h"
#include "telemetry/telemetry.h"

using namespace hugeshim;

namespace {

// The runtime for this call, or the error a process without cudart gets.
// The first one that finds a cudart also starts HUGESHIM_CUPTI's session.
#define RESOLVE_OR_FAIL(rt)                                                     \
  const CudaRuntime* rt = cuda_runtime_for(__builtin_return_address(0));        \
  if (!rt) return kCudaErrorInitialization;                                     \
  cupti_start_from_cuda_call()

// What native cudaHostRegister and cudaHostUnregister answer for any pointer
// into cudaHostAlloc memory (H200, driver 580.159.04). Substituted memory
// gets it without the runtime being called: forwarding the register would
// meet our registration (712), forwarding the unregister would remove it.
constexpr cuda_error kAnswerOnPinnedAllocation = kCudaErrorInvalidValue;

// The GPU-local node for preparing a registration through this runtime.
int32_t runtime_node(const void* rt) {
  return cuda_quiet_device_node(*static_cast<const CudaRuntime*>(rt));
}

// Gives that answer and leaves the runtime's last error as the native call
// does (1): cudaHostGetFlags with a null output fails with
// cudaErrorInvalidValue and has no other effect.
cuda_error answer_on_substituted(const CudaRuntime& rt, void* ptr) {
  rt.host_get_flags(nullptr, ptr);
  return kAnswerOnPinnedAllocation;
}

}  // namespace

HUGESHIM_EXPORT cuda_error cudaHostAlloc(void** ptr, size_t size, unsigned int flags) {
  RESOLVE_OR_FAIL(rt);
  return cuda_pinned_alloc(*rt, ptr, size, flags, HUGESHIM_API_CUDA_HOST_ALLOC,
                           __builtin_return_address(0));
}

HUGESHIM_EXPORT cuda_error cudaMallocHost(void** ptr, size_t size) {
  RESOLVE_OR_FAIL(rt);
  return cuda_pinned_alloc(*rt, ptr, size, 0, HUGESHIM_API_CUDA_MALLOC_HOST,
                           __builtin_return_address(0));
}

HUGESHIM_EXPORT cuda_error cudaFreeHost(void* ptr) {
  RESOLVE_OR_FAIL(rt);
  return cuda_pinned_free(*rt, ptr, __builtin_return_address(0));
}

HUGESHIM_EXPORT cuda_error cudaHostGetFlags(unsigned int* flags, void* ptr) {
  RESOLVE_OR_FAIL(rt);
  if (flags && !g_options.disable && cuda_substituted_flags(ptr, flags)) return kCudaSuccess;
  return rt->host_get_flags(flags, ptr);
}

HUGESHIM_EXPORT cuda_error cudaHostRegister(void* ptr, size_t size, unsigned int flags) {
  RESOLVE_OR_FAIL(rt);
  const bool substituted = !g_options.disable && cuda_is_substituted(ptr);
  if (!policy_is_large(size)) {
    if (!g_options.disable) telemetry_count_small(HUGESHIM_API_CUDA_HOST_REGISTER);
    return substituted ? answer_on_substituted(*rt, ptr) : rt->host_register(ptr, size, flags);
  }
  Event ev = event_start(HUGESHIM_API_CUDA_HOST_REGISTER, size, __builtin_return_address(0));
  ev.address = reinterpret_cast<uintptr_t>(ptr);
  ev.cuda_flags = flags;
  cuda_error e;
  if (substituted) {
    e = answer_on_substituted(*rt, ptr);
    ev.phase_ns[HUGESHIM_PHASE_REGISTER] = now_ns() - ev.start_ns;
  } else {
    // Fault the pages in first, in parallel and outside the driver's lock
    // (cuda/prepare.h); the driver is left with pinning them.
    Preparation prep;
    {
      ShimScope scope;
      cuda_prepare_registration(ptr, size, flags, runtime_node, rt, &prep);
    }
    uint64_t called = now_ns();
    if (prep.outcome != PrepareOutcome::off) ev.phase_ns[HUGESHIM_PHASE_POPULATE] = called - ev.start_ns;
    ev.numa_asked = prep.node;
    e = rt->host_register(ptr, size, flags);
    ev.phase_ns[HUGESHIM_PHASE_REGISTER] = now_ns() - called;
    if (prep.node != -1) ev.numa_got = backing_node_of(reinterpret_cast<uintptr_t>(ptr));
  }
  ev.result = e;
  range_page_facts(ptr, size, &ev);  // after the call: pinning faulted the pages in
  if (e != kCudaSuccess) {
    ev.flags |= HUGESHIM_EVENT_FAILED;
  } else {
    ledger_add(LedgerKind::app_registration, ledger_entry_of(ev));
  }
  telemetry_emit(ev);
  return e;
}

HUGESHIM_EXPORT cuda_error cudaHostUnregister(void* ptr) {
  RESOLVE_OR_FAIL(rt);
  // Our registration of substituted memory is invisible to the program: as
  // on native cudaHostAlloc memory, there is nothing of its own to remove.
  if (!g_options.disable && cuda_is_substituted(ptr)) return answer_on_substituted(*rt, ptr);
  LedgerEntry known;
  if (g_options.disable ||
      !ledger_take(LedgerKind::app_registration, reinterpret_cast<uintptr_t>(ptr), &known)) {
    if (!g_options.disable) telemetry_count_small(HUGESHIM_API_CUDA_HOST_UNREGISTER);
    return rt->host_unregister(ptr);
  }
  Event ev = event_start(HUGESHIM_API_CUDA_HOST_UNREGISTER, known.bytes, __builtin_return_address(0));
  ledger_fill(&ev, known);
  ev.flags |= region_owns(ptr) ? HUGESHIM_EVENT_REDIRECTED : HUGESHIM_EVENT_FOREIGN;
  cuda_error e = rt->host_unregister(ptr);
  ev.phase_ns[HUGESHIM_PHASE_REGISTER] = now_ns() - ev.start_ns;
  ev.result = e;
  if (e != kCudaSuccess) {
    ev.flags |= HUGESHIM_EVENT_FAILED;
    ledger_add(LedgerKind::app_registration, known);  // still registered
  }
  telemetry_emit(ev);
  return e;
}
