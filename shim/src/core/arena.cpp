#include "core/arena.h"

#include <pthread.h>

#include <cstring>

#include "core/region_table.h"
#include "hugeshim/log.h"

namespace hugeshim {

uintptr_t g_arena_base = 0;
size_t g_arena_size = 0;

namespace {

// Largest arena tried first: address space is free until mapped, and 16 TiB
// holds the largest pinned pools reported for serving hosts with room for
// fragmentation. Smaller sizes are tried if the kernel or RLIMIT_AS refuses.
constexpr size_t kArenaSizes[] = {size_t{16} << 40, size_t{4} << 40, size_t{1} << 40,
                                  size_t{256} << 30, size_t{64} << 30};
constexpr uint32_t kMaxExtents = 1u << 16;

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

// Free extents in granules, sorted by start, never adjacent (coalesced).
struct Extent {
  uint64_t start;
  uint64_t len;
};
Extent* g_extents = nullptr;
uint32_t g_extent_count = 0;

void* os_reserve(size_t len, int prot) {
  void* p = os_mmap(nullptr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void extent_insert(uint32_t at, Extent e) {
  memmove(g_extents + at + 1, g_extents + at, (g_extent_count - at) * sizeof(Extent));
  g_extents[at] = e;
  ++g_extent_count;
}

void extent_erase(uint32_t at) {
  memmove(g_extents + at, g_extents + at + 1, (g_extent_count - at - 1) * sizeof(Extent));
  --g_extent_count;
}

// Removes [start, start + len) (granules) from extent i, which contains it.
void extent_carve(uint32_t i, uint64_t start, uint64_t len) {
  Extent e = g_extents[i];
  uint64_t head = start - e.start;
  uint64_t tail = e.start + e.len - (start + len);
  if (head && tail) {
    if (g_extent_count == kMaxExtents) {
      // Out of extent slots: leak the tail rather than corrupt the set.
      g_extents[i].len = head;
      return;
    }
    g_extents[i].len = head;
    extent_insert(i + 1, Extent{start + len, tail});
  } else if (head) {
    g_extents[i].len = head;
  } else if (tail) {
    g_extents[i] = Extent{start + len, tail};
  } else {
    extent_erase(i);
  }
}

}  // namespace

bool arena_init() {
  g_extents = static_cast<Extent*>(os_reserve(kMaxExtents * sizeof(Extent), PROT_READ | PROT_WRITE));
  if (!g_extents) return false;
  for (size_t size : kArenaSizes) {
    // One extra GiB so the base can be 1 GiB aligned (1 GiB pages need it).
    void* raw = os_reserve(size + kPage1G, PROT_NONE);
    if (!raw) continue;
    uintptr_t base = round_up(as_addr(raw), kPage1G);
    if (!region_table_init(size)) {
      os_munmap(raw, size + kPage1G);
      continue;
    }
    g_extents[0] = Extent{0, size / kGranule};
    g_extent_count = 1;
    g_arena_size = size;
    __atomic_store_n(&g_arena_base, base, __ATOMIC_RELEASE);
    return true;
  }
  log_error("could not reserve address space for the arena; passing every call through");
  return false;
}

void arena_lock() { pthread_mutex_lock(&g_lock); }
void arena_unlock() { pthread_mutex_unlock(&g_lock); }
void arena_reset_lock_in_child() {
  pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
  memcpy(&g_lock, &fresh, sizeof g_lock);
}

uintptr_t arena_take(size_t span, size_t align) {
  uint64_t len = span / kGranule;
  uint64_t agr = align / kGranule;
  uint64_t base_g = g_arena_base / kGranule;  // granule number of the base (align in absolute terms)
  for (uint32_t i = 0; i < g_extent_count; ++i) {
    const Extent& e = g_extents[i];
    uint64_t abs = base_g + e.start;
    uint64_t start = agr > 1 ? ((abs + agr - 1) / agr * agr) - base_g : e.start;
    if (start + len <= e.start + e.len) {
      extent_carve(i, start, len);
      return g_arena_base + start * kGranule;
    }
  }
  return 0;
}

bool arena_take_at(uintptr_t addr, size_t len) {
  if (addr < g_arena_base || addr + len > g_arena_base + g_arena_size) return false;
  uint64_t start = (addr - g_arena_base) / kGranule;
  uint64_t n = len / kGranule;
  for (uint32_t i = 0; i < g_extent_count; ++i) {
    const Extent& e = g_extents[i];
    if (e.start > start) break;
    if (start + n <= e.start + e.len) {
      extent_carve(i, start, n);
      return true;
    }
  }
  return false;
}

void arena_give(uintptr_t addr, size_t len) {
  uint64_t start = (addr - g_arena_base) / kGranule;
  uint64_t n = len / kGranule;
  uint32_t i = 0;  // first extent after the returned range
  while (i < g_extent_count && g_extents[i].start < start) ++i;
  bool joins_prev = i > 0 && g_extents[i - 1].start + g_extents[i - 1].len == start;
  bool joins_next = i < g_extent_count && start + n == g_extents[i].start;
  if (joins_prev && joins_next) {
    g_extents[i - 1].len += n + g_extents[i].len;
    extent_erase(i);
  } else if (joins_prev) {
    g_extents[i - 1].len += n;
  } else if (joins_next) {
    g_extents[i].start = start;
    g_extents[i].len += n;
  } else if (g_extent_count < kMaxExtents) {
    extent_insert(i, Extent{start, n});
  }
  // else: the extent table is full; the range stays reserved but unused.
}

}  // namespace hugeshim
