// Ring records of copies (HUGESHIM_CUPTI=1, api cudaMemcpy) and of the
// pinning calls around them, as the shim writes them (ring.h: a copy's
// start/end are its time on the GPU, address its host address, requested
// its bytes), for tests of the collector's copy views.
#pragma once

#include <cstdint>

#include "hugeshim/ring.h"

namespace hugeshim_copy_test {

// A copy of `bytes` at host `address` from `start` for `ns` nanoseconds.
// `page_class` >= 0: the host range lies in a shim region on that page
// class (flag REDIRECTED, page_bytes filled).
inline hugeshim_ring_record copy_record(uint32_t direction, uint32_t memory, uint64_t address, uint64_t bytes,
                                        uint64_t start, uint64_t ns, int page_class = -1, uint64_t stream = 7) {
  hugeshim_ring_record r = {};
  r.api = HUGESHIM_API_CUDA_MEMCPY;
  r.tid = 4242;
  r.gpu = 0;
  r.start_ns = start;
  r.end_ns = start + ns;
  r.address = address;
  r.requested = bytes;
  if (page_class >= 0) {
    r.flags = HUGESHIM_EVENT_REDIRECTED;
    r.page_bytes[page_class] = bytes;
  }
  r.stream = stream;
  r.correlation = start;  // any distinct number
  r.copy_kind = direction;
  r.host_memory = memory;
  return r;
}

// A successful pinning call (cudaHostAlloc, cudaHostRegister, ...) of
// `bytes` at `address`, `register_ns` of it in the register phase.
inline hugeshim_ring_record pin_record(uint32_t api, uint64_t address, uint64_t bytes, uint64_t start, uint64_t ns,
                                       uint64_t register_ns, bool redirected = true) {
  hugeshim_ring_record r = {};
  r.api = api;
  r.tid = 4242;
  r.gpu = 0;
  r.start_ns = start;
  r.end_ns = start + ns;
  r.address = address;
  r.requested = bytes;
  if (redirected) {
    r.flags = HUGESHIM_EVENT_REDIRECTED;
    r.mapped = bytes;
    r.page_bytes[HUGESHIM_PAGE_2M] = bytes;
  }
  r.phase_ns[HUGESHIM_PHASE_REGISTER] = register_ns;
  return r;
}

// The release of `address` (cudaFreeHost, cudaHostUnregister, ...).
inline hugeshim_ring_record release_record(uint32_t api, uint64_t address, uint64_t bytes, uint64_t start) {
  hugeshim_ring_record r = {};
  r.api = api;
  r.tid = 4242;
  r.gpu = 0;
  r.start_ns = start;
  r.end_ns = start + 1000;
  r.address = address;
  r.requested = bytes;
  return r;
}

}  // namespace hugeshim_copy_test
