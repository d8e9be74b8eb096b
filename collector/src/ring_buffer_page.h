// One page (sub-buffer) of the kernel's per-CPU trace ring buffer, as a
// read of per_cpu/cpuN/trace_pipe_raw returns it: a header (timestamp,
// commit word) and compressed records, each with a 4-byte header of a 5-bit
// type_len and a 27-bit time delta (events/header_event). Parsed without
// trusting a byte: a length that runs past the committed area ends the page
// and counts the page as damaged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "trace_event_format.h"

namespace hugeshim::collector {

struct RingRecord {
  uint64_t ts;          // trace clock nanoseconds (mono: CLOCK_MONOTONIC)
  const uint8_t* data;  // the event record: common_type, common_pid, fields
  uint32_t size;
};

struct RingPage {
  std::vector<RingRecord> records;  // point into the page given
  // The commit word's flags: events were lost before this page; the count
  // when the kernel had room to store it after the data, else 0.
  bool missed = false;
  uint64_t missed_count = 0;
  // A record header or length inconsistent with the page: the rest of the
  // page was dropped (the records before it are kept).
  bool damaged = false;
};

// Parses `size` bytes of one page. Never reads outside [page, page + size).
RingPage parse_ring_page(const uint8_t* page, size_t size, const PageLayout& layout, const RecordTypes& types);

}  // namespace hugeshim::collector
