#include "core/region_table.h"

#include "core/arena.h"
#include "os/os.h"

namespace hugeshim {
namespace {

constexpr uint32_t kMaxRegions = 1u << 16;
constexpr uint32_t kChunkRegions = 256;
constexpr uint32_t kChunks = kMaxRegions / kChunkRegions;

// A pagemap leaf: one page covering 1 GiB of the window.
constexpr size_t kLeafEntries = kBasePage / sizeof(Region*);
constexpr size_t kLeafSpan = kLeafEntries * kGranule;
static_assert(kLeafSpan == kPage1G, "one leaf per GiB of the window");
struct Leaf {
  Region* owner[kLeafEntries];
};

Region* g_chunks[kChunks];      // kChunkRegions slots each, mapped on first use
uint32_t g_slots_used = 0;      // slots [0, used) have been handed out at least once
uint32_t* g_free_slots = nullptr;  // deleted slots, reused last-in first-out
uint32_t g_free_slot_count = 0;
Leaf** g_root = nullptr;        // one entry per GiB of the window; null: no leaf yet

// Zeroed metadata pages, faulted in only where used.
void* os_metadata(size_t len) {
  void* p = os_mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

uint64_t granule_of(uintptr_t addr) { return (addr - g_arena_base) / kGranule; }

}  // namespace

bool region_table_init(size_t window_size) {
  g_free_slots = static_cast<uint32_t*>(os_metadata(kMaxRegions * sizeof(uint32_t)));
  g_root = static_cast<Leaf**>(os_metadata(window_size / kLeafSpan * sizeof(Leaf*)));
  return g_free_slots && g_root;
}

Region* region_table_new() {
  uint32_t slot;
  if (g_free_slot_count > 0) {
    slot = g_free_slots[--g_free_slot_count];
  } else {
    if (g_slots_used == kMaxRegions) return nullptr;
    slot = g_slots_used;
    Region*& chunk = g_chunks[slot / kChunkRegions];
    if (!chunk && !(chunk = static_cast<Region*>(os_metadata(kChunkRegions * sizeof(Region))))) return nullptr;
    ++g_slots_used;
  }
  Region* r = &g_chunks[slot / kChunkRegions][slot % kChunkRegions];
  *r = Region{};
  r->index = slot;
  return r;
}

void region_table_delete(Region* r) { g_free_slots[g_free_slot_count++] = r->index; }

bool region_table_set(uintptr_t addr, size_t len, Region* r) {
  if (len == 0) return true;
  uint64_t first = granule_of(addr);
  uint64_t end = first + (len + kGranule - 1) / kGranule;
  if (r) {
    for (uint64_t leaf = first / kLeafEntries; leaf <= (end - 1) / kLeafEntries; ++leaf) {
      if (g_root[leaf]) continue;
      auto* fresh = static_cast<Leaf*>(os_metadata(sizeof(Leaf)));
      if (!fresh) return false;
      // Readers load the root entry with acquire: they see a zeroed leaf.
      __atomic_store_n(&g_root[leaf], fresh, __ATOMIC_RELEASE);
    }
  }
  for (uint64_t g = first; g < end; ++g) {
    Leaf* leaf = g_root[g / kLeafEntries];
    if (leaf) __atomic_store_n(&leaf->owner[g % kLeafEntries], r, __ATOMIC_RELAXED);
  }
  return true;
}

Region* region_table_get(uintptr_t addr) {
  uint64_t g = granule_of(addr);
  Leaf* leaf = __atomic_load_n(&g_root[g / kLeafEntries], __ATOMIC_ACQUIRE);
  return leaf ? __atomic_load_n(&leaf->owner[g % kLeafEntries], __ATOMIC_RELAXED) : nullptr;
}

}  // namespace hugeshim
