// Reading /proc/self/smaps lines without allocating: the two field forms
// the CUDA code needs (a VMA's hex address range, a "Name:   123 kB" value).
// Shared by range_pages.cpp (page classes of a range) and prepare.cpp
// (classifying a registered range).
#pragma once

#include <cstdint>
#include <cstring>

namespace hugeshim {

// Parses lowercase hex digits at s and advances s past them.
inline uint64_t smaps_parse_hex(const char*& s) {
  uint64_t v = 0;
  for (;; ++s) {
    char c = *s;
    if (c >= '0' && c <= '9') v = v * 16 + static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + static_cast<uint64_t>(c - 'a' + 10);
    else return v;
  }
}

// The kB value of field `name` ("Rss:") when line is that field, else ~0.
inline uint64_t smaps_field_kb(const char* line, const char* name) {
  size_t n = strlen(name);
  if (strncmp(line, name, n) != 0) return ~0ull;
  const char* s = line + n;
  while (*s == ' ') ++s;
  uint64_t v = 0;
  for (; *s >= '0' && *s <= '9'; ++s) v = v * 10 + static_cast<uint64_t>(*s - '0');
  return v;
}

}  // namespace hugeshim
