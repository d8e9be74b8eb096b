// Parsing /proc lines without allocating: a VMA's hex address range in
// /proc/self/smaps, and the number after a field name ("Rss:   123 kB" in
// smaps, "thp_fault_alloc 5" in /proc/vmstat). Shared by cuda/range_pages.cpp
// (page classes of a range), cuda/prepare.cpp (classifying a registered
// range) and os/backing.cpp (THP evidence for core/thp_health).
#pragma once

#include <cstdint>
#include <cstring>

namespace hugeshim {

// Parses lowercase hex digits at s and advances s past them.
inline uint64_t proc_parse_hex(const char*& s) {
  uint64_t v = 0;
  for (;; ++s) {
    char c = *s;
    if (c >= '0' && c <= '9') v = v * 16 + static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + static_cast<uint64_t>(c - 'a' + 10);
    else return v;
  }
}

// The number after `name` ("Rss:", "compact_stall ") when line is that
// field, else ~0 (also when no digit follows).
inline uint64_t proc_field_value(const char* line, const char* name) {
  size_t n = strlen(name);
  if (strncmp(line, name, n) != 0) return ~0ull;
  const char* s = line + n;
  while (*s == ' ') ++s;
  if (*s < '0' || *s > '9') return ~0ull;
  uint64_t v = 0;
  for (; *s >= '0' && *s <= '9'; ++s) v = v * 10 + static_cast<uint64_t>(*s - '0');
  return v;
}

}  // namespace hugeshim
