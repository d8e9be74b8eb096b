#include "cuda/range_pages.h"

#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "core/region.h"
#include "os/proc_fields.h"
#include "os/os.h"

namespace hugeshim {
namespace {

constexpr uint64_t kPageSize[HUGESHIM_PAGE_COUNT] = {kPage1G, kPage2M, kPage2M, kBasePage};

uint64_t overlap(uintptr_t a0, uintptr_t a1, uintptr_t b0, uintptr_t b1) {
  uintptr_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
  return hi > lo ? hi - lo : 0;
}

void from_region(const Region& r, uintptr_t p0, uintptr_t p1, uint64_t out[]) {
  for (uint8_t i = 0; i < r.segment_count; ++i) {
    const Segment& s = r.segments[i];
    if (s.page_class >= HUGESHIM_PAGE_COUNT) continue;
    out[s.page_class] += overlap(p0, p1, r.base + s.offset, r.base + s.offset + s.len);
  }
}

// Accumulates one VMA's share once its fields have been read.
struct Vma {
  uintptr_t start = 0, end = 0;
  uint64_t kernel_page_kb = 0, anon_huge_kb = 0;
  bool open = false;
};

void account(const Vma& v, uintptr_t p0, uintptr_t p1, uint64_t out[]) {
  if (!v.open) return;
  uint64_t bytes = overlap(p0, p1, v.start, v.end);
  if (!bytes) return;
  uint64_t page = v.kernel_page_kb * 1024;
  if (page == kPageSize[HUGESHIM_PAGE_1G]) out[HUGESHIM_PAGE_1G] += bytes;
  else if (page == kPageSize[HUGESHIM_PAGE_2M]) out[HUGESHIM_PAGE_2M] += bytes;
  else {
    uint64_t span = v.end - v.start;
    uint64_t thp = v.anon_huge_kb * 1024;
    uint64_t share = span ? static_cast<uint64_t>(static_cast<__uint128_t>(thp) * bytes / span) : 0;
    if (share > bytes) share = bytes;
    out[HUGESHIM_PAGE_THP] += share;
    out[HUGESHIM_PAGE_BASE] += bytes - share;
  }
}

void from_smaps(uintptr_t p0, uintptr_t p1, uint64_t out[]) {
  int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[8192];
  size_t have = 0;
  Vma vma;
  bool done = false;
  while (!done) {
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n <= 0) break;
    have += static_cast<size_t>(n);
    size_t pos = 0;
    while (true) {
      char* nl = static_cast<char*>(memchr(buf + pos, '\n', have - pos));
      if (!nl) break;
      *nl = 0;
      const char* line = buf + pos;
      pos = static_cast<size_t>(nl - buf) + 1;
      // A VMA header starts with a lowercase hex digit; field lines with a
      // capital letter.
      if ((*line >= '0' && *line <= '9') || (*line >= 'a' && *line <= 'f')) {
        account(vma, p0, p1, out);
        const char* s = line;
        vma = Vma{};
        vma.start = proc_parse_hex(s);
        if (*s == '-') ++s;
        vma.end = proc_parse_hex(s);
        vma.open = true;
        if (vma.start >= p1) {  // smaps is sorted by address
          vma.open = false;
          done = true;
          break;
        }
      } else if (uint64_t kb = proc_field_value(line, "KernelPageSize:"); kb != ~0ull) {
        vma.kernel_page_kb = kb;
      } else if (uint64_t kb2 = proc_field_value(line, "AnonHugePages:"); kb2 != ~0ull) {
        vma.anon_huge_kb = kb2;
      }
    }
    memmove(buf, buf + pos, have - pos);
    have -= pos;
    if (have == sizeof buf) have = 0;  // a line longer than the buffer: drop it
  }
  account(vma, p0, p1, out);
  close(fd);
}

}  // namespace

void range_page_bytes(const void* p, size_t length, uint64_t out[HUGESHIM_PAGE_COUNT]) {
  for (int i = 0; i < HUGESHIM_PAGE_COUNT; ++i) out[i] = 0;
  uintptr_t p0 = reinterpret_cast<uintptr_t>(p), p1 = p0 + length;
  if (length == 0 || p1 < p0) return;
  if (region_owns(p)) {
    from_region(*region_find(p), p0, p1, out);
    return;
  }
  from_smaps(p0, p1, out);
}

uint64_t page_count(const uint64_t page_bytes[HUGESHIM_PAGE_COUNT]) {
  uint64_t n = 0;
  for (int i = 0; i < HUGESHIM_PAGE_COUNT; ++i)
    n += (page_bytes[i] + kPageSize[i] - 1) / kPageSize[i];
  return n;
}

void range_page_facts(const void* p, size_t size, Event* ev) {
  range_page_bytes(p, size, ev->page_bytes);
  ev->translations = page_count(ev->page_bytes);
  ev->flags |= region_owns(p) ? HUGESHIM_EVENT_REDIRECTED : HUGESHIM_EVENT_FOREIGN;
}

}  // namespace hugeshim
