// The producer's side of a ring segment's lifetime: create it exclusively in
// the per-user ring directory, fill the header, and unmap it. No malloc: the
// segment is mapped with raw mmap syscalls (the shim interposes mmap) and
// every buffer lives on the stack.
#pragma once

#include <cstdint>

#include "hugeshim/ring.h"

namespace hugeshim {

// Creates and maps a fresh segment for the calling process in `dir`
// (created 0700 when missing; refused when it is not a directory owned by
// the caller's uid). Returns nullptr, after one log line, on any failure:
// the process then runs without telemetry.
hugeshim_ring_header* ring_segment_create(const char* dir, uint32_t capacity);

// Unmaps a segment (the file stays for the collector).
void ring_segment_unmap(hugeshim_ring_header* header);

// Marks the producer as exited, so the collector knows the process ended
// through its exit path rather than being killed.
void ring_segment_mark_exited(hugeshim_ring_header* header, uint64_t now_ns);

}  // namespace hugeshim
