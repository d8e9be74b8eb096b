// What a registration finds when it arrives at a test double (the runtime
// double and the driver double both take this view at the start of their
// register call, before pinning): how many pages of the range are resident
// (mincore: for shared memory that is the page cache), and from smaps of the
// mappings overlapping it: Rss (pages mapped in this process), Anonymous
// (pages the process owns: a read-only populate maps the zero page and adds
// none), and the huge-page share (AnonHugePages, ShmemPmdMapped,
// FilePmdMapped, hugetlb). Raw system calls and a stack buffer only: it runs
// inside a call the shim is forwarding.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

struct range_view {
  uint64_t pages;     // base pages in the range
  uint64_t resident;  // of them resident (mincore)
  uint64_t rss_kb;    // smaps of the overlapping mappings
  uint64_t anon_kb;
  uint64_t huge_kb;
};

namespace range_view_detail {

inline uint64_t hex(const char*& s) {
  uint64_t v = 0;
  for (;; ++s) {
    char c = *s;
    if (c >= '0' && c <= '9') v = v * 16 + static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + static_cast<uint64_t>(c - 'a' + 10);
    else return v;
  }
}

inline bool kb(const char* line, const char* name, uint64_t* out) {
  size_t n = strlen(name);
  if (strncmp(line, name, n) != 0) return false;
  const char* s = line + n;
  while (*s == ' ') ++s;
  uint64_t v = 0;
  for (; *s >= '0' && *s <= '9'; ++s) v = v * 10 + static_cast<uint64_t>(*s - '0');
  *out += v;
  return true;
}

}  // namespace range_view_detail

inline range_view take_range_view(const void* p, size_t size) {
  using namespace range_view_detail;
  range_view v{};
  uintptr_t a = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095};
  uintptr_t e = (reinterpret_cast<uintptr_t>(p) + size + 4095) & ~uintptr_t{4095};
  unsigned char vec[4096];
  for (uintptr_t x = a; x < e; x += sizeof vec * 4096) {
    size_t len = e - x < sizeof vec * 4096 ? e - x : sizeof vec * 4096;
    size_t n = len / 4096;
    v.pages += n;
    if (syscall(SYS_mincore, x, len, vec) != 0) continue;
    for (size_t i = 0; i < n; ++i) v.resident += vec[i] & 1;
  }
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/smaps", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return v;
  char buf[8192];
  size_t have = 0;
  bool inside = false;
  for (;;) {
    long got = syscall(SYS_read, fd, buf + have, sizeof buf - have);
    if (got <= 0) break;
    have += static_cast<size_t>(got);
    size_t pos = 0;
    for (;;) {
      char* nl = static_cast<char*>(memchr(buf + pos, '\n', have - pos));
      if (!nl) break;
      *nl = 0;
      const char* line = buf + pos;
      pos = static_cast<size_t>(nl - buf) + 1;
      if ((*line >= '0' && *line <= '9') || (*line >= 'a' && *line <= 'f')) {
        const char* s = line;
        uint64_t lo = hex(s);
        if (*s == '-') ++s;
        uint64_t hi = hex(s);
        inside = lo < e && hi > a;
      } else if (inside) {
        kb(line, "Rss:", &v.rss_kb) || kb(line, "Anonymous:", &v.anon_kb) ||
            kb(line, "AnonHugePages:", &v.huge_kb) || kb(line, "ShmemPmdMapped:", &v.huge_kb) ||
            kb(line, "FilePmdMapped:", &v.huge_kb) || kb(line, "Shared_Hugetlb:", &v.huge_kb) ||
            kb(line, "Private_Hugetlb:", &v.huge_kb);
      }
    }
    memmove(buf, buf + pos, have - pos);
    have -= pos;
    if (have == sizeof buf) have = 0;
  }
  syscall(SYS_close, fd);
  return v;
}
