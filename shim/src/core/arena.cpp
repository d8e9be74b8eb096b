#include "core/arena.h"

#include <pthread.h>

#include <cerrno>
#include <cstring>

#include "core/region_table.h"
#include "hugeshim/log.h"
#include "os/backing.h"

namespace hugeshim {

uintptr_t g_arena_base = 0;
size_t g_arena_size = 0;

namespace {

// Window sizes, largest first. 16 TiB holds the largest pinned pools reported
// for serving hosts with room for fragmentation; the smaller ones are for
// address spaces too small for it. The window costs nothing until used (one
// 8-byte root entry per GiB, region_table.h).
constexpr size_t kWindowSizes[] = {size_t{16} << 40, size_t{4} << 40, size_t{1} << 40,
                                   size_t{256} << 30, size_t{64} << 30};
constexpr uint32_t kMaxExtents = 1u << 16;
// Reservations tried per arena_take before it gives up (ARENA_FULL): each
// failed one drops the granules it found occupied, so a window crowded by
// other mappings costs a bounded number of system calls per request.
constexpr int kTakeAttempts = 16;

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

// Free extents in granules, sorted by start, never adjacent (coalesced).
struct Extent {
  uint64_t start;
  uint64_t len;
};
Extent* g_extents = nullptr;
uint32_t g_extent_count = 0;

uintptr_t granule_addr(uint64_t g) { return g_arena_base + g * kGranule; }

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
      // Out of extent slots: drop the tail rather than corrupt the set.
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

// Puts [start, start + n) (granules, none of them free) back into the free set.
void extent_return(uint64_t start, uint64_t n) {
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
  // else: the extent table is full; the range is dropped.
}

// Carves the first free run of n granules whose address is aligned to agr
// granules (absolute alignment). False when none fits.
bool carve_first_fit(uint64_t n, uint64_t agr, uint64_t* out) {
  uint64_t base_g = g_arena_base / kGranule;  // granule number of the base (align in absolute terms)
  for (uint32_t i = 0; i < g_extent_count; ++i) {
    const Extent& e = g_extents[i];
    uint64_t abs = base_g + e.start;
    uint64_t start = agr > 1 ? ((abs + agr - 1) / agr * agr) - base_g : e.start;
    if (start + n <= e.start + e.len) {
      extent_carve(i, start, n);
      *out = start;
      return true;
    }
  }
  return false;
}

// [start, start + n) granules were carved for a reservation that found
// something mapped there (EEXIST). Returns to the free set every part nobody
// maps, found by halving; granules someone else maps stay out (dropped). A
// part the kernel will not let us probe (ENOMEM under RLIMIT_AS) goes back as
// it is. Costs O(k log n) reservations for k occupied runs.
void sort_out(uint64_t start, uint64_t n) {
  if (n == 1) return;
  const uint64_t half = n / 2;
  const Extent parts[2] = {{start, half}, {start + half, n - half}};
  for (const Extent& part : parts) {
    int err = backing_reserve(granule_addr(part.start), part.len * kGranule);
    if (err == 0) backing_release(granule_addr(part.start), part.len * kGranule);
    if (err == EEXIST) sort_out(part.start, part.len);
    else extent_return(part.start, part.len);
  }
}

// Reserves carved granules. True when they are the shim's now; otherwise they
// are sorted out (EEXIST) or returned (any other refusal), and *occupied says
// whether another place may still work.
bool reserve_carved(uint64_t start, uint64_t n, bool* occupied) {
  int err = backing_reserve(granule_addr(start), n * kGranule);
  *occupied = err == EEXIST;
  if (err == 0) return true;
  if (*occupied) sort_out(start, n);
  else extent_return(start, n);
  return false;
}

// The window for `size`: it starts at `size` plus a random whole number of
// GiB below size / 2. On x86-64 (128 TiB of user space) the 16 TiB window
// thus ends below 40 TiB: under the legacy bottom-up layout's base (a third
// of user space, 42.7 TiB), far below the top-down layout's (under the
// stack), below position-independent executables (two thirds) and above a
// fixed-address executable and its brk heap. The kernel places nothing
// there on its own until the address space above is used up. The random
// part comes from `entropy`, an address the kernel placed (ASLR moves it in
// 4 KiB steps), so disabling ASLR also fixes the window.
uintptr_t window_base(size_t size, uintptr_t entropy) {
  uintptr_t slots = size / 2 / kPage1G;
  return size + (entropy / kBasePage) % slots * kPage1G;
}

// Whether the window can serve: its first page is free (a window someone
// else already maps from its start, e.g. a sanitizer's shadow memory, would
// refuse every span) and its last page is in user space. Each probe is a
// reservation released at once; finding something mapped at the last page
// still proves user space.
bool window_fits(uintptr_t base, size_t size) {
  int first = backing_reserve(base, kBasePage);
  if (first != 0) return false;
  backing_release(base, kBasePage);
  uintptr_t last = base + size - kBasePage;
  int err = backing_reserve(last, kBasePage);
  if (err == 0) backing_release(last, kBasePage);
  return err == 0 || err == EEXIST;
}

}  // namespace

bool arena_init() {
  void* extents = os_mmap(nullptr, kMaxExtents * sizeof(Extent), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (extents == MAP_FAILED) return false;
  g_extents = static_cast<Extent*>(extents);
  for (size_t size : kWindowSizes) {
    uintptr_t base = window_base(size, as_addr(extents));
    if (!window_fits(base, size)) continue;
    if (!region_table_init(size)) break;
    g_extents[0] = Extent{0, size / kGranule};
    g_extent_count = 1;
    g_arena_size = size;
    __atomic_store_n(&g_arena_base, base, __ATOMIC_RELEASE);
    return true;
  }
  log_error("could not set up the arena; passing every call through");
  return false;
}

void arena_lock() { pthread_mutex_lock(&g_lock); }
void arena_unlock() { pthread_mutex_unlock(&g_lock); }
void arena_reset_lock_in_child() {
  pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
  memcpy(&g_lock, &fresh, sizeof g_lock);
}

uintptr_t arena_take(size_t span, size_t align) {
  const uint64_t n = span / kGranule;
  for (int attempt = 0; attempt < kTakeAttempts; ++attempt) {
    uint64_t start;
    if (!carve_first_fit(n, align / kGranule, &start)) return 0;
    bool occupied;
    if (reserve_carved(start, n, &occupied)) return granule_addr(start);
    if (!occupied) return 0;
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
      bool occupied;
      return reserve_carved(start, n, &occupied);
    }
  }
  return false;
}

void arena_give(uintptr_t addr, size_t len) {
  backing_release(addr, len);
  arena_give_unmapped(addr, len);
}

void arena_give_unmapped(uintptr_t addr, size_t len) {
  extent_return((addr - g_arena_base) / kGranule, len / kGranule);
}

}  // namespace hugeshim
