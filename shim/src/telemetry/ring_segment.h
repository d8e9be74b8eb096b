// The producer's side of a ring segment's lifetime (hugeshim/ring.h, "Memory"
// and "Life cycle"): create it exclusively in the per-user ring directory
// with only its header made real, make slot pages real as records arrive,
// close the segments of this process's previous images, and at exit mark it
// (and remove it when nothing needs it). No malloc: raw mmap syscalls (the
// shim interposes mmap) and buffers on the stack.
#pragma once

#include <cstdint>

#include "hugeshim/ring.h"

namespace hugeshim {

// Creates and maps a fresh segment for the calling process in `dir`
// (created 0700 when missing; refused when it is not a directory owned by
// the caller's uid). Returns nullptr, after one log line, on any failure (a
// full file system included): the process then runs without telemetry.
hugeshim_ring_header* ring_segment_create(const char* dir, uint32_t capacity);

// Makes real the pages up to byte `end` of the segment (64 KiB steps).
// False when the file system cannot hold them; errno is left as it was.
bool ring_segment_reserve(hugeshim_ring_header* header, uint64_t end);

// Whether slot `index` may be touched: its page is real, or was made so now.
inline bool ring_segment_reserve_slot(hugeshim_ring_header* header, uint64_t index) {
  const uint64_t end = header->slots_offset + (index + 1) * sizeof(hugeshim_ring_slot);
  return end <= __atomic_load_n(&header->reserved_bytes, __ATOMIC_ACQUIRE) || ring_segment_reserve(header, end);
}

// Unmaps a segment (the file stays for the collector).
void ring_segment_unmap(hugeshim_ring_header* header);

// The process is exiting: marks the segment EXITED, so the collector knows
// it ended through an exit path rather than being killed, and removes the
// file when no collector ever attached and nothing was recorded.
void ring_segment_exit(hugeshim_ring_header* header, uint64_t now_ns);

// Called by a new process image before it creates its own segment: the
// segments in `dir` of this process's previous images (same pid and start
// ticks, still RUNNING: they were replaced by exec) are marked EXECED, and
// removed when no collector attached and nothing was recorded.
void ring_segment_close_previous_images(const char* dir, uint64_t now_ns);

}  // namespace hugeshim
