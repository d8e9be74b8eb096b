#include "ring_buffer_page.h"

#include <cstring>

namespace hugeshim::collector {
namespace {

// Commit word: bytes of records in the low 27 bits; bit 31 "events were
// missed", bit 30 "the missed count is stored right after the data"
// (kernel/trace/ring_buffer.c RB_MISSED_EVENTS, RB_MISSED_STORED).
constexpr uint64_t kCommitMask = (uint64_t{1} << 27) - 1;
constexpr uint64_t kMissedEvents = uint64_t{1} << 31;
constexpr uint64_t kMissedStored = uint64_t{1} << 30;
constexpr int kDeltaBits = 27;
// An absolute timestamp record holds 59 bits; the top 5 come from the
// running timestamp (rb_fix_abs_ts).
constexpr uint64_t kTimestampTop = uint64_t{0xf8} << 56;

uint32_t load32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

uint64_t load(const uint8_t* p, uint32_t size) {
  if (size == 4) return load32(p);
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

}  // namespace

RingPage parse_ring_page(const uint8_t* page, size_t size, const PageLayout& layout, const RecordTypes& types) {
  RingPage out;
  if (size < layout.data_offset || size < size_t{layout.commit_offset} + layout.commit_size ||
      size < size_t{layout.timestamp_offset} + 8) {
    out.damaged = true;
    return out;
  }
  uint64_t ts = load(page + layout.timestamp_offset, 8);
  const uint64_t commit = load(page + layout.commit_offset, layout.commit_size);
  size_t length = commit & kCommitMask;
  const size_t room = std::min<size_t>(size - layout.data_offset, layout.data_size);
  if (length > room) {
    // A short read or a forged commit: what lies inside the page is parsed.
    out.damaged = true;
    length = room;
  }
  const uint8_t* data = page + layout.data_offset;
  if (commit & kMissedEvents) {  // (a stored count lies right after the committed bytes)
    out.missed = true;
    if ((commit & kMissedStored) && length + 8 <= room) out.missed_count = load(data + length, 8);
  }
  size_t at = 0;
  while (at < length) {
    if (length - at < 4) {
      out.damaged = true;
      break;
    }
    const uint32_t header = load32(data + at);
    const uint32_t type_len = header & 0x1f, delta = header >> 5;
    const uint8_t* body = data + at + 4;
    const size_t left = length - at - 4;
    if (type_len == types.padding) {
      // Delta 0: the rest of the page is unused. Otherwise a discarded
      // record of 4 + array[0] bytes; the kernel's reader does not move
      // its clock for it, nor do we.
      if (delta == 0) break;
      if (left < 4 || load32(body) > left || load32(body) < 4) {
        out.damaged = true;
        break;
      }
      at += 4 + load32(body);
    } else if (type_len == types.time_extend || type_len == types.time_stamp) {
      if (left < 4) {
        out.damaged = true;
        break;
      }
      const uint64_t value = (uint64_t{load32(body)} << kDeltaBits) | delta;
      if (type_len == types.time_extend) {
        ts += value;
      } else {
        uint64_t absolute = value;
        if (ts & kTimestampTop) {
          absolute |= ts & kTimestampTop;
          if (absolute < ts) absolute += uint64_t{1} << 59;
        }
        ts = absolute;
      }
      at += 8;
    } else if (type_len == 0) {
      // A long record: array[0] = payload bytes + 4, payload after it.
      if (left < 4) {
        out.damaged = true;
        break;
      }
      const uint32_t len = load32(body);
      if (len < 4 || len - 4 > left - 4) {
        out.damaged = true;
        break;
      }
      ts += delta;
      out.records.push_back({ts, body + 4, len - 4});
      at += 4 + ((size_t{len} + 3) & ~size_t{3});
    } else if (type_len <= types.data_max) {
      const uint32_t len = type_len * 4;
      if (len > left) {
        out.damaged = true;
        break;
      }
      ts += delta;
      out.records.push_back({ts, body, len});
      at += 4 + len;
    } else {
      out.damaged = true;  // a type the header_event did not name
      break;
    }
  }
  return out;
}

}  // namespace hugeshim::collector
